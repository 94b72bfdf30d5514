import assert from 'node:assert/strict';
import { engineFixture, startEngine } from '../helpers/engine';
import { connect } from '../helpers/mqtt';
import { until } from '../helpers/until';

/** max_retained_messages and max_retained_bytes (issue 10, finding 2b). */
describe('retained quota of a tenant', () => {
  const fixture = engineFixture();
  const { as } = fixture;
  const denials = (tenant: string) => fixture.engine.host.stats().tenants[tenant].denials;

  /** What a new subscription to `filter` gets retained, as `topic=payload`. */
  async function retainedFor(username: string, filter: string, sentinel: string): Promise<string[]> {
    const client = await as(username);
    await client.subscribe([filter, sentinel], 1);
    const publisher = await as(username);
    await publisher.publish(sentinel, 'sentinel', { qos: 1 });
    await client.waitFor((m) => m.payload === 'sentinel');
    const got = client.inbox.filter((m) => m.retain).map((m) => `${m.topic}=${m.payload}`);
    await client.end();
    return got.sort();
  }

  it('past max_retained_messages a retained publish is delivered live with retain cleared, not kept, and counted', async () => {
    await fixture.engine.host.registry.updateTenant('acme', { maxRetainedMessages: 2 });
    const live = await as('acme');
    await live.subscribe('acme/state/#', 1);
    const device = await as('acme');
    for (const n of [1, 2, 3]) await device.publish(`acme/state/${n}`, `v${n}`, { qos: 1, retain: true });
    const third = await live.waitFor((m) => m.payload === 'v3');
    assert.equal(third.retain, false);
    assert.deepEqual(await retainedFor('acme', 'acme/state/#', 'acme/other'), ['acme/state/1=v1', 'acme/state/2=v2']);
    assert.equal(denials('acme')['retained-quota'], 1);

    // replacing and deleting are always allowed; a delete makes room
    await device.publish('acme/state/1', 'v1b', { qos: 1, retain: true });
    await device.publish('acme/state/2', '', { qos: 1, retain: true });
    await device.publish('acme/state/3', 'v3b', { qos: 1, retain: true });
    assert.deepEqual(await retainedFor('acme', 'acme/state/#', 'acme/other'), ['acme/state/1=v1b', 'acme/state/3=v3b']);
    assert.equal(denials('acme')['retained-quota'], 1);
    // another tenant (no quota) is not affected, and nothing of acme's counts for it
    assert.equal(denials('globex')['retained-quota'], undefined);
  });

  it('holds bytes (payload and topic), whoever publishes: a flow, a will', async () => {
    await fixture.engine.host.registry.updateTenant('globex', { maxRetainedBytes: 1000 });
    await fixture.engine.host.publish('globex', { topic: 'big/a', payload: Buffer.alloc(900, 1), retain: true });
    await fixture.engine.host.publish('globex', { topic: 'big/b', payload: Buffer.alloc(900, 1), retain: true });
    const willing = await as('globex', { clientId: 'w', will: { topic: 'big/will', payload: Buffer.alloc(500, 2), qos: 0, retain: true } });
    willing.client.stream.destroy(); // no DISCONNECT: the will is published
    await until('the will and the flow publish counted', () => denials('globex')['retained-quota'] === 2);
    assert.deepEqual(await retainedFor('globex', 'big/#', 'other'), [`big/a=${Buffer.alloc(900, 1)}`]);
    assert.deepEqual(fixture.engine.host.stats().persistence!.retained, 1);
  });

  it('holds with the memory persistence too', async () => {
    const engine = await startEngine({ persistence: 'memory' });
    try {
      await engine.host.registry.updateTenant('acme', { maxRetainedMessages: 1 });
      const device = await connect(engine.mqttUrl, { username: 'acme', password: 'acme-pw' });
      await device.publish('acme/a', '1', { qos: 1, retain: true });
      await device.publish('acme/b', '2', { qos: 1, retain: true });
      await until('counted', () => engine.host.stats().tenants.acme.denials['retained-quota'] === 1);
      assert.equal(engine.host.stats().persistence!.retained, 1);
      await device.end();
    } finally {
      await engine.stop();
    }
  });
});
