import { invalid } from '../errors';
import type { IsolationStyle, TenantLimits } from '../model';
import { ruleProblem, type AccessRule } from '../tenancy/rules';
import { namespaceProblem, tenantNameProblem } from '../tenancy/topics';
import { secretProblem } from '../webhooks/signing';
import { validateWebhookUrl } from '../webhooks/validate';
import { LIMIT_FIELDS, limitsFromRow } from './limits';

/**
 * What the registry stores, as the engine sees it and as SQLite rows, and the
 * checks a value passes before it is written.
 */

export interface Tenant extends TenantLimits {
  id: number;
  username: string;
  /** The topic prefix of the tenant's topics (default: its username). */
  namespace: string;
  isolation: IsolationStyle;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface NewTenant extends Partial<TenantLimits> {
  username: string;
  password: string;
  namespace?: string;
  isolation?: IsolationStyle;
  enabled?: boolean;
}

/** What a broker sets for tenants created without these fields. */
export type TenantDefaults = Partial<TenantLimits> & { isolation?: IsolationStyle };

export type TenantPatch = Partial<Omit<NewTenant, 'username'>>;

export interface TenantChange {
  kind: 'added' | 'updated' | 'removed';
  username: string;
  before: Tenant | null;
  after: Tenant | null;
  passwordChanged: boolean;
}

export interface Webhook {
  id: number;
  tenant: string;
  topicFilter: string;
  url: string;
  enabled: boolean;
  /** Standard Webhooks signing secret; never shown over HTTP. */
  secret: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface NewWebhook {
  tenant: string;
  topicFilter: string;
  url: string;
  enabled?: boolean;
  /** null removes a secret on update. */
  secret?: string | null;
}

export interface TenantRow {
  id: number;
  username: string;
  namespace: string | null;
  password_hash: string;
  isolation: IsolationStyle;
  enabled: number;
  created_at: number;
  updated_at: number;
  [limit: string]: unknown;
}

export interface WebhookRow {
  id: number;
  tenant: string;
  topic_filter: string;
  url: string;
  enabled: number;
  secret: string | null;
  created_at: number;
  updated_at: number;
}

export function toTenant(row: TenantRow): Tenant {
  return {
    id: row.id,
    username: row.username,
    namespace: row.namespace ?? row.username,
    isolation: row.isolation,
    enabled: row.enabled === 1,
    ...limitsFromRow(row),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export const LIMIT_COLUMNS = LIMIT_FIELDS.map((f) => f.column);

export function toWebhook(row: WebhookRow): Webhook {
  return {
    id: row.id,
    tenant: row.tenant,
    topicFilter: row.topic_filter,
    url: row.url,
    enabled: row.enabled === 1,
    secret: row.secret,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function checkIsolation(value: unknown): IsolationStyle {
  if (value === 'prefix' || value === 'mountpoint') return value;
  throw invalid(`isolation must be "prefix" or "mountpoint", not ${JSON.stringify(value)}`, 'errors.bad-isolation');
}

export function checkPassword(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid('a password is required', 'errors.password-required');
  if (Buffer.byteLength(value) > 65535) throw invalid('a password is at most 65535 bytes', 'errors.password-too-long');
  return value;
}

export function checkWebhookTarget(url: unknown, secret: unknown): void {
  const urlProblem = validateWebhookUrl(url);
  if (urlProblem) throw invalid(urlProblem, 'errors.bad-webhook-url');
  if (secret !== undefined && secret !== null && secret !== '') {
    const problem = typeof secret === 'string' ? secretProblem(secret) : 'a secret must be a string';
    if (problem) throw invalid(problem, 'errors.bad-webhook-secret');
  }
}


export function checkNamespace(value: unknown): string {
  const problem = namespaceProblem(value);
  if (problem) throw invalid(problem, 'errors.bad-namespace');
  return value as string;
}

// ------------------------------------------------------------------ devices and roles

/** A login of one tenant: its own password, roles and limits, in the tenant's namespace. */
export interface Device {
  id: number;
  tenant: string;
  username: string;
  enabled: boolean;
  /** Role names, evaluated in this order. */
  roles: string[];
  /** When set, the only client id the device may connect with. */
  clientId: string | null;
  /** Connections of this device at once (0: no limit); the tenant's limit applies too. */
  maxConnections: number;
  /** When it last connected (ms), or null. */
  lastSeen: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface NewDevice {
  tenant: string;
  username: string;
  password: string;
  roles?: string[];
  enabled?: boolean;
  clientId?: string | null;
  maxConnections?: number;
}

export type DevicePatch = Partial<Omit<NewDevice, 'tenant' | 'username'>>;

export interface DeviceChange {
  kind: 'added' | 'updated' | 'removed';
  username: string;
  tenant: string;
  before: Device | null;
  after: Device | null;
  passwordChanged: boolean;
}

/** A named, ordered list of rules of one tenant. */
export interface Role {
  tenant: string;
  name: string;
  rules: AccessRule[];
  createdAt: number;
  updatedAt: number;
}

export interface DeviceRow {
  id: number;
  tenant: string;
  username: string;
  password_hash: string;
  enabled: number;
  roles: string;
  client_id: string | null;
  max_connections: number;
  last_seen: number | null;
  created_at: number;
  updated_at: number;
}

export interface RoleRow {
  tenant: string;
  name: string;
  rules: string;
  created_at: number;
  updated_at: number;
}

export function toDevice(row: DeviceRow): Device {
  return {
    id: row.id,
    tenant: row.tenant,
    username: row.username,
    enabled: row.enabled === 1,
    roles: JSON.parse(row.roles) as string[],
    clientId: row.client_id,
    maxConnections: row.max_connections,
    lastSeen: row.last_seen,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toRole(row: RoleRow): Role {
  return { tenant: row.tenant, name: row.name, rules: JSON.parse(row.rules) as AccessRule[], createdAt: row.created_at, updatedAt: row.updated_at };
}

/** A device's login name: the syntax of tenant names. */
export function checkLoginName(value: unknown): string {
  const problem = tenantNameProblem(value);
  if (problem) throw invalid(problem.replace('tenant name', 'device name'), 'errors.bad-device-name', { device: String(value) });
  return value as string;
}

export function checkRoleName(value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(value)) {
    throw invalid('a role name is 1 to 64 characters: letters, digits, "_", "." and "-", starting with a letter or digit', 'errors.bad-role-name');
  }
  return value;
}

/** Checks every rule, naming the first bad one. */
export function checkRules(value: unknown): AccessRule[] {
  if (!Array.isArray(value)) throw invalid('rules must be a list', 'errors.bad-rule', { index: 0 });
  if (value.length > 1000) throw invalid('a role holds at most 1000 rules', 'errors.bad-rule', { index: 1000 });
  value.forEach((rule, index) => {
    const problem = ruleProblem(rule);
    if (problem) throw invalid(`rule ${index + 1}: ${problem}`, 'errors.bad-rule', { index: index + 1 });
  });
  return value as AccessRule[];
}

export function checkClientId(value: unknown): string | null {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value !== 'string' || Buffer.byteLength(value) > 65535 || value.includes('\u0000')) throw invalid('client_id must be a client identifier', 'errors.bad-field', { field: 'client_id' });
  return value;
}
