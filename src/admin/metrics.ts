import type { BrokerHost } from '../broker/broker-host';
import type { TrafficFigures } from '../broker/traffic';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Record<string, string>;
type Sample = [Labels, number];

/** Label values may hold anything; the exposition format escapes exactly these three. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** Prometheus text exposition format 0.0.4: one HELP and TYPE per family, then its samples. */
export class Exposition {
  private readonly lines: string[] = [];

  family(name: string, type: 'counter' | 'gauge', help: string, samples: Sample[]): this {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const pairs = Object.entries(labels).map(([label, v]) => `${label}="${escapeLabelValue(v)}"`);
      this.lines.push(`${name}${pairs.length > 0 ? `{${pairs.join(',')}}` : ''} ${formatValue(value)}`);
    }
    return this;
  }

  toString(): string {
    return this.lines.join('\n') + '\n';
  }
}

const TRAFFIC: Array<[suffix: string, key: Exclude<keyof TrafficFigures, 'denials' | 'violations'>, help: string]> = [
  ['messages_in_total', 'messagesIn', 'PUBLISH packets received'],
  ['bytes_in_total', 'bytesIn', 'Payload bytes received'],
  ['messages_out_total', 'messagesOut', 'Messages delivered to subscribers'],
  ['bytes_out_total', 'bytesOut', 'Payload bytes delivered to subscribers'],
  ['publishes_held_total', 'publishesHeld', "QoS 0 publishes that waited for room in their client's publish window"],
];

/**
 * Everything host.stats() knows, as Prometheus metrics: per tenant (label
 * `tenant`), for the whole broker including root and unknown usernames
 * (`tenant_broker_server_*`), and per webhook (label `webhook`).
 */
