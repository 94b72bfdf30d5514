import type { Database } from 'better-sqlite3';
import type { AuditLog } from '../audit/audit-log';
import { conflict, invalid, notFound } from '../errors';
import { compileRules, type CompiledRule } from '../tenancy/rules';
import { hashPassword } from './passwords';
import {
  checkClientId,
  checkLoginName,
  checkPassword,
  checkRoleName,
  checkRules,
  toDevice,
  toRole,
  type Device,
  type DeviceChange,
  type DevicePatch,
  type DeviceRow,
  type NewDevice,
  type Role,
  type RoleRow,
  type Tenant,
} from './records';

/** What the device store needs from the registry it belongs to. */
export interface DeviceStoreHost {
  db: Database;
  audit: AuditLog;
  requireTenant(username: string): Tenant;
  /** A login name is taken by a tenant (device names are unique across tenants and devices). */
  isTenantName(username: string): boolean;
  /** Takes in commits of other processes first (see Registry). */
  catchUp(): void;
  serially<T>(key: string, task: () => Promise<T>): Promise<T>;
  deviceChanged(change: DeviceChange): void;
  /** A role changed: rules apply to the next packet of every login. */
  rolesChanged(tenant: string): void;
}

/** Devices and roles as read from the file in one transaction. */
export interface DeviceFile {
  devices: Map<string, Device>;
  hashes: Map<string, string>;
  roles: Map<string, Map<string, Role>>;
}

/**
 * Devices (logins inside a tenant) and roles (ordered rules per tenant), in
 * SQLite and mirrored in memory like tenants, so a login or a packet never
 * queries SQLite. Rules are compiled once per change; `version` moves on
 * every change, so holders of compiled access know to look again.
 */
export class DeviceStore {
  private devices = new Map<string, Device>();
  private hashes = new Map<string, string>();
  private roles = new Map<string, Map<string, Role>>();
  private readonly compiled = new Map<Role, CompiledRule[]>();
  /** Moves on every change of a device or role. */
  version = 0;

  constructor(private readonly host: DeviceStoreHost) {}

  read(): DeviceFile {
    const devices = new Map<string, Device>();
    const hashes = new Map<string, string>();
    for (const row of this.host.db.prepare('SELECT * FROM devices ORDER BY username').all() as DeviceRow[]) {
      devices.set(row.username, toDevice(row));
      hashes.set(row.username, row.password_hash);
    }
    const roles = new Map<string, Map<string, Role>>();
    for (const row of this.host.db.prepare('SELECT * FROM roles ORDER BY tenant, name').all() as RoleRow[]) {
      let of = roles.get(row.tenant);
      if (!of) roles.set(row.tenant, (of = new Map()));
      of.set(row.name, toRole(row));
    }
    return { devices, hashes, roles };
  }

  /** Takes what was read as the current state; returns the device changes (a role change shows in `version`). */
  swap(file: DeviceFile): { devices: DeviceChange[]; roles: boolean } {
    const changes: DeviceChange[] = [];
    for (const [username, before] of this.devices) {
      const after = file.devices.get(username) ?? null;
      const passwordChanged = after !== null && this.hashes.get(username) !== file.hashes.get(username);
      if (!after || passwordChanged || JSON.stringify(after) !== JSON.stringify(before)) changes.push({ kind: after ? 'updated' : 'removed', username, tenant: before.tenant, before, after, passwordChanged });
    }
    for (const [username, after] of file.devices) if (!this.devices.has(username)) changes.push({ kind: 'added', username, tenant: after.tenant, before: null, after, passwordChanged: false });
    const roles = JSON.stringify([...file.roles].map(([t, m]) => [t, [...m.values()]])) !== JSON.stringify([...this.roles].map(([t, m]) => [t, [...m.values()]]));
    ({ devices: this.devices, hashes: this.hashes, roles: this.roles } = file);
    this.compiled.clear();
    if (changes.length > 0 || roles) this.version++;
    return { devices: changes, roles };
  }

  get(username: string): Device | undefined {
    return this.devices.get(username);
  }

  hashOf(username: string): string | undefined {
    return this.hashes.get(username);
  }

  /** Every device of every tenant. */
  all(): IterableIterator<Device> {
    return this.devices.values();
  }

