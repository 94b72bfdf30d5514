import assert from 'node:assert/strict';
import { escapeLabelValue } from '../../src/admin/metrics';
import { HttpSink } from '../helpers/http-sink';
import { connect } from '../helpers/mqtt';
import { startAdmin, type RunningAdmin } from './helpers';

// Prometheus text exposition format 0.0.4, line by line.
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const VALUE = '(?:[+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?|NaN|[+-]Inf)';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(${LABEL}(?:,${LABEL})*)?,?\\})? (${VALUE})(?: -?[0-9]+)?$`);
const HELP = new RegExp(`^# HELP (${NAME}) (?:[^\\\\\\n]|\\\\[\\\\n])*$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses an exposition, failing on any line outside the grammar or a sample before its TYPE. */
function parse(text: string): { samples: Sample[]; types: Map<string, string>; helps: Set<string> } {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a line feed');
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    const help = HELP.exec(line);
    const type = TYPE.exec(line);
    if (help) {
      assert.ok(!helps.has(help[1]), `one HELP for ${help[1]}`);
      helps.add(help[1]);
    } else if (type) {
      assert.ok(!types.has(type[1]), `one TYPE for ${type[1]}`);
      types.set(type[1], type[2]);
    } else {
      const sample = SAMPLE.exec(line);
      assert.ok(sample, `not a sample line: ${JSON.stringify(line)}`);
      assert.ok(types.has(sample[1]), `${sample[1]} has a TYPE before its samples`);
      const labels: Record<string, string> = {};
      for (const [, key, value] of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[key] = value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
      samples.push({ name: sample[1], labels, value: Number(sample[3]) });
    }
  }
  return { samples, types, helps };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
}

describe('GET /metrics', () => {
  let admin: RunningAdmin;
  let sink: HttpSink;
  beforeEach(async () => {
    admin = await startAdmin();
    sink = await HttpSink.start();
  });
  afterEach(async () => {
    await admin.stop();
    await sink.close();
  });

  it('serves the text exposition format with per-tenant values after real MQTT traffic', async () => {
    const { json } = await admin.post('/internal/webhook/add', { username: 'acme', topic_filter: 'acme/#', webhook_url: sink.url('/hook') });
    const delivered = new Promise<void>((resolve) => {
      let count = 0;
      admin.engine.host.webhooks.on('delivered', () => ++count === 2 && resolve());
    });
    const acme = await connect(admin.engine.mqttUrl, { username: 'acme', password: 'acme-pw', clientId: 'a1' });
    const reader = await connect(admin.engine.mqttUrl, { username: 'acme', password: 'acme-pw', clientId: 'a2' });
    const globex = await connect(admin.engine.mqttUrl, { username: 'globex', password: 'globex-pw', clientId: 'g1' });
    try {
      await reader.subscribe('acme/#', 1);
      assert.deepEqual(await reader.subscribe('globex/#'), [0x80]);
      await acme.publish('acme/t', 'abcd');
      await acme.publish('acme/t', 'efghij');
      await reader.waitFor((m) => m.payload === 'efghij');
      await globex.publish('x', '1');
      await delivered;
      await connect(admin.engine.mqttUrl, { username: 'acme', password: 'nope' }).catch(() => undefined);

      const reply = await admin.get('/metrics');
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
      const { samples, types, helps } = parse(reply.text);
      assert.deepEqual([...types.keys()].sort(), [...helps].sort(), 'every family has HELP and TYPE');
      for (const [name, type] of types) if (name.endsWith('_total')) assert.equal(type, 'counter', name);
      assert.ok(value(samples, 'tenant_broker_uptime_seconds')! >= 0);
      assert.equal(value(samples, 'tenant_broker_connections', { tenant: 'acme' }), 2);
      assert.equal(value(samples, 'tenant_broker_connections', { tenant: 'globex' }), 1);
      assert.equal(value(samples, 'tenant_broker_messages_in_total', { tenant: 'acme' }), 2);
      assert.equal(value(samples, 'tenant_broker_bytes_in_total', { tenant: 'acme' }), 10);
      assert.equal(value(samples, 'tenant_broker_messages_out_total', { tenant: 'acme' }), 2);
      assert.equal(value(samples, 'tenant_broker_bytes_out_total', { tenant: 'acme' }), 10);
      assert.equal(value(samples, 'tenant_broker_messages_in_total', { tenant: 'globex' }), 1);
      assert.equal(value(samples, 'tenant_broker_denials_total', { tenant: 'acme', reason: 'outside-namespace' }), 1);
      assert.equal(value(samples, 'tenant_broker_denials_total', { tenant: 'acme', reason: 'bad-credentials' }), 1);
      assert.equal(value(samples, 'tenant_broker_server_messages_in_total'), 3);
      assert.equal(value(samples, 'tenant_broker_server_connections'), 3);
      const webhook = { webhook: `registry:${json.id}` };
      assert.equal(value(samples, 'tenant_broker_webhook_deliveries_total', webhook), 2);
      assert.equal(value(samples, 'tenant_broker_webhook_failures_total', webhook), 0);
      assert.equal(value(samples, 'tenant_broker_webhook_retries_total', webhook), 0);
      assert.equal(value(samples, 'tenant_broker_webhook_drops_total', webhook), 0);
      assert.equal(typeof value(samples, 'tenant_broker_webhook_queue_depth', webhook), 'number');
    } finally {
      for (const c of [acme, reader, globex]) c.client.end(true);
    }
  });

  it('escapes label values so any webhook id keeps the exposition parseable', async () => {
    const id = 'flow "one"\\two\nthree';
    admin.engine.host.setWebhook({ id, tenant: 'acme', topicFilter: 'acme/#', url: sink.url() });
    const { samples } = parse((await admin.get('/metrics')).text);
    assert.equal(value(samples, 'tenant_broker_webhook_deliveries_total', { webhook: id }), 0);
    assert.equal(escapeLabelValue(id), 'flow \\"one\\"\\\\two\\nthree');
  });
});
