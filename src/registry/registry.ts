import { EventEmitter } from 'node:events';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { conflict, invalid, notFound } from '../errors';
import { filterIsInsideTenant, filterProblem, tenantNameProblem } from '../tenancy/topics';
import { CredentialCache, hashPassword, verifyPasswordHash } from './passwords';
import { migrate } from './schema';
import { secretProblem } from '../webhooks/signing';
import { validateWebhookUrl } from '../webhooks/validate';
import { TopicStats } from './topic-stats';

export type IsolationStyle = 'prefix' | 'mountpoint';
export const ISOLATION_STYLES: readonly IsolationStyle[] = ['prefix', 'mountpoint'];

export interface Tenant {
  id: number;
  username: string;
  isolation: IsolationStyle;
  enabled: boolean;
  maxConnections: number;
  createdAt: number;
  updatedAt: number;
}

export interface NewTenant {
  username: string;
  password: string;
  isolation?: IsolationStyle;
  enabled?: boolean;
  maxConnections?: number;
}

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

export interface RegistryOptions {
  /** SQLite file, or ':memory:'. */
  path: string;
  /** Defaults for tenants created without these fields. */
  defaults?: { isolation?: IsolationStyle; maxConnections?: number };
  statsFlushIntervalMs?: number;
}

interface TenantRow {
  id: number;
  username: string;
  password_hash: string;
  isolation: IsolationStyle;
  enabled: number;
  max_connections: number;
  created_at: number;
  updated_at: number;
}

interface WebhookRow {
  id: number;
  tenant: string;
  topic_filter: string;
  url: string;
  enabled: number;
  secret: string | null;
  created_at: number;
  updated_at: number;
}

export interface RegistryEvents {
  'tenant-changed': [TenantChange];
  'webhooks-changed': [];
}

