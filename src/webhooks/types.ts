import type { PublishedMessage } from '../events';

/** What the broker hands to {@link WebhookDispatcher.route}: one message published inside a tenant. */
export type { PublishedMessage };

/** A webhook: which messages it receives and where they are POSTed. */
export interface WebhookSpec {
  id: string;
  /** Only messages of this tenant are routed to it; `null` = every tenant. */
  tenant: string | null;
  /** Full filter including the tenant's namespace, e.g. `tenant1/sensors/+`; or, with `inView`, the filter in the tenant's own view, `sensors/+`. */
  topicFilter: string;
  /** Match the topic in the tenant's own view (`tenantTopic`), as flows write it. Default false: the full topic. */
  inView?: boolean;
  /** `http:` or `https:` only; credentials belong in `headers`, not in the URL. */
  url: string;
  /** Extra request headers. `Content-Type` and `User-Agent` may be overridden; `X-MQTT-*` and `webhook-*` may not. */
  headers?: Record<string, string>;
  /** Standard Webhooks signing secret: `whsec_<base64 key>`, or any other string used as UTF-8 key bytes. */
  secret?: string;
  /** Deadline for one attempt (connect, send, response headers and body). Default 5000. */
  timeoutMs?: number;
  /** Retries after the first attempt. Default 3. */
  retries?: number;
  /** Requests in flight at once; 1 keeps delivery order, even across retries. Default 4. */
  concurrency?: number;
  /** Messages waiting beyond those in flight, per tenant (tenants are served in turn); more are dropped. Default 1000. */
  queueLimit?: number;
  /** A disabled webhook gets nothing from `route()`; `deliver()` still reaches it. Default true. */
  enabled?: boolean;
}

/** The outcome of one delivery, after its last attempt. */
export interface DeliveryResult {
  webhookId: string;
  /** The `webhook-id` header: unique per delivery, identical on each of its retries. */
  deliveryId: string;
  tenant: string;
  topic: string;
  /** HTTP status of the last attempt, if one arrived. */
  status?: number;
  /** Round trip of the last attempt, from sending the request to the response headers. */
  latencyMs: number;
  /** From enqueueing to this result: queueing, every attempt and every backoff. */
  totalMs: number;
  attempts: number;
  /** True for a delivery asked for with `deliver()` (its caller has the result), false for a routed message. */
  requested: boolean;
  /** Set when the delivery failed. */
  error?: string;
}

/** A message that never left the queue. */
export interface DroppedMessage {
  webhookId: string;
  tenant: string;
  topic: string;
  reason: 'queue-full';
  queueLimit: number;
}

/**
 * A webhook started failing (its first failed delivery, after the last retry,
 * since it was added or last recovered) or recovered (its first delivery since).
 * Once per transition, however many deliveries fail in between.
 */
export interface WebhookHealthChange {
  webhookId: string;
  tenant: string | null;
  /** The URL without query and fragment, which may hold credentials: for logs. */
  target: string;
  state: 'failing' | 'recovered';
  /** When the webhook started failing (ms since the epoch). */
  since: number;
  /** Deliveries failed since then: 1 for `failing`, all of them for `recovered`. */
  failed: number;
  /** `failing`: the error of the delivery that failed. */
  error?: string;
  /** `failing`: the HTTP status of its last attempt, if one arrived. */
  status?: number;
}

/** A failed attempt that will be retried. */
export interface RetryNotice {
  webhookId: string;
  deliveryId: string;
  topic: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  status?: number;
  error: string;
  delayMs: number;
}

export interface WebhookCounters {
  delivered: number;
  failed: number;
  /** Attempts beyond each delivery's first. */
  retried: number;
  dropped: number;
  /** Waiting now, not yet sent. */
  queued: number;
  /** Being delivered now, including those waiting to retry. */
  inFlight: number;
  lastStatus: number | null;
  /** The most recent attempt's error; not cleared by later successes. */
  lastError: string | null;
  lastLatencyMs: number | null;
}

export interface DispatcherOptions {
  /** First retry waits about this long, doubling each time (with jitter). Default 250. */
  backoffBaseMs?: number;
  /** Upper bound for the exponential backoff. Default 30000. */
  backoffMaxMs?: number;
  /** Upper bound for a server's `Retry-After`. Default 60000. */
  retryAfterMaxMs?: number;
  /** How long `close()` lets requests already sent finish before aborting them. Default 1000. */
  closeGraceMs?: number;
  /** Idle keep-alive connections are closed after this long. Default 4000. */
  keepAliveTimeoutMs?: number;
  /** Sent unless a webhook's headers set one. */
  userAgent?: string;
  /** For https: targets: extra trusted CAs (PEM), or `rejectUnauthorized: false` to accept any certificate. */
  tls?: { ca?: string | Buffer | (string | Buffer)[]; rejectUnauthorized?: boolean };
}

/** Events of {@link WebhookDispatcher}. */
export enum WebhookEvent {
  /** A 2xx response arrived: {@link DeliveryResult}. */
  Delivered = 'delivered',
  /** The last attempt failed: {@link DeliveryResult} with `error`. */
  Failed = 'failed',
  /** The queue was full: {@link DroppedMessage}. */
  Dropped = 'dropped',
  /** An attempt failed and another follows after `delayMs`: {@link RetryNotice}. */
  Retrying = 'retrying',
  /** A webhook started failing or recovered: {@link WebhookHealthChange}. */
  Health = 'health',
}

// Literal keys, so listeners can be added with plain strings as well as the enum.
export interface WebhookEventMap {
  delivered: [DeliveryResult];
  failed: [DeliveryResult];
  dropped: [DroppedMessage];
  retrying: [RetryNotice];
  health: [WebhookHealthChange];
}
