/** 429 and 5xx are the target's own "try again later"; other 4xx will not change on a retry. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * Exponential backoff with "equal jitter": half fixed, half random, so the
 * wait still grows while retries from many webhooks do not synchronise.
 * `retry` counts from 1.
 */
export function backoffDelay(retry: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(retry - 1, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * Milliseconds a `Retry-After` header asks for (RFC 9110 §10.2.3: delay-seconds
 * or an HTTP-date), or null when absent or unparseable. Negative waits become 0.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number = Date.now()): number | null {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined) return null;
  const text = raw.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - nowMs);
}

/** The wait before retry number `retry`: never sooner than the server asked, never longer than the caps. */
export function retryDelay(
  retry: number,
  retryAfterMs: number | null,
  opts: { backoffBaseMs: number; backoffMaxMs: number; retryAfterMaxMs: number },
): number {
  const backoff = backoffDelay(retry, opts.backoffBaseMs, opts.backoffMaxMs);
  if (retryAfterMs === null) return backoff;
  return Math.max(backoff, Math.min(retryAfterMs, opts.retryAfterMaxMs));
}
