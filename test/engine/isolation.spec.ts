import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { PublishDenied, SubscribeDenied } from '../../src';
import { engineFixture, type RunningEngine } from '../helpers/engine';
import { closed, connackCode, type TestClient } from '../helpers/mqtt';

/**
 * Every way a client could reach across a tenant boundary, each proven closed
 * the same way: the victim's message is shown to exist (a legitimate
 * subscriber gets it), then a sentinel published to the attacker after it
 * arrives, and only then is the attacker's inbox checked for the secret.
 */
describe('tenant isolation', () => {
  const fixture = engineFixture();
  let engine: RunningEngine;
  beforeEach(async () => {
    engine = fixture.engine;
    // a second tenant of each style: acme/initech (prefix), globex/umbrella (mountpoint)
    await engine.host.registry.addTenant({ username: 'initech', password: 'initech-pw', isolation: 'prefix' });
    await engine.host.registry.addTenant({ username: 'umbrella', password: 'umbrella-pw', isolation: 'mountpoint' });
  });
  const as = fixture.as;
  const root = () => fixture.as('root');

  /** Publishes a sentinel into the attacker's namespace as root and waits for the attacker to get it. */
  async function sentinel(attacker: TestClient, fullTopic: string, seenAs: string): Promise<void> {
    const r = await root();
    const marker = `sentinel-${Math.random()}`;
    await r.publish(fullTopic, marker, { qos: 1 });
    await attacker.waitFor((m) => m.topic === seenAs && m.payload === marker);
  }

  describe('prefix style', () => {
    it('delivers inside the tenant with full topics', async () => {
      const sub = await as('acme');
      assert.deepEqual(await sub.subscribe('acme/sensors/+', 1), [1]);
      const pub = await as('acme');
      await pub.publish('acme/sensors/temp', '21.5');
      const got = await sub.waitFor((m) => m.topic === 'acme/sensors/temp');
      assert.equal(got.payload, '21.5');
    });

    it('refuses filters that could match another tenant with SUBACK 0x80 and an event', async () => {
      const client = await as('acme');
      const denied: SubscribeDenied[] = [];
      engine.host.on('subscribe-denied', (e) => denied.push(e));
      const filters = ['#', '+/sensors/#', '+', 'initech/#', '$SYS/#', '$share/g/acme/#', 'acme', 'acmex/#', '/acme/#'];
      for (const filter of filters) assert.deepEqual(await client.subscribe(filter, 1), [128], filter);
      assert.deepEqual(await client.subscribe(['acme/#', 'initech/#'], 1), [1, 128]);
      assert.deepEqual(denied.map((d) => d.filter), [...filters, 'initech/#']);
      assert.equal(denied[0].tenant, 'acme');
      assert.equal(denied[0].reason, 'outside-namespace');
    });

    it('closes the connection of a client that publishes outside its namespace, and delivers nothing', async () => {
      const victim = await as('initech');
      await victim.subscribe('initech/#', 1);
      const attacker = await as('acme');
      const denied = once(engine.host, 'publish-denied') as Promise<[PublishDenied]>;
      const gone = closed(attacker.client);
      attacker.client.publish('initech/cmd', 'forged', { qos: 0 });
      const [event] = await denied;
      await gone;
      assert.equal(event.tenant, 'acme');
      assert.equal(event.topic, 'initech/cmd');
      await sentinel(victim, 'initech/after', 'initech/after');
      assert.equal(victim.inbox.filter((m) => m.payload === 'forged').length, 0);
    });

    it('refuses $-topics below the prefix', async () => {
      const attacker = await as('acme');
      const gone = closed(attacker.client);
      attacker.client.publish('acme/$SYS/x', 'x');
      await gone;
    });
  });

  describe('mountpoint style', () => {
    it('prefixes every topic on the way in and strips it on the way out', async () => {
      const r = await root();
      await r.subscribe('globex/#', 0);
      const sub = await as('globex');
      assert.deepEqual(await sub.subscribe('sensors/#', 1), [1]);
      const pub = await as('globex', {}, engine.wsUrl);
      await pub.publish('sensors/temp', 'mounted');
      assert.equal((await sub.waitFor((m) => m.payload === 'mounted')).topic, 'sensors/temp');
      assert.equal((await r.waitFor((m) => m.payload === 'mounted')).topic, 'globex/sensors/temp');
    });

    it('gives each subscriber its own view of one message (no shared packet is rewritten)', async () => {
      const subs = await Promise.all([as('globex'), as('globex'), as('globex')]);
      await subs[0].subscribe('a/#', 1);
      await subs[1].subscribe('a/b', 0);
      await subs[2].subscribe('#', 2);
      const r = await root();
      await r.subscribe('globex/a/#', 1);
      const inProcess: string[] = [];
      await engine.host.subscribe('globex', 'a/+', (m) => inProcess.push(m.topic));
      await (await as('globex')).publish('a/b', 'fan', { qos: 1 });
      for (const s of subs) assert.equal((await s.waitFor((m) => m.payload === 'fan')).topic, 'a/b');
      assert.equal((await r.waitFor((m) => m.payload === 'fan')).topic, 'globex/a/b');
      assert.deepEqual(inProcess, ['a/b']);
    });

    it('mounts UNSUBSCRIBE topics', async () => {
      const sub = await as('globex');
      await sub.subscribe('x/#', 0);
      await sub.client.unsubscribeAsync('x/#');
      await sub.subscribe('y', 0);
      const pub = await as('globex');
      await pub.publish('x/1', 'after-unsubscribe');
      await pub.publish('y', 'sentinel');
      await sub.waitFor((m) => m.payload === 'sentinel');
      assert.equal(sub.inbox.filter((m) => m.payload === 'after-unsubscribe').length, 0);
    });

    it('strips the prefix from retained messages', async () => {
      const pub = await as('globex');
      await pub.publish('state/door', 'open', { qos: 1, retain: true });
      const sub = await as('globex');
      await sub.subscribe('state/+', 1);
      const got = await sub.waitFor((m) => m.payload === 'open');
      assert.deepEqual([got.topic, got.retain], ['state/door', true]);
    });

    it('refuses $-filters and $-topics', async () => {
      const client = await as('globex');
      assert.deepEqual(await client.subscribe('$SYS/#', 0), [128]);
      assert.deepEqual(await client.subscribe('$share/g/x', 0), [128]);
      const gone = closed(client.client);
      client.client.publish('$SYS/fake', 'x');
      await gone;
    });

    it('downgrades delivery to the subscription QoS', async () => {
      const sub = await as('globex');
      await sub.subscribe('q/exact', 1);
      await (await as('globex')).publish('q/exact', 'qos2', { qos: 2 });
      assert.equal((await sub.waitFor((m) => m.payload === 'qos2')).qos, 1);
    });

    it('mounts the will and strips it on delivery', async () => {
      const watcher = await as('globex');
      await watcher.subscribe('status/#', 1);
      const r = await root();
      await r.subscribe('globex/status/#', 1);
      const dying = await as('globex', { will: { topic: 'status/dev1', payload: Buffer.from('offline'), qos: 1, retain: false } });
      dying.client.stream.destroy();
      assert.equal((await watcher.waitFor((m) => m.payload === 'offline')).topic, 'status/dev1');
      assert.equal((await r.waitFor((m) => m.payload === 'offline')).topic, 'globex/status/dev1');
    });
  });

  describe('across tenants', () => {
    for (const [attackerName, victimName] of [
      ['acme', 'initech'],
      ['acme', 'globex'],
      ['globex', 'umbrella'],
      ['globex', 'acme'],
    ] as const) {
      it(`${attackerName} sees no live or retained message of ${victimName}`, async () => {
        const victimPrefix = victimName === 'initech' || victimName === 'acme' ? `${victimName}/` : '';
        const attackerOwn = attackerName === 'acme' ? 'acme/own' : 'own';
        const attacker = await as(attackerName);
        // everything a client might try; the refused ones get 0x80, the rest are mounted/checked
        for (const filter of ['#', '+/#', `${victimName}/#`, `+/${victimName}/#`, '$SYS/#', `$share/g/${victimName}/#`, attackerOwn]) {
          await attacker.subscribe(filter, 1);
        }
        const victim = await as(victimName);
        await victim.subscribe(`${victimPrefix}secret/#`, 1);
        await victim.publish(`${victimPrefix}secret/live`, 'SECRET-LIVE', { qos: 1 });
        await victim.publish(`${victimPrefix}secret/kept`, 'SECRET-RETAINED', { qos: 1, retain: true });
        await victim.waitFor((m) => m.payload === 'SECRET-RETAINED');
        // a late subscriber gets retained messages at SUBSCRIBE time
        const late = await as(attackerName);
        for (const filter of ['#', '+/#', `${victimName}/#`, `+/secret/#`, 'secret/#', attackerOwn]) await late.subscribe(filter, 1);
        await sentinel(attacker, `${attackerName}/own`, attackerOwn);
        await sentinel(late, `${attackerName}/own`, attackerOwn);
        for (const c of [attacker, late]) {
          assert.deepEqual(c.inbox.filter((m) => m.payload.startsWith('SECRET')), []);
          assert.ok(c.inbox.every((m) => !m.topic.startsWith('$SYS')));
        }
      });
    }

    it('a mountpoint client cannot publish into another namespace by naming it', async () => {
      const victim = await as('acme');
      await victim.subscribe('acme/#', 1);
      const attacker = await as('globex');
      await attacker.publish('acme/cmd', 'FORGED', { qos: 1 });
      await attacker.publish('../acme/cmd', 'FORGED', { qos: 1 });
      await sentinel(victim, 'acme/after', 'acme/after');
      assert.equal(victim.inbox.filter((m) => m.payload === 'FORGED').length, 0);
      const r = await root();
      await r.subscribe('globex/#', 1);
      await attacker.publish('acme/cmd', 'MINE', { qos: 1 });
      assert.equal((await r.waitFor((m) => m.payload === 'MINE')).topic, 'globex/acme/cmd');
    });

    it('a will never reaches another tenant, and a prefix will outside the namespace is refused', async () => {
      assert.equal(await connackCode(engine.mqttUrl, { username: 'acme', password: 'acme-pw', will: { topic: 'initech/status', payload: Buffer.from('x'), qos: 0, retain: false } }), 5);
      const victim = await as('initech');
      await victim.subscribe('initech/#', 1);
      const dying = await as('globex', { will: { topic: 'initech/status', payload: Buffer.from('WILL'), qos: 1, retain: true } });
      dying.client.stream.destroy();
      const r = await root();
      await r.subscribe('globex/#', 1);
      assert.equal((await r.waitFor((m) => m.payload === 'WILL')).topic, 'globex/initech/status');
      await sentinel(victim, 'initech/after', 'initech/after');
      assert.equal(victim.inbox.filter((m) => m.payload === 'WILL').length, 0);
    });

    it('the same client identifier in two tenants: neither disturbs the other', async () => {
      const a = await as('acme', { clientId: 'device-1' });
      await a.subscribe('acme/#', 1);
      let aClosed = false;
      a.client.on('close', () => (aClosed = true));
      const g = await as('globex', { clientId: 'device-1' });
      await g.subscribe('x', 1);
      const i = await as('initech', { clientId: 'device-1', clean: false });
      await i.subscribe('initech/x', 1);
      await sentinel(a, 'acme/ping', 'acme/ping');
      await sentinel(g, 'globex/x', 'x');
      await sentinel(i, 'initech/x', 'initech/x');
      assert.equal(aClosed, false);
      assert.equal(engine.host.connectionCount('acme'), 1);
      assert.equal(engine.host.connectionCount('globex'), 1);
    });

    it('within a tenant the same identifier still takes the session over [MQTT-3.1.4-2]', async () => {
      const first = await as('acme', { clientId: 'dup' });
      const gone = closed(first.client);
      await as('acme', { clientId: 'dup' });
      await gone;
    });

    it('a persistent session is resumed only by its own tenant', async () => {
      const owner = await as('initech', { clientId: 'shared-id', clean: false });
      await owner.subscribe('initech/queue/#', 1);
      await owner.end();
      const r = await root();
      await r.publish('initech/queue/1', 'QUEUED', { qos: 1 });
      const thief = await as('acme', { clientId: 'shared-id', clean: false });
      assert.equal(thief.client.connected, true);
      assert.equal(thief.sessionPresent, false);
      await thief.subscribe('acme/own', 1);
      await sentinel(thief, 'acme/own', 'acme/own');
      assert.equal(thief.inbox.filter((m) => m.payload === 'QUEUED').length, 0);
      const back = await as('initech', { clientId: 'shared-id', clean: false });
      assert.equal(back.sessionPresent, true);
      assert.equal((await back.waitFor((m) => m.payload === 'QUEUED')).topic, 'initech/queue/1');
    });

    it('$SYS is root only', async () => {
      const r = await root();
      assert.deepEqual(await r.subscribe('$SYS/+/new/clients', 0), [0]);
      await as('acme', { clientId: 'visible-to-root' });
      const seen = await r.waitFor((m) => m.payload.endsWith('visible-to-root'));
      assert.equal(seen.payload, 'acme:visible-to-root');
      for (const user of ['acme', 'globex']) {
        const c = await as(user);
        assert.deepEqual(await c.subscribe(['$SYS/#', '$SYS/+/new/clients'], 0), [128, 128]);
      }
    });

    it('root sees and publishes on every tenant, but may not publish to $SYS', async () => {
      const r = await root();
      await r.subscribe('#', 1);
      const a = await as('acme');
      await a.subscribe('acme/in', 1);
      const g = await as('globex');
      await g.subscribe('in', 1);
      await r.publish('acme/in', 'to-acme');
      await r.publish('globex/in', 'to-globex');
      assert.equal((await a.waitFor((m) => m.payload === 'to-acme')).topic, 'acme/in');
      assert.equal((await g.waitFor((m) => m.payload === 'to-globex')).topic, 'in');
      await (await as('globex')).publish('out', 'from-globex');
      assert.equal((await r.waitFor((m) => m.payload === 'from-globex')).topic, 'globex/out');
      const gone = closed(r.client);
      r.client.publish('$SYS/x', 'nope');
      await gone;
    });
  });
});
