import type { EventEmitter } from 'node:events';
import type { EngineEvents } from '../events';
import type { Registry } from '../registry/registry';
import type { TrafficCounters } from './traffic';

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
  // a refused login names whatever username it claimed: count it for a tenant only when one of that name exists
  const known = (username: string | null) => (username && registry.getTenant(username) ? username : null);
  events.on('connection-refused', (e) => {
    traffic.denied(known(e.username), e.reason);
    audit.record(known(e.username), 'security', e.reason === 'bad-credentials' ? 'login.failed' : 'connect.refused', { ...e });
  });
  events.on('publish-denied', (e) => {
    traffic.denied(e.tenant, e.reason);
    audit.record(e.tenant, 'security', 'publish.denied', { login: e.username, clientId: e.clientId, topic: e.topic, reason: e.reason, remoteAddress: e.remoteAddress });
  });
  events.on('subscribe-denied', (e) => {
    traffic.denied(e.tenant, e.reason);
    audit.record(e.tenant, 'security', 'subscribe.denied', { login: e.username, clientId: e.clientId, filter: e.filter, reason: e.reason, remoteAddress: e.remoteAddress });
  });
  events.on('limit-applied', (e) => traffic.denied(e.tenant, LIMIT_COUNTERS[e.limit]));
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
