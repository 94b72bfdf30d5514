import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { FairQueue } from './fair-queue';
import { isRetryableStatus, parseRetryAfter, retryDelay } from './retry';
import { sign, signingKey } from './signing';
import type { DeliveryResult, DroppedMessage, PublishedMessage, RetryNotice, WebhookCounters } from './types';
import type { NormalizedSpec } from './validate';

/** Settings shared by every target of one dispatcher. */
export interface TargetSettings {
  backoffBaseMs: number;
  backoffMaxMs: number;
  retryAfterMaxMs: number;
  keepAliveTimeoutMs: number;
  tls: { ca?: string | Buffer | (string | Buffer)[]; rejectUnauthorized?: boolean };
}

/** How a target reports back to its dispatcher. */
export interface TargetSink {
  result(result: DeliveryResult, delivered: boolean): void;
  retrying(notice: RetryNotice): void;
}

interface Job {
  msg: PublishedMessage;
  deliveryId: string;
  enqueuedAt: number;
  /** Resolves a `deliver()` promise; null for routed messages. */
  settle: ((result: DeliveryResult) => void) | null;
}

interface Outcome {
  status?: number;
  error?: string;
  retryable: boolean;
  retryAfterMs: number | null;
  latencyMs: number;
}

interface Sleep {
  timer: NodeJS.Timeout;
  resolve: (completed: boolean) => void;
}

const QOS = ['0', '1', '2'] as const;
// Enough to read any ordinary acknowledgement; a larger body costs the
// keep-alive connection (undici destroys it) rather than unbounded reading.
const MAX_RESPONSE_BODY = 64 * 1024;
const PRINTABLE = /^[\x20-\x7e]*$/;

/**
 * MQTT strings may hold any Unicode and control characters; header values
 * may not (undici rejects anything beyond Latin-1, CR/LF would split the
 * request). Such values go out percent-encoded as UTF-8, readable with
 * `decodeURIComponent`, and are listed in `X-MQTT-Encoded`.
 */
function percentEncode(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out += byte > 0x20 && byte < 0x7f && byte !== 0x25 ? String.fromCharCode(byte) : '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  let message = err.message;
  // Node's happy-eyeballs connect reports an AggregateError with an empty message.
  if (!message && err instanceof AggregateError) {
    message = err.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join('; ');
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && !message.includes(code)) message = message ? `${message} (${code})` : code;
  return message || err.name;
}

/** One webhook's queue, workers, connection pool and counters. */
export class WebhookTarget {
  spec: NormalizedSpec;
  private key: Buffer | null;
  private path: string;
  private pool: Pool;
  private poolKey: string;
  /**
   * Queued jobs per tenant, served in turn: behind an all-tenants webhook a
   * burst of one tenant neither fills the others' queue nor delays them.
   */
  private readonly queue = new FairQueue<Job>();
  /** Workers running. */
  private active = 0;
  /** Jobs taken off the queue and not yet settled; a worker between jobs holds none. */
  private inFlight = 0;
  private readonly controllers = new Set<AbortController>();
  private readonly sleeps = new Set<Sleep>();
  private readonly retiredPools = new Set<Pool>();
  private idleWaiters: (() => void)[] = [];
  private stopReason: string | null = null;
  private readonly stats = {
    delivered: 0,
    failed: 0,
    retried: 0,
    dropped: 0,
    lastStatus: null as number | null,
    lastError: null as string | null,
    lastLatencyMs: null as number | null,
  };

  constructor(
    spec: NormalizedSpec,
    private readonly settings: TargetSettings,
    private readonly sink: TargetSink,
  ) {
    this.spec = spec;
    this.key = spec.secret === null ? null : signingKey(spec.secret);
    this.path = spec.url.pathname + spec.url.search;
    this.poolKey = this.poolKeyOf(spec);
    this.pool = this.createPool(spec);
  }

  get stopped(): boolean {
    return this.stopReason !== null;
  }

  /** Applies a new spec; queued and in-flight deliveries carry on under it. */
  update(spec: NormalizedSpec): void {
    this.spec = spec;
    this.key = spec.secret === null ? null : signingKey(spec.secret);
    this.path = spec.url.pathname + spec.url.search;
    const poolKey = this.poolKeyOf(spec);
    if (poolKey !== this.poolKey) {
      const old = this.pool;
      this.retiredPools.add(old);
      // close() lets requests already on the old pool finish; their own deadlines bound it.
      void old.close().catch(() => undefined).finally(() => this.retiredPools.delete(old));
      this.pool = this.createPool(spec);
      this.poolKey = poolKey;
    }
    this.pump();
  }

