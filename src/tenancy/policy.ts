/**
 * The policy core: every rule about tenants, as pure decisions. Each takes who
 * acts (a scope), what they ask for (a packet or request) and the tenant's
 * limits, and answers with a verdict: allowed (with the full topic or filter,
 * the granted QoS, the retain flag, a wait for rate limits), refused (with the
 * reason events, audit and metrics use), or discarded (acknowledged and
 * dropped). No I/O and no aedes: the broker's hooks, the in-process API, the
 * webhooks and the admin API ask here and only carry the answer out.
 */
import type { AppliedLimit, DenialReason, RefusalReason, Scope, TenantPolicy } from '../model';
import { GrantIndex } from './grants';
import { MAX_THROTTLE_MS, TokenBucket, type TenantBuckets } from './rate';
import { isInsideTenant, ROOT_USER } from './topics';
import { checkMessage, type PolicyOutcome, type PolicySet, type Violation } from './message-policies';
import { mayPublish, mayReceive, maySubscribe, type Access } from './rules';
import { hiddenFromWildcards, mountFilter, mountTopic, namesDollarLevel, tenantViewOf, viewOf } from './views';

/** What the core keeps per connection: its scope and what its rules depend on. */
export interface ClientPolicyState {
  /** Set once authenticated: until then every decision refuses. */
  scope: Scope | null;
  /** Filters the client holds: full filter → the filter as the client wrote it (for max_subscriptions and listings). */
  filters: Map<string, string>;
  /** The same filters with their granted QoS, for the QoS of a delivery. */
  grants: GrantIndex;
  /** The full filters among them that name a `$` first level of the client's view (see hiddenFromWildcards). */
  dollarFilters: GrantIndex;
  /** The client's own max_msgs_per_sec bucket, made on its first publish. */
  bucket: TokenBucket | null;
}

export function newClientPolicyState(): ClientPolicyState {
  return { scope: null, filters: new Map(), grants: new GrantIndex(), dollarFilters: new GrantIndex(), bucket: null };
}

// ------------------------------------------------------------------ verdicts

export type PublishVerdict =
  | { kind: 'allow'; topic: string; retain: boolean; wait: number; applied: readonly AppliedLimit[]; violations?: Violation[] }
  | { kind: 'refuse'; reason: DenialReason; violations?: Violation[] }
  /** Acknowledged and dropped: never stored, forwarded, counted or sent to webhooks. */
  | { kind: 'discard'; reason: DenialReason; violations?: Violation[] };

/** The message policies a publish is checked against: those of the tenant whose namespace holds the topic. */
export interface PolicyCheck {
  set: PolicySet;
  namespace: string;
  payload: Buffer;
}

export type SubscribeVerdict = { kind: 'allow'; filter: string; qos: 0 | 1 | 2; applied: AppliedLimit[] } | { kind: 'refuse'; reason: DenialReason };

export type ConnectVerdict = { kind: 'allow'; scope: Scope } | { kind: 'refuse'; reason: RefusalReason };

/** A delivery as the receiving scope sees it, or null: not delivered. */
export type DeliveryVerdict = { topic: string; qos: 0 | 1 | 2 } | null;

export const refuse = (reason: DenialReason) => ({ kind: 'refuse', reason }) as const;

// ------------------------------------------------------------------ CONNECT

// [MQTT-3.1.3-5] MQTT 3.1 capped identifiers at 23 bytes; 3.1.1 lets servers accept more.
const MQTT31_MAX_CLIENT_ID = 23;

/** The identifier checks that need no credentials; CONNACK 2 when one fails. */
export function identifierProblem(connect: { clientId: string; clean: boolean; protocolVersion: number }): RefusalReason | null {
  // [MQTT-3.1.3-8] an empty identifier needs clean session
  if (connect.clientId === '' && !connect.clean) return 'identifier-rejected';
  if (connect.protocolVersion === 3 && Buffer.byteLength(connect.clientId) > MQTT31_MAX_CLIENT_ID) return 'identifier-rejected';
  return null;
}

/** What a device adds to its tenant's rules at login. */
export interface DevicePolicy {
  enabled: boolean;
  /** When set, the only client id the device may connect with. */
  clientId: string | null;
  /** Its own connection limit (0: none); the tenant's applies as well. */
  maxConnections: number;
}

