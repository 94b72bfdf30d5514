import { TenantBrokerError } from '../errors';
import { filterProblem } from '../tenancy/topics';
import { secretProblem } from './signing';
import type { WebhookSpec } from './types';

import { WEBHOOK_DEFAULTS as DEFAULTS } from '../defaults';

const LIMITS = {
  timeoutMs: [1, 300_000],
  retries: [0, 20],
  concurrency: [1, 256],
  queueLimit: [1, 1_000_000],
} as const;

/**
 * Thrown by `upsert` for an unusable spec; `field` names the offending
 * property. i18n key `errors.bad-webhook` with params `{field, reason}`.
 */
export class WebhookConfigError extends TenantBrokerError {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message, 'errors.bad-webhook', { field, reason: message }, 'invalid');
    this.name = 'WebhookConfigError';
  }
}

/**
 * Why a webhook URL is unusable, or null when it is fine.
 * The message never repeats the URL: it may carry a token in its query.
 */
export function validateWebhookUrl(url: unknown): string | null {
  if (typeof url !== 'string' || url.trim().length === 0) return 'a webhook URL is required';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'the webhook URL is not a valid absolute URL (expected e.g. https://example.com/hook)';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return `a webhook URL must start with http:// or https://, not ${JSON.stringify(parsed.protocol)}`;
  }
  if (parsed.hostname.length === 0) return 'the webhook URL has no host';
  if (parsed.username !== '' || parsed.password !== '') {
    // undici would not send them; an Authorization header is explicit and is not logged with the URL.
    return 'put credentials in a header (e.g. Authorization), not in the webhook URL';
  }
  return null;
}

// RFC 9110 token characters for a field name.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Visible ASCII plus space and tab: what undici and every receiver accept unchanged.
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
// Set per delivery by the dispatcher, or by undici from the body.
const RESERVED_HEADER = /^(x-mqtt-|webhook-)|^(content-length|transfer-encoding|host|connection|keep-alive|upgrade|te|trailer)$/i;

function integerIn(spec: WebhookSpec, field: keyof typeof LIMITS): number {
  const value = spec[field];
  if (value === undefined) return DEFAULTS[field];
  const [min, max] = LIMITS[field];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new WebhookConfigError(`${field} must be a whole number from ${min} to ${max}`, field);
  }
  return value;
}

/** A spec with defaults applied and every field checked. */
export interface NormalizedSpec {
  id: string;
  tenant: string | null;
  topicFilter: string;
  inView: boolean;
  url: URL;
  /** Static request headers as undici's flat `[name, value, ...]` list. */
  headers: string[];
  secret: string | null;
  timeoutMs: number;
  retries: number;
  concurrency: number;
  queueLimit: number;
  enabled: boolean;
}

/** Checks a spec and applies defaults; throws {@link WebhookConfigError}. */
export function normalizeSpec(spec: WebhookSpec, userAgent: string): NormalizedSpec {
  if (spec === null || typeof spec !== 'object') throw new WebhookConfigError('a webhook spec is required', 'spec');
  if (typeof spec.id !== 'string' || spec.id.length === 0) {
    throw new WebhookConfigError('a webhook id is required', 'id');
  }
  if (spec.tenant !== null && (typeof spec.tenant !== 'string' || spec.tenant.length === 0)) {
    throw new WebhookConfigError('tenant must be a tenant name, or null for every tenant', 'tenant');
  }
  const filter = filterProblem(spec.topicFilter);
  if (filter !== null) throw new WebhookConfigError(`topicFilter: ${filter}`, 'topicFilter');
  const url = validateWebhookUrl(spec.url);
  if (url !== null) throw new WebhookConfigError(url, 'url');
  if (spec.secret !== undefined && spec.secret !== '') {
    const secret = secretProblem(spec.secret);
    if (secret !== null) throw new WebhookConfigError(secret, 'secret');
  }
  if (spec.enabled !== undefined && typeof spec.enabled !== 'boolean') {
    throw new WebhookConfigError('enabled must be true or false', 'enabled');
  }

  let contentType = 'application/octet-stream';
  let agent = userAgent;
  const headers: string[] = [];
  for (const [name, value] of Object.entries(spec.headers ?? {})) {
    if (!HEADER_NAME.test(name)) throw new WebhookConfigError(`header name ${JSON.stringify(name)} is not valid`, 'headers');
    if (RESERVED_HEADER.test(name)) {
      throw new WebhookConfigError(`header ${JSON.stringify(name)} is set by the dispatcher and cannot be configured`, 'headers');
    }
    // The value may be a token: name the header, never the value.
    if (typeof value !== 'string' || !HEADER_VALUE.test(value)) {
      throw new WebhookConfigError(`header ${JSON.stringify(name)} must be printable ASCII without line breaks`, 'headers');
    }
    const lower = name.toLowerCase();
    if (lower === 'content-type') contentType = value;
    else if (lower === 'user-agent') agent = value;
    else headers.push(name, value);
  }
  headers.push('Content-Type', contentType, 'User-Agent', agent);

  return {
    id: spec.id,
    tenant: spec.tenant,
    topicFilter: spec.topicFilter,
    inView: spec.inView === true,
    url: new URL(spec.url),
    headers,
    secret: spec.secret ? spec.secret : null,
    timeoutMs: integerIn(spec, 'timeoutMs'),
    retries: integerIn(spec, 'retries'),
    concurrency: integerIn(spec, 'concurrency'),
    queueLimit: integerIn(spec, 'queueLimit'),
    enabled: spec.enabled ?? true,
  };
}