  /**
   * Queues a message; returns the drop notice when its tenant's queue is full.
   * Does no I/O: the dispatcher calls `pump()` later, off the broker's path.
   */
  enqueue(msg: PublishedMessage, settle: Job['settle']): DroppedMessage | null {
    if (this.stopped) return null;
    if (this.queue.lengthOf(msg.tenant) >= this.spec.queueLimit) {
      this.stats.dropped++;
      const dropped: DroppedMessage = {
        webhookId: this.spec.id,
        tenant: msg.tenant,
        topic: msg.topic,
        reason: 'queue-full',
        queueLimit: this.spec.queueLimit,
      };
      settle?.(this.result({ deliveryId: '', msg, enqueuedAt: performance.now(), settle }, 0, {
        error: `queue full (${this.spec.queueLimit} waiting)`,
        retryable: false,
        retryAfterMs: null,
        latencyMs: 0,
      }));
      return dropped;
    }
    // The delivery id is made when the first attempt starts, keeping route() cheaper.
    this.queue.push(msg.tenant, { msg, deliveryId: '', enqueuedAt: performance.now(), settle });
    return null;
  }

  /** Starts workers up to the concurrency limit. */
  pump(): void {
    while (!this.stopped && this.active < this.spec.concurrency && this.queue.length > 0) {
      this.active++;
      void this.work();
    }
  }

  counters(): WebhookCounters {
    return { ...this.stats, queued: this.queue.length, inFlight: this.inFlight };
  }

  /**
   * Stops for good: queued messages are abandoned, backoffs cut short,
   * requests already sent get `graceMs` to finish before being aborted.
   */
  async stop(reason: string, graceMs: number): Promise<void> {
    if (this.stopped) return;
    this.stopReason = reason;
    for (const job of this.queue.drain()) job.settle?.(this.abandoned(job));
    for (const sleep of this.sleeps) {
      clearTimeout(sleep.timer);
      sleep.resolve(false);
    }
    this.sleeps.clear();
    if (this.active > 0) {
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => (grace = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(grace);
    }
    for (const controller of this.controllers) controller.abort();
    // destroy(), not close(): nothing is left worth waiting for, and close() waits on the server.
    await Promise.all([this.pool, ...this.retiredPools].map((pool) => pool.destroy().catch(() => undefined)));
  }

  private poolKeyOf(spec: NormalizedSpec): string {
    return `${spec.url.origin}|${spec.concurrency}|${spec.timeoutMs}`;
  }

  private createPool(spec: NormalizedSpec): Pool {
    return new Pool(spec.url.origin, {
      // One connection per worker: a worker never waits inside undici for another's socket.
      connections: spec.concurrency,
      pipelining: 1,
      keepAliveTimeout: this.settings.keepAliveTimeoutMs,
      connect: { ...this.settings.tls, timeout: spec.timeoutMs },
    });
  }

  private async work(): Promise<void> {
    try {
      // `<=` lets a lowered concurrency take effect as workers finish their job.
      while (!this.stopped && this.active <= this.spec.concurrency) {
        const job = this.queue.shift();
        if (job === undefined) break;
        this.inFlight++;
        job.deliveryId = randomUUID();
        await this.process(job);
      }
    } finally {
      this.active--;
      if (this.active === 0 && this.idleWaiters.length > 0) {
        for (const resolve of this.idleWaiters.splice(0)) resolve();
      }
      this.pump();
    }
  }

  /** All attempts of one job. A worker keeps its slot through backoff: with concurrency 1 that preserves order. */
  private async process(job: Job): Promise<void> {
    let attempts = 0;
    for (;;) {
      attempts++;
      const outcome = await this.attempt(job);
      this.stats.lastLatencyMs = Math.round(outcome.latencyMs * 100) / 100;
      if (outcome.status !== undefined) this.stats.lastStatus = outcome.status;
      if (outcome.error !== undefined) this.stats.lastError = outcome.error;

      const delivered = outcome.error === undefined;
      if (delivered || !outcome.retryable || attempts > this.spec.retries || this.stopped) {
        if (delivered) this.stats.delivered++;
        else this.stats.failed++;
        this.settle(job, this.result(job, attempts, outcome), delivered);
        return;
      }
      this.stats.retried++;
      const delayMs = retryDelay(attempts, outcome.retryAfterMs, this.settings);
      const notice: RetryNotice = {
        webhookId: this.spec.id,
        deliveryId: job.deliveryId,
        topic: job.msg.topic,
        attempt: attempts,
        error: outcome.error ?? '',
        delayMs,
      };
      if (outcome.status !== undefined) notice.status = outcome.status;
      this.sink.retrying(notice);
      if (!(await this.sleep(delayMs))) {
        this.settle(job, this.result(job, attempts, { ...outcome, error: this.stopReason ?? 'stopped' }), false);
        return;
      }
    }
  }

  /** Ends a job; results of a stopped target resolve `deliver()` promises but emit nothing. */
  private settle(job: Job, result: DeliveryResult, delivered: boolean): void {
    this.inFlight--;
    job.settle?.(result);
    if (!this.stopped) this.sink.result(result, delivered);
  }

  private async attempt(job: Job): Promise<Outcome> {
    const spec = this.spec;
    const controller = new AbortController();
    let timedOut = false;
    // One deadline for the whole attempt: connect, send, headers and body.
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, spec.timeoutMs);
    this.controllers.add(controller);
    const started = performance.now();
    try {
      const res = await this.pool.request({
        path: this.path,
        method: 'POST',
        headers: this.headersFor(job, spec),
        body: job.msg.payload,
        signal: controller.signal,
      });
      const latencyMs = performance.now() - started;
      const status = res.statusCode;
      const retryAfter = isRetryableStatus(status) ? parseRetryAfter(res.headers['retry-after']) : null;
      // Reading to the end hands the connection back for keep-alive; the status already decided the outcome.
      await res.body.dump({ limit: MAX_RESPONSE_BODY }).catch(() => undefined);
      if (status >= 200 && status < 300) return { status, retryable: false, retryAfterMs: null, latencyMs };
      return { status, error: `HTTP ${status}`, retryable: isRetryableStatus(status), retryAfterMs: retryAfter, latencyMs };
    } catch (err) {
      const latencyMs = performance.now() - started;
      if (timedOut) return { error: `timeout after ${spec.timeoutMs} ms`, retryable: true, retryAfterMs: null, latencyMs };
      if (this.stopReason !== null) return { error: this.stopReason, retryable: false, retryAfterMs: null, latencyMs };
      // An invalid argument is a request undici refuses to build: retrying cannot help.
      const retryable = (err as { code?: unknown }).code !== 'UND_ERR_INVALID_ARG';
      return { error: describe(err), retryable, retryAfterMs: null, latencyMs };
    } finally {
      clearTimeout(timer);
      this.controllers.delete(controller);
    }
  }

