import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Registry, type AuditEvent, type TenantChange } from '../../src';
import { startEngine, type RunningEngine } from '../helpers/engine';
import { HttpSink } from '../helpers/http-sink';
import { closed, connackCode, connect, type TestClient } from '../helpers/mqtt';
import { sqliteShell } from '../helpers/sqlite-shell';
import { tempDir } from '../helpers/tmp';
import { until } from '../helpers/until';

const FAST = { intervalMs: 20 };

const reloadsAudited = (registry: Registry): AuditEvent[] => registry.audit.list({ limit: 1000 }).filter((e) => e.action === 'registry.reload');

/** Waits until the watch has polled `count` more times (so it has surely looked at the file since now). */
const morePolls = (registry: Registry, count = 5) => {
  const target = registry.watchPolls + count;
  return until(`${count} more polls`, () => registry.watchPolls >= target);
};

describe('registry watch: outside edits apply with no request', () => {
  describe('the registry', () => {
    let tmp: ReturnType<typeof tempDir>;
    const open: Registry[] = [];
    const registry = (options: Partial<ConstructorParameters<typeof Registry>[0]> = {}) => {
      const r = new Registry({ path: tmp.file('registry.db'), ...options });
      open.push(r);
      return r;
    };
    beforeEach(() => {
      tmp = tempDir();
    });
    afterEach(() => {
      for (const r of open.splice(0)) r.close();
      tmp.remove();
    });

    it('PRAGMA data_version: its own writes (tenants, webhooks, audit, topic stats) leave it, another connection moves it', async () => {
      const r = registry({ watchRegistry: false });
      const version = r.db.prepare('PRAGMA data_version').pluck();
      const start = version.get();
      await r.addTenant({ username: 'a', password: 'x' });
      await r.updateTenant('a', { maxConnections: 3, password: 'y' });
      const hook = r.addWebhook({ tenant: 'a', topicFilter: 'a/#', url: 'http://127.0.0.1:9/h' });
      r.updateWebhook(hook.id, { enabled: false });
      r.stats.record('a', 'a/t', 5);
      r.stats.flush();
      r.audit.flush();
      r.brokerId();
      assert.equal(version.get(), start);
      const other = new BetterSqlite3(tmp.file('registry.db'));
      other.prepare("INSERT INTO broker_meta (key, value) VALUES ('note', 'x')").run();
      other.close();
      assert.notEqual(version.get(), start);
    });

    it('does not reload after its own writes, however many polls pass', async () => {
      const r = registry({ watchRegistry: FAST });
      const changes: TenantChange[] = [];
      r.on('tenant-changed', (c) => changes.push(c));
      await r.addTenant({ username: 'a', password: 'x' });
      await r.updateTenant('a', { enabled: false });
      const hook = r.addWebhook({ tenant: 'a', topicFilter: 'a/#', url: 'http://127.0.0.1:9/h' });
      r.removeWebhook(hook.id);
      r.stats.record('a', 'a/t', 5);
      r.stats.flush();
      r.audit.flush();
      await morePolls(r);
      assert.equal(r.reloads, 0);
      assert.deepEqual(changes.map((c) => c.kind), ['added', 'updated']);
      assert.deepEqual(reloadsAudited(r), []);
    });

    it('audits nothing while nothing changes, nor for a commit that changes no tenant or webhook', async () => {
      const r = registry({ watchRegistry: FAST });
      await r.addTenant({ username: 'a', password: 'x' });
      let events = 0;
      r.on('tenant-changed', () => events++);
      r.on('webhooks-changed', () => events++);
      await morePolls(r);
      assert.equal(r.reloads, 0);
      await sqliteShell(tmp.file('registry.db'), "INSERT INTO broker_meta (key, value) VALUES ('note', 'x')");
      await until('the watch re-reads the file', () => r.reloads === 1);
      await morePolls(r);
      assert.equal(r.reloads, 1, 'one commit, one re-read');
      assert.equal(events, 0);
      assert.deepEqual(reloadsAudited(r), []);
    });

    it('audits a reload the watch made once, with what changed; a requested reload always', async () => {
      const r = registry({ watchRegistry: FAST });
      await r.addTenant({ username: 'a', password: 'x' });
      await r.addTenant({ username: 'b', password: 'x' });
      const changes: TenantChange[] = [];
      let webhookEvents = 0;
      r.on('tenant-changed', (c) => changes.push(c));
      r.on('webhooks-changed', () => webhookEvents++);
      await sqliteShell(
        tmp.file('registry.db'),
        "UPDATE tenants SET enabled = 0 WHERE username = 'a'; INSERT INTO webhooks (tenant, topic_filter, url, enabled, created_at, updated_at) VALUES ('b', 'b/#', 'http://127.0.0.1:9/h', 1, 0, 0);",
      );
      await until('the disabled tenant is seen', () => r.getTenant('a')?.enabled === false && webhookEvents === 1);
      await morePolls(r);
      assert.deepEqual(changes.map((c) => [c.kind, c.username, c.after?.enabled]), [['updated', 'a', false]]);
      assert.equal(webhookEvents, 1);
      assert.deepEqual(reloadsAudited(r).map((e) => e.detail), [{ trigger: 'watch', tenants: ['a'], webhooks: true }]);
      assert.deepEqual(r.reload(), { tenants: [], webhooks: false });
      assert.deepEqual(reloadsAudited(r).map((e) => e.detail.trigger), ['request', 'watch']);
      assert.equal(changes.length, 1);
    });

    it('forgets a verified password only for a tenant that changed', async () => {
      const r = registry({ watchRegistry: FAST });
      await r.addTenant({ username: 'a', password: 'pa' });
      await r.addTenant({ username: 'b', password: 'pb' });
      assert.equal(await r.verifyPassword('a', 'pa'), true);
      assert.equal(await r.verifyPassword('b', 'pb'), true);
      const before = r.scryptChecks;
      await sqliteShell(tmp.file('registry.db'), "UPDATE tenants SET max_connections = 4 WHERE username = 'a'");
      await until('the change is seen', () => r.getTenant('a')?.maxConnections === 4);
      assert.equal(await r.verifyPassword('b', 'pb'), true);
      assert.equal(r.scryptChecks, before, 'b unchanged: still verified');
      assert.equal(await r.verifyPassword('a', 'pa'), true);
      assert.equal(r.scryptChecks, before + 1, 'a changed: checked again');
    });

    it('takes in an outside edit the watch has not reached before writing, so an update never undoes it', async () => {
      // a poll an hour away: only the write itself can notice the edit
      const r = registry({ watchRegistry: { intervalMs: 3_600_000 } });
      await r.addTenant({ username: 'a', password: 'x' });
      await sqliteShell(tmp.file('registry.db'), "UPDATE tenants SET enabled = 0 WHERE username = 'a'");
      assert.equal(r.getTenant('a')?.enabled, true, 'not seen yet');
      const updated = await r.updateTenant('a', { maxConnections: 2 });
      assert.deepEqual([updated.enabled, updated.maxConnections], [false, 2]);
      const row = r.db.prepare("SELECT enabled FROM tenants WHERE username = 'a'").get() as { enabled: number };
      assert.equal(row.enabled, 0);
      await sqliteShell(tmp.file('registry.db'), "INSERT INTO tenants (username, password_hash, isolation, created_at, updated_at) VALUES ('c', 'x', 'prefix', 0, 0)");
      await assert.rejects(r.addTenant({ username: 'c', password: 'x' }), (err: Error & { code?: string }) => err.code === 'conflict');
    });

    it('polls not at all when off, and no more once closed', async () => {
      const off = registry({ watchRegistry: false });
      const closing = registry({ watchRegistry: FAST });
      const clock = registry({ watchRegistry: FAST });
      await morePolls(closing);
      closing.close();
      const polled = closing.watchPolls;
      await morePolls(clock);
      assert.equal(off.watchPolls, 0);
      assert.equal(closing.watchPolls, polled);
    });

    it('does not keep a process alive', async () => {
      const index = resolve(__dirname, '../../dist/src/index.js');
      const script = `const { Registry } = require(${JSON.stringify(index)}); new Registry({ path: process.argv[1], watchRegistry: { intervalMs: 10 } });`;
      // exits by itself with the registry still open: every timer is unref'd
      await new Promise<void>((done, fail) => execFile(process.execPath, ['-e', script, tmp.file('registry.db')], (err) => (err ? fail(err) : done())));
    });

    it('refuses a bad interval', () => {
      assert.throws(() => registry({ watchRegistry: { intervalMs: 0 } }), RangeError);
    });
  });

  describe('the broker', () => {
    let engine: RunningEngine;
    const clients: TestClient[] = [];
    const device = async (username: string, clientId: string, password = `${username}-pw`) => {
      const c = await connect(engine.mqttUrl, { username, password, clientId });
      clients.push(c);
      return c;
    };
    afterEach(async () => {
      for (const c of clients.splice(0)) c.client.end(true);
      await engine.stop();
    });

    it('disconnects and refuses (CONNACK 5) a tenant disabled with the sqlite3 shell, and leaves the others alone', async () => {
      engine = await startEngine(); // the default watch, as Node-RED runs it
      const acme = await device('acme', 'a1');
      const globex = await device('globex', 'g1');
      const gone = closed(acme.client);
      await sqliteShell(engine.dbPath, "UPDATE tenants SET enabled = 0 WHERE username = 'acme'");
      await gone;
      assert.equal(await connackCode(engine.mqttUrl, { username: 'acme', password: 'acme-pw' }), 5);
      assert.equal(globex.client.connected, true);
      const checks = engine.host.registry.scryptChecks;
      assert.equal(await connackCode(engine.mqttUrl, { username: 'globex', password: 'globex-pw', clientId: 'g2' }), 0);
      assert.equal(engine.host.registry.scryptChecks, checks, 'globex is unchanged: its verified password was kept');
    });

    it('POSTs the next matching publish to a webhook inserted with the sqlite3 shell', async () => {
      engine = await startEngine({ watchRegistry: FAST });
      const sink = await HttpSink.start();
      try {
        await sqliteShell(
          engine.dbPath,
          `INSERT INTO webhooks (tenant, topic_filter, url, enabled, created_at, updated_at) VALUES ('acme', 'acme/sensors/+', '${sink.url('/hook')}', 1, 0, 0)`,
        );
        await until('the webhook is registered', () => engine.host.webhooks.ids().some((id) => id.startsWith('registry:')));
        const acme = await device('acme', 'a1');
        await acme.publish('acme/sensors/temp', '21.5');
        const [hook] = await sink.waitFor(1);
        assert.equal(hook.headers['x-mqtt-topic'], 'acme/sensors/temp');
        assert.equal(hook.body.toString(), '21.5');
      } finally {
        await sink.close();
      }
    });

    it('refuses the old password once the hash is changed with the sqlite3 shell', async () => {
      engine = await startEngine({ watchRegistry: FAST });
      const acme = await device('acme', 'a1'); // its password is now verified and remembered
      const gone = closed(acme.client);
      await sqliteShell(engine.dbPath, "UPDATE tenants SET password_hash = (SELECT password_hash FROM tenants WHERE username = 'globex') WHERE username = 'acme'");
      await gone;
      assert.equal(await connackCode(engine.mqttUrl, { username: 'acme', password: 'acme-pw' }), 4);
      assert.equal(await connackCode(engine.mqttUrl, { username: 'acme', password: 'globex-pw' }), 0);
    });

    it('kicks nobody and audits nothing for an outside commit that changes no tenant', async () => {
      engine = await startEngine({ watchRegistry: FAST });
      const acme = await device('acme', 'a1');
      const registry = engine.host.registry;
      await sqliteShell(engine.dbPath, "INSERT INTO broker_meta (key, value) VALUES ('note', 'x')");
      await until('the watch re-reads the file', () => registry.reloads === 1);
      await morePolls(registry);
      assert.equal(acme.client.connected, true);
      assert.deepEqual(reloadsAudited(registry), []);
    });

    it('does not reload after its own writes: persistence, statistics, audit, admin changes', async () => {
      engine = await startEngine({ watchRegistry: FAST });
      const registry = engine.host.registry;
      const reader = new BetterSqlite3(engine.dbPath, { readonly: true });
      try {
        const acme = await device('acme', 'a1', 'acme-pw');
        await connackCode(engine.mqttUrl, { username: 'acme', password: 'wrong' });
        const sub = await connect(engine.mqttUrl, { username: 'globex', password: 'globex-pw', clientId: 'g1', clean: false });
        await sub.subscribe('q', 1);
        await sub.end();
        await acme.publish('acme/retained', 'r', { qos: 1, retain: true });
        await engine.host.publish('globex', { topic: 'q', payload: 'queued', qos: 1 });
        await registry.updateTenant('acme', { maxQos: 1 });
        registry.audit.flush();
        registry.stats.flush();
        // a reader of its own sees the persistence's writes committed
        await until('retained and queued messages are written', () => {
          const count = (table: string) => (reader.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
          return count('persist_retained') === 1 && count('persist_outgoing') === 1;
        });
        await morePolls(registry);
        assert.equal(registry.reloads, 0);
        assert.deepEqual(reloadsAudited(registry), []);
      } finally {
        reader.close();
      }
    });

    it('reloads on SIGHUP when used alone (default), and leaves SIGHUP alone with reloadOnSighup false', async () => {
      const before = process.listeners('SIGHUP');
      engine = await startEngine();
      const added = process.listeners('SIGHUP').filter((l) => !before.includes(l));
      assert.equal(added.length, 1);
      added[0]('SIGHUP');
      assert.deepEqual(reloadsAudited(engine.host.registry).map((e) => e.detail.trigger), ['sighup']);
      await engine.stop();
      assert.deepEqual(process.listeners('SIGHUP'), before);
      engine = await startEngine({ reloadOnSighup: false });
      assert.deepEqual(process.listeners('SIGHUP'), before);
    });
  });
});