  list(tenant: string): Device[] {
    return [...this.devices.values()].filter((d) => d.tenant === tenant);
  }

  require(username: string): Device {
    const device = this.devices.get(username);
    if (!device) throw notFound(`no device named ${JSON.stringify(username)}`, 'errors.unknown-device', { device: username });
    return device;
  }

  /** The device's rules, role by role in its order (roles that no longer exist contribute nothing). */
  layersOf(device: Device): CompiledRule[][] {
    const roles = this.roles.get(device.tenant);
    const layers: CompiledRule[][] = [];
    for (const name of device.roles) {
      const role = roles?.get(name);
      if (!role) continue;
      let rules = this.compiled.get(role);
      if (!rules) this.compiled.set(role, (rules = compileRules(role.rules)));
      layers.push(rules);
    }
    return layers;
  }

  add(input: NewDevice): Promise<Device> {
    return this.host.serially(String(input?.username), async () => {
      const tenant = this.host.requireTenant(String(input.tenant));
      const username = checkLoginName(input.username);
      const password = checkPassword(input.password);
      const roles = this.checkRoles(tenant.username, input.roles ?? []);
      const clientId = checkClientId(input.clientId);
      const maxConnections = checkCount(input.maxConnections ?? 0, 'max_connections');
      this.checkFree(username);
      const hash = await hashPassword(password);
      this.host.catchUp();
      this.checkFree(username);
      const now = Date.now();
      const row = this.host.db
        .prepare('INSERT INTO devices (tenant, username, password_hash, enabled, roles, client_id, max_connections, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *')
        .get(tenant.username, username, hash, input.enabled === false ? 0 : 1, JSON.stringify(roles), clientId, maxConnections, now, now) as DeviceRow;
      const device = toDevice(row);
      this.devices.set(username, device);
      this.hashes.set(username, hash);
      this.version++;
      this.host.audit.record(tenant.username, 'admin', 'device.add', { device: username, roles });
      this.host.deviceChanged({ kind: 'added', username, tenant: tenant.username, before: null, after: device, passwordChanged: false });
      return device;
    });
  }

  update(username: string, patch: DevicePatch): Promise<Device> {
    return this.host.serially(username, async () => {
      const checked = this.require(username);
      if (patch.roles !== undefined) this.checkRoles(checked.tenant, patch.roles);
      if (patch.clientId !== undefined) checkClientId(patch.clientId);
      if (patch.maxConnections !== undefined) checkCount(patch.maxConnections, 'max_connections');
      const hash = patch.password === undefined ? undefined : await hashPassword(checkPassword(patch.password));
      this.host.catchUp();
      const before = this.require(username);
      const roles = patch.roles === undefined ? before.roles : this.checkRoles(before.tenant, patch.roles);
      const row = this.host.db
        .prepare('UPDATE devices SET password_hash = COALESCE(?, password_hash), enabled = ?, roles = ?, client_id = ?, max_connections = ?, updated_at = ? WHERE username = ? RETURNING *')
        .get(
          hash ?? null,
          (patch.enabled === undefined ? before.enabled : Boolean(patch.enabled)) ? 1 : 0,
          JSON.stringify(roles),
          patch.clientId === undefined ? before.clientId : checkClientId(patch.clientId),
          patch.maxConnections ?? before.maxConnections,
          Date.now(),
          username,
        ) as DeviceRow;
      const after = toDevice(row);
      this.devices.set(username, after);
      this.hashes.set(username, row.password_hash);
      this.version++;
      const changed = (Object.keys(after) as Array<keyof Device>).filter((k) => k !== 'updatedAt' && JSON.stringify(after[k]) !== JSON.stringify(before[k]));
      this.host.audit.record(before.tenant, 'admin', 'device.update', { device: username, changed: hash === undefined ? changed : [...changed, 'password'] });
      this.host.deviceChanged({ kind: 'updated', username, tenant: before.tenant, before, after, passwordChanged: hash !== undefined });
      return after;
    });
  }