export interface LoginFacts {
  username: string;
  /** The client id the CONNECT carries (an assigned one for an empty id). */
  clientId: string;
  /**
   * The password matched root's, the tenant's or the device's stored hash;
   * while the login is throttled, only whether it matched a password verified
   * before (no hashing).
   */
  passwordOk: boolean;
  /** Too many failed logins of this username or from this address lately (see LoginFailures). */
  throttled: boolean;
  /** Root has a password at all. */
  rootEnabled: boolean;
  /** The tenant of the login: the tenant's own login, or the device's tenant. */
  tenant: TenantPolicy | undefined;
  /** Set when the login is a device's. */
  device?: DevicePolicy;
  /**
   * The tenant's live connections, this client's own earlier connection (a
   * takeover) not counted; a function is called only when a quota needs it
   * (counting walks every connection of the tenant).
   */
  liveConnections: Count;
  /** The same for the device alone. */
  liveLoginConnections?: Count;
}

type Count = number | (() => number);
const countOf = (count: Count | undefined): number => (typeof count === 'function' ? count() : (count ?? 0));

export function tenantScope(tenant: Pick<TenantPolicy, 'username' | 'namespace' | 'isolation'>): Scope {
  return { kind: 'tenant', tenant: tenant.username, namespace: tenant.namespace, isolation: tenant.isolation };
}

/**
 * Who a login is, or why it is refused. A throttled login is refused with
 * CONNACK 5 whether its username exists or not, unless its password is one
 * verified before: an attacker's flood of wrong passwords must not lock out a
 * fleet whose devices log in with the right one.
 *
 * The connection quota is checked against the live count taken in the same
 * synchronous step that adds the connection (hooks.ts): simultaneous first
 * logins sharing one scrypt can never all see the same count.
 */
export function admit(facts: LoginFacts): ConnectVerdict {
  if (facts.username === ROOT_USER) {
    if (!facts.rootEnabled) return { kind: 'refuse', reason: 'root-disabled' };
    if (facts.throttled && !facts.passwordOk) return { kind: 'refuse', reason: 'login-throttled' };
    return facts.passwordOk ? { kind: 'allow', scope: { kind: 'root' } } : { kind: 'refuse', reason: 'bad-credentials' };
  }
  if (facts.throttled && !facts.passwordOk) return { kind: 'refuse', reason: 'login-throttled' };
  const tenant = facts.tenant;
  const device = facts.device;
  if (!facts.passwordOk || !tenant) return { kind: 'refuse', reason: 'bad-credentials' };
  if (!tenant.enabled) return { kind: 'refuse', reason: 'tenant-disabled' };
  if (device && !device.enabled) return { kind: 'refuse', reason: 'login-disabled' };
  if (device?.clientId != null && device.clientId !== facts.clientId) return { kind: 'refuse', reason: 'identifier-rejected' };
  if (tenant.maxConnections > 0 && countOf(facts.liveConnections) >= tenant.maxConnections) return { kind: 'refuse', reason: 'over-quota' };
  if (device && device.maxConnections > 0 && countOf(facts.liveLoginConnections) >= device.maxConnections) return { kind: 'refuse', reason: 'over-quota' };
  return { kind: 'allow', scope: tenantScope(tenant) };
}

/** A will as CONNECT gives it (topic in the client's view) or as it is published (full topic). */
export interface WillRequest {
  topic: string;
  payloadBytes: number;
  retain: boolean;
}

export type WillVerdict = { kind: 'allow'; topic: string; retain: boolean; applied: AppliedLimit[] } | { kind: 'refuse'; reason: RefusalReason };

/**
 * A will given at CONNECT: mounted once (it may be stored and published after
 * a restart), inside the namespace, within the tenant's max_payload_bytes
 * (else CONNACK 5), and retained only where the tenant allows retain (else the
 * flag is cleared), within the login's rules, as a publish of the same
 * message would be.
 */
export function decideWill(scope: Scope, will: WillRequest, tenant: TenantPolicy | undefined, access: Access | null = null): WillVerdict {
  const target = mountTopic(scope, will.topic);
  if (!target.ok) return { kind: 'refuse', reason: 'will-denied' };
  if (scope.kind === 'root' || !tenant) return { kind: 'allow', topic: target.topic, retain: will.retain, applied: [] };
  // a device's rules apply to its will as to a publish
  if (!mayPublish(access, tenantViewOf(scope.namespace, target.topic)!).allow) return { kind: 'refuse', reason: 'will-denied' };
  if (tenant.maxPayloadBytes > 0 && will.payloadBytes > tenant.maxPayloadBytes) return { kind: 'refuse', reason: 'will-too-large' };
  if (will.retain && !tenant.allowRetain) return { kind: 'allow', topic: target.topic, retain: false, applied: ['retain'] };
  return { kind: 'allow', topic: target.topic, retain: will.retain, applied: [] };
}

