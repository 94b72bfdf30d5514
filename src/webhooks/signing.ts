import { createHmac, timingSafeEqual } from 'node:crypto';

// Standard Webhooks (https://www.standardwebhooks.com/, spec/standard-webhooks.md):
// the signed content is `${webhook-id}.${webhook-timestamp}.${body}`, HMAC-SHA256,
// base64, sent as `v1,<sig>`; several signatures are space-separated.

const WHSEC_PREFIX = 'whsec_';
/** The spec's recommended tolerance against replays. */
export const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

/** Why a secret cannot sign, or null; never echoes the secret. */
export function secretProblem(secret: unknown): string | null {
  if (typeof secret !== 'string' || secret.length === 0) return 'a signing secret must be a non-empty string';
  if (secret.startsWith(WHSEC_PREFIX)) {
    const encoded = secret.slice(WHSEC_PREFIX.length);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || Buffer.from(encoded, 'base64').length === 0) {
      return 'a "whsec_" secret must be followed by base64 key bytes';
    }
  }
  return null;
}

/** The HMAC key: base64-decoded after `whsec_`, else the secret's UTF-8 bytes. */
export function signingKey(secret: string): Buffer {
  return secret.startsWith(WHSEC_PREFIX)
    ? Buffer.from(secret.slice(WHSEC_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8');
}

/** The `webhook-signature` value (`v1,<base64>`) for one attempt. */
export function sign(key: Buffer, id: string, timestamp: number, body: Buffer): string {
  // Two updates rather than a concatenated copy: the payload may be large and binary.
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return 'v1,' + mac;
}

type HeaderBag = Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  /** Reject timestamps further than this from now, either way. Default 300. */
  toleranceSeconds?: number;
  /** Current unix time in seconds; for tests. */
  nowSeconds?: number;
}

function header(headers: HeaderBag, name: string): string | undefined {
  const value = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * For receivers: true when `body` carries a valid Standard Webhooks signature
 * made with `secret`, and its timestamp is within the tolerance.
 * `headers` is a Node `IncomingHttpHeaders` or any bag with lower-case
 * `webhook-id`, `webhook-timestamp` and `webhook-signature`. `body` must be
 * the raw bytes received, before any parsing.
 */
export function verifySignature(secret: string, body: Buffer, headers: HeaderBag, options: VerifyOptions = {}): boolean {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures || !/^\d{1,12}$/.test(timestamp)) return false;
  const ts = Number(timestamp);
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - ts) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) return false;
  const expected = Buffer.from(sign(signingKey(secret), id, ts, body).slice(3), 'base64');
  for (const candidate of signatures.split(' ')) {
    if (!candidate.startsWith('v1,')) continue;
    const actual = Buffer.from(candidate.slice(3), 'base64');
    // timingSafeEqual throws on unequal lengths; a length mismatch reveals nothing secret.
    if (actual.length === expected.length && timingSafeEqual(actual, expected)) return true;
  }
  return false;
}
