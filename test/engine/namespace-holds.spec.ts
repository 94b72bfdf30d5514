import assert from 'node:assert/strict';
import { BrokerHost, Registry } from '../../src';
import { createSqlitePersistence } from '../../src/persistence/sqlite-persistence';
import { startAdmin, type RunningAdmin } from '../admin/helpers';
import { startEngine } from '../helpers/engine';
import { closed, connect, type TestClient } from '../helpers/mqtt';
import { tempDir } from '../helpers/tmp';

/**
 * A namespace changes only while nothing is kept under it: retained messages
 * and sessions would otherwise stay under the old namespace, where a tenant
 * given that namespace later would find them. Answered by the engine's
 * store while the broker runs, by the SQLite tables while it does not; a
 * persistence passed in: always refused.
 */
describe('namespace changes and what is kept under the namespace', () => {
  for (const persistence of ['sqlite', 'memory'] as const) {
    describe(`${persistence} persistence`, () => {
      let admin: RunningAdmin;
      const open: TestClient[] = [];
      beforeEach(async () => {
        admin = await startAdmin({}, { persistence });
      });
      afterEach(async () => {
        for (const c of open.splice(0)) c.client.end(true);
        await admin.stop();
      });

      async function login(username: string, password: string, options: Record<string, unknown> = {}): Promise<TestClient> {
        const c = await connect(admin.engine.mqttUrl, { username, password, ...options });
        open.push(c);
        return c;
      }
      const move = (username: string, namespace: string) => admin.post('/internal/tenant/update', { username, namespace });

      it('409 while a retained message is kept under it, 200 once it is cleared', async () => {
        const c = await login('globex', 'globex-pw');
        await c.publish('state', 'on', { qos: 1, retain: true });
        const refused = await move('globex', 'org/globex');
        assert.equal(refused.status, 409, refused.text);
        assert.match(refused.json.error, /retained messages \(1\)/);
        await c.publish('state', '', { qos: 1, retain: true });
        const gone = closed(c.client);
        const moved = await move('globex', 'org/globex');
        assert.equal(moved.status, 200, moved.text);
        assert.equal(moved.json.tenant.namespace, 'org/globex');
        await gone;
      });

      it('409 while a persistent session of its own login or of a device is kept; a clean reconnect ends it', async () => {
        await admin.engine.host.registry.devices.add({ tenant: 'acme', username: 'd1', password: 'd1-pw' });
        const kept = await login('d1', 'd1-pw', { clientId: 'p1', clean: false });
        await kept.subscribe('acme/cmd/#', 1);
        await kept.end();
        const refused = await move('acme', 'org/acme');
        assert.equal(refused.status, 409, refused.text);
        assert.match(refused.json.error, /sessions \(1\)/);
        // a clean session with the same login and id replaces the kept one [MQTT-3.1.2-6]
        await (await login('d1', 'd1-pw', { clientId: 'p1', clean: true })).end();
        assert.equal((await move('acme', 'org/acme')).status, 200);
      });

      it('a live clean connection holds nothing: the change goes through and disconnects it', async () => {
        const c = await login('globex', 'globex-pw');
        await c.subscribe('x/#', 1);
        const gone = closed(c.client);
        assert.equal((await move('globex', 'org/globex')).status, 200);
        await gone;
      });

      it('a removed tenant leaves nothing that a tenant given its name or namespace later finds', async () => {
        await admin.engine.host.registry.devices.add({ tenant: 'acme', username: 'd1', password: 'd1-pw' });
        const owner = await login('acme', 'acme-pw', { clientId: 'c1', clean: false });
        await owner.subscribe('acme/cmd/#', 1);
        await owner.publish('acme/state', 'secret-retained', { qos: 1, retain: true });
        await owner.end();
        await (await login('d1', 'd1-pw', { clientId: 'c2', clean: false })).end();
        await admin.engine.host.publish('acme', { topic: 'cmd/x', payload: 'secret-queued', qos: 1 });
        assert.equal((await admin.post('/internal/tenant/remove', { username: 'acme' })).status, 200);
        const again = await admin.post('/internal/tenant/add', { username: 'acme', password: 'other-pw' });
        // dropped with the tenant, with either store: the name is free, and nothing of the first acme is resumed
        assert.equal(again.status, 201, again.text);
        const successor = await login('acme', 'other-pw', { clientId: 'c1', clean: false });
        assert.equal(successor.sessionPresent, false);
        await successor.subscribe('acme/#', 1);
        await admin.engine.host.publish('acme', { topic: 'sentinel', payload: 'after', qos: 1 });
        await successor.waitFor((m) => m.payload === 'after');
        assert.deepEqual(successor.inbox.filter((m) => m.payload.startsWith('secret')), []);
      });

      it("another tenant's retained messages and sessions never hold a namespace", async () => {
        const acme = await login('acme', 'acme-pw', { clientId: 'k', clean: false });
        await acme.subscribe('acme/#', 1);
        await acme.publish('acme/state', 'kept', { qos: 1, retain: true });
        await acme.end();
        assert.equal((await move('globex', 'org/globex')).status, 200);
        assert.equal((await move('acme', 'org/acme')).status, 409);
      });
    });
  }

  it('answers from the SQLite tables while the broker is not running', async () => {
    const tmp = tempDir();
    const registry = new Registry({ path: tmp.file('r.db'), watchRegistry: false });
    try {
      await registry.addTenant({ username: 'acme', password: 'acme-pw' });
      const host = new BrokerHost({ database: registry, mqtt: { port: 0, host: '127.0.0.1' }, ws: false, reloadOnSighup: false });
      const { mqtt } = await host.start();
      const c = await connect(`mqtt://127.0.0.1:${mqtt!.port}`, { username: 'acme', password: 'acme-pw', clientId: 'p', clean: false });
      await c.subscribe('acme/#', 1);
      await c.end();
      await host.close();
      await assert.rejects(registry.updateTenant('acme', { namespace: 'org/acme' }), (err: Error & { code?: string }) => err.code === 'conflict' && /sessions \(1\)/.test(err.message));
      // removed and added again while stopped: the next start could not tell the two apart, so the name waits
      registry.removeTenant('acme');
      await assert.rejects(registry.addTenant({ username: 'acme', password: 'other-pw' }), (err: Error & { key?: string }) => err.key === 'errors.name-holds-sessions');
      const next = new BrokerHost({ database: registry, mqtt: { port: 0, host: '127.0.0.1' }, ws: false, reloadOnSighup: false });
      await next.start(); // drops the sessions of a user that is no longer a tenant
      await next.close();
      await registry.addTenant({ username: 'acme', password: 'other-pw' });
    } finally {
      registry.close();
      tmp.remove();
    }
  });

  it('refuses any change with a persistence passed in, which it cannot look into', async () => {
    const engine = await startEngine({ persistence: createSqlitePersistence({ path: ':memory:' }) });
    try {
      await assert.rejects(engine.host.registry.updateTenant('acme', { namespace: 'org/acme' }), /cannot look into/);
    } finally {
      await engine.stop();
    }
  });

  it("a will of a client the change disconnects is not published under the old namespace, where another tenant may live next", async () => {
    const engine = await startEngine();
    const clients: TestClient[] = [];
    try {
      const root = await connect(engine.mqttUrl, { username: 'root', password: 'rootpw' });
      clients.push(root);
      await root.subscribe('#', 1);
      const device = await connect(engine.mqttUrl, { username: 'globex', password: 'globex-pw', will: { topic: 'status', payload: Buffer.from('gone'), qos: 1, retain: true } });
      clients.push(device);
      const gone = closed(device.client);
      await engine.host.registry.updateTenant('globex', { namespace: 'org/globex' });
      await gone;
      // a sentinel published after the disconnect: the will, had it been published, arrived first
      await root.publish('sentinel', 'after', { qos: 1 });
      await root.waitFor((m) => m.payload === 'after');
      assert.deepEqual(root.inbox.filter((m) => m.payload === 'gone'), []);
      // the old namespace, given to a new tenant, holds nothing of globex
      await engine.host.registry.addTenant({ username: 'newco', password: 'newco-pw', namespace: 'globex', isolation: 'mountpoint' });
      const newco = await connect(engine.mqttUrl, { username: 'newco', password: 'newco-pw' });
      clients.push(newco);
      await newco.subscribe('#', 1);
      await engine.host.publish('newco', { topic: 'sentinel', payload: 'newco-after', qos: 1 });
      await newco.waitFor((m) => m.payload === 'newco-after');
      assert.deepEqual(newco.inbox.filter((m) => m.payload === 'gone'), []);
    } finally {
      for (const c of clients) c.client.end(true);
      await engine.stop();
    }
  });
});
