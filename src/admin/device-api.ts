import { invalid } from '../errors';
import type { LiveClient } from '../broker/live-clients';
import type { Device, DevicePatch, NewDevice, Role } from '../registry/registry';
import type { AccessRule } from '../tenancy/rules';
import { asObject, onlyFields } from './tenant-api';

/**
 * The JSON shapes of devices, roles and live clients over HTTP, shared by the
 * admin API and the editor's routes: snake_case fields, never a password hash.
 */
export interface DeviceView {
  tenant: string;
  username: string;
  enabled: boolean;
  roles: string[];
  client_id: string | null;
  max_connections: number;
  connections: number;
  last_seen: string | null;
  created_at: string;
  updated_at: string;
}

export interface RoleView {
  tenant: string;
  name: string;
  rules: AccessRule[];
  /** The tenant's devices that hold this role. */
  devices: string[];
}

export interface ClientView {
  client_id: string;
  login: string;
  /** Who admitted it: registry, certificate, jwt, http or flow. */
  provider: string;
  transport: string;
  address: string | null;
  connected_since: string;
  subscriptions: string[];
  messages_in: number;
  messages_out: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function deviceView(device: Device, connections: number): DeviceView {
  return {
    tenant: device.tenant,
    username: device.username,
    enabled: device.enabled,
    roles: [...device.roles],
    client_id: device.clientId,
    max_connections: device.maxConnections,
    connections,
    last_seen: device.lastSeen === null ? null : iso(device.lastSeen),
    created_at: iso(device.createdAt),
    updated_at: iso(device.updatedAt),
  };
}

export function roleView(role: Role, devices: string[]): RoleView {
  return { tenant: role.tenant, name: role.name, rules: role.rules, devices };
}

export function clientView(client: LiveClient): ClientView {
  return {
    client_id: client.clientId,
    login: client.login,
    provider: client.provider,
    transport: client.transport,
    address: client.remoteAddress ?? null,
    connected_since: iso(client.connectedAt),
    subscriptions: client.subscriptions,
    messages_in: client.messagesIn,
    messages_out: client.messagesOut,
  };
}

/** A required string field: present and not empty (400 naming it otherwise). */
export function requireString(object: Record<string, unknown>, field: string): string {
  const value = object[field];
  if (typeof value !== 'string' || value.length === 0) throw invalid(`${field} is required (a string)`, 'errors.bad-field', { field });
  return value;
}

function optional<T>(object: Record<string, unknown>, field: string, check: (v: unknown) => v is T, what: string): T | undefined {
  const value = object[field];
  if (value === undefined) return undefined;
  if (!check(value)) throw invalid(`${field} must be ${what}`, 'errors.bad-field', { field });
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const isNames = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isClientId = (v: unknown): v is string | null => v === null || typeof v === 'string';
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

const DEVICE_FIELDS = ['password', 'roles', 'enabled', 'client_id', 'max_connections'];

/** The updatable fields of a device; `username` names it and is not a change. */
export function parseDevicePatch(body: unknown): DevicePatch {
  const object = asObject(body);
  onlyFields(object, ['username', ...DEVICE_FIELDS]);
  const patch: DevicePatch = {};
  const password = optional(object, 'password', isString, 'a string');
  const roles = optional(object, 'roles', isNames, 'a list of role names');
  const enabled = optional(object, 'enabled', isBoolean, 'true or false');
  const clientId = optional(object, 'client_id', isClientId, 'a client identifier, or null for any');
  const maxConnections = optional(object, 'max_connections', isCount, 'a whole number, 0 or more (0: no limit)');
  if (password !== undefined) patch.password = password;
  if (roles !== undefined) patch.roles = roles;
  if (enabled !== undefined) patch.enabled = enabled;
  if (clientId !== undefined) patch.clientId = clientId;
  if (maxConnections !== undefined) patch.maxConnections = maxConnections;
  return patch;
}

/** A new device; `tenant` may come from the route instead of the body (the editor's). */
export function parseNewDevice(body: unknown, routeTenant?: string): NewDevice {
  const object = asObject(body);
  onlyFields(object, ['tenant', 'username', ...DEVICE_FIELDS]);
  const tenant = sameTenant(object, routeTenant);
  const username = requireString(object, 'username');
  const patch = parseDevicePatch(Object.fromEntries(Object.entries(object).filter(([key]) => key !== 'tenant')));
  if (patch.password === undefined || patch.password === '') throw invalid('a password is required', 'errors.password-required');
  return { ...patch, tenant, username, password: patch.password };
}

/** A role's name and rules; `tenant` (and `name`) may come from the route. */
export function parseRole(body: unknown, route: { tenant?: string; name?: string } = {}): { tenant: string; name: string; rules: unknown } {
  const object = asObject(body);
  onlyFields(object, ['tenant', 'name', 'rules']);
  const tenant = sameTenant(object, route.tenant);
  let name = route.name;
  if (name === undefined) name = requireString(object, 'name');
  else if (object.name !== undefined && object.name !== name) throw invalid('name must be the role the route names', 'errors.bad-field', { field: 'name' });
  if (object.rules === undefined) throw invalid('rules is required (a list of rules)', 'errors.bad-field', { field: 'rules' });
  return { tenant, name, rules: object.rules };
}

/** The tenant a body names, or the route's: both given, they must agree. */
export function sameTenant(object: Record<string, unknown>, routeTenant: string | undefined): string {
  if (routeTenant === undefined) return requireString(object, 'tenant');
  if (object.tenant !== undefined && object.tenant !== routeTenant) throw invalid('tenant must be the tenant the route names', 'errors.bad-field', { field: 'tenant' });
  return routeTenant;
}

/** `{"tenant","client_id"}` of a client kick; `tenant` may come from the route. */
export function parseClientKick(body: unknown, routeTenant?: string): { tenant: string; clientId: string } {
  const object = asObject(body);
  onlyFields(object, ['tenant', 'client_id']);
  const tenant = sameTenant(object, routeTenant);
  if (typeof object.client_id !== 'string') throw invalid('client_id is required (a string)', 'errors.bad-field', { field: 'client_id' });
  return { tenant, clientId: object.client_id };
}
