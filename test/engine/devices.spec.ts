import assert from 'node:assert/strict';
import { engineFixture } from '../helpers/engine';
import BetterSqlite3 from 'better-sqlite3';
import { BrokerHost } from '../../src';
import { closed, connackCode, connect, type TestClient } from '../helpers/mqtt';
import { tempDir } from '../helpers/tmp';
import { until } from '../helpers/until';

/** A login's stored session rows (client ids starting with `prefix`), read through another connection. */
function deviceRowsOnDisk(dbPath: string, prefix: string): { subscriptions: number; queued: number } {
  const db = new BetterSqlite3(dbPath, { readonly: true });
  try {
    const count = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE substr(client_id, 1, ?) = ?`).get(prefix.length, prefix) as { n: number }).n;
    return { subscriptions: count('persist_subscriptions'), queued: count('persist_outgoing') };
  } finally {
    db.close();
  }
}

/**
 * Devices, roles and rules inside a tenant, with real clients: logins of their
 * own, ordered rules (first match wins), placeholders, QoS caps, read rights
 * checked on every delivery, sessions keyed by login, changes applied at once.
 */
describe('devices and roles', () => {
  const fixture = engineFixture();
  const open: TestClient[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.end().catch(() => undefined)));
  });

  async function device(username: string, password = `${username}-pw`, options: Record<string, unknown> = {}): Promise<TestClient> {
    const c = await connect(fixture.engine.mqttUrl, { username, password, ...options });
    open.push(c);
    return c;
  }

  const code = (options: Record<string, unknown>) => connackCode(fixture.engine.mqttUrl, options);

  /** Proves a message would have arrived by then: a sentinel published after it reaches the same client. */
  async function sentinel(client: TestClient, tenant: string, topic: string): Promise<void> {
    const marker = `s-${Math.random()}`;
    await fixture.engine.host.publish(tenant, { topic, payload: marker, qos: 1 });
    await client.waitFor((m) => m.payload === marker);
  }

  describe('login', () => {
    beforeEach(async () => {
      const r = fixture.engine.host.registry;
      await r.devices.add({ tenant: 'globex', username: 'sensor-1', password: 'sensor-1-pw' });
      await r.devices.add({ tenant: 'globex', username: 'bound', password: 'bound-pw', clientId: 'bound-id' });
      await r.devices.add({ tenant: 'globex', username: 'off', password: 'off-pw', enabled: false });
    });

    it('answers CONNACK 0, 4 for a wrong password or unknown login, 5 when disabled, 2 for another client id', async () => {
      assert.equal(await code({ username: 'sensor-1', password: 'sensor-1-pw' }), 0);
      assert.equal(await code({ username: 'sensor-1', password: 'wrong' }), 4);
      assert.equal(await code({ username: 'nobody', password: 'x' }), 4);
      assert.equal(await code({ username: 'off', password: 'off-pw' }), 5);
      assert.equal(await code({ username: 'bound', password: 'bound-pw', clientId: 'other' }), 2);
      assert.equal(await code({ username: 'bound', password: 'bound-pw', clientId: 'bound-id' }), 0);
      await fixture.engine.host.registry.updateTenant('globex', { enabled: false });
      assert.equal(await code({ username: 'sensor-1', password: 'sensor-1-pw' }), 5);
    });

    it('names are unique across tenants and devices, and root is reserved', async () => {
      const r = fixture.engine.host.registry;
      await assert.rejects(r.devices.add({ tenant: 'acme', username: 'sensor-1', password: 'x' }), /taken/);
      await assert.rejects(r.devices.add({ tenant: 'acme', username: 'globex', password: 'x' }), /taken/);
      await assert.rejects(r.devices.add({ tenant: 'acme', username: 'root', password: 'x' }), /reserved|taken/);
      await assert.rejects(r.addTenant({ username: 'sensor-1', password: 'x' }), /device/);
    });

    it('lives in its tenant\'s namespace and view: a mountpoint device writes plain topics and reaches nothing outside', async () => {
      const own = await fixture.as('globex');
      await own.subscribe('#', 1);
      const d = await device('sensor-1');
      assert.deepEqual(await d.subscribe(['#', '$SYS/#', 'acme/#'], 1), [1, 128, 1]);
      await d.publish('t', 'from device', { qos: 1 });
      assert.equal((await own.waitFor((m) => m.payload === 'from device')).topic, 't');
      // acme/# is mounted: globex/acme/#, never acme's topics
      await (await fixture.as('acme')).publish('acme/secret', 'acme only', { qos: 1 });
      await sentinel(d, 'globex', 'after');
      assert.equal(d.inbox.some((m) => m.payload === 'acme only'), false);
    });

    it('sessions belong to a login: the same client id of a device and of its tenant are two sessions, never resumed by the other', async () => {
      const first = await device('sensor-1', undefined, { clientId: 'shared', clean: false });
      await first.subscribe('private/+', 1);
      await first.end();
      await fixture.engine.host.publish('globex', { topic: 'private/x', payload: 'queued for sensor-1', qos: 1 });
      const tenantLogin = await fixture.as('globex', { clientId: 'shared', clean: false });
      assert.equal(tenantLogin.sessionPresent, false);
      await tenantLogin.subscribe('whatever', 1);
      await sentinel(tenantLogin, 'globex', 'whatever');
      const again = await device('sensor-1', undefined, { clientId: 'shared', clean: false });
      assert.equal(again.sessionPresent, true);
      await again.waitFor((m) => m.payload === 'queued for sensor-1');
      assert.equal(tenantLogin.inbox.some((m) => m.payload === 'queued for sensor-1'), false);
    });

    it('two devices of one tenant with one client id: no takeover and no resumed session between them; the same device takes over', async () => {
      const r = fixture.engine.host.registry;
      await r.devices.add({ tenant: 'globex', username: 'sensor-2', password: 'sensor-2-pw' });
      const first = await device('sensor-1', undefined, { clientId: 'same', clean: false });
      await first.subscribe('mine/+', 1);
      let firstClosed = false;
      first.client.on('close', () => (firstClosed = true));
      const other = await device('sensor-2', undefined, { clientId: 'same', clean: false });
      assert.equal(other.sessionPresent, false);
      await other.subscribe('theirs/+', 1);
      await sentinel(first, 'globex', 'mine/1');
      await sentinel(other, 'globex', 'theirs/1');
      assert.equal(firstClosed, false);
      await first.end();
      await fixture.engine.host.publish('globex', { topic: 'mine/2', payload: 'queued for sensor-1', qos: 1 });
      await other.end();
      const again = await device('sensor-2', undefined, { clientId: 'same', clean: false });
      assert.equal(again.sessionPresent, true);
      await sentinel(again, 'globex', 'theirs/2');
      assert.equal(again.inbox.some((m) => m.payload === 'queued for sensor-1'), false);
      const owner = await device('sensor-1', undefined, { clientId: 'same', clean: false });
      assert.equal(owner.sessionPresent, true);
      await owner.waitFor((m) => m.payload === 'queued for sensor-1');
      // [MQTT-3.1.4-2] within one login the same identifier takes the connection and the session over
      const gone = closed(owner.client);
      const taker = await device('sensor-1', undefined, { clientId: 'same', clean: false });
      await gone;
      assert.equal(taker.sessionPresent, true);
    });

    it('disconnects a device that is disabled, removed or given a new password, and only that device', async () => {
      const r = fixture.engine.host.registry;
      await r.devices.add({ tenant: 'globex', username: 'sensor-2', password: 'sensor-2-pw' });
      const tenantLogin = await fixture.as('globex');
      const changes: Array<[string, () => Promise<unknown>]> = [
        ['sensor-1', () => r.devices.update('sensor-1', { enabled: false })],
        ['sensor-2', () => r.devices.update('sensor-2', { password: 'new' })],
      ];
      for (const [name, change] of changes) {
        const d = await device(name);
        const gone = closed(d.client);
        await change();
        await gone;
      }
      const removed = await device('bound', undefined, { clientId: 'bound-id' });
      const gone = closed(removed.client);
      r.devices.remove('bound');
      await gone;
      assert.equal(tenantLogin.client.connected, true);
      assert.equal(await code({ username: 'sensor-2', password: 'new' }), 0);
    });

    it('a removed device\'s persistent sessions go at once, on disk too: the same name added again inherits nothing', async () => {
      const r = fixture.engine.host.registry;
      const persisted = () => fixture.engine.host.stats().persistence!;
      const first = await device('sensor-1', undefined, { clientId: 'keep', clean: false });
      assert.equal(first.sessionPresent, false);
      await first.subscribe('cmd/+', 1);
      await first.end();
      await fixture.engine.host.publish('globex', { topic: 'cmd/reboot', payload: 'queued for the old sensor-1', qos: 1 });
      await until('the offline session holds the message', () => persisted().queued === 1 && persisted().subscriptions === 1);

      r.devices.remove('sensor-1');
      // no flush interval waited for: gone, and committed, by the time remove returns
      assert.deepEqual([persisted().queued, persisted().subscriptions], [0, 0]);
      assert.deepEqual(deviceRowsOnDisk(fixture.engine.dbPath, 'globex/sensor-1:'), { subscriptions: 0, queued: 0 });

      await r.devices.add({ tenant: 'globex', username: 'sensor-1', password: 'another-pw' });
      const again = await device('sensor-1', 'another-pw', { clientId: 'keep', clean: false });
      assert.equal(again.sessionPresent, false);
      await again.subscribe('status', 1);
      // messages to cmd/+ would still reach a subscription it inherited
      await fixture.engine.host.publish('globex', { topic: 'cmd/reboot', payload: 'for nobody', qos: 1 });
      await sentinel(again, 'globex', 'status');
      assert.deepEqual(
        again.inbox.filter((m) => m.topic !== 'status').map((m) => m.payload),
        [],
      );
    });

    it('counts toward the tenant\'s connection quota, has one of its own, and is kicked with its tenant', async () => {
      const r = fixture.engine.host.registry;
      await r.devices.update('sensor-1', { maxConnections: 1 });
      await device('sensor-1');
      assert.equal(await code({ username: 'sensor-1', password: 'sensor-1-pw' }), 5);
      await r.updateTenant('globex', { maxConnections: 2 });
      await fixture.as('globex');
      assert.equal(await code({ username: 'bound', password: 'bound-pw', clientId: 'bound-id' }), 5);
      const kicked = fixture.engine.host.kick('globex');
      assert.equal(kicked, 2);
    });
  });

  describe('rules', () => {
    beforeEach(async () => {
      const r = fixture.engine.host.registry;
      await r.devices.setRole('globex', 'sensor', [
        { permission: 'deny', action: 'subscribe', topic: 'secret/#' },
        { permission: 'allow', action: 'publish', topic: 'devices/%u/+' },
        { permission: 'allow', action: 'subscribe', topic: 'cmd/%c', max_qos: 1 },
        { permission: 'allow', action: 'subscribe', topic: '#', max_qos: 2 },
        { permission: 'deny', action: 'all', topic: '#' },
      ], 'add');
      await r.devices.add({ tenant: 'globex', username: 'dev-a', password: 'dev-a-pw', roles: ['sensor'] });
      await r.devices.add({ tenant: 'acme', username: 'acme-dev', password: 'acme-dev-pw' });
    });

    it('evaluates in order, first match wins; placeholders stand for whole levels only', async () => {
      const d = await device('dev-a', undefined, { clientId: 'cid-1' });
      assert.deepEqual(await d.subscribe(['secret/x', 'cmd/cid-1', 'cmd/other', 'open/#'], 2), [128, 1, 2, 2]);
      await d.publish('devices/dev-a/temp', 'ok', { qos: 1 });
      const gone = closed(d.client);
      d.client.publish('devices/dev-b/temp', 'not mine', { qos: 1 });
      await gone;
    });

    it('checks every delivery: a deny inside an allowed wildcard holds for live, retained and queued messages', async () => {
      await fixture.engine.host.publish('globex', { topic: 'secret/retained', payload: 'no', retain: true, qos: 1 });
      const d = await device('dev-a', undefined, { clientId: 'q', clean: false });
      assert.deepEqual(await d.subscribe('#', 1), [1]);
      await fixture.engine.host.publish('globex', { topic: 'secret/live', payload: 'no', qos: 1 });
      await sentinel(d, 'globex', 'open/1');
      await d.end();
      await fixture.engine.host.publish('globex', { topic: 'secret/queued', payload: 'no', qos: 1 });
      await fixture.engine.host.publish('globex', { topic: 'open/queued', payload: 'queued ok', qos: 1 });
      const back = await device('dev-a', undefined, { clientId: 'q', clean: false });
      await back.waitFor((m) => m.payload === 'queued ok');
      await sentinel(back, 'globex', 'open/2');
      assert.deepEqual([...d.inbox, ...back.inbox].filter((m) => m.topic.startsWith('secret')), []);
    });

    it('caps the granted and delivered QoS at the rule\'s max_qos', async () => {
      const d = await device('dev-a', undefined, { clientId: 'cid-2' });
      assert.deepEqual(await d.subscribe('cmd/cid-2', 2), [1]);
      await fixture.engine.host.publish('globex', { topic: 'cmd/cid-2', payload: 'go', qos: 2 });
      assert.equal((await d.waitFor((m) => m.payload === 'go')).qos, 1);
    });

    it('a revoked read right stops delivery on an existing subscription at once; a changed rule applies to the next packet', async () => {
      const r = fixture.engine.host.registry;
      const d = await device('dev-a');
      await d.subscribe(['news/#', 'ping'], 1);
      await sentinel(d, 'globex', 'news/1');
      await r.devices.setRole('globex', 'sensor', [{ permission: 'deny', action: 'subscribe', topic: 'news/#' }, { permission: 'allow', action: 'all', topic: '#' }], 'update');
      await fixture.engine.host.publish('globex', { topic: 'news/2', payload: 'revoked', qos: 1 });
      await sentinel(d, 'globex', 'ping');
      assert.equal(d.inbox.some((m) => m.payload === 'revoked'), false);
      await d.publish('anything/now', 'allowed now', { qos: 1 });
    });

    it('a device without roles is like its tenant\'s login, unless the tenant\'s default access is deny', async () => {
      const acmeDevice = await device('acme-dev');
      assert.deepEqual(await acmeDevice.subscribe('acme/#', 1), [1]);
      await fixture.engine.host.registry.updateTenant('acme', { deviceDefaultAccess: 'deny' });
      assert.deepEqual(await acmeDevice.subscribe('acme/other', 1), [128]);
    });

    it('drops instead of closing with denied_publish "drop"', async () => {
      await fixture.engine.host.registry.updateTenant('globex', { deniedPublish: 'drop' });
      const own = await fixture.as('globex');
      await own.subscribe('#', 1);
      const d = await device('dev-a');
      await d.publish('forbidden/topic', 'dropped', { qos: 1 });
      assert.equal(d.client.connected, true);
      await sentinel(own, 'globex', 'after');
      assert.equal(own.inbox.some((m) => m.payload === 'dropped'), false);
    });

    it('refuses a will the rules forbid with CONNACK 5', async () => {
      assert.equal(await code({ username: 'dev-a', password: 'dev-a-pw', will: { topic: 'forbidden', payload: 'x', qos: 0, retain: false } }), 5);
      assert.equal(await code({ username: 'dev-a', password: 'dev-a-pw', clientId: 'w', will: { topic: 'devices/dev-a/status', payload: 'x', qos: 0, retain: false } }), 0);
    });

    it('refuses a role in use, an unknown role and a bad rule, naming it', async () => {
      const r = fixture.engine.host.registry;
      assert.throws(() => r.devices.removeRole('globex', 'sensor'), /used by dev-a/);
      await assert.rejects(r.devices.add({ tenant: 'globex', username: 'x1', password: 'x', roles: ['nope'] }), /no role named "nope"/);
      assert.throws(() => r.devices.setRole('globex', 'bad', [{ permission: 'allow', action: 'all', topic: '#' }, { permission: 'maybe', action: 'all', topic: '#' }], 'add'), /rule 2: permission/);
      assert.throws(() => r.devices.setRole('globex', 'bad', [{ permission: 'allow', action: 'all', topic: 'a/%ux' }], 'add'), /whole levels/);
      assert.throws(() => r.devices.setRole('globex', 'sensor', [], 'add'), /exists already/);
    });
  });

  describe('rules: order across roles, placeholders, revocation, max_qos, binding, read-only and $-topics', () => {
    const registry = () => fixture.engine.host.registry;
    const publish = (topic: string, payload: string, qos: 0 | 1 | 2 = 1, retain = false) => fixture.engine.host.publish('globex', { topic, payload, qos, retain });

    it('evaluates roles in the device\'s order; a new order applies to the next packet and to held subscriptions', async () => {
      registry().devices.setRole('globex', 'no-news', [{ permission: 'deny', action: 'subscribe', topic: 'news/#' }], 'add');
      registry().devices.setRole('globex', 'open', [{ permission: 'allow', action: 'all', topic: '#' }], 'add');
      await registry().devices.add({ tenant: 'globex', username: 'reader', password: 'reader-pw', roles: ['no-news', 'open'] });
      const d = await device('reader');
      assert.deepEqual(await d.subscribe(['news/1', 'weather/1'], 1), [128, 1]);
      await registry().devices.update('reader', { roles: ['open', 'no-news'] });
      assert.equal(d.client.connected, true);
      assert.deepEqual(await d.subscribe('news/1', 1), [1]);
      await publish('news/1', 'news now');
      await d.waitFor((m) => m.payload === 'news now');
      await registry().devices.update('reader', { roles: ['no-news', 'open'] });
      await publish('news/1', 'revoked by the order');
      await sentinel(d, 'globex', 'weather/1');
      assert.equal(d.inbox.some((m) => m.payload === 'revoked by the order'), false);
    });

    it('%u and %c stand for one whole level, never for a wildcard or two levels, whatever the client id holds', async () => {
      registry().devices.setRole('globex', 'own', [
        { permission: 'allow', action: 'subscribe', topic: 'cmd/%c' },
        { permission: 'allow', action: 'subscribe', topic: 'users/%u/#' },
        { permission: 'allow', action: 'publish', topic: 'up/%u/%c' },
        { permission: 'deny', action: 'all', topic: '#' },
      ], 'add');
      await registry().devices.add({ tenant: 'globex', username: 'dev-p', password: 'dev-p-pw', roles: ['own'] });
      const plain = await device('dev-p', undefined, { clientId: 'c1' });
      const filters = ['cmd/c1', 'cmd/c2', 'cmd/+', 'cmd/#', 'users/dev-p/#', 'users/dev-p/a', 'users/other/#', 'users/+/#', 'users/#'];
      assert.deepEqual(await plain.subscribe(filters, 1), [1, 128, 128, 128, 1, 1, 128, 128, 128]);
      await plain.publish('up/dev-p/c1', 'mine', { qos: 1 });
      await publish('cmd/c1', 'for c1');
      await plain.waitFor((m) => m.payload === 'for c1');
      for (const clientId of ['+', '#', 'a/b']) {
        const odd = await device('dev-p', undefined, { clientId });
        assert.deepEqual(await odd.subscribe(['cmd/+', 'cmd/#', 'cmd/a/b', 'cmd/a', 'cmd/b'], 1), [128, 128, 128, 128, 128], `client id ${clientId}`);
      }
      const twoLevels = await device('dev-p', undefined, { clientId: 'a/b' });
      const gone = closed(twoLevels.client);
      twoLevels.client.publish('up/dev-p/a/b', 'spans two levels', { qos: 1 });
      await gone;
    });

    it('a read right revoked while a persistent session is offline: its queued messages and its restored subscription deliver nothing', async () => {
      registry().devices.setRole('globex', 'feed', [{ permission: 'allow', action: 'all', topic: '#' }], 'add');
      await registry().devices.add({ tenant: 'globex', username: 'away', password: 'away-pw', roles: ['feed'] });
      const d = await device('away', undefined, { clientId: 'away-1', clean: false });
      assert.deepEqual(await d.subscribe(['news/#', 'ping'], 1), [1, 1]);
      await d.end();
      await publish('news/1', 'queued before the change');
      registry().devices.setRole('globex', 'feed', [{ permission: 'deny', action: 'subscribe', topic: 'news/#' }, { permission: 'allow', action: 'all', topic: '#' }], 'update');
      await publish('news/2', 'queued after the change');
      await publish('ping', 'queued and allowed');
      const back = await device('away', undefined, { clientId: 'away-1', clean: false });
      assert.equal(back.sessionPresent, true);
      // queued messages go out in order: the allowed one last
      await back.waitFor((m) => m.payload === 'queued and allowed');
      await publish('news/3', 'live after the change');
      await sentinel(back, 'globex', 'ping');
      assert.deepEqual(back.inbox.filter((m) => m.topic.startsWith('news')), []);
    });

    it('a max_qos on a narrower allow rule caps each delivery it matches under a broader subscription: retained, live and queued', async () => {
      registry().devices.setRole('globex', 'capped', [
        { permission: 'allow', action: 'subscribe', topic: 'slow/#', max_qos: 0 },
        { permission: 'allow', action: 'subscribe', topic: 'mid/#', max_qos: 1 },
        { permission: 'allow', action: 'all', topic: '#' },
      ], 'add');
      await registry().devices.add({ tenant: 'globex', username: 'capped', password: 'capped-pw', roles: ['capped'] });
      await publish('slow/kept', 'retained slow', 2, true);
      const d = await device('capped', undefined, { clientId: 'cap-1', clean: false });
      assert.deepEqual(await d.subscribe('#', 2), [2]);
      assert.equal((await d.waitFor((m) => m.payload === 'retained slow')).qos, 0);
      for (const [topic, qos] of [['slow/1', 0], ['mid/1', 1], ['fast/1', 2]] as const) {
        await publish(topic, `live ${topic}`, 2);
        assert.equal((await d.waitFor((m) => m.payload === `live ${topic}`)).qos, qos, topic);
      }
      await d.end();
      await publish('mid/2', 'queued mid', 2);
      await publish('fast/2', 'queued fast', 2);
      const back = await device('capped', undefined, { clientId: 'cap-1', clean: false });
      assert.equal((await back.waitFor((m) => m.payload === 'queued mid')).qos, 1);
      assert.equal((await back.waitFor((m) => m.payload === 'queued fast')).qos, 2);
      await back.end();
      // acknowledged at the QoS they were sent with: nothing comes again on the next resume
      const again = await device('capped', undefined, { clientId: 'cap-1', clean: false });
      await sentinel(again, 'globex', 'fast/3');
      assert.deepEqual(again.inbox.filter((m) => m.payload.startsWith('queued')), []);
    });

    it('a bound device cannot get round its client id with an empty one; binding it to another disconnects it', async () => {
      await registry().devices.add({ tenant: 'globex', username: 'pinned', password: 'pinned-pw', clientId: 'pin-1' });
      assert.equal(await code({ username: 'pinned', password: 'pinned-pw', clientId: '' }), 2);
      const d = await device('pinned', undefined, { clientId: 'pin-1' });
      const gone = closed(d.client);
      await registry().devices.update('pinned', { clientId: 'pin-2' });
      await gone;
      assert.equal(await code({ username: 'pinned', password: 'pinned-pw', clientId: 'pin-1' }), 2);
      assert.equal(await code({ username: 'pinned', password: 'pinned-pw', clientId: 'pin-2' }), 0);
    });

    it('a read-only service: its role only subscribes, so a publish and a will are refused', async () => {
      registry().devices.setRole('globex', 'ingest', [{ permission: 'allow', action: 'subscribe', topic: '#' }, { permission: 'deny', action: 'all', topic: '#' }], 'add');
      await registry().devices.add({ tenant: 'globex', username: 'ingest', password: 'ingest-pw', roles: ['ingest'] });
      const d = await device('ingest');
      assert.deepEqual(await d.subscribe('#', 1), [1]);
      await publish('data/1', 'reading');
      await d.waitFor((m) => m.payload === 'reading');
      assert.equal(await code({ username: 'ingest', password: 'ingest-pw', will: { topic: 'status', payload: 'x', qos: 0, retain: false } }), 5);
      const gone = closed(d.client);
      d.client.publish('data/2', 'not for a reader', { qos: 1 });
      await gone;
    });

    it('a rule starting with a wildcard covers no $-topic of the view; a rule naming the $ level does [MQTT-4.7.2-1]', async () => {
      await registry().updateTenant('globex', { deviceDefaultAccess: 'deny' });
      registry().devices.setRole('globex', 'wild', [{ permission: 'allow', action: 'all', topic: '#' }], 'add');
      registry().devices.setRole('globex', 'meta', [{ permission: 'allow', action: 'all', topic: '$meta/#' }], 'add');
      await registry().devices.add({ tenant: 'globex', username: 'wild', password: 'wild-pw', roles: ['wild'] });
      await registry().devices.add({ tenant: 'globex', username: 'meta', password: 'meta-pw', roles: ['wild', 'meta'] });
      const m = await device('meta');
      assert.deepEqual(await m.subscribe(['$meta/#', 'x'], 1), [1, 1]);
      await m.publish('$meta/a', 'dollar', { qos: 1 });
      await m.waitFor((msg) => msg.payload === 'dollar');
      const w = await device('wild');
      assert.deepEqual(await w.subscribe(['$meta/#', 'x'], 1), [128, 1]);
      const gone = closed(w.client);
      w.client.publish('$meta/b', 'no rule covers it', { qos: 1 });
      await gone;
    });

    it('counts every denial for the tenant and audits it with the device\'s name', async () => {
      const { host } = fixture.engine;
      registry().devices.setRole('globex', 'narrow', [{ permission: 'allow', action: 'all', topic: 'mine/#' }, { permission: 'deny', action: 'all', topic: '#' }], 'add');
      await registry().devices.add({ tenant: 'globex', username: 'narrow', password: 'narrow-pw', roles: ['narrow'] });
      const before = host.stats().tenants.globex.denials;
      assert.equal(await code({ username: 'narrow', password: 'narrow-pw', clientId: 'w', will: { topic: 'elsewhere', payload: 'x', qos: 0, retain: false } }), 5);
      const d = await device('narrow', undefined, { clientId: 'n' });
      assert.deepEqual(await d.subscribe('elsewhere', 1), [128]);
      const gone = closed(d.client);
      d.client.publish('elsewhere', 'x', { qos: 1 });
      await gone;
      const after = host.stats().tenants.globex.denials;
      const grew = (reason: string) => (after[reason] ?? 0) - (before[reason] ?? 0);
      assert.deepEqual([grew('will-denied'), grew('rule-denied')], [1, 2]);
      const audit = registry().audit.list({ tenant: 'globex', limit: 10 });
      for (const action of ['connect.refused', 'subscribe.denied', 'publish.denied']) {
        const entry = audit.find((e) => e.action === action);
        assert.ok(entry, `no ${action} entry for globex: ${JSON.stringify(audit)}`);
        // a refused CONNECT names the username offered; a denial, the login that was admitted
        assert.equal(action === 'connect.refused' ? entry.detail.username : entry.detail.login, 'narrow', action);
      }
    });
  });

  describe('namespaces', () => {
    it('mounts a multi-level namespace for devices, root, flows of one tenant and of all tenants', async () => {
      const { host } = fixture.engine;
      await host.registry.addTenant({ username: 'deep', password: 'deep-pw', isolation: 'mountpoint', namespace: 'tenants/deep' });
      const seenAll: Array<[string | null, string]> = [];
      const seenOne: string[] = [];
      await host.subscribe('*', 'sensors/#', (m) => seenAll.push([m.tenant, m.topic]));
      await host.subscribe('deep', 'sensors/#', (m) => seenOne.push(m.topic));
      const r = await fixture.as('root');
      await r.subscribe('tenants/#', 1);
      const d = await fixture.as('deep');
      await d.publish('sensors/t', 'deep reading', { qos: 1 });
      assert.equal((await r.waitFor((m) => m.payload === 'deep reading')).topic, 'tenants/deep/sensors/t');
      while (seenOne.length === 0 || seenAll.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual([seenAll, seenOne], [[['deep', 'sensors/t']], ['sensors/t']]);
    });

    it('refuses overlapping namespaces with 409 and a namespace change while something is stored under it', async () => {
      const { registry } = fixture.engine.host;
      await assert.rejects(registry.addTenant({ username: 'x', password: 'x', namespace: 'acme/x' }), (err: { code?: string }) => err.code === 'conflict');
      await assert.rejects(registry.addTenant({ username: 'acme2', password: 'x', namespace: 'acme' }), (err: { code?: string }) => err.code === 'conflict');
      await assert.rejects(registry.addTenant({ username: 'y', password: 'x', namespace: 'a/+/b' }), /namespace/);
      registry.addWebhook({ tenant: 'acme', topicFilter: 'acme/#', url: 'http://127.0.0.1:9/x' });
      await assert.rejects(registry.updateTenant('acme', { namespace: 'elsewhere/acme' }), (err: { code?: string }) => err.code === 'conflict');
    });

    it('a namespace change disconnects the tenant\'s clients and moves its flows', async () => {
      const { host } = fixture.engine;
      const seen: string[] = [];
      await host.subscribe('globex', 'x/#', (m) => seen.push(m.topic));
      const c = await fixture.as('globex');
      const gone = closed(c.client);
      await host.registry.updateTenant('globex', { namespace: 'org/globex' });
      await gone;
      const r = await fixture.as('root');
      await r.subscribe('org/#', 1);
      const again = await fixture.as('globex');
      await again.publish('x/1', 'moved', { qos: 1 });
      assert.equal((await r.waitFor((m) => m.payload === 'moved')).topic, 'org/globex/x/1');
      while (!seen.includes('x/1')) await new Promise((resolve) => setTimeout(resolve, 10));
    });
  });
});

describe('a device removed while the broker was down', () => {
  it('its persistent sessions go at the next start; another device of the tenant keeps its own', async () => {
    const tmp = tempDir();
    const database = tmp.file('registry.db');
    const options = { mqtt: { port: 0, host: '127.0.0.1' }, ws: false as const, database, rootPassword: 'rootpw' };
    const open: TestClient[] = [];
    let host = new BrokerHost(options);
    try {
      await host.registry.addTenant({ username: 'globex', password: 'globex-pw', isolation: 'mountpoint' });
      await host.registry.devices.add({ tenant: 'globex', username: 'sensor-1', password: 'sensor-1-pw' });
      await host.registry.devices.add({ tenant: 'globex', username: 'sensor-2', password: 'sensor-2-pw' });
      let url = `mqtt://127.0.0.1:${(await host.start()).mqtt!.port}`;
      for (const username of ['sensor-1', 'sensor-2']) {
        const c = await connect(url, { username, password: `${username}-pw`, clientId: 'keep', clean: false });
        await c.subscribe('cmd/+', 1);
        await c.end();
      }
      await host.publish('globex', { topic: 'cmd/reboot', payload: 'queued', qos: 1 });
      await until('both offline sessions hold the message', () => host.stats().persistence!.queued === 2);
      await host.close();
      // an outside edit while the broker is down (the sqlite3 shell)
      const db = new BetterSqlite3(database);
      db.prepare("DELETE FROM devices WHERE username = 'sensor-1'").run();
      db.close();

      host = new BrokerHost(options);
      url = `mqtt://127.0.0.1:${(await host.start()).mqtt!.port}`;
      assert.deepEqual(deviceRowsOnDisk(database, 'globex/sensor-1:'), { subscriptions: 0, queued: 0 });
      assert.deepEqual(deviceRowsOnDisk(database, 'globex/sensor-2:'), { subscriptions: 1, queued: 1 });
      await host.registry.devices.add({ tenant: 'globex', username: 'sensor-1', password: 'another-pw' });
      const fresh = await connect(url, { username: 'sensor-1', password: 'another-pw', clientId: 'keep', clean: false });
      open.push(fresh);
      assert.equal(fresh.sessionPresent, false);
      const kept = await connect(url, { username: 'sensor-2', password: 'sensor-2-pw', clientId: 'keep', clean: false });
      open.push(kept);
      assert.equal(kept.sessionPresent, true);
      await kept.waitFor((m) => m.payload === 'queued');
      await fresh.subscribe('status', 1);
      await host.publish('globex', { topic: 'status', payload: 'sentinel', qos: 1 });
      await fresh.waitFor((m) => m.payload === 'sentinel');
      assert.deepEqual(fresh.inbox.map((m) => m.payload), ['sentinel']);
    } finally {
      await Promise.all(open.map((c) => c.end().catch(() => undefined)));
      await host.close();
      tmp.remove();
    }
  });
});