/** A will about to be published (already mounted at CONNECT, perhaps stored across a restart): still inside its owner's namespace. */
export function storedWillAllowed(owner: Scope | null, fullTopic: string): boolean {
  if (!owner) return false;
  if (owner.kind === 'root') return !fullTopic.startsWith('$SYS/');
  return isInsideTenant(fullTopic, owner.namespace);
}

/**
 * A will about to be published, its own client's (gone without DISCONNECT) or
 * one kept across a restart (`rate.client` is then a fresh state): inside its
 * owner's namespace, and within the tenant's limits as they are now (they may
 * have changed since CONNECT). A will cannot wait for its rate as a client's
 * publish does: over the client's or the tenant's rate it is dropped.
 */
export function decideWillPublish(owner: Scope | null, will: WillRequest, tenant: TenantPolicy | undefined, rate: RateState): PublishVerdict {
  if (!owner || !storedWillAllowed(owner, will.topic)) return refuse('outside-namespace');
  if (owner.kind === 'root') return { kind: 'allow', topic: will.topic, retain: will.retain, wait: 0, applied: [] };
  if (!tenant || !tenant.enabled) return refuse('outside-namespace');
  if (tenant.maxPayloadBytes > 0 && will.payloadBytes > tenant.maxPayloadBytes) return refuse('payload-too-large');
  if (tenant.maxMsgsPerSec > 0) {
    const client = rate.client;
    if (!client.bucket || client.bucket.rate !== tenant.maxMsgsPerSec) client.bucket = new TokenBucket(tenant.maxMsgsPerSec);
    if (!client.bucket.tryTake()) return refuse('rate-limit');
  }
  if (!rate.tenants.tryTake(tenant.username, tenant.maxTenantMsgsPerSec)) return refuse('rate-limit');
  const retain = will.retain && tenant.allowRetain;
  return { kind: 'allow', topic: will.topic, retain, wait: 0, applied: retain === will.retain ? [] : ['retain'] };
}

/** The owner (tenant or root) of an authenticated scope, as connection counts and kicks know it. */
export function ownerOf(scope: Scope): string {
  return scope.kind === 'root' ? ROOT_USER : scope.tenant;
}

// ------------------------------------------------------------------ PUBLISH

export interface PublishRequest {
  /** In the publisher's view. */
  topic: string;
  payloadBytes: number;
  retain: boolean;
}

/** The rate state a publish draws on: the client's bucket (in its policy state) and the tenant-wide ones. */
export interface RateState {
  client: ClientPolicyState;
  tenants: TenantBuckets;
}

/**
 * A PUBLISH of an authenticated client (or of a flow, with its own state).
 * Root is limited by nothing but the reserved `$SYS`; a tenant's publish must
 * fit its namespace and limits. A refusal closes the connection, or with the
 * tenant's `denied_publish: drop` is a discard [MQTT-3.3.5-2 allows either].
 */
export function decidePublish(scope: Scope, request: PublishRequest, tenant: TenantPolicy | undefined, rate: RateState | null, access: Access | null = null, policies?: PolicyCheck): PublishVerdict {
  const target = mountTopic(scope, request.topic);
  if (scope.kind === 'root') {
    if (!target.ok) return refuse(target.reason);
    // root is not exempt from a tenant's message policies
    const outcome = policies ? checkMessage(policies.set, tenantViewOf(policies.namespace, target.topic) ?? target.topic, policies.payload) : null;
    return withPolicy(outcome, { kind: 'allow', topic: target.topic, retain: request.retain, wait: 0, applied: [] });
  }
  if (!tenant) return refuse('outside-namespace');
  const denial = (reason: DenialReason): PublishVerdict => (tenant.deniedPublish === 'drop' ? { kind: 'discard', reason } : refuse(reason));
  if (!target.ok) return denial(target.reason);
  // the view only for whoever reads it: most logins have neither rules nor policies
  const view = access || policies ? tenantViewOf(scope.namespace, target.topic)! : '';
  if (access && !mayPublish(access, view).allow) return denial('rule-denied');
  if (tenant.maxPayloadBytes > 0 && request.payloadBytes > tenant.maxPayloadBytes) return denial('payload-too-large');
  const outcome = policies ? checkMessage(policies.set, view, policies.payload) : null;
  if (outcome && outcome.action !== 'detect') return withPolicy(outcome, refuse('policy-violation'));
  const retainRefused = request.retain && !tenant.allowRetain;
  const wait = rate ? throttle(rate, tenant) : 0;
  // a client that keeps exceeding its rate would wait ever longer: it goes instead
  if (wait > MAX_THROTTLE_MS) return refuse('rate-limit');
  const applied: readonly AppliedLimit[] = retainRefused ? (wait > 0 ? ['retain', 'rate'] : ['retain']) : wait > 0 ? ['rate'] : NONE_APPLIED;
  return withPolicy(outcome, { kind: 'allow', topic: target.topic, retain: request.retain && !retainRefused, wait, applied });
}