  remove(username: string): void {
    this.host.catchUp();
    const before = this.require(username);
    this.host.db.prepare('DELETE FROM devices WHERE username = ?').run(username);
    this.devices.delete(username);
    this.hashes.delete(username);
    this.version++;
    this.host.audit.record(before.tenant, 'admin', 'device.remove', { device: username });
    this.host.deviceChanged({ kind: 'removed', username, tenant: before.tenant, before, after: null, passwordChanged: false });
  }

  /** Remembers when a device last connected (memory at once; SQLite written as it happens, rarely per device). */
  seen(username: string, at = Date.now()): void {
    const device = this.devices.get(username);
    if (!device) return;
    device.lastSeen = at;
    this.host.db.prepare('UPDATE devices SET last_seen = ? WHERE username = ?').run(at, username);
  }

  /** Forgets a removed tenant's devices and roles (SQLite removed them with the tenant). */
  forgetTenant(tenant: string): DeviceChange[] {
    const changes: DeviceChange[] = [];
    for (const device of this.list(tenant)) {
      this.devices.delete(device.username);
      this.hashes.delete(device.username);
      changes.push({ kind: 'removed', username: device.username, tenant, before: device, after: null, passwordChanged: false });
    }
    this.roles.delete(tenant);
    this.version++;
    return changes;
  }

  listRoles(tenant: string): Role[] {
    return [...(this.roles.get(tenant)?.values() ?? [])];
  }

  setRole(tenant: string, name: string, rules: unknown, mode: 'add' | 'update'): Role {
    this.host.catchUp();
    this.host.requireTenant(tenant);
    checkRoleName(name);
    const checked = checkRules(rules);
    const of = this.roles.get(tenant) ?? new Map<string, Role>();
    const before = of.get(name);
    if (mode === 'add' && before) throw conflict(`a role named ${JSON.stringify(name)} exists already`, 'errors.role-exists', { role: name });
    if (mode === 'update' && !before) throw notFound(`no role named ${JSON.stringify(name)}`, 'errors.unknown-role', { role: name });
    const now = Date.now();
    const row = this.host.db
      .prepare('INSERT INTO roles (tenant, name, rules, created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, name) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at RETURNING *')
      .get(tenant, name, JSON.stringify(checked), before?.createdAt ?? now, now) as RoleRow;
    const role = toRole(row);
    of.set(name, role);
    this.roles.set(tenant, of);
    this.version++;
    this.host.audit.record(tenant, 'admin', `role.${mode}`, { role: name, rules: checked.length });
    this.host.rolesChanged(tenant);
    return role;
  }

  removeRole(tenant: string, name: string): void {
    this.host.catchUp();
    if (!this.roles.get(tenant)?.has(name)) throw notFound(`no role named ${JSON.stringify(name)}`, 'errors.unknown-role', { role: name });
    const users = this.list(tenant).filter((d) => d.roles.includes(name));
    if (users.length > 0) throw conflict(`role ${JSON.stringify(name)} is used by ${users.map((d) => d.username).join(', ')}`, 'errors.role-in-use', { role: name });
    this.host.db.prepare('DELETE FROM roles WHERE tenant = ? AND name = ?').run(tenant, name);
    this.roles.get(tenant)!.delete(name);
    this.version++;
    this.host.audit.record(tenant, 'admin', 'role.remove', { role: name });
    this.host.rolesChanged(tenant);
  }

  private checkFree(username: string): void {
    if (this.devices.has(username) || this.host.isTenantName(username) || username === 'root') {
      throw conflict(`the name ${JSON.stringify(username)} is taken`, 'errors.login-exists', { device: username });
    }
  }

  private checkRoles(tenant: string, roles: unknown): string[] {
    if (!Array.isArray(roles) || roles.some((r) => typeof r !== 'string')) throw invalid('roles must be a list of role names', 'errors.bad-field', { field: 'roles' });
    const known = this.roles.get(tenant);
    const unknown = (roles as string[]).find((r) => !known?.has(r));
    if (unknown !== undefined) throw invalid(`no role named ${JSON.stringify(unknown)} in tenant ${JSON.stringify(tenant)}`, 'errors.unknown-role', { role: unknown });
    return roles as string[];
  }
}

function checkCount(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw invalid(`${field} must be a whole number, 0 or more (0: no limit)`, 'errors.bad-number', { field });
  return value;
}
