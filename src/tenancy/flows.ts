/**
 * The policy core's decisions for what does not come over MQTT: whose a
 * message is, flows' publishes and subscriptions (a flow sees a tenant as a
 * mountpoint client does), and webhook filters of both kinds.
 */
import type { DenialReason, Scope, TenantPolicy } from '../model';
import { checkMessage, type Violation } from './message-policies';
import { refuse, type PolicyCheck } from './policy';
import { ALL_TENANTS, filterProblem, publishTopicProblem, ROOT_USER, tenantNameProblem, topicMatches } from './topics';
import { EVENTS_LEVEL, mountFilter, mountTopic, namespacedPart, namesDollarLevel, tenantViewOf, viewOf } from './views';

/** The tenants as the core needs to find them: by name, and by a full topic inside their namespace. */
export interface TenantDirectory {
  tenant(name: string): TenantPolicy | undefined;
  /** The tenant whose namespace holds the topic, if any. */
  tenantOfTopic(fullTopic: string): TenantPolicy | undefined;
}

/**
 * The tenant a published message belongs to (for statistics, webhooks and
 * `tenant-in`), or null: a tenant client's messages are its tenant's; root's
 * and flows' belong to the tenant whose namespace holds the topic.
 */
export function messageOwner(publisher: Scope | null, fullTopic: string, tenants: TenantDirectory): string | null {
  if (fullTopic.charCodeAt(0) === 36) return isEventTopic(fullTopic) ? (tenants.tenantOfTopic(namespacedPart(fullTopic))?.username ?? null) : null;
  if (publisher?.kind === 'tenant') return publisher.tenant;
  return tenants.tenantOfTopic(fullTopic)?.username ?? null;
}

/** A tenant's lifecycle event (the broker's own message: not counted as the tenant's traffic). */
export function isEventTopic(fullTopic: string): boolean {
  return fullTopic.startsWith(EVENTS_LEVEL + '/');
}

/** Flows see a tenant as a mountpoint client does, whatever its devices use; a tenant not created yet has its name as namespace. */
export function flowScope(tenant: string, policy?: Pick<TenantPolicy, 'namespace'>): Scope {
  return { kind: 'tenant', tenant, namespace: policy?.namespace ?? tenant, isolation: 'mountpoint' };
}

/** Why a flow cannot publish this (topic in the tenant's view), or the full topic. */
export function decideFlowPublish(
  tenantName: string,
  tenant: TenantPolicy | undefined,
  topic: string,
  policies?: PolicyCheck,
): { kind: 'allow'; topic: string; scope: Scope; violations?: Violation[] } | { kind: 'refuse'; reason: 'unknown-tenant' | 'tenant-disabled' | 'bad-topic' | DenialReason; problem?: string; violations?: Violation[] } {
  const problem = publishTopicProblem(topic);
  if (problem) return { kind: 'refuse', reason: 'bad-topic', problem };
  let scope: Scope = { kind: 'root' };
  if (tenantName !== ROOT_USER) {
    if (!tenant) return { kind: 'refuse', reason: 'unknown-tenant' };
    if (!tenant.enabled) return { kind: 'refuse', reason: 'tenant-disabled' };
    scope = flowScope(tenant.username, tenant);
  }
  const target = mountTopic(scope, topic);
  if (!target.ok) return refuse(target.reason);
  // a flow's publish meets the message policies of the tenant it lands in, as a client's does; drop and close are a refusal
  const outcome = policies ? checkMessage(policies.set, tenantViewOf(policies.namespace, target.topic) ?? target.topic, policies.payload) : null;
  if (outcome && outcome.action !== 'detect') return { kind: 'refuse', reason: 'policy-violation', violations: outcome.violations };
  return outcome ? { kind: 'allow', topic: target.topic, scope, violations: outcome.violations } : { kind: 'allow', topic: target.topic, scope };
}

/** How an in-process subscription sees one message: which tenant, and the topic in its view; null when not for it. */
export type FlowView = (fullTopic: string) => { tenant: string | null; topic: string } | null;

