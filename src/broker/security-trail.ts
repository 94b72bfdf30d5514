import type { EventEmitter } from 'node:events';
import type { EngineEvents } from '../events';
import type { Registry } from '../registry/registry';
import type { TrafficCounters } from './traffic';
import { isInflightOverflow } from '../aedes-seam';

const LIMIT_COUNTERS = { rate: 'rate-limited', retain: 'retain-cleared', qos: 'qos-downgraded' } as const;

/**
 * The security trail: every refusal, denial and applied limit the broker
 * emits becomes a count per tenant and reason (stats, /metrics), and the
 * refusals and kicks an audit entry. Failures of the registry's writers are
 * reported as engine errors. The one place that turns events into records.
 */
export function recordSecurityTrail(events: EventEmitter<EngineEvents>, registry: Registry, traffic: TrafficCounters): void {
  const audit = registry.audit;
  audit.on('flush-error', (err) => events.emit('engine-error', err));
  registry.on('watch-error', (err) => events.emit('engine-error', err));
  registry.stats.onError = (err) => events.emit('engine-error', err);
  // a refused login names whatever username it claimed: count it for a tenant only when that is a login of one (its own or a device's)
  const known = (username: string | null) => (username ? (registry.login(username)?.tenant.username ?? null) : null);
  events.on('connection-refused', (e) => {
    traffic.denied(known(e.username), e.reason);
    audit.record(known(e.username), 'security', e.reason === 'bad-credentials' ? 'login.failed' : 'connect.refused', { ...e });
  });
  // no tenant yet and no audit entry: a flood of them must not fill the trail
  events.on('connection-shed', (e) => traffic.denied(null, e.reason));
  events.on('publish-denied', (e) => {
    traffic.denied(e.tenant, e.reason);
    audit.record(e.tenant, 'security', 'publish.denied', { login: e.username, clientId: e.clientId, topic: e.topic, reason: e.reason, remoteAddress: e.remoteAddress });
  });
  events.on('subscribe-denied', (e) => {
    traffic.denied(e.tenant, e.reason);
    audit.record(e.tenant, 'security', 'subscribe.denied', { login: e.username, clientId: e.clientId, filter: e.filter, reason: e.reason, remoteAddress: e.remoteAddress });
  });
  events.on('policy-violated', (e) => {
    for (const v of e.violations) traffic.violated(e.tenant, v.policy, v.reason);
    // the first violation found, never the payload
    const first = e.violations[0];
    audit.record(e.tenant, 'security', 'policy.violation', { clientId: e.clientId, login: e.username, topic: e.topic, action: e.action, policy: first.policy, reason: first.reason, detail: first.detail });
  });
  events.on('will-dropped', (e) => {
    traffic.denied(e.tenant, `will-${e.reason}`);
    audit.record(e.tenant, 'security', 'will.dropped', { clientId: e.clientId, topic: e.topic, reason: e.reason });
  });
  // an expired token ends its connection: the operator sees who and when
  events.on('client-disconnected', (e) => {
    if (e.reason === 'token-expired') audit.record(e.tenant, 'security', 'token.expired', { login: e.username, clientId: e.clientId, remoteAddress: e.remoteAddress });
  });
  events.on('limit-applied', (e) => traffic.denied(e.tenant, LIMIT_COUNTERS[e.limit]));
  events.on('storage-limit', (e) => traffic.denied(e.tenant, e.reason));
  events.on('client-error', (e) => {
    if (isInflightOverflow(e.error)) events.emit('storage-limit', { tenant: e.client?.tenant ?? null, clientId: e.client?.clientId ?? null, reason: 'inflight-overflow' });
  });
  events.on('clients-kicked', (e) => {
    if (e.reason === 'quota') {
      traffic.denied(e.tenant, 'quota-kick');
      audit.record(e.tenant, 'security', 'quota.kick', { count: e.count });
    } else if (e.device !== undefined) {
      audit.record(e.tenant, 'admin', 'device.kick', { device: e.device, count: e.count });
    } else if (e.clientId !== undefined) {
      audit.record(e.tenant, 'admin', 'client.kick', { clientId: e.clientId, logins: e.logins ?? [], count: e.count });
    } else {
      audit.record(e.tenant, 'admin', 'tenant.kick', { count: e.count });
    }
  });
}
