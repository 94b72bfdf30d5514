import { invalid } from '../errors';
import type { IsolationStyle, TenantLimits } from '../model';
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
  isolation: IsolationStyle;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface NewTenant extends Partial<TenantLimits> {
  username: string;
  password: string;
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

