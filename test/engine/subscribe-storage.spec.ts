import assert from 'node:assert/strict';
import { engineFixture } from '../helpers/engine';
import { until } from '../helpers/until';

/**
 * aedes stores the whole `packet.subscriptions` of a SUBSCRIBE once one of its
 * filters is granted (issue 10, finding 1): a refused filter must never be
 * stored, counted, matched or queued for, nor come back with the session.
 */
describe('refused SUBSCRIBE filters of a persistent session', () => {
  const fixture = engineFixture();
  const { as } = fixture;
  const persisted = () => fixture.engine.host.stats().persistence!;

  it('[acme/x, globex/#]: SUBACK [1, 128], and nothing of globex is stored, queued or delivered, also after a reconnect', async () => {
    const spy = await as('acme', { clientId: 'spy', clean: false });
    assert.deepEqual(await spy.subscribe(['acme/x', 'globex/#'], 1), [1, 128]);
    assert.equal(persisted().subscriptions, 1, 'only acme/x is stored');
    await spy.end();

    const victim = await as('globex');
    for (let i = 0; i < 5; i++) await victim.publish(`secret/${i}`, `globex-${i}`, { qos: 1 });
    const own = await as('acme');
    await own.publish('acme/x', 'own', { qos: 1 });
    // the spy's offline queue holds its own message only: its size says nothing of globex
    await until('the spy has its own message queued', () => persisted().queued === 1);

    const back = await as('acme', { clientId: 'spy', clean: false });
    assert.equal(back.sessionPresent, true);
    await back.waitFor((m) => m.payload === 'own');
    await victim.publish('secret/live', 'globex-live', { qos: 1 });
    await own.publish('acme/x', 'sentinel', { qos: 1 });
    await back.waitFor((m) => m.payload === 'sentinel');
    assert.deepEqual(back.inbox.map((m) => m.topic), ['acme/x', 'acme/x']);
    assert.equal(persisted().subscriptions, 1);
  });

  it('max_subscriptions 1 with three filters: SUBACK [1, 128, 128], and after a reconnect only the first is held', async () => {
    await fixture.engine.host.registry.updateTenant('acme', { maxSubscriptions: 1 });
    const client = await as('acme', { clientId: 'greedy', clean: false });
    assert.deepEqual(await client.subscribe(['acme/a', 'acme/b', 'acme/c'], 1), [1, 128, 128]);
    assert.equal(persisted().subscriptions, 1);
    await client.end();

    const back = await as('acme', { clientId: 'greedy', clean: false });
    assert.equal(back.sessionPresent, true);
    const publisher = await as('acme');
    for (const topic of ['acme/b', 'acme/c', 'acme/a']) await publisher.publish(topic, topic, { qos: 1 });
    await back.waitFor((m) => m.topic === 'acme/a');
    assert.deepEqual(back.inbox.map((m) => m.topic), ['acme/a']);
    // still one held: a second filter is refused after the reconnect as well
    assert.deepEqual(await back.subscribe('acme/d', 1), [128]);
    assert.equal(persisted().subscriptions, 1);
  });
});
