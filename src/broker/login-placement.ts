import type { Registry } from '../registry/registry';
import type { Device, Tenant } from '../registry/records';
import { admit, deviceAccess, type ConnectVerdict } from '../tenancy/policy';
import { placeAnswer, providerLayers } from '../tenancy/providers';
import type { Access, CompiledRule } from '../tenancy/rules';
import { ROOT_USER } from '../tenancy/topics';
import type { LoginResult } from './authenticator';
import { sessionKey, type ClientSession } from './connections';

export interface PlacementContext {
  username: string;
  clientId: string;
  /** Root has a password (MQTT); the HTTP adapter never admits root. */
  rootEnabled: boolean;
  allowSuperuser: boolean;
  /** Live connections of a tenant (or root) other than one with this session key. */
  liveConnections(owner: string, key: string): number;
  /** The same for a device. */
  liveLoginConnections(device: string, key: string): number;
}

export interface PlacedLogin {
  verdict: ConnectVerdict;
  /** The key aedes will know the connection by: a takeover happens only within one login of one tenant. */
  key: string;
  /** The registry device whose roles and limits apply. */
  device: string | null;
  /** A provider's login: its name and its own rules. */
  providerLogin: { login: string; rules: CompiledRule[] } | null;
}

/**
 * Where a login the chain found belongs: the registry's (root, a tenant's own
 * login, a device) admitted by `admit`, a provider's placed by `placeAnswer`
 * (the session key set from the provider's answer). The quotas count live
 * connections now: the caller adds the connection in the same synchronous step.
 */
export function placeLogin(registry: Registry, result: Exclude<LoginResult, { kind: 'refused' }>, ctx: PlacementContext): PlacedLogin {
  const { username, clientId } = ctx;
  if (result.kind === 'registry') {
    const login = username === ROOT_USER ? undefined : registry.login(username);
    const device = login?.device;
    const tenantName = login?.tenant.username ?? username;
    const key = sessionKey(tenantName, username, clientId);
    const verdict = admit({
      username,
      clientId,
      passwordOk: result.passwordOk,
      throttled: result.throttled,
      rootEnabled: ctx.rootEnabled,
      tenant: login?.tenant,
      device,
      liveConnections: () => ctx.liveConnections(tenantName, key),
      liveLoginConnections: () => (device ? ctx.liveLoginConnections(device.username, key) : 0),
    });
    return { verdict, key, device: device?.username ?? null, providerLogin: null };
  }
  const keyOf = (tenant: string, login: string) => sessionKey(tenant, login, clientId);
  const placed = placeAnswer(
    result.answer,
    {
      tenant: (name) => registry.getTenant(name),
      device: (tenant, name) => {
        const device = registry.devices.get(name);
        return device && device.tenant === tenant ? device : undefined;
      },
    },
    {
      username,
      clientId,
      mayGrantSuperuser: result.mayGrantSuperuser,
      allowSuperuser: ctx.allowSuperuser,
      liveConnections: (tenant, login) => ctx.liveConnections(tenant, keyOf(tenant, login)),
      liveLoginConnections: (device, login) => ctx.liveLoginConnections(device, keyOf(result.answer.tenant, login)),
    },
  );
  if (!('login' in placed)) return { verdict: placed.verdict, key: '', device: null, providerLogin: null };
  const { login } = placed;
  return { verdict: placed.verdict, key: keyOf(login.tenant ? login.tenant.username : ROOT_USER, login.login), device: login.device, providerLogin: { login: login.login, rules: login.rules } };
}

/**
 * The rules a login is held to: null for a tenant's own login (its whole
 * namespace); a device's roles; a provider's rules before the named device's
 * roles. Then the tenant's `device_default_access`.
 */
export function loginAccess(registry: Registry, tenant: Tenant, device: Device | undefined, provided: PlacedLogin['providerLogin'], clientId: string): Access | null {
  const deviceLayers = device ? registry.devices.layersOf(device) : [];
  if (provided) return deviceAccess(providerLayers(provided.rules, deviceLayers), tenant, { username: provided.login, clientId });
  if (!device) return null;
  return deviceAccess(deviceLayers, tenant, { username: device.username, clientId });
}

/** A device whose record is gone mid-connection may do nothing. */
const DENY_ALL: Access = { layers: [], defaultAllow: false, subject: { username: '', clientId: '' } };

/**
 * The rules a live connection is held to, compiled once per change of its
 * device, roles or tenant (a new version or tenant object), so a changed rule
 * applies to the next packet and no packet parses rules.
 */
export function sessionAccess(registry: Registry, session: ClientSession): Access | null {
  const provided = session.providerLogin;
  if (session.device === null && provided === null) return null;
  if (session.scope?.kind === 'root') return null;
  const tenant = session.scope?.kind === 'tenant' ? registry.getTenant(session.scope.tenant) : undefined;
  const device = session.device !== null ? registry.devices.get(session.device) : undefined;
  if (!tenant || (session.device !== null && !device)) return DENY_ALL;
  if (session.access && session.accessVersion === registry.devices.version && session.accessTenant === tenant) return session.access;
  session.access = loginAccess(registry, tenant, device, provided, session.clientId);
  session.accessVersion = registry.devices.version;
  session.accessTenant = tenant;
  return session.access;
}