/** Shared by every verdict that applied no limit: nothing reads it but to iterate. */
const NONE_APPLIED: readonly AppliedLimit[] = Object.freeze([]);

/**
 * A failed message policy decides by its action, whatever the tenant's
 * denied_publish: close refuses (the connection goes), drop discards, detect
 * delivers; the violations go with the verdict to be counted and audited.
 */
function withPolicy(outcome: PolicyOutcome | null, verdict: PublishVerdict): PublishVerdict {
  if (!outcome) return verdict;
  if (outcome.action === 'close') return { kind: 'refuse', reason: 'policy-violation', violations: outcome.violations };
  if (outcome.action === 'drop') return { kind: 'discard', reason: 'policy-violation', violations: outcome.violations };
  return { ...verdict, violations: outcome.violations };
}

/** How long this publish must wait for the client's and the tenant's rate (0: none). */
function throttle(rate: RateState, tenant: TenantPolicy): number {
  let wait = 0;
  if (tenant.maxMsgsPerSec > 0) {
    const client = rate.client;
    if (!client.bucket || client.bucket.rate !== tenant.maxMsgsPerSec) client.bucket = new TokenBucket(tenant.maxMsgsPerSec);
    wait = client.bucket.take();
  }
  return Math.max(wait, rate.tenants.take(tenant.username, tenant.maxTenantMsgsPerSec));
}

// ------------------------------------------------------------------ SUBSCRIBE, UNSUBSCRIBE, restore

/**
 * One filter of a SUBSCRIBE, in the subscriber's view. `held` is the client's
 * filters so far (full), for `max_subscriptions`; a filter it holds already is
 * a replacement and never counts twice.
 */
export function decideSubscribe(scope: Scope, filter: string, qos: 0 | 1 | 2, tenant: TenantPolicy | undefined, held: { has(filter: string): boolean; readonly size: number }, access: Access | null = null): SubscribeVerdict {
  const target = mountFilter(scope, filter);
  if (!target.ok) return refuse(target.reason);
  if (scope.kind === 'root') return { kind: 'allow', filter: target.topic, qos, applied: [] };
  if (!tenant) return refuse('outside-namespace');
  const rule = maySubscribe(access, tenantViewOf(scope.namespace, target.topic)!);
  if (!rule.allow) return refuse('rule-denied');
  if (tenant.maxSubscriptions > 0 && !held.has(target.topic) && held.size >= tenant.maxSubscriptions) return refuse('too-many-subscriptions');
  const cap = Math.min(tenant.maxQos, rule.maxQos) as 0 | 1 | 2;
  return qos > cap ? { kind: 'allow', filter: target.topic, qos: cap, applied: ['qos'] } : { kind: 'allow', filter: target.topic, qos, applied: [] };
}

/** Records an allowed subscription (at its granted QoS) in the client's state. */
export function holdFilter(state: ClientPolicyState, fullFilter: string, viewFilter: string, qos: 0 | 1 | 2): void {
  state.filters.set(fullFilter, viewFilter);
  state.grants.hold(fullFilter, qos);
  if (namesDollarLevel(viewFilter)) state.dollarFilters.hold(fullFilter, qos);
}

/** The full filter an UNSUBSCRIBE names (a filter the scope could never hold is left as it is: it matches nothing held). */
export function decideUnsubscribe(scope: Scope, filter: string): string {
  const target = mountFilter(scope, filter);
  return target.ok ? target.topic : filter;
}

export function releaseFilter(state: ClientPolicyState, fullFilter: string): void {
  state.filters.delete(fullFilter);
  state.grants.release(fullFilter);
  state.dollarFilters.release(fullFilter);
}

/** A filter of a persistent session restored at CONNECT: stored mounted, it only has to be inside the scope. */
export function decideRestore(scope: Scope, fullFilter: string, access: Access | null = null): boolean {
  if (scope.kind === 'root') return true;
  const view = viewOf(scope, fullFilter);
  return view !== null && mountFilter(scope, view).ok && maySubscribe(access, tenantViewOf(scope.namespace, fullFilter)!).allow;
}

