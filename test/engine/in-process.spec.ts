import assert from 'node:assert/strict';
import { ALL_TENANTS, TenantBrokerError, type InProcessMessage } from '../../src';
import { engineFixture, type RunningEngine } from '../helpers/engine';

/** Waits until `list` holds a message matching `predicate` (the handler runs on broker delivery). */
async function until(list: InProcessMessage[], predicate: (m: InProcessMessage) => boolean): Promise<InProcessMessage> {
  for (;;) {
    const found = list.find(predicate);
    if (found) return found;
    await new Promise((r) => setImmediate(r));
  }
}

describe('in-process publish and subscribe', () => {
  const fixture = engineFixture();
  let engine: RunningEngine;
  beforeEach(() => (engine = fixture.engine));
  const as = (username: string) => fixture.as(username, { clientId: `${username}-dev` });

  it('a tenant scope sees its own namespace without the prefix, whatever the style of its devices', async () => {
    const acme: InProcessMessage[] = [];
    const globex: InProcessMessage[] = [];
    await engine.host.subscribe('acme', 'sensors/+', (m) => acme.push(m));
    await engine.host.subscribe('globex', 'sensors/+', (m) => globex.push(m));
    await (await as('acme')).publish('acme/sensors/temp', 'from-prefix-device');
    await (await as('globex')).publish('sensors/temp', 'from-mountpoint-device');
    const a = await until(acme, (m) => m.payload.toString() === 'from-prefix-device');
    const g = await until(globex, (m) => m.payload.toString() === 'from-mountpoint-device');
    assert.deepEqual([a.tenant, a.topic, a.clientId, a.retain], ['acme', 'sensors/temp', 'acme-dev', false]);
    assert.deepEqual([g.tenant, g.topic, g.clientId], ['globex', 'sensors/temp', 'globex-dev']);
    // sentinel: a later message to acme arrives, and acme never saw globex's
    await engine.host.publish('acme', { topic: 'sensors/sentinel', payload: 'S' });
    await until(acme, (m) => m.topic === 'sensors/sentinel');
    assert.ok(acme.every((m) => m.tenant === 'acme'));
    assert.ok(globex.every((m) => m.tenant === 'globex'));
  });

  it('publishes into a tenant with the prefix applied, for devices of both styles', async () => {
    const prefixDevice = await as('acme');
    await prefixDevice.subscribe('acme/cmd/#', 1);
    const mountDevice = await as('globex');
    await mountDevice.subscribe('cmd/#', 1);
    await engine.host.publish('acme', { topic: 'cmd/led', payload: 'on', qos: 1 });
    await engine.host.publish('globex', { topic: 'cmd/led', payload: Buffer.from('off'), qos: 1 });
    assert.equal((await prefixDevice.waitFor((m) => m.payload === 'on')).topic, 'acme/cmd/led');
    assert.equal((await mountDevice.waitFor((m) => m.payload === 'off')).topic, 'cmd/led');
  });

  it('delivers retained messages to a new subscription, flagged retain', async () => {
    await engine.host.publish('acme', { topic: 'state/mode', payload: 'eco', retain: true, qos: 1 });
    const got: InProcessMessage[] = [];
    await engine.host.subscribe('acme', 'state/#', (m) => got.push(m));
    const first = await until(got, () => true);
    assert.deepEqual([first.topic, first.payload.toString(), first.retain], ['state/mode', 'eco', true]);
  });

  it('all-tenants mode spans every tenant and says which one', async () => {
    const got: InProcessMessage[] = [];
    await engine.host.subscribe(ALL_TENANTS, 'sensors/#', (m) => got.push(m));
    await (await as('acme')).publish('acme/sensors/a', 'A');
    await (await as('globex')).publish('sensors/b', 'B');
    await until(got, (m) => m.payload.toString() === 'B');
    await until(got, (m) => m.payload.toString() === 'A');
    assert.deepEqual(
      got.map((m) => [m.tenant, m.topic]).sort(),
      [
        ['acme', 'sensors/a'],
        ['globex', 'sensors/b'],
      ],
    );
  });

  it('all-tenants mode ignores $SYS and topics outside any tenant', async () => {
    const got: InProcessMessage[] = [];
    await engine.host.subscribe(ALL_TENANTS, '#', (m) => got.push(m));
    await engine.host.publish('root', { topic: 'not-a-tenant/x', payload: 'stray' });
    await engine.host.publish('acme', { topic: 'x', payload: 'sentinel' });
    await until(got, (m) => m.payload.toString() === 'sentinel');
    assert.deepEqual(got.map((m) => m.payload.toString()), ['sentinel']);
  });

  it('root sees full topics', async () => {
    const got: InProcessMessage[] = [];
    await engine.host.subscribe('root', '+/sensors/#', (m) => got.push(m));
    await (await as('globex')).publish('sensors/x', 'G');
    const m = await until(got, () => true);
    assert.deepEqual([m.tenant, m.topic], ['globex', 'globex/sensors/x']);
  });

  it('closing a subscription stops delivery', async () => {
    const got: InProcessMessage[] = [];
    const sub = await engine.host.subscribe('acme', 'x', (m) => got.push(m));
    const sentinel: InProcessMessage[] = [];
    await engine.host.subscribe('acme', 'y', (m) => sentinel.push(m));
    await sub.close();
    await engine.host.publish('acme', { topic: 'x', payload: '1' });
    await engine.host.publish('acme', { topic: 'y', payload: '2' });
    await until(sentinel, () => true);
    assert.deepEqual(got, []);
  });

  it('refuses what it cannot do with a clear error', () => {
    const refuses = (fn: () => unknown, key: string) => assert.throws(fn, (err: TenantBrokerError) => err.key === key);
    refuses(() => engine.host.publish('nobody', { topic: 'x', payload: '' }), 'errors.unknown-tenant');
    refuses(() => engine.host.publish('acme', { topic: 'a/+', payload: '' }), 'errors.bad-topic');
    refuses(() => engine.host.publish('acme', { topic: '', payload: '' }), 'errors.bad-topic');
    refuses(() => engine.host.publish('acme', { topic: '$SYS/x', payload: '' }), 'errors.topic-denied');
    refuses(() => engine.host.publish('root', { topic: '$SYS/x', payload: '' }), 'errors.topic-denied');
  });

  it('refuses a disabled tenant and bad filters', async () => {
    await engine.host.registry.updateTenant('acme', { enabled: false });
    assert.throws(() => engine.host.publish('acme', { topic: 'x', payload: '' }), (err: TenantBrokerError) => err.key === 'errors.tenant-disabled');
    await assert.rejects(engine.host.subscribe('globex', 'a/#/b', () => undefined), (err: TenantBrokerError) => err.key === 'errors.bad-filter');
    await assert.rejects(engine.host.subscribe('globex', '$SYS/#', () => undefined), (err: TenantBrokerError) => err.key === 'errors.filter-denied');
  });
});
