import { invalid } from '../errors';
import type { NewWebhook, Webhook } from '../registry/registry';
import type { WebhookCounters } from '../webhooks/types';
import { asObject, onlyFields } from './tenant-api';

/** Delivery counters over HTTP (snake_case, like every field of the admin API). */
export interface WebhookCountersView {
  delivered: number;
  failed: number;
  retried: number;
  dropped: number;
  queued: number;
  in_flight: number;
  last_status: number | null;
  last_error: string | null;
  last_latency_ms: number | null;
}

/** A registry webhook over HTTP: the secret itself never leaves the registry. */
export interface WebhookView {
  id: number;
  username: string;
  topic_filter: string;
  webhook_url: string;
  enabled: boolean;
  has_secret: boolean;
  created_at: string;
  updated_at: string;
  counters: WebhookCountersView;
}

const NO_DELIVERIES: WebhookCounters = { delivered: 0, failed: 0, retried: 0, dropped: 0, queued: 0, inFlight: 0, lastStatus: null, lastError: null, lastLatencyMs: null };

export function countersView(counters: WebhookCounters | undefined): WebhookCountersView {
  const c = counters ?? NO_DELIVERIES;
  return {
    delivered: c.delivered,
    failed: c.failed,
    retried: c.retried,
    dropped: c.dropped,
    queued: c.queued,
    in_flight: c.inFlight,
    last_status: c.lastStatus,
    last_error: c.lastError,
    last_latency_ms: c.lastLatencyMs,
  };
}

export function webhookView(webhook: Webhook, counters: WebhookCounters | undefined): WebhookView {
  return {
    id: webhook.id,
    username: webhook.tenant,
    topic_filter: webhook.topicFilter,
    webhook_url: webhook.url,
    enabled: webhook.enabled,
    has_secret: webhook.secret !== null,
    created_at: new Date(webhook.createdAt).toISOString(),
    updated_at: new Date(webhook.updatedAt).toISOString(),
    counters: countersView(counters),
  };
}

function field<T>(object: Record<string, unknown>, name: string, check: (v: unknown) => v is T, what: string): T | undefined {
  const value = object[name];
  if (value === undefined) return undefined;
  if (!check(value)) throw invalid(`${name} must be ${what}`, 'errors.bad-field', { field: name });
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const isSecret = (v: unknown): v is string | null => v === null || typeof v === 'string';

function required<T>(value: T | undefined, name: string): T {
  if (value === undefined || value === '') throw invalid(`${name} is required`, 'errors.bad-field', { field: name });
  return value;
}

/** A webhook id as JSON sends it; a digit string too, since ids are easy to paste from a shell. */
export function parseWebhookId(value: unknown): number {
  const id = typeof value === 'string' && /^[0-9]{1,15}$/.test(value) ? Number(value) : value;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) throw invalid('id must be a webhook id (a whole number from 1)', 'errors.bad-field', { field: 'id' });
  return id;
}

export function parseNewWebhook(body: unknown): NewWebhook {
  const object = asObject(body);
  onlyFields(object, ['username', 'topic_filter', 'webhook_url', 'secret', 'enabled']);
  return {
    tenant: required(field(object, 'username', isString, 'a string'), 'username'),
    topicFilter: required(field(object, 'topic_filter', isString, 'a string'), 'topic_filter'),
    url: required(field(object, 'webhook_url', isString, 'a string'), 'webhook_url'),
    secret: field(object, 'secret', isSecret, 'a string, or null for none'),
    enabled: field(object, 'enabled', isBoolean, 'true or false'),
  };
}

export function parseWebhookPatch(body: unknown): { id: number; patch: Partial<Omit<NewWebhook, 'tenant'>> } {
  const object = asObject(body);
  onlyFields(object, ['id', 'topic_filter', 'webhook_url', 'secret', 'enabled']);
  const patch: Partial<Omit<NewWebhook, 'tenant'>> = {};
  const topicFilter = field(object, 'topic_filter', isString, 'a string');
  const url = field(object, 'webhook_url', isString, 'a string');
  const secret = field(object, 'secret', isSecret, 'a string, or null (or "") to remove it');
  const enabled = field(object, 'enabled', isBoolean, 'true or false');
  if (topicFilter !== undefined) patch.topicFilter = topicFilter;
  if (url !== undefined) patch.url = url;
  if (secret !== undefined) patch.secret = secret;
  if (enabled !== undefined) patch.enabled = enabled;
  return { id: parseWebhookId(object.id), patch };
}
