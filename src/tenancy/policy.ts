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
import { ALL_TENANTS, filterProblem, firstLevel, isInsideTenant, publishTopicProblem, ROOT_USER, tenantNameProblem, unmount } from './topics';
import { hiddenFromWildcards, mountFilter, mountTopic, namesDollarLevel, viewOf } from './views';

/** What the core keeps per connection: its scope and what its rules depend on. */
export interface ClientPolicyState {
  /** Set once authenticated: until then every decision refuses. */
  scope: Scope | null;
  /** Full filters the client holds (for max_subscriptions). */
  filters: Set<string>;
  /** The same filters with their granted QoS, for the QoS of a delivery. */
  grants: GrantIndex;
  /** The full filters among them that name a `$` first level of the client's view (see hiddenFromWildcards). */
  dollarFilters: GrantIndex;
  /** The client's own max_msgs_per_sec bucket, made on its first publish. */
  bucket: TokenBucket | null;
}

export function newClientPolicyState(): ClientPolicyState {
  return { scope: null, filters: new Set(), grants: new GrantIndex(), dollarFilters: new GrantIndex(), bucket: null };
}

// ------------------------------------------------------------------ verdicts

export type PublishVerdict =
  | { kind: 'allow'; topic: string; retain: boolean; wait: number; applied: AppliedLimit[] }
  | { kind: 'refuse'; reason: DenialReason }
  /** Acknowledged and dropped: never stored, forwarded, counted or sent to webhooks. */
  | { kind: 'discard'; reason: DenialReason };

export type SubscribeVerdict = { kind: 'allow'; filter: string; qos: 0 | 1 | 2; applied: AppliedLimit[] } | { kind: 'refuse'; reason: DenialReason };

export type ConnectVerdict = { kind: 'allow'; scope: Scope } | { kind: 'refuse'; reason: RefusalReason };

/** A delivery as the receiving scope sees it, or null: not delivered. */
export type DeliveryVerdict = { topic: string; qos: 0 | 1 | 2 } | null;

const refuse = (reason: DenialReason) => ({ kind: 'refuse', reason }) as const;

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

export interface LoginFacts {
  username: string;
  /** The password matched root's, or the tenant's stored hash. */
  passwordOk: boolean;
  /** Root has a password at all. */
  rootEnabled: boolean;
  /** The tenant of that name, if any. */
  tenant: TenantPolicy | undefined;
  /** The tenant's live connections, this client's own earlier connection (a takeover) not counted. */
  liveConnections: number;
}

/** Who a login is, or why it is refused. */
export function admit(facts: LoginFacts): ConnectVerdict {
  if (facts.username === ROOT_USER) {
    if (!facts.rootEnabled) return { kind: 'refuse', reason: 'root-disabled' };
    return facts.passwordOk ? { kind: 'allow', scope: { kind: 'root' } } : { kind: 'refuse', reason: 'bad-credentials' };
  }
  const tenant = facts.tenant;
  if (!facts.passwordOk || !tenant) return { kind: 'refuse', reason: 'bad-credentials' };
  if (!tenant.enabled) return { kind: 'refuse', reason: 'tenant-disabled' };
  if (tenant.maxConnections > 0 && facts.liveConnections >= tenant.maxConnections) return { kind: 'refuse', reason: 'over-quota' };
  return { kind: 'allow', scope: { kind: 'tenant', tenant: tenant.username, isolation: tenant.isolation } };
}

/** The full topic of a will given at CONNECT, mounted once (it may be stored and published after a restart). */
export function decideWill(scope: Scope, topic: string): { kind: 'allow'; topic: string } | { kind: 'refuse'; reason: RefusalReason } {
  const target = mountTopic(scope, topic);
  return target.ok ? { kind: 'allow', topic: target.topic } : { kind: 'refuse', reason: 'will-denied' };
}