export type FlowSubscribeVerdict =
  /** `filters` gives the full filters to hold now: one for a tenant or root, one per tenant for `*` (asked again when tenants change). */
  | { kind: 'allow'; filters: () => string[]; view: FlowView }
  | { kind: 'refuse'; reason: 'unknown-tenant' | 'bad-filter' | DenialReason; problem?: string };

/**
 * The full filters and the view of a flow's subscription: a tenant (filter in
 * its view; a flow may listen before its tenant exists), all tenants (`*`:
 * the filter below every tenant's namespace), or root (full filters).
 * [MQTT-4.7.2-1] holds in the flow's view: a filter that names no `$` first
 * level matches no `$`-topic of the view (root's `#` no `$SYS`, a tenant's no `$x`).
 */
export function decideFlowSubscribe(tenantName: string, filter: string, tenants: TenantDirectory & { all(): TenantPolicy[] }): FlowSubscribeVerdict {
  const problem = filterProblem(filter);
  if (problem) return { kind: 'refuse', reason: 'bad-filter', problem };
  const dollarAllowed = namesDollarLevel(filter);
  const hidden = (topic: string) => !dollarAllowed && topic.charCodeAt(0) === 36;
  if (tenantName === ALL_TENANTS) {
    const probe = mountFilter(flowScope('t'), filter);
    if (!probe.ok) return refuse(probe.reason);
    const filters = () => tenants.all().flatMap((t) => {
      const target = mountFilter(flowScope(t.username, t), filter);
      return target.ok ? [target.topic] : [];
    });
    const view: FlowView = (fullTopic) => {
      const owner = tenants.tenantOfTopic(namespacedPart(fullTopic));
      const topic = owner ? tenantViewOf(owner.namespace, fullTopic) : null;
      return topic === null || hidden(topic) || !topicMatches(filter, topic) ? null : { tenant: owner!.username, topic };
    };
    return { kind: 'allow', filters, view };
  }
  if (tenantName !== ROOT_USER && tenantNameProblem(tenantName) !== null) return { kind: 'refuse', reason: 'unknown-tenant' };
  // the tenant's namespace may change while the flow listens: the scope is read anew
  const scopeNow = (): Scope => (tenantName === ROOT_USER ? { kind: 'root' } : flowScope(tenantName, tenants.tenant(tenantName)));
  const target = mountFilter(scopeNow(), filter);
  if (!target.ok) return refuse(target.reason);
  const view: FlowView = (fullTopic) => {
    const scope = scopeNow();
    const topic = viewOf(scope, fullTopic);
    if (topic === null || hidden(topic)) return null;
    if (scope.kind === 'tenant') return { tenant: scope.tenant, topic };
    return { tenant: messageOwner(null, fullTopic, tenants), topic };
  };
  const filters = () => {
    const now = mountFilter(scopeNow(), filter);
    return now.ok ? [now.topic] : [];
  };
  return { kind: 'allow', filters, view };
}

/**
 * The filter of a webhook: a registry webhook's is written in full and must
 * lie inside its tenant's namespace; a flow webhook's is written in the
 * tenant's own view (for `*`, in every tenant's) and is matched against the
 * message's topic in that view. Returns a problem for the caller's error.
 */
export function decideWebhookFilter(source: 'registry' | 'flow', tenant: string, filter: string, namespace = tenant): { kind: 'allow'; filter: string; inView: boolean } | { kind: 'refuse'; problem: string; outside?: boolean } {
  const problem = filterProblem(filter);
  if (problem) return { kind: 'refuse', problem };
  if (source === 'registry') {
    const target = mountFilter({ kind: 'tenant', tenant, namespace, isolation: 'prefix' }, filter);
    return target.ok ? { kind: 'allow', filter: target.topic, inView: false } : { kind: 'refuse', problem: `the topic filter must start with "${namespace}/"`, outside: true };
  }
  const probe = mountFilter(flowScope(tenant === ALL_TENANTS ? 't' : tenant), filter);
  return probe.ok ? { kind: 'allow', filter, inView: true } : { kind: 'refuse', problem: `the topic filter is reserved: ${filter}` };
}

