/**
 * A token bucket holding one second of burst. `take()` never refuses: past
 * the burst it goes into debt and answers how long the caller should wait,
 * so a publisher over its rate is slowed (its socket read later) rather than
 * refused, and the size of the debt tells a persistent offender.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rate: number,
    now = performance.now(),
  ) {
    this.tokens = rate;
    this.last = now;
  }

  /** Milliseconds to wait before this message may proceed (0: at once). */
  take(now = performance.now()): number {
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000;
  }

  /** Takes a token only if one is there now, without going into debt: for what cannot wait (a will). */
  tryTake(now = performance.now()): boolean {
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** A client whose wait would exceed this is disconnected instead: it keeps exceeding its rate. */
export const MAX_THROTTLE_MS = 5000;

/** Tenant-wide buckets, replaced when a tenant's rate changes at run time. */
export class TenantBuckets {
  private readonly buckets = new Map<string, TokenBucket>();

  take(tenant: string, rate: number): number {
    if (rate <= 0) return 0;
    let bucket = this.buckets.get(tenant);
    if (!bucket || bucket.rate !== rate) this.buckets.set(tenant, (bucket = new TokenBucket(rate)));
    return bucket.take();
  }

  /** A token of the tenant's rate now, or false (no debt): 0 is no limit. */
  tryTake(tenant: string, rate: number): boolean {
    if (rate <= 0) return true;
    let bucket = this.buckets.get(tenant);
    if (!bucket || bucket.rate !== rate) this.buckets.set(tenant, (bucket = new TokenBucket(rate)));
    return bucket.tryTake();
  }
}
