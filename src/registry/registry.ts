import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { conflict, invalid, notFound } from '../errors';
import { ISOLATION_STYLES, type IsolationStyle } from '../model';
import type { TenantDirectory } from '../tenancy/flows';
import { tenantNameProblem } from '../tenancy/topics';
import { BROKER_DEFAULTS } from '../defaults';
import { hashPassword } from './passwords';
import { LoginPasswords } from './login-passwords';
import { deleteTenantRows, insertTenantRow, readTenantRows, updateTenantRow } from './tenant-rows';
import { mergeLimits, NO_LIMITS, type TenantLimits } from './limits';
import { migrate } from './schema';
import { checkIsolation, checkNamespace, checkPassword, toTenant, type Device, type DeviceChange, type NewTenant, type NewWebhook, type Tenant, type TenantChange, type TenantDefaults, type TenantPatch, type Webhook } from './records';
import { DeviceStore, type DeviceFile } from './devices';
import { PolicyStore } from './policies';
import { WebhookStore } from './webhooks';
import { NamespaceIndex } from './namespaces';
import { TopicStats } from './topic-stats';
import { CommitWatcher, diffTenants, watchIntervalMs, type ReloadResult, type ReloadTrigger, type WatchRegistry } from './reload';
import { AuditLog } from '../audit/audit-log';

export { ISOLATION_STYLES, type IsolationStyle };
export type { Device, DeviceChange, DevicePatch, NewDevice, NewTenant, NewWebhook, Role, Tenant, TenantChange, TenantDefaults, TenantPatch, Webhook } from './records';

/** Who a login name is: a tenant's own login, or a device of a tenant. */
export type Login = { tenant: Tenant; device?: undefined } | { tenant: Tenant; device: Device };

export interface RegistryOptions {
  /** SQLite file, or ':memory:'. */
  path: string;
  /** Defaults for tenants created without these fields. */
  defaults?: TenantDefaults;
  statsFlushIntervalMs?: number;
  /** Audit rows kept (oldest pruned). Default 10,000. */
  auditMaxRows?: number;
  /**
   * Notice commits that other processes make to the file (the sqlite3 shell)
   * and reload by itself, by polling `PRAGMA data_version`: true (default,
   * every second), `{ intervalMs }`, or false (outside edits wait for `reload()`).
   */
  watchRegistry?: WatchRegistry;
  /** Password hashing for logins: how many at a time, and how many logins of one username may wait. */
  hashing?: { concurrency?: number; queuePerUsername?: number };
}

export interface RegistryEvents {
  'tenant-changed': [TenantChange];
  /** A device was added, changed or removed (its tenant's removal included). */
  'device-changed': [DeviceChange];
  /** A role of this tenant changed: rules apply to the next packet of every login. */
  'roles-changed': [string];
  /** The message policies of this tenant changed. */
  'policies-changed': [string];
  'webhooks-changed': [];
  /** Watching the file failed (reported once until it works again; the next poll retries). */
  'watch-error': [Error];
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
  /** Administrative changes (recorded here, where they happen) and security denials (recorded by the broker). */
  readonly audit: AuditLog;
  /** Logins inside tenants, and their roles. */
  readonly devices: DeviceStore;
  /** Message policies per tenant. */
  readonly policies: PolicyStore;
  /** Webhooks registered at run time. */
  private readonly webhooks: WebhookStore;
  private tenants = new Map<string, Tenant>();
  /** Tenants by namespace: the tenant of a full topic, and the checks of a namespace. */
  readonly namespaces: NamespaceIndex;
  private readonly pendingChanges = new Map<string, Promise<unknown>>();
  private hashes = new Map<string, string>();
  private readonly passwords: LoginPasswords;
  private readonly defaults: { isolation: IsolationStyle; limits: TenantLimits };
  private readonly watcher: CommitWatcher;
  private readonly watching: boolean;
  private closed = false;
  /** Full scrypt verifications so far: shows the credential cache at work. */
  get scryptChecks(): number {
    return this.passwords.scryptChecks;
  }
  /** Reads of the file after the first (requested, or after a commit found by the watch). */
  reloads = 0;

