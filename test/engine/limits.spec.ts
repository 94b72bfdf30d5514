import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { LimitApplied, PublishDenied } from '../../src';
import { engineFixture, type RunningEngine } from '../helpers/engine';
import { closed, connackCode } from '../helpers/mqtt';

describe('tenant limits, counters and audit', () => {
  const fixture = engineFixture();
  let engine: RunningEngine;
  beforeEach(() => (engine = fixture.engine));
  const as = fixture.as;
  const limit = (patch: Record<string, unknown>) => engine.host.registry.updateTenant('globex', patch);

  it('max_payload_bytes: a larger publish closes the connection and is counted', async () => {
    await limit({ maxPayloadBytes: 10 });
    const watcher = await as('globex');
    await watcher.subscribe('p/#', 1);
    const client = await as('globex');
    await client.publish('p/small', '0123456789');
    const denied = once(engine.host, 'publish-denied') as Promise<[PublishDenied]>;
    const gone = closed(client.client);
    client.client.publish('p/big', '01234567890');
    assert.equal((await denied)[0].reason, 'payload-too-large');
    await gone;
    await (await as('globex')).publish('p/sentinel', 'S');
    await watcher.waitFor((m) => m.payload === 'S');
    assert.deepEqual(watcher.inbox.map((m) => m.topic), ['p/small', 'p/sentinel']);
    assert.equal(engine.host.stats().tenants.globex.denials['payload-too-large'], 1);
  });

  it('max_qos: SUBACK grants at most the limit and deliveries are downgraded', async () => {
    await limit({ maxQos: 1 });
    const sub = await as('globex');
    assert.deepEqual(await sub.subscribe('q/#', 2), [1]);
    await (await as('globex')).publish('q/x', 'two', { qos: 2 });
    assert.equal((await sub.waitFor((m) => m.payload === 'two')).qos, 1);
  });

  it('a wildcard subscription at QoS 1 gets QoS 2 messages at QoS 1 [MQTT-3.8.4-6]', async () => {
    const sub = await as('acme');
    assert.deepEqual(await sub.subscribe('acme/w/#', 1), [1]);
    await (await as('acme')).publish('acme/w/x', 'q2', { qos: 2 });
    assert.equal((await sub.waitFor((m) => m.payload === 'q2')).qos, 1);
  });

  it('the QoS of a QoS 2 delivery is found without reading the client\'s subscriptions one by one (finding 5: work, not time)', async () => {
    const sub = await as('acme', { clientId: 'many-filters' });
    const others = Array.from({ length: 3000 }, (_, i) => `acme/other/${i}/+`);
    for (let i = 0; i < others.length; i += 500) await sub.subscribe(others.slice(i, i + 500), 2);
    assert.deepEqual(await sub.subscribe('acme/hot/+', 1), [1]);
    // count every read of aedes' own table of the client's subscriptions (aedes itself reads it once per QoS delivery)
    const aedesClient = (engine.host as unknown as { aedes: { clients: Record<string, { subscriptions: object }> } }).aedes.clients['acme:many-filters'];
    let reads = 0;
    aedesClient.subscriptions = new Proxy(aedesClient.subscriptions, {
      get: (target, key, receiver) => (reads++, Reflect.get(target, key, receiver)),
      ownKeys: (target) => (reads++, Reflect.ownKeys(target)),
      getOwnPropertyDescriptor: (target, key) => (reads++, Reflect.getOwnPropertyDescriptor(target, key)),
    });
    const pub = await as('acme');
    for (let i = 0; i < 5; i++) await pub.publish('acme/hot/x', `m${i}`, { qos: 2 });
    for (let i = 0; i < 5; i++) assert.equal((await sub.waitFor((m) => m.payload === `m${i}`)).qos, 1);
    assert.ok(reads <= 5 * 2, `${reads} reads of the subscription table for 5 deliveries`);
  });

  it('allow_retain false: the retain flag is cleared, nothing is kept', async () => {
    await limit({ allowRetain: false });
    await (await as('globex')).publish('r/x', 'kept?', { qos: 1, retain: true });
    const late = await as('globex');
    await late.subscribe(['r/#', 'sentinel'], 1);
    await engine.host.publish('globex', { topic: 'sentinel', payload: 'S' });
    await late.waitFor((m) => m.payload === 'S');
    assert.equal(late.inbox.filter((m) => m.payload === 'kept?').length, 0);
    assert.equal(engine.host.stats().tenants.globex.denials['retain-cleared'], 1);
  });

  it('max_subscriptions per client: SUBACK 0x80 beyond it; a resubscribe or an unsubscribe frees nothing wrongly', async () => {
    await limit({ maxSubscriptions: 2 });
    const c = await as('globex');
    assert.deepEqual(await c.subscribe(['a', 'b'], 0), [0, 0]);
    assert.deepEqual(await c.subscribe('c', 0), [128]);
    assert.deepEqual(await c.subscribe('a', 1), [1]);
    await c.client.unsubscribeAsync('a');
    assert.deepEqual(await c.subscribe('c', 0), [0]);
    // another client has its own allowance
    assert.deepEqual(await (await as('globex')).subscribe(['x', 'y'], 0), [0, 0]);
  });

  it('max_msgs_per_sec slows a client without losing a message', async () => {
    await limit({ maxMsgsPerSec: 20 });
    const sub = await as('globex');
    await sub.subscribe('rate/#', 1);
    const applied: LimitApplied[] = [];
    engine.host.on('limit-applied', (e) => applied.push(e));
    const pub = await as('globex');
    await Promise.all(Array.from({ length: 40 }, (_, i) => pub.publish(`rate/${i}`, String(i), { qos: 1 })));
    await sub.waitFor((m) => m.payload === '39');
    assert.equal(sub.inbox.length, 40);
    assert.ok(applied.length >= 19, `throttled ${applied.length} of 40 at a burst of 20`);
    assert.ok(applied.every((e) => e.limit === 'rate' && e.tenant === 'globex'));
    assert.equal(pub.client.connected, true);
  });

  it('a client that keeps exceeding its rate is disconnected', async () => {
    await limit({ maxMsgsPerSec: 2 });
    const pub = await as('globex');
    const denied = once(engine.host, 'publish-denied') as Promise<[PublishDenied]>;
    const gone = closed(pub.client);
    for (let i = 0; i < 40; i++) pub.client.publish(`flood/${i}`, 'x', { qos: 0 });
    assert.equal((await denied)[0].reason, 'rate-limit');
    await gone;
    const audit = engine.host.registry.audit.list({ tenant: 'globex' });
    assert.ok(audit.some((e) => e.action === 'publish.denied' && e.detail.reason === 'rate-limit'));
  });

  it('max_tenant_msgs_per_sec applies across the tenant\'s clients', async () => {
    await limit({ maxTenantMsgsPerSec: 10 });
    const applied: LimitApplied[] = [];
    engine.host.on('limit-applied', (e) => applied.push(e));
    const [a, b] = [await as('globex'), await as('globex')];
    await Promise.all([...Array.from({ length: 10 }, () => a.publish('t/a', 'x')), ...Array.from({ length: 10 }, () => b.publish('t/b', 'x'))]);
    assert.ok(applied.length >= 9, `throttled ${applied.length} of 20 at a tenant burst of 10`);
    // another tenant is not slowed by globex's limit
    const before = applied.length;
    const other = await as('acme');
    await Promise.all(Array.from({ length: 20 }, () => other.publish('acme/t', 'x')));
    assert.equal(applied.length, before);
  });

  it('counts messages and bytes per tenant and in total', async () => {
    const sub = await as('globex');
    await sub.subscribe('c/#', 0);
    const pub = await as('globex');
    for (let i = 0; i < 5; i++) await pub.publish('c/x', '1234');
    await sub.waitFor(() => sub.inbox.length === 5);
    const { tenants, total, connections } = engine.host.stats();
    assert.equal(tenants.globex.messagesIn, 5);
    assert.equal(tenants.globex.bytesIn, 20);
    assert.equal(tenants.globex.messagesOut, 5);
    assert.equal(tenants.globex.connections, 2);
    assert.equal(tenants.acme.messagesIn, 0);
    assert.ok(total.messagesIn >= 5);
    assert.equal(connections, 2);
  });

  it('audits administrative changes and security denials', async () => {
    assert.equal(await connackCode(engine.mqttUrl, { username: 'globex', password: 'wrong' }), 4);
    await limit({ maxConnections: 3 });
    assert.equal(engine.host.kick('globex'), 0);
    const actions = engine.host.registry.audit.list({ tenant: 'globex' }).map((e) => `${e.category}:${e.action}`);
    assert.deepEqual(actions.slice(0, 3), ['admin:tenant.kick', 'admin:tenant.update', 'security:login.failed']);
    const update = engine.host.registry.audit.list({ tenant: 'globex', limit: 2 })[1];
    assert.deepEqual(update.detail.changed, ['maxConnections']);
  });

  it('a lowered quota disconnecting clients is audited', async () => {
    await as('globex');
    const second = await as('globex');
    const gone = closed(second.client);
    await limit({ maxConnections: 1 });
    await gone;
    const event = engine.host.registry.audit.list({ tenant: 'globex', limit: 1 })[0];
    assert.deepEqual([event.action, event.detail.count], ['quota.kick', 1]);
  });
});