/** Records a restored subscription in the client's state. */
export function holdRestored(state: ClientPolicyState, fullFilter: string, qos: 0 | 1 | 2): void {
  const scope = state.scope!;
  holdFilter(state, fullFilter, scope.kind === 'root' ? fullFilter : viewOf(scope, fullFilter)!, qos);
}

// ------------------------------------------------------------------ delivery

/**
 * A message on `fullTopic` about to be sent to a client of this scope: live,
 * retained or queued. It goes at most at the highest QoS among the client's
 * subscriptions matching it [MQTT-3.3.5-1]; a lookup whose cost does not
 * grow with the client's subscription count (see GrantIndex).
 */
export function decideDelivery(state: ClientPolicyState, fullTopic: string, qos: 0 | 1 | 2, tenant: TenantPolicy | undefined, access: Access | null = null): DeliveryVerdict {
  const scope = state.scope;
  if (!scope) return null;
  const topic = viewOf(scope, fullTopic);
  if (topic === null) return null;
  if (hiddenFromWildcards(scope, topic) && state.dollarFilters.highest(fullTopic) < 0) return null;
  // aedes downgrades to the subscription's QoS only for a subscription equal to the topic [MQTT-3.8.4-6];
  // a subscription of QoS 0 delivers through aedes' deliver0, so only QoS 2 needs the lookup
  const highest = qos === 2 ? state.grants.highest(fullTopic) : -1;
  let granted = (highest < 0 ? qos : Math.min(qos, highest)) as 0 | 1 | 2;
  if (tenant && granted > tenant.maxQos) granted = tenant.maxQos;
  if (access && scope.kind === 'tenant') {
    // read rights are checked on every delivery: a narrower deny inside an allowed wildcard holds, a revoked one at once
    const rule = mayReceive(access, tenantViewOf(scope.namespace, fullTopic)!);
    if (!rule.allow) return null;
    if (granted > rule.maxQos) granted = rule.maxQos;
  }
  return { topic, qos: granted };
}

/** What a change of a device does to its live connections: disabled, removed, re-passworded or rebound to another client id, they go. */
export function deviceConnectionsAfterChange(before: DevicePolicy, after: DevicePolicy | null, passwordChanged: boolean): { kind: 'kick' } | null {
  if (!after || !after.enabled || passwordChanged || after.clientId !== before.clientId) return { kind: 'kick' };
  return null;
}

/**
 * What a change of a device does to the sessions its logins left in the
 * store: a removed device's go at once (subscriptions, queued messages, will),
 * and a new device inherits nothing left under its name, whatever its tenant
 * had before.
 */
export function deviceSessionsAfterChange(before: DevicePolicy | null, after: DevicePolicy | null): 'purge' | 'open' | null {
  if (before && !after) return 'purge';
  if (!before && after) return 'open';
  return null;
}

/**
 * A persistent session left by a login while the broker was down: kept only
 * while its tenant exists and, for a device's, while that device still exists
 * in the same tenant. Root's are always kept.
 */
export function sessionOwnerExists(owner: { tenant: string; login: string }, isTenant: (name: string) => boolean, tenantOfDevice: (login: string) => string | undefined): boolean {
  if (owner.tenant === ROOT_USER) return true;
  if (!isTenant(owner.tenant)) return false;
  return owner.login === owner.tenant || tenantOfDevice(owner.login) === owner.tenant;
}

/** The rules a device's connection is held to: its roles' rules in order, then the tenant's default. */
export function deviceAccess(layers: Access['layers'], tenant: TenantPolicy, subject: Access['subject']): Access {
  return { layers, defaultAllow: tenant.deviceDefaultAccess === 'allow', subject };
}

/** A kick names a tenant or root; anything else is unknown. */
export function kickTarget(name: string, isTenant: (name: string) => boolean): string | null {
  return name === ROOT_USER || isTenant(name) ? name : null;
}

/**
 * What a change of a tenant does to its live connections: removed, disabled,
 * re-passworded or restyled, they all go (their scope no longer holds); a
 * lowered connection quota disconnects the newest beyond it.
 */
export function connectionsAfterChange(before: TenantPolicy, after: TenantPolicy | null, passwordChanged: boolean): { kind: 'kick' } | { kind: 'trim'; max: number } | null {
  if (!after || !after.enabled || passwordChanged || after.isolation !== before.isolation || after.namespace !== before.namespace) return { kind: 'kick' };
  if (after.maxConnections > 0 && (before.maxConnections === 0 || after.maxConnections < before.maxConnections)) return { kind: 'trim', max: after.maxConnections };
  return null;
}