  constructor(options: RegistryOptions) {
    super();
    const { isolation, ...limits } = options.defaults ?? {};
    this.defaults = { isolation: checkIsolation(isolation ?? 'prefix'), limits: mergeLimits(NO_LIMITS, limits) };
    // no other process can commit to a private in-memory or temporary database
    const watchMs = options.path === ':memory:' || options.path === '' ? null : watchIntervalMs(options.watchRegistry);
    this.passwords = new LoginPasswords((username) => this.hashes.get(username) ?? this.devices.hashOf(username), {
      concurrency: options.hashing?.concurrency ?? BROKER_DEFAULTS.login.hashConcurrency,
      queuePerUsername: options.hashing?.queuePerUsername ?? BROKER_DEFAULTS.login.hashQueuePerUsername,
    });
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
    this.audit = new AuditLog(this.db, { maxRows: options.auditMaxRows });
    this.watching = watchMs !== null;
    this.watcher = new CommitWatcher(this.db, watchMs, () => this.reload('watch'), (err) => this.emit('watch-error', err));
    this.devices = new DeviceStore({
      db: this.db,
      audit: this.audit,
      requireTenant: (username) => this.requireTenant(username),
      isTenantName: (username) => this.tenants.has(username),
      catchUp: () => this.catchUp(),
      serially: (key, task) => this.serially(key, task),
      deviceChanged: (change) => {
        this.passwords.forget(change.username);
        this.emit('device-changed', change);
      },
      rolesChanged: (tenant) => this.emit('roles-changed', tenant),
    });
    this.namespaces = new NamespaceIndex({ webhooksOf: (tenant) => this.webhooks.list(tenant).length });
    this.webhooks = new WebhookStore(this.db, this.audit, {
      requireTenant: (username) => this.requireTenant(username),
      catchUp: () => this.catchUp(),
      changed: () => this.emit('webhooks-changed'),
    });
    this.policies = new PolicyStore(this.db, this.audit, (tenant) => {
      this.requireTenant(tenant);
      this.emit('policies-changed', tenant);
    });
    const read = this.readFile();
    ({ tenants: this.tenants, hashes: this.hashes } = read);
    this.webhooks.seen(read.webhookRows);
    this.namespaces.index(this.tenants.values());
    this.devices.swap(read.devices);
    this.policies.swap(read.policies);
  }

  /** The tenant whose namespace holds a full topic. */
  tenantOfTopic(fullTopic: string): Tenant | undefined {
    return this.namespaces.tenantOfTopic(fullTopic);
  }

  /** The tenants as the policy core looks them up. */
  readonly directory: TenantDirectory & { all(): Tenant[] } = {
    tenant: (name) => this.tenants.get(name),
    tenantOfTopic: (topic) => this.namespaces.tenantOfTopic(topic),
    all: () => this.listTenants(),
  };

  /** The tenant login or the device of that name, with its tenant. */
  login(username: string): Login | undefined {
    const tenant = this.tenants.get(username);
    if (tenant) return { tenant };
    const device = this.devices.get(username);
    const owner = device && this.tenants.get(device.tenant);
    return device && owner ? { tenant: owner, device } : undefined;
  }

  /**
   * Re-reads tenants and webhooks from the file, for edits made outside this
   * process, and handles each tenant added, changed or removed as if it had
   * been changed here (`tenant-changed`; `webhooks-changed` when a webhook
   * did). Unchanged tenants keep their clients and verified passwords. Audited
   * as `registry.reload`; for the watch only when it found a change.
   */
  reload(trigger: ReloadTrigger = 'request'): ReloadResult {
    const version = this.watcher.current();
    const read = this.readFile();
    this.watcher.markSeen(version);
    this.reloads++;
    const changes = diffTenants(this.tenants, this.hashes, read.tenants, read.hashes);
    const result: ReloadResult = { tenants: changes.map((c) => c.username), webhooks: this.webhooks.seen(read.webhookRows) };
    ({ tenants: this.tenants, hashes: this.hashes } = read);
    this.namespaces.index(this.tenants.values());
    const devices = this.devices.swap(read.devices);
    const policies = this.policies.swap(read.policies);
    for (const change of changes) {
      this.passwords.forget(change.username);
      if (!change.after) this.stats.forgetTenant(change.username);
    }
    for (const change of devices.devices) this.passwords.forget(change.username);
    const found = changes.length > 0 || result.webhooks || devices.devices.length > 0 || devices.roles || policies.length > 0;
    if (trigger !== 'watch' || found) this.audit.record(null, 'admin', 'registry.reload', { trigger, ...result, ...(devices.devices.length > 0 ? { devices: devices.devices.map((c) => c.username) } : {}) });
    for (const change of changes) this.emit('tenant-changed', change);
    for (const change of devices.devices) this.emit('device-changed', change);
    if (devices.roles) for (const tenant of this.tenants.keys()) this.emit('roles-changed', tenant);
    for (const tenant of policies) this.emit('policies-changed', tenant);
    if (result.webhooks) this.emit('webhooks-changed');
    return result;
  }

