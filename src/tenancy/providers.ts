/**
 * The rules for logins that authentication providers (JWT, an HTTP service, a
 * flow, a certificate) admit: what a well-formed answer is, and how an allow
 * is placed in the model every registry login has — a tenant that exists and
 * is enabled, optionally a device of that tenant, and rules — so isolation and
 * the rule engine apply unchanged. Pure: the providers do the I/O.
 */
import { createHash } from 'node:crypto';
import type { ConnectVerdict, DevicePolicy } from './policy';
import { admit } from './policy';
import type { TenantPolicy } from '../model';
import { compileRules, ruleProblem, type AccessRule, type CompiledRule } from './rules';
import { ROOT_USER, tenantNameProblem } from './topics';

/** An allow as a provider answers it, already checked for shape (see parseAnswer). */
export interface AllowAnswer {
  result: 'allow';
  tenant: string;
  /** The device (login) name inside the tenant; its registry roles apply when a device of that name exists there. */
  device?: string;
  /** Asks for root: honoured only from the HTTP or flow provider, only when the broker allows superusers. */
  superuser?: boolean;
  /** Rules in the tenant's own view, evaluated before the device's roles. */
  rules?: AccessRule[];
  /** When the login's credentials stop being valid (epoch ms): the connection is closed then. */
  expiresAt?: number;
}

export type ProviderAnswer = AllowAnswer | { result: 'deny' } | { result: 'ignore' };

const MAX_RULES = 256;

/**
 * The answer of an HTTP service or a flow (`{"result", "tenant", "device"?,
 * "is_superuser"?, "acl"?}`), or why it is malformed (a provider failure).
 * Unknown fields are ignored, as EMQX's `client_attrs` would be.
 */
export function parseAnswer(raw: unknown): ProviderAnswer | { problem: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { problem: 'the answer is not a JSON object' };
  const r = raw as Record<string, unknown>;
  if (r.result === 'deny' || r.result === 'ignore') return { result: r.result };
  if (r.result !== 'allow') return { problem: 'result must be "allow", "deny" or "ignore"' };
  const superuser = r.is_superuser === true;
  if (r.is_superuser !== undefined && typeof r.is_superuser !== 'boolean') return { problem: 'is_superuser must be true or false' };
  if (!superuser && typeof r.tenant !== 'string') return { problem: 'an allow names its tenant' };
  if (r.tenant !== undefined && typeof r.tenant !== 'string') return { problem: 'tenant must be a string' };
  const device = r.device;
  if (device !== undefined && device !== null) {
    const problem = loginNameProblem(device);
    if (problem) return { problem: `device: ${problem}` };
  }
  const rules = rulesOf(r.acl);
  if ('problem' in rules) return rules;
  return {
    result: 'allow',
    tenant: (r.tenant as string | undefined) ?? ROOT_USER,
    ...(typeof device === 'string' ? { device } : {}),
    ...(superuser ? { superuser } : {}),
    ...(rules.rules ? { rules: rules.rules } : {}),
  };
}

/** Rules a provider hands over (an `acl` field or claim), checked as the admin API checks a role's. */
export function rulesOf(acl: unknown): { rules?: AccessRule[] } | { problem: string } {
  if (acl === undefined || acl === null) return {};
  if (!Array.isArray(acl)) return { problem: 'acl must be a list of rules' };
  if (acl.length > MAX_RULES) return { problem: `acl has more than ${MAX_RULES} rules` };
  for (const [i, rule] of acl.entries()) {
    const problem = ruleProblem(rule);
    if (problem) return { problem: `acl[${i}]: ${problem}` };
  }
  return { rules: acl as AccessRule[] };
}

/** A device name as a provider gives it: the syntax of registry logins, so it can be part of a session key. */
export function loginNameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return 'a login name is a string';
  return tenantNameProblem(name);
}

/** What the policy core needs of the registry to place an allow. */
export interface PlacementLookups {
  tenant(name: string): TenantPolicy | undefined;
  /** The registry device of that name, only if it belongs to that tenant. */
  device(tenant: string, name: string): (DevicePolicy & { username: string }) | undefined;
}

export interface ProviderLogin {
  /** Root, or the tenant the login is placed in. */
  tenant: TenantPolicy | null;
  /** The login's name: the session key's login part and `%u` in rules. */
  login: string;
  /** The registry device whose roles and limits apply, when one of that name exists in the tenant. */
  device: string | null;
  rules: CompiledRule[];
}

export type PlacementVerdict = { verdict: ConnectVerdict & { kind: 'allow' }; login: ProviderLogin } | { verdict: ConnectVerdict & { kind: 'refuse' } };

export interface PlacementFacts {
  /** The username of the CONNECT (or of HTTP Basic). */
  username: string;
  clientId: string;
  /** Which provider answered: superuser only from those that may grant it. */
  mayGrantSuperuser: boolean;
  /** The broker's `allow superuser` option. */
  allowSuperuser: boolean;
  liveConnections(tenant: string, login: string): number;
  liveLoginConnections(device: string, login: string): number;
}

/**
 * Places an allow: root only when asked by a provider that may grant it and
 * the broker allows it; otherwise the named tenant, which must exist and be
 * enabled (never created by a login), with the tenant's and the named
 * device's quotas, the device's enabled flag and its client id binding.
 */
export function placeAnswer(answer: AllowAnswer, lookups: PlacementLookups, facts: PlacementFacts): PlacementVerdict {
  const login = answer.device ?? stableLoginName(facts.username);
  if (answer.superuser) {
    if (!facts.mayGrantSuperuser || !facts.allowSuperuser) return { verdict: { kind: 'refuse', reason: 'superuser-refused' } };
    return { verdict: { kind: 'allow', scope: { kind: 'root' } }, login: { tenant: null, login, device: null, rules: [] } };
  }
  if (answer.tenant === ROOT_USER) return { verdict: { kind: 'refuse', reason: 'superuser-refused' } };
  const tenant = lookups.tenant(answer.tenant);
  if (!tenant) return { verdict: { kind: 'refuse', reason: 'unknown-tenant' } };
  const device = answer.device !== undefined ? lookups.device(tenant.username, answer.device) : undefined;
  const verdict = admit({
    username: login,
    clientId: facts.clientId,
    passwordOk: true,
    throttled: false,
    rootEnabled: false,
    tenant,
    device,
    liveConnections: () => facts.liveConnections(tenant.username, login),
    liveLoginConnections: () => (device ? facts.liveLoginConnections(device.username, login) : 0),
  });
  if (verdict.kind === 'refuse') return { verdict };
  return { verdict, login: { tenant, login, device: device?.username ?? null, rules: compileRules(answer.rules ?? []) } };
}

/**
 * A login name for a username that cannot be one (a JWT login's username is
 * free): session keys separate logins by `/` and `:`, so anything else is
 * replaced by a digest-like stand-in that is stable for the same username.
 */
export function stableLoginName(username: string): string {
  if (tenantNameProblem(username) === null) return username;
  return 'u-' + createHash('sha256').update(username).digest('base64url').slice(0, 22).replace(/[^A-Za-z0-9]/g, '0');
}

/** Rules a provider login is held to: its own before its device's roles, then the tenant's default. */
export function providerLayers(rules: readonly CompiledRule[], deviceLayers: ReadonlyArray<readonly CompiledRule[]>): ReadonlyArray<readonly CompiledRule[]> {
  return rules.length > 0 ? [rules, ...deviceLayers] : deviceLayers;
}

