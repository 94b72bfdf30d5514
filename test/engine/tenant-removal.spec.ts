import assert from 'node:assert/strict';
import BetterSqlite3 from 'better-sqlite3';
import { BrokerHost } from '../../src';
import { startEngine, type RunningEngine } from '../helpers/engine';
import { closed, connect, type TestClient } from '../helpers/mqtt';
import { tempDir } from '../helpers/tmp';
import { until } from '../helpers/until';

/** Rows of the store on disk that belong to acme, read through another connection. */
function acmeRowsOnDisk(dbPath: string): Record<string, number> {
  const db = new BetterSqlite3(dbPath, { readonly: true });
  try {
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    return {
      retained: count("SELECT count(*) AS n FROM persist_retained WHERE topic LIKE 'acme/%'"),
      subscriptions: count("SELECT count(*) AS n FROM persist_subscriptions WHERE client_id LIKE 'acme:%'"),
      queued: count("SELECT count(*) AS n FROM persist_outgoing WHERE client_id LIKE 'acme:%'"),
      wills: count("SELECT count(*) AS n FROM persist_wills WHERE client_id LIKE 'acme:%'"),
    };
  } finally {
    db.close();
  }
}

const NONE = { retained: 0, subscriptions: 0, queued: 0, wills: 0 };

/** A removed tenant's data (issue 10, finding 6): gone at once and durably, and never inherited. */
describe('removing a tenant', () => {
  let engine: RunningEngine;
  const open: TestClient[] = [];
  const acme = async (options: Record<string, unknown> = {}, password = 'acme-pw') => {
    const client = await connect(engine.mqttUrl, { username: 'acme', password, ...options });
    open.push(client);
    return client;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.end().catch(() => undefined)));
    await engine?.stop();
  });

  /** acme keeps a retained message, an offline session with a queued message, and a connected client with a will. */
  async function acmeWithData(): Promise<{ root: TestClient; willing: TestClient }> {
    const root = await connect(engine.mqttUrl, { username: 'root', password: 'rootpw' });
    open.push(root);
    await root.subscribe('acme/#', 1);
    const device = await acme();
    await device.publish('acme/state', 'old customer', { qos: 1, retain: true });
    const offline = await acme({ clientId: 'dev', clean: false });
    await offline.subscribe('acme/cmd', 1);
    await offline.end();
    await device.publish('acme/cmd', 'queued for dev', { qos: 1 });
    const willing = await acme({ clientId: 'w', clean: false, will: { topic: 'acme/will', payload: Buffer.from('gone'), qos: 1, retain: true } });
    const persisted = () => engine.host.stats().persistence!;
    await until('everything is stored', () => persisted().retained === 1 && persisted().queued === 1);
    return { root, willing };
  }

  it('deletes its retained messages, sessions, queues and wills at once, on disk too, and publishes none of its wills', async () => {
    engine = await startEngine();
    const { root, willing } = await acmeWithData();
    const away = closed(willing.client);
    engine.host.registry.removeTenant('acme');
    // no flush interval waited for: committed by the time removeTenant returns
    assert.deepEqual(acmeRowsOnDisk(engine.dbPath), NONE);
    assert.equal(engine.host.stats().persistence!.retained, 0);
    assert.equal(engine.host.stats().persistence!.queued, 0);
    await away;
    await root.publish('acme/sentinel', 'after', { qos: 1 });
    await root.waitFor((m) => m.payload === 'after');
    assert.deepEqual(root.inbox.filter((m) => m.topic === 'acme/will'), [], 'the will of a removed tenant is not published');
    assert.deepEqual(acmeRowsOnDisk(engine.dbPath), NONE, 'and nothing of it came back when its clients closed');

    // a new acme, another customer, inherits nothing
    await engine.host.registry.addTenant({ username: 'acme', password: 'new-customer' });
    const dev = await acme({ clientId: 'dev', clean: false }, 'new-customer');
    assert.equal(dev.sessionPresent, false);
    await dev.subscribe('acme/#', 1);
    await root.publish('acme/sentinel', 'fresh', { qos: 1 });
    await dev.waitFor((m) => m.payload === 'fresh');
    assert.deepEqual(dev.inbox.map((m) => m.payload), ['fresh']);
  });

  it('with the memory persistence too', async () => {
    engine = await startEngine({ persistence: 'memory' });
    await acmeWithData();
    engine.host.registry.removeTenant('acme');
    assert.equal(engine.host.stats().persistence!.retained, 0);
    assert.equal(engine.host.stats().persistence!.queued, 0);
    await engine.host.registry.addTenant({ username: 'acme', password: 'new-customer' });
    const dev = await acme({ clientId: 'dev', clean: false }, 'new-customer');
    assert.equal(dev.sessionPresent, false);
  });

  it('a tenant removed while the broker was down: its sessions go at the next start, its retained messages when a tenant of its name is added', async () => {
    const tmp = tempDir();
    const database = tmp.file('registry.db');
    const options = { mqtt: { port: 0, host: '127.0.0.1' }, ws: false as const, database, rootPassword: 'rootpw' };
    try {
      let host = new BrokerHost(options);
      await host.registry.addTenant({ username: 'acme', password: 'acme-pw' });
      engine = { host, addresses: await host.start(), dbPath: database, mqttUrl: '', wsUrl: '', stop: () => host.close() };
      engine.mqttUrl = `mqtt://127.0.0.1:${engine.addresses.mqtt!.port}`;
      await acmeWithData();
      await Promise.all(open.splice(0).map((c) => c.end()));
      await host.close();
      // an outside edit while the broker is down (the sqlite3 shell)
      const db = new BetterSqlite3(database);
      db.prepare("DELETE FROM tenants WHERE username = 'acme'").run();
      db.close();

      host = new BrokerHost(options);
      engine = { ...engine, host, addresses: await host.start(), stop: () => host.close() };
      engine.mqttUrl = `mqtt://127.0.0.1:${engine.addresses.mqtt!.port}`;
      assert.deepEqual({ ...acmeRowsOnDisk(database), retained: 0 }, NONE, 'sessions of a user that is no tenant are dropped');
      await host.registry.addTenant({ username: 'acme', password: 'new-customer' });
      assert.deepEqual(acmeRowsOnDisk(database), NONE);
      const dev = await acme({}, 'new-customer');
      await dev.subscribe('acme/#', 1);
      await dev.publish('acme/sentinel', 'fresh', { qos: 1 });
      await dev.waitFor((m) => m.payload === 'fresh');
      assert.deepEqual(dev.inbox.map((m) => m.payload), ['fresh']);
    } finally {
      await Promise.all(open.splice(0).map((c) => c.end().catch(() => undefined)));
      await engine.host.close();
      tmp.remove();
      engine = undefined as unknown as RunningEngine;
    }
  });
});