  /** Polls of the watch so far (0 while watching is off). */
  get watchPolls(): number {
    return this.watcher.polls;
  }

  /**
   * Takes in a commit made elsewhere that the watch has not reached yet, so a
   * change made here never undoes one it has not seen (an update writes every
   * column). Only while watching: without it, outside edits wait for reload().
   */
  catchUp(): void {
    if (this.watching && this.watcher.changed()) this.reload('watch');
  }

  /** Tenants, their hashes, devices, roles and the webhook rows, read in one transaction (as of one commit). */
  private readFile(): { tenants: Map<string, Tenant>; hashes: Map<string, string>; webhookRows: string; devices: DeviceFile; policies: ReturnType<PolicyStore['read']> } {
    return this.db.transaction(() => ({ ...readTenantRows(this.db), webhookRows: this.webhooks.rows(), devices: this.devices.read(), policies: this.policies.read() }))();
  }

  /**
   * The broker's identity, made once per registry file: persisted sessions,
   * in-flight messages and wills are keyed by it, so a restarted broker must
   * find them under the same id.
   */
  brokerId(): string {
    const row = this.db.prepare("SELECT value FROM broker_meta WHERE key = 'broker_id'").get() as { value: string } | undefined;
    if (row) return row.value;
    const id = randomUUID();
    this.db.prepare("INSERT INTO broker_meta (key, value) VALUES ('broker_id', ?)").run(id);
    return id;
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

  /**
   * Runs changes of one tenant one after another, in the order asked: a
   * password is hashed between reading a tenant and writing it back, and two
   * changes interleaving there would lose one.
   */
  serially<T>(username: string, task: () => Promise<T>): Promise<T> {
    const previous = this.pendingChanges.get(username) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.pendingChanges.set(username, tail);
    void tail.then(() => {
      if (this.pendingChanges.get(username) === tail) this.pendingChanges.delete(username);
    });
    return result;
  }

  addTenant(input: NewTenant): Promise<Tenant> {
    return this.serially(String(input?.username), () => this.addNow(input));
  }

  private async addNow(input: NewTenant): Promise<Tenant> {
    const problem = tenantNameProblem(input.username);
    if (problem) throw invalid(problem, 'errors.bad-tenant-name', { tenant: input.username });
    const password = checkPassword(input.password);
    const isolation = checkIsolation(input.isolation ?? this.defaults.isolation);
    const limits = mergeLimits(this.defaults.limits, input);
    const enabled = input.enabled ?? true;
    const namespace = input.namespace === undefined ? input.username : checkNamespace(input.namespace);
    const free = () => {
      if (this.tenants.has(input.username)) throw this.exists(input.username);
      if (this.devices.get(input.username)) throw conflict(`the name ${JSON.stringify(input.username)} is a device's`, 'errors.login-exists', { device: input.username });
      this.namespaces.checkTaking(input.username, namespace);
    };
    free();
    const hash = await hashPassword(password);
    // checked again: another add (here or outside) may have finished while scrypt ran
    this.catchUp();
    free();
    const tenant = toTenant(insertTenantRow(this.db, { username: input.username, isolation, namespace, enabled, limits, now: Date.now() }, hash));
    this.tenants.set(tenant.username, tenant);
    this.namespaces.index(this.tenants.values());
    this.hashes.set(tenant.username, hash);
    this.audit.record(tenant.username, 'admin', 'tenant.add', { isolation, enabled });
    this.emit('tenant-changed', { kind: 'added', username: tenant.username, before: null, after: tenant, passwordChanged: false });
    return tenant;
  }

  private exists(username: string) {
    return conflict(`a tenant named ${JSON.stringify(username)} exists already`, 'errors.tenant-exists', { tenant: username });
  }

  updateTenant(username: string, patch: TenantPatch): Promise<Tenant> {
    return this.serially(username, () => this.updateNow(username, patch));
  }

  private async updateNow(username: string, patch: TenantPatch): Promise<Tenant> {
    // everything is checked before the scrypt wait, and merged after it into the
    // tenant as it is then: a concurrent update must not be undone by this one
    const checked = this.requireTenant(username);
    if (patch.isolation !== undefined) checkIsolation(patch.isolation);
    if (patch.namespace !== undefined) this.namespaces.checkChange(checked, checkNamespace(patch.namespace));
    mergeLimits(checked, patch);
    const hash = patch.password === undefined ? undefined : await hashPassword(checkPassword(patch.password));
    this.catchUp();
    const before = this.requireTenant(username);
    const isolation = patch.isolation ?? before.isolation;
    const namespace = patch.namespace ?? before.namespace;
    if (namespace !== before.namespace) this.namespaces.checkChange(before, namespace);
    const limits = mergeLimits(before, patch);
    const enabled = patch.enabled === undefined ? before.enabled : Boolean(patch.enabled);
    const row = updateTenantRow(this.db, { username, isolation, namespace, enabled, limits, now: Date.now() }, hash);
    const after = toTenant(row);
    this.tenants.set(username, after);
    this.namespaces.index(this.tenants.values());
    this.hashes.set(username, row.password_hash);
    this.passwords.forget(username);
    const changed = (Object.keys(after) as Array<keyof Tenant>).filter((key) => key !== 'updatedAt' && after[key] !== before[key]);
    this.audit.record(username, 'admin', 'tenant.update', { changed: hash === undefined ? changed : [...changed, 'password'] });
    this.emit('tenant-changed', { kind: 'updated', username, before, after, passwordChanged: hash !== undefined });
    return after;
  }

  removeTenant(username: string): void {
    this.catchUp();
    const before = this.requireTenant(username);
    deleteTenantRows(this.db, username);
    this.stats.forgetTenant(username);
    this.tenants.delete(username);
    this.namespaces.index(this.tenants.values());
    const devices = this.devices.forgetTenant(username);
    this.policies.forgetTenant(username);
    this.hashes.delete(username);
    this.passwords.forget(username);
    this.audit.record(username, 'admin', 'tenant.remove');
    this.emit('tenant-changed', { kind: 'removed', username, before, after: null, passwordChanged: false });
    for (const change of devices) this.emit('device-changed', change);
    this.webhooks.written();
  }

  /** Whether the password is the tenant's or the device's (see LoginPasswords). */
  verifyPassword(username: string, password: string): Promise<boolean> {
    return this.passwords.verify(username, password);
  }

  /** Whether the password is the one last verified for this login, without hashing (for a throttled login). */
  passwordVerifiedBefore(username: string, password: string): boolean {
    return this.passwords.verifiedBefore(username, password);
  }

  /** Forgets every verified password, so each login's next check runs scrypt again (a benchmark's cold start). */
  forgetVerifiedPasswords(): void {
    this.passwords.clear();
  }

  addWebhook(input: NewWebhook): Webhook {
    return this.webhooks.add(input);
  }

  listWebhooks(tenant?: string): Webhook[] {
    return this.webhooks.list(tenant);
  }

  getWebhook(id: number): Webhook {
    return this.webhooks.get(id);
  }

  updateWebhook(id: number, patch: Partial<Omit<NewWebhook, 'tenant'>>): Webhook {
    return this.webhooks.update(id, patch);
  }

  removeWebhook(id: number): void {
    this.webhooks.remove(id);
  }

  /** Flushes pending statistics and closes the database; safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher.close();
    this.stats.close();
    this.audit.close();
    this.db.close();
  }
}