export function renderMetrics(host: BrokerHost): string {
  const stats = host.stats();
  const tenants = Object.entries(stats.tenants);
  const out = new Exposition();
  out.family('tenant_broker_uptime_seconds', 'gauge', 'Seconds since the broker started', [[{}, stats.uptimeSeconds]]);
  out.family('tenant_broker_connections', 'gauge', 'Live MQTT connections of a tenant', tenants.map(([tenant, t]) => [{ tenant }, t.connections]));
  for (const [suffix, key, help] of TRAFFIC) {
    out.family(`tenant_broker_${suffix}`, 'counter', `${help} in a tenant's namespace since start`, tenants.map(([tenant, t]) => [{ tenant }, t[key]]));
  }
  out.family('tenant_broker_denials_total', 'counter', 'Refused or limited actions of a tenant by reason since start', tenants.flatMap(([tenant, t]) => Object.entries(t.denials).map(([reason, n]): Sample => [{ tenant, reason }, n])));

  out.family(
    'tenant_broker_policy_violations_total',
    'counter',
    "Message policy violations of a tenant by policy and reason since start",
    tenants.flatMap(([tenant, t]) =>
      Object.entries(t.violations).map(([key, n]): Sample => {
        const slash = key.indexOf('/');
        return [{ tenant, policy: key.slice(0, slash), reason: key.slice(slash + 1) }, n];
      }),
    ),
  );

  // one pass over the devices for both gauges
  const devices = new Map<string, { registered: number; connected: number }>();
  for (const device of host.registry.devices.all()) {
    const figures = devices.get(device.tenant) ?? { registered: 0, connected: 0 };
    figures.registered++;
    figures.connected += host.live.deviceConnections(device.username);
    devices.set(device.tenant, figures);
  }
  out.family('tenant_broker_devices', 'gauge', 'Devices (logins inside a tenant) registered', tenants.map(([tenant]) => [{ tenant }, devices.get(tenant)?.registered ?? 0]));
  out.family('tenant_broker_device_connections', 'gauge', "Live MQTT connections of a tenant's devices (counted in tenant_broker_connections too)", tenants.map(([tenant]) => [{ tenant }, devices.get(tenant)?.connected ?? 0]));

  out.family('tenant_broker_offline_dropped_total', 'counter', "QoS 1/2 messages dropped from a tenant's full queues (offline or unacknowledged; also in denials as queue-overflow)", tenants.map(([tenant, t]) => [{ tenant }, t.offlineDropped]));

  out.family('tenant_broker_server_connections', 'gauge', 'Live MQTT connections, root included', [[{}, stats.connections]]);
  for (const [suffix, key, help] of TRAFFIC) {
    out.family(`tenant_broker_server_${suffix}`, 'counter', `${help} by the whole broker since start, root and removed tenants included`, [[{}, stats.total[key]]]);
  }
  out.family('tenant_broker_server_unauthenticated_connections', 'gauge', 'Connections not yet accepted (before CONNACK)', [[{}, stats.unauthenticated.connections]]);
  out.family('tenant_broker_server_unauthenticated_bytes', 'gauge', 'Memory charged to connections not yet accepted (estimated per connection, plus the bytes they sent)', [[{}, stats.unauthenticated.bytes]]);
  out.family('tenant_broker_auth_total', 'counter', 'Logins answered by each authentication provider, by result (cached: an allow reused)', (stats.auth ?? []).map((a): Sample => [{ provider: a.provider, result: a.result }, a.count]));
  out.family('tenant_broker_server_denials_total', 'counter', 'Refused or limited actions by reason since start, unknown usernames included', Object.entries(stats.total.denials).map(([reason, n]): Sample => [{ reason }, n]));

  if (stats.persistence) {
    const p = stats.persistence;
    out.family('tenant_broker_persisted_retained', 'gauge', 'Retained messages kept (in SQLite, or in memory with the memory persistence)', [[{}, p.retained]]);
    out.family('tenant_broker_persisted_subscriptions', 'gauge', 'Subscriptions of persistent sessions kept', [[{}, p.subscriptions]]);
    out.family('tenant_broker_persisted_queue_depth', 'gauge', 'QoS 1/2 messages queued for persistent sessions (offline and in flight)', [[{}, p.queued]]);
    out.family('tenant_broker_sessions_expired_total', 'counter', 'Persistent sessions dropped after the configured time offline', [[{}, p.sessionsExpired]]);
  }

  out.family('tenant_broker_audit_dropped_total', 'counter', 'Audit entries not stored: too many were waiting to be written', [[{}, stats.audit.dropped]]);
  out.family('tenant_broker_audit_pruned_total', 'counter', 'Stored audit entries removed to keep a bound', [[{}, stats.audit.pruned]]);
  out.family('tenant_broker_audit_aggregated_total', 'counter', 'Repeated security events counted in an earlier audit entry', [[{}, stats.audit.aggregated]]);

  const webhooks = Object.entries(stats.webhooks);
  const perWebhook = (name: string, type: 'counter' | 'gauge', help: string, value: (c: (typeof webhooks)[number][1]) => number) =>
    out.family(name, type, help, webhooks.map(([webhook, c]) => [{ webhook }, value(c)]));
  perWebhook('tenant_broker_webhook_deliveries_total', 'counter', 'Webhook deliveries answered with 2xx', (c) => c.delivered);
  perWebhook('tenant_broker_webhook_failures_total', 'counter', 'Webhook deliveries that failed after their last attempt', (c) => c.failed);
  perWebhook('tenant_broker_webhook_retries_total', 'counter', 'Webhook attempts beyond the first of each delivery', (c) => c.retried);
  perWebhook('tenant_broker_webhook_drops_total', 'counter', 'Messages dropped because the webhook queue was full', (c) => c.dropped);
  perWebhook('tenant_broker_webhook_queue_depth', 'gauge', 'Messages waiting for a webhook, not yet sent', (c) => c.queued);
  perWebhook('tenant_broker_webhook_in_flight', 'gauge', 'Webhook deliveries being sent or waiting to retry', (c) => c.inFlight);
  return out.toString();
}
