import { invalid, TenantBrokerError, type ErrorCode } from '../errors';
import { checkLimit, LIMIT_FIELDS } from '../registry/limits';
import type { NewTenant, Tenant, TenantPatch } from '../registry/registry';

/**
 * The JSON shape of tenants over HTTP, shared by the editor's Tenants tab
 * (Node-RED admin routes) and the tenant-admin API: snake_case fields, never
 * a password hash.
 */
export interface TenantView {
  username: string;
  /** The topic prefix of its topics (default: its username). */
  namespace: string;
  isolation: string;
  enabled: boolean;
  max_connections: number;
  max_msgs_per_sec: number;
  max_tenant_msgs_per_sec: number;
  max_payload_bytes: number;
  max_qos: number;
  allow_retain: boolean;
  max_subscriptions: number;
  denied_publish: string;
  max_queued_messages: number;
  max_queued_bytes: number;
  max_retained_messages: number;
  max_retained_bytes: number;
  device_default_access: string;
  connections: number;
  created_at: string;
  updated_at: string;
}

export function tenantView(tenant: Tenant, connections: number): TenantView {
  const limits = Object.fromEntries(LIMIT_FIELDS.map(({ key, column }) => [column, tenant[key]]));
  return {
    username: tenant.username,
    namespace: tenant.namespace,
    isolation: tenant.isolation,
    enabled: tenant.enabled,
    ...(limits as Omit<TenantView, 'username' | 'namespace' | 'isolation' | 'enabled' | 'connections' | 'created_at' | 'updated_at'>),
    connections,
    created_at: new Date(tenant.createdAt).toISOString(),
    updated_at: new Date(tenant.updatedAt).toISOString(),
  };
}

export function asObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('the request body must be a JSON object', 'errors.body-not-object');
  return body as Record<string, unknown>;
}

function optional<T>(body: Record<string, unknown>, field: string, check: (v: unknown) => v is T, what: string): T | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (!check(value)) throw invalid(`${field} must be ${what}`, 'errors.bad-field', { field });
  return value;
}

/** Refuses fields outside `known`, so a typo is not silently ignored. */
export function onlyFields(object: Record<string, unknown>, known: readonly string[]): void {
  const unknown = Object.keys(object).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw invalid(`unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')}`, 'errors.unknown-field', { field: unknown[0] });
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';

/** Reads the updatable fields; unknown fields are refused so a typo is not silently ignored. */
export function parseTenantPatch(body: unknown, allowed: readonly string[] = []): TenantPatch {
  const object = asObject(body);
  onlyFields(object, ['username', 'password', 'namespace', 'isolation', 'enabled', ...LIMIT_FIELDS.map((f) => f.column), ...allowed]);
  const patch: TenantPatch = {
    password: optional(object, 'password', isString, 'a string'),
    namespace: optional(object, 'namespace', isString, 'a topic prefix of one or more levels'),
    isolation: optional(object, 'isolation', (v): v is 'prefix' | 'mountpoint' => v === 'prefix' || v === 'mountpoint', '"prefix" or "mountpoint"'),
    enabled: optional(object, 'enabled', isBoolean, 'true or false'),
  };
  for (const { key, column } of LIMIT_FIELDS) {
    if (object[column] !== undefined) (patch as Record<string, unknown>)[key] = checkLimit(key, object[column], column);
  }
  return patch;
}

export function parseNewTenant(body: unknown): NewTenant {
  const patch = parseTenantPatch(body);
  const username = asObject(body).username;
  if (typeof username !== 'string') throw invalid('username must be a string', 'errors.bad-field', { field: 'username' });
  if (patch.password === undefined) throw invalid('a password is required', 'errors.password-required');
  return { ...patch, username, password: patch.password };
}

export function requireUsername(body: unknown): string {
  const username = asObject(body).username;
  if (typeof username !== 'string' || username.length === 0) throw invalid('username is required', 'errors.bad-field', { field: 'username' });
  return username;
}

const HTTP_STATUS: Record<ErrorCode, number> = { invalid: 400, 'not-found': 404, conflict: 409, unavailable: 503 };

/** HTTP status and JSON body for an error: 4xx for the client's mistakes, 500 for ours. */
export function errorResponse(err: unknown): { status: number; body: { status: 'error'; error: string } } {
  if (err instanceof TenantBrokerError) return { status: HTTP_STATUS[err.code], body: { status: 'error', error: err.message } };
  return { status: 500, body: { status: 'error', error: err instanceof Error ? err.message : String(err) } };
}