function toTenant(row: TenantRow): Tenant {
  return {
    id: row.id,
    username: row.username,
    isolation: row.isolation,
    enabled: row.enabled === 1,
    maxConnections: row.max_connections,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toWebhook(row: WebhookRow): Webhook {
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

function checkIsolation(value: unknown): IsolationStyle {
  if (value === 'prefix' || value === 'mountpoint') return value;
  throw invalid(`isolation must be "prefix" or "mountpoint", not ${JSON.stringify(value)}`, 'errors.bad-isolation');
}

function checkCount(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw invalid(`${name} must be a whole number, 0 or more (0: no limit)`, 'errors.bad-number', { field: name });
  }
  return value;
}

function checkPassword(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid('a password is required', 'errors.password-required');
  if (Buffer.byteLength(value) > 65535) throw invalid('a password is at most 65535 bytes', 'errors.password-too-long');
  return value;
}

function checkWebhookTarget(url: unknown, secret: unknown): void {
  const urlProblem = validateWebhookUrl(url);
  if (urlProblem) throw invalid(urlProblem, 'errors.bad-webhook-url');
  if (secret !== undefined && secret !== null && secret !== '') {
    const problem = typeof secret === 'string' ? secretProblem(secret) : 'a secret must be a string';
    if (problem) throw invalid(problem, 'errors.bad-webhook-secret');
  }
}

/**
 * The tenant registry: one SQLite file in WAL mode holding tenants, webhooks
 * and topic statistics. Tenants are also held in memory, so the per-connection
 * authentication path never touches SQLite; every change goes through this
 * class, which updates both and emits `tenant-changed` for the broker to act on.
 */
export class Registry extends EventEmitter<RegistryEvents> {
  readonly db: Database;
  readonly stats: TopicStats;
  private readonly tenants = new Map<string, Tenant>();
  private readonly hashes = new Map<string, string>();
  private readonly credentials = new CredentialCache();
  private readonly defaults: { isolation: IsolationStyle; maxConnections: number };
  private closed = false;
  /** Full scrypt verifications so far: shows the credential cache at work. */
  scryptChecks = 0;

  constructor(options: RegistryOptions) {
    super();
    this.defaults = {
      isolation: checkIsolation(options.defaults?.isolation ?? 'prefix'),
      maxConnections: checkCount('maxConnections', options.defaults?.maxConnections ?? 0),
    };
    this.db = new BetterSqlite3(options.path);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      this.db.pragma('busy_timeout = 5000');
      migrate(this.db);
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.stats = new TopicStats(this.db, options.statsFlushIntervalMs);
    this.loadTenants();
  }

  /** Re-reads tenants from the file, for edits made outside this process. */
  reload(): void {
    const before = new Map(this.tenants);
    const beforeHashes = new Map(this.hashes);
    this.loadTenants();
    this.credentials.clear();
    for (const [username, old] of before) {
      const now = this.tenants.get(username) ?? null;
      const changed = !now || JSON.stringify(now) !== JSON.stringify(old) || beforeHashes.get(username) !== this.hashes.get(username);
      if (changed) {
        this.emit('tenant-changed', {
          kind: now ? 'updated' : 'removed',
          username,
          before: old,
          after: now,
          passwordChanged: beforeHashes.get(username) !== this.hashes.get(username),
        });
      }
    }
    for (const [username, now] of this.tenants) {
      if (!before.has(username)) this.emit('tenant-changed', { kind: 'added', username, before: null, after: now, passwordChanged: false });
    }
    this.emit('webhooks-changed');
  }

  private loadTenants(): void {
    this.tenants.clear();
    this.hashes.clear();
    for (const row of this.db.prepare('SELECT * FROM tenants ORDER BY username').all() as TenantRow[]) {
      this.tenants.set(row.username, toTenant(row));
      this.hashes.set(row.username, row.password_hash);
    }
  }

  getTenant(username: string): Tenant | undefined {
    return this.tenants.get(username);
  }

  listTenants(): Tenant[] {
    return [...this.tenants.values()].sort((a, b) => a.username.localeCompare(b.username));
  }

  requireTenant(username: string): Tenant {
    const tenant = this.tenants.get(username);
    if (!tenant) throw notFound(`no tenant named ${JSON.stringify(username)}`, 'errors.unknown-tenant', { tenant: username });
    return tenant;
  }

  async addTenant(input: NewTenant): Promise<Tenant> {
    const problem = tenantNameProblem(input.username);
    if (problem) throw invalid(problem, 'errors.bad-tenant-name', { tenant: input.username });
    const password = checkPassword(input.password);
    const isolation = checkIsolation(input.isolation ?? this.defaults.isolation);
    const maxConnections = checkCount('maxConnections', input.maxConnections ?? this.defaults.maxConnections);
    const enabled = input.enabled ?? true;
    if (this.tenants.has(input.username)) throw this.exists(input.username);
    const hash = await hashPassword(password);
    // checked again: another add may have finished while scrypt ran
    if (this.tenants.has(input.username)) throw this.exists(input.username);
    const now = Date.now();
    const row = this.db
      .prepare(
        `INSERT INTO tenants (username, password_hash, isolation, enabled, max_connections, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      )
      .get(input.username, hash, isolation, enabled ? 1 : 0, maxConnections, now, now) as TenantRow;
    const tenant = toTenant(row);
    this.tenants.set(tenant.username, tenant);
    this.hashes.set(tenant.username, hash);
    this.emit('tenant-changed', { kind: 'added', username: tenant.username, before: null, after: tenant, passwordChanged: false });
    return tenant;
  }

  private exists(username: string) {
    return conflict(`a tenant named ${JSON.stringify(username)} exists already`, 'errors.tenant-exists', { tenant: username });
  }

  async updateTenant(username: string, patch: TenantPatch): Promise<Tenant> {
    const before = this.requireTenant(username);
    const isolation = patch.isolation === undefined ? before.isolation : checkIsolation(patch.isolation);
    const maxConnections = patch.maxConnections === undefined ? before.maxConnections : checkCount('maxConnections', patch.maxConnections);
    const enabled = patch.enabled === undefined ? before.enabled : Boolean(patch.enabled);
    const hash = patch.password === undefined ? undefined : await hashPassword(checkPassword(patch.password));
    if (!this.tenants.has(username)) this.requireTenant(username);
    const row = this.db
      .prepare(
        `UPDATE tenants SET isolation = ?, enabled = ?, max_connections = ?,
           password_hash = COALESCE(?, password_hash), updated_at = ?
         WHERE username = ? RETURNING *`,
      )
      .get(isolation, enabled ? 1 : 0, maxConnections, hash ?? null, Date.now(), username) as TenantRow;
    const after = toTenant(row);
    this.tenants.set(username, after);
    this.hashes.set(username, row.password_hash);
    this.credentials.forget(username);
    this.emit('tenant-changed', { kind: 'updated', username, before, after, passwordChanged: hash !== undefined });
    return after;
  }

  removeTenant(username: string): void {
    const before = this.requireTenant(username);
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM webhooks WHERE tenant = ?').run(username);
      this.db.prepare('DELETE FROM topic_stats WHERE tenant = ?').run(username);
      this.db.prepare('DELETE FROM tenants WHERE username = ?').run(username);
    })();
    this.stats.forgetTenant(username);
    this.tenants.delete(username);
    this.hashes.delete(username);
    this.credentials.forget(username);
    this.emit('tenant-changed', { kind: 'removed', username, before, after: null, passwordChanged: false });
    this.emit('webhooks-changed');
  }

  /**
   * Checks a tenant's password: scrypt on the first login, a cached keyed
   * digest afterwards (see CredentialCache). Unknown tenants fail the same way.
   */
  async verifyPassword(username: string, password: string): Promise<boolean> {
    const hash = this.hashes.get(username);
    if (hash === undefined) return false;
    const cached = this.credentials.check(username, password);
    if (cached !== undefined) return cached;
    this.scryptChecks++;
    const ok = await verifyPasswordHash(password, hash);
    // a change while scrypt ran makes this verdict stale: do not cache it
    if (ok && this.hashes.get(username) === hash) this.credentials.remember(username, password);
    return ok && this.hashes.get(username) === hash;
  }

  addWebhook(input: NewWebhook): Webhook {
    this.requireTenant(input.tenant);
    this.checkWebhookFilter(input.tenant, input.topicFilter);
    checkWebhookTarget(input.url, input.secret);
    const now = Date.now();
    const row = this.db
      .prepare('INSERT INTO webhooks (tenant, topic_filter, url, enabled, secret, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *')
      .get(input.tenant, input.topicFilter, input.url, input.enabled === false ? 0 : 1, input.secret || null, now, now) as WebhookRow;
    this.emit('webhooks-changed');
    return toWebhook(row);
  }

  private checkWebhookFilter(tenant: string, filter: string): void {
    const problem = filterProblem(filter);
    if (problem) throw invalid(problem, 'errors.bad-filter');
    if (!filterIsInsideTenant(filter, tenant)) {
      throw invalid(`the topic filter must start with "${tenant}/"`, 'errors.filter-outside-tenant', { tenant });
    }
  }

  listWebhooks(tenant?: string): Webhook[] {
    const rows = (tenant === undefined
      ? this.db.prepare('SELECT * FROM webhooks ORDER BY id').all()
      : this.db.prepare('SELECT * FROM webhooks WHERE tenant = ? ORDER BY id').all(tenant)) as WebhookRow[];
    return rows.map(toWebhook);
  }

  getWebhook(id: number): Webhook {
    const row = this.db.prepare('SELECT * FROM webhooks WHERE id = ?').get(id) as WebhookRow | undefined;
    if (!row) throw notFound(`no webhook with id ${id}`, 'errors.unknown-webhook', { id });
    return toWebhook(row);
  }

  updateWebhook(id: number, patch: Partial<Omit<NewWebhook, 'tenant'>>): Webhook {
    const before = this.getWebhook(id);
    const topicFilter = patch.topicFilter ?? before.topicFilter;
    const url = patch.url ?? before.url;
    this.checkWebhookFilter(before.tenant, topicFilter);
    const secret = patch.secret === undefined ? before.secret : patch.secret || null;
    checkWebhookTarget(url, secret);
    const enabled = patch.enabled === undefined ? before.enabled : Boolean(patch.enabled);
    const row = this.db
      .prepare('UPDATE webhooks SET topic_filter = ?, url = ?, enabled = ?, secret = ?, updated_at = ? WHERE id = ? RETURNING *')
      .get(topicFilter, url, enabled ? 1 : 0, secret, Date.now(), id) as WebhookRow;
    this.emit('webhooks-changed');
    return toWebhook(row);
  }

  removeWebhook(id: number): void {
    if (this.db.prepare('DELETE FROM webhooks WHERE id = ?').run(id).changes === 0) {
      throw notFound(`no webhook with id ${id}`, 'errors.unknown-webhook', { id });
    }
    this.emit('webhooks-changed');
  }

  /** Flushes pending statistics and closes the database; safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stats.close();
    this.db.close();
  }
}
