import { TenantBrokerError } from './errors';

/**
 * Every default of the engine's settings, once: the engine applies them, and
 * the Node-RED nodes read a missing or blank field as the same value.
 */
export const BROKER_DEFAULTS = {
  mqtt: { port: 1883, host: '0.0.0.0' },
  ws: { port: 4035, host: '0.0.0.0', path: '/ws' },
  /** Largest packet of an authenticated client (and WebSocket message, with its 5-byte header). */
  maxPacketBytes: 16 * 1024 * 1024,
  /** Largest packet (and WebSocket message) before CONNACK: a CONNECT with credentials and a will fits. */
  maxUnauthenticatedPacketBytes: 256 * 1024,
  /** A connection that has not sent a complete CONNECT this long after it opened (TLS: after its handshake, which has as long) is closed. */
  connectTimeoutMs: 10_000,
  /** Memory all connections not yet accepted may hold together (estimated per connection plus the bytes they sent); past it new ones are refused. */
  maxUnauthenticatedBytes: 64 * 1024 * 1024,
  /** After a restart, how long a client whose will was kept has to reconnect before the will is published. */
  willGraceMs: 30_000,
  /** Messages queued for any one persistent client (offline or unacknowledged), whatever its tenant's limit. */
  maxOfflinePerClient: 1000,
  /** Messages queued over one tenant's clients (0: no limit). */
  maxOfflinePerTenant: 0,
  /** Payload and topic bytes queued over one tenant's clients. */
  maxQueuedBytesPerTenant: 256 * 1024 * 1024,
  /** Inbound QoS 2 messages one client may hold unreleased (PUBREC sent, no PUBREL yet); past it the client is disconnected. */
  maxInflightInbound: 100,
  /** What the broker node gives new tenants (the engine alone gives 0: no limit). */
  tenantLimits: {
    // a delivery's cost no longer grows with them (GrantIndex), but each one costs memory
    maxSubscriptions: 1000,
    maxQueuedMessages: 1000,
    maxQueuedBytes: 64 * 1024 * 1024,
    maxRetainedMessages: 10_000,
    maxRetainedBytes: 64 * 1024 * 1024,
  },
  sessionExpirySeconds: 7 * 24 * 3600,
  database: 'tenant-broker.db',
  /**
   * Failed logins: after `failuresPerUsername` of one username, or
   * `failuresPerAddress` from one address, within `windowMs`, logins of it are
   * refused without hashing for `lockMs` (a password verified before still
   * logs in). Password hashing (scrypt) runs `hashConcurrency` at a time, fair
   * between usernames, each with at most `hashQueuePerUsername` waiting.
   */
  login: {
    failuresPerUsername: 10,
    failuresPerAddress: 50,
    windowMs: 60_000,
    lockMs: 60_000,
    maxTracked: 10_000,
    hashConcurrency: 2,
    hashQueuePerUsername: 4,
  },
} as const;

export type LoginSettings = { -readonly [K in keyof typeof BROKER_DEFAULTS.login]: number };

export const WEBHOOK_DEFAULTS = {
  timeoutMs: 5000,
  retries: 3,
  concurrency: 4,
  queueLimit: 1000,
} as const;

export const ADMIN_DEFAULTS = { host: '127.0.0.1', port: 4036, maxBodyBytes: 64 * 1024 } as const;

/** A whole-number setting written as text (a node's field, after ${ENV} substitution): blank is the default. */
export function wholeSetting(value: unknown, fallback: number, field: string, max = Number.MAX_SAFE_INTEGER): number {
  const text = String(value ?? '').trim();
  if (text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new TenantBrokerError(`"${text}" is not a valid ${field}`, 'errors.bad-setting', { value: text, field });
  return n;
}

/** A port setting written as text: blank is the default, 0 picks a free port. */
export function portSetting(value: unknown, fallback: number): number {
  const text = String(value ?? '').trim();
  if (text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new TenantBrokerError(`"${text}" is not a port (0-65535)`, 'errors.bad-port', { port: text });
  return n;
}
