import assert from 'node:assert/strict';
import { once } from 'node:events';
import { REGISTRY_WEBHOOK_PREFIX, type DeliveryResult } from '../../src';
import { startEngine, type RunningEngine } from '../helpers/engine';
import { HttpSink } from '../helpers/http-sink';
import { connect, type TestClient } from '../helpers/mqtt';

describe('webhooks on the broker', () => {
  let engine: RunningEngine;
  let sink: HttpSink;
  const open: TestClient[] = [];
  beforeEach(async () => {
    engine = await startEngine();
    sink = await HttpSink.start();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.end()));
    await engine.stop();
    await sink.close();
  });
  async function as(username: string, clientId?: string): Promise<TestClient> {
    const c = await connect(engine.mqttUrl, { username, password: `${username}-pw`, clientId });
    open.push(c);
    return c;
  }

  it('a webhook added to the registry at run time fires on the next message, with full-topic headers', async () => {
    const device = await as('globex', 'probe-7');
    engine.host.registry.addWebhook({ tenant: 'globex', topicFilter: 'globex/sensors/+', url: sink.url('/hook') });
    await device.publish('sensors/temp', Buffer.from([0, 255, 1]) as unknown as string, { qos: 1, retain: true });
    const [request] = await sink.waitFor(1);
    assert.equal(request.method, 'POST');
    assert.deepEqual(request.body, Buffer.from([0, 255, 1]));
    assert.equal(request.headers['x-mqtt-topic'], 'globex/sensors/temp');
    assert.equal(request.headers['x-mqtt-username'], 'globex');
    assert.equal(request.headers['x-mqtt-client-id'], 'probe-7');
    assert.equal(request.headers['x-mqtt-qos'], '1');
    assert.equal(request.headers['x-mqtt-retain'], '1');
    assert.equal(request.headers['content-type'], 'application/octet-stream');
    assert.ok(request.headers['webhook-id']);
  });

  it('a message published by a flow carries the tenant as its username', async () => {
    engine.host.registry.addWebhook({ tenant: 'acme', topicFilter: 'acme/#', url: sink.url('/flow') });
    await engine.host.publish('acme', { topic: 'from/flow', payload: 'x' });
    const [request] = await sink.waitFor(1);
    assert.equal(request.headers['x-mqtt-topic'], 'acme/from/flow');
    assert.equal(request.headers['x-mqtt-username'], 'acme');
  });

  it('never fires for another tenant, and stops when removed or disabled', async () => {
    const hook = engine.host.registry.addWebhook({ tenant: 'acme', topicFilter: 'acme/#', url: sink.url('/acme') });
    await (await as('globex')).publish('acme/x', 'not-acme');
    await (await as('acme')).publish('acme/sentinel', 'S');
    await sink.waitFor(1);
    assert.deepEqual(sink.requests.map((r) => r.body.toString()), ['S']);
    engine.host.registry.updateWebhook(hook.id, { enabled: false });
    await engine.host.publish('acme', { topic: 'off', payload: 'disabled' });
    engine.host.registry.removeWebhook(hook.id);
    assert.equal(engine.host.webhooks.has(REGISTRY_WEBHOOK_PREFIX + hook.id), false);
    engine.host.registry.addWebhook({ tenant: 'acme', topicFilter: 'acme/#', url: sink.url('/second') });
    await engine.host.publish('acme', { topic: 'on', payload: 'S2' });
    await sink.waitFor(2);
    assert.deepEqual(sink.requests.map((r) => r.body.toString()), ['S', 'S2']);
  });

  it('a target that never answers does not delay delivery to MQTT subscribers', async () => {
    sink.script = () => 'hang';
    engine.host.registry.addWebhook({ tenant: 'acme', topicFilter: 'acme/#', url: sink.url('/slow') });
    const subscriber = await as('acme');
    await subscriber.subscribe('acme/#', 1);
    const publisher = await as('acme');
    for (let i = 0; i < 200; i++) await publisher.publish(`acme/m/${i}`, String(i), { qos: 1 });
    await subscriber.waitFor((m) => m.payload === '199');
    assert.equal(subscriber.inbox.length, 200);
    const counters = Object.values(engine.host.webhooks.allCounters())[0];
    assert.equal(counters.delivered + counters.failed, 0, 'every MQTT message arrived while no webhook delivery had finished');
    assert.ok(counters.inFlight + counters.queued > 0);
  });

  it('flow webhooks (setWebhook) route by tenant and filter and report results', async () => {
    engine.host.setWebhook({ id: 'node:1', tenant: null, topicFilter: '+/alerts/#', url: sink.url('/all') });
    const delivered = once(engine.host.webhooks, 'delivered') as Promise<[DeliveryResult]>;
    await engine.host.publish('globex', { topic: 'alerts/fire', payload: 'hot' });
    const [result] = await delivered;
    assert.deepEqual([result.webhookId, result.tenant, result.topic, result.status], ['node:1', 'globex', 'globex/alerts/fire', 200]);
    engine.host.removeWebhook('node:1');
    assert.equal(engine.host.listenerCount('message'), 0);
  });
});