/** A will about to be published (already mounted at CONNECT, perhaps stored across a restart): still inside its owner's namespace. */
export function storedWillAllowed(owner: Scope | null, fullTopic: string): boolean {
  if (!owner) return false;
  if (owner.kind === 'root') return !fullTopic.startsWith('$SYS/');
  return isInsideTenant(fullTopic, owner.tenant);
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
export function decidePublish(scope: Scope, request: PublishRequest, tenant: TenantPolicy | undefined, rate: RateState | null): PublishVerdict {
  const target = mountTopic(scope, request.topic);
  if (scope.kind === 'root') return target.ok ? { kind: 'allow', topic: target.topic, retain: request.retain, wait: 0, applied: [] } : refuse(target.reason);
  if (!tenant) return refuse('outside-namespace');
  const denial = (reason: DenialReason): PublishVerdict => (tenant.deniedPublish === 'drop' ? { kind: 'discard', reason } : refuse(reason));
  if (!target.ok) return denial(target.reason);
  if (tenant.maxPayloadBytes > 0 && request.payloadBytes > tenant.maxPayloadBytes) return denial('payload-too-large');
  const applied: AppliedLimit[] = [];
  let retain = request.retain;
  if (retain && !tenant.allowRetain) {
    retain = false;
    applied.push('retain');
  }
  const wait = rate ? throttle(rate, tenant) : 0;
  // a client that keeps exceeding its rate would wait ever longer: it goes instead
  if (wait > MAX_THROTTLE_MS) return refuse('rate-limit');
  if (wait > 0) applied.push('rate');
  return { kind: 'allow', topic: target.topic, retain, wait, applied };
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
export function decideSubscribe(scope: Scope, filter: string, qos: 0 | 1 | 2, tenant: TenantPolicy | undefined, held: ReadonlySet<string>): SubscribeVerdict {
  const target = mountFilter(scope, filter);
  if (!target.ok) return refuse(target.reason);
  if (scope.kind === 'root') return { kind: 'allow', filter: target.topic, qos, applied: [] };
  if (!tenant) return refuse('outside-namespace');
  if (tenant.maxSubscriptions > 0 && !held.has(target.topic) && held.size >= tenant.maxSubscriptions) return refuse('too-many-subscriptions');
  return qos > tenant.maxQos ? { kind: 'allow', filter: target.topic, qos: tenant.maxQos, applied: ['qos'] } : { kind: 'allow', filter: target.topic, qos, applied: [] };
}

/** Records an allowed subscription (at its granted QoS) in the client's state. */
export function holdFilter(state: ClientPolicyState, fullFilter: string, viewFilter: string, qos: 0 | 1 | 2): void {
  state.filters.add(fullFilter);
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
export function decideRestore(scope: Scope, fullFilter: string): boolean {
  return scope.kind === 'root' || (isInsideTenant(fullFilter, scope.tenant) && mountFilter(scope, viewOf(scope, fullFilter)!).ok);
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
export function decideDelivery(state: ClientPolicyState, fullTopic: string, qos: 0 | 1 | 2, tenant: TenantPolicy | undefined): DeliveryVerdict {
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
  return { topic, qos: granted };
}

// ------------------------------------------------------------------ messages, flows, webhooks

/**
 * The tenant a published message belongs to (for statistics, webhooks and
 * `tenant-in`), or null: a tenant client's messages are its tenant's; root's
 * and flows' belong to the tenant whose namespace holds the topic.
 */
export function messageOwner(publisher: Scope | null, fullTopic: string, isTenant: (name: string) => boolean): string | null {
  if (fullTopic.charCodeAt(0) === 36) return null;
  if (publisher?.kind === 'tenant') return publisher.tenant;
  const tenant = firstLevel(fullTopic);
  return tenant !== fullTopic && isTenant(tenant) ? tenant : null;
}

/** Flows see a tenant as a mountpoint client does, whatever its devices use. */
export function flowScope(tenant: string): Scope {
  return { kind: 'tenant', tenant, isolation: 'mountpoint' };
}

/** Why a flow cannot publish this (topic in the tenant's view), or the full topic. */
export function decideFlowPublish(tenantName: string, tenant: TenantPolicy | undefined, topic: string): { kind: 'allow'; topic: string; scope: Scope } | { kind: 'refuse'; reason: 'unknown-tenant' | 'tenant-disabled' | 'bad-topic' | DenialReason; problem?: string } {
  const problem = publishTopicProblem(topic);
  if (problem) return { kind: 'refuse', reason: 'bad-topic', problem };
  if (tenantName === ROOT_USER) {
    const target = mountTopic({ kind: 'root' }, topic);
    return target.ok ? { kind: 'allow', topic: target.topic, scope: { kind: 'root' } } : refuse(target.reason);
  }
  if (!tenant) return { kind: 'refuse', reason: 'unknown-tenant' };
  if (!tenant.enabled) return { kind: 'refuse', reason: 'tenant-disabled' };
  const scope = flowScope(tenant.username);
  const target = mountTopic(scope, topic);
  return target.ok ? { kind: 'allow', topic: target.topic, scope } : refuse(target.reason);
}

/** How an in-process subscription sees one message: which tenant, and the topic in its view; null when not for it. */
export type FlowView = (fullTopic: string) => { tenant: string | null; topic: string } | null;

/**
 * The full filter and the view of a flow's subscription: a tenant (filter in
 * its view; a flow may listen before its tenant exists), all tenants (`*`:
 * the filter below every tenant's namespace), or root (full filters).
 */
export function decideFlowSubscribe(
  tenantName: string,
  filter: string,
  isTenant: (name: string) => boolean,
): { kind: 'allow'; filter: string; view: FlowView } | { kind: 'refuse'; reason: 'unknown-tenant' | 'bad-filter' | DenialReason; problem?: string } {
  const problem = filterProblem(filter);
  if (problem) return { kind: 'refuse', reason: 'bad-filter', problem };
  const dollarAllowed = namesDollarLevel(filter);
  if (tenantName === ALL_TENANTS) {
    const probe = mountFilter(flowScope('t'), filter);
    if (!probe.ok) return refuse(probe.reason);
    const view: FlowView = (fullTopic) => {
      const owner = firstLevel(fullTopic);
      if (!isInsideTenant(fullTopic, owner) || !isTenant(owner)) return null;
      const topic = unmount(owner, fullTopic);
      return !dollarAllowed && topic.charCodeAt(0) === 36 ? null : { tenant: owner, topic };
    };
    return { kind: 'allow', filter: '+/' + filter, view };
  }
  let scope: Scope;
  if (tenantName === ROOT_USER) scope = { kind: 'root' };
  else if (tenantNameProblem(tenantName) === null) scope = flowScope(tenantName);
  else return { kind: 'refuse', reason: 'unknown-tenant' };
  const target = mountFilter(scope, filter);
  if (!target.ok) return refuse(target.reason);
  const view: FlowView = (fullTopic) => {
    const topic = viewOf(scope, fullTopic);
    if (topic === null || (!dollarAllowed && hiddenFromWildcards(scope, topic))) return null;
    if (scope.kind === 'tenant') return { tenant: scope.tenant, topic };
    const owner = firstLevel(fullTopic);
    return { tenant: owner !== fullTopic && isTenant(owner) ? owner : null, topic };
  };
  return { kind: 'allow', filter: target.topic, view };
}

/**
 * The full filter of a webhook: a registry webhook's is written in full and
 * must lie inside its tenant; a flow webhook's is written in the tenant's view
 * (or below every tenant, for `*`). Returns a problem for the caller's error.
 */
export function decideWebhookFilter(source: 'registry' | 'flow', tenant: string, filter: string): { kind: 'allow'; filter: string } | { kind: 'refuse'; problem: string; outside?: boolean } {
  const problem = filterProblem(filter);
  if (problem) return { kind: 'refuse', problem };
  if (source === 'registry') {
    const target = mountFilter({ kind: 'tenant', tenant, isolation: 'prefix' }, filter);
    return target.ok ? { kind: 'allow', filter: target.topic } : { kind: 'refuse', problem: `the topic filter must start with "${tenant}/"`, outside: true };
  }
  if (tenant === ALL_TENANTS) {
    const probe = mountFilter(flowScope('t'), filter);
    return probe.ok ? { kind: 'allow', filter: '+/' + filter } : { kind: 'refuse', problem: `the topic filter is reserved: ${filter}` };
  }
  const target = mountFilter(flowScope(tenant), filter);
  return target.ok ? { kind: 'allow', filter: target.topic } : { kind: 'refuse', problem: `the topic filter is reserved: ${filter}` };
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
  if (!after || !after.enabled || passwordChanged || after.isolation !== before.isolation) return { kind: 'kick' };
  if (after.maxConnections > 0 && (before.maxConnections === 0 || after.maxConnections < before.maxConnections)) return { kind: 'trim', max: after.maxConnections };
  return null;
}