  private headersFor(job: Job, spec: NormalizedSpec): string[] {
    const { msg } = job;
    const headers = spec.headers.slice();
    let encoded: string | null = null;
    let topic = msg.topic;
    if (!PRINTABLE.test(topic)) {
      topic = percentEncode(topic);
      encoded = 'X-MQTT-Topic';
    }
    headers.push(
      'X-MQTT-Topic', topic,
      'X-MQTT-QoS', QOS[msg.qos] ?? '0',
      'X-MQTT-Retain', msg.retain ? '1' : '0',
      'webhook-id', job.deliveryId,
    );
    if (msg.username !== null) {
      const plain = PRINTABLE.test(msg.username);
      headers.push('X-MQTT-Username', plain ? msg.username : percentEncode(msg.username));
      if (!plain) encoded = encoded === null ? 'X-MQTT-Username' : `${encoded}, X-MQTT-Username`;
    }
    if (msg.clientId !== null) {
      const plain = PRINTABLE.test(msg.clientId);
      headers.push('X-MQTT-Client-Id', plain ? msg.clientId : percentEncode(msg.clientId));
      if (!plain) encoded = encoded === null ? 'X-MQTT-Client-Id' : `${encoded}, X-MQTT-Client-Id`;
    }
    if (encoded !== null) headers.push('X-MQTT-Encoded', encoded);
    if (this.key !== null) {
      // Signed per attempt: a retry minutes later must still pass the receiver's timestamp tolerance.
      const timestamp = Math.floor(Date.now() / 1000);
      headers.push('webhook-timestamp', String(timestamp), 'webhook-signature', sign(this.key, job.deliveryId, timestamp, msg.payload));
    }
    return headers;
  }

  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const sleep: Sleep = {
        timer: setTimeout(() => {
          this.sleeps.delete(sleep);
          resolve(true);
        }, ms),
        resolve,
      };
      this.sleeps.add(sleep);
    });
  }

  /** The result for a job that never got an attempt. */
  private abandoned(job: Job): DeliveryResult {
    return this.result(job, 0, {
      error: this.stopReason ?? 'stopped',
      retryable: false,
      retryAfterMs: null,
      latencyMs: 0,
    });
  }

  private result(job: Job, attempts: number, outcome: Outcome): DeliveryResult {
    const result: DeliveryResult = {
      webhookId: this.spec.id,
      deliveryId: job.deliveryId,
      tenant: job.msg.tenant,
      topic: job.msg.topic,
      latencyMs: Math.round(outcome.latencyMs * 100) / 100,
      totalMs: Math.round((performance.now() - job.enqueuedAt) * 100) / 100,
      attempts,
      requested: Boolean(job.settle),
    };
    if (outcome.status !== undefined) result.status = outcome.status;
    if (outcome.error !== undefined) result.error = outcome.error;
    return result;
  }
}
