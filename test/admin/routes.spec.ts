import assert from 'node:assert/strict';
import BetterSqlite3 from 'better-sqlite3';
import type { DeliveryResult } from '../../src';
import { HttpSink } from '../helpers/http-sink';
import { closed, connackCode, connect, type TestClient } from '../helpers/mqtt';
import { startAdmin, type Reply, type RunningAdmin } from './helpers';

function assertError(reply: Reply, status: number, pattern?: RegExp): void {
  assert.equal(reply.status, status, reply.text);
  assert.deepEqual(Object.keys(reply.json).sort(), ['error', 'status']);
  assert.equal(reply.json.status, 'error');
  assert.equal(typeof reply.json.error, 'string');
  if (pattern) assert.match(reply.json.error, pattern);
}

describe('admin API routes', () => {
  let admin: RunningAdmin;
  const clients: TestClient[] = [];

  beforeEach(async () => {
    admin = await startAdmin();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.client.end(true);
    await admin.stop();
  });

  const device = async (username: string, password: string, clientId: string) => {
    const c = await connect(admin.engine.mqttUrl, { username, password, clientId });
    clients.push(c);
    return c;
  };

  describe('GET /internal/stats', () => {
    it('reports uptime, connections and traffic per tenant and in total', async () => {
      const acme = await device('acme', 'acme-pw', 'a1');
      await acme.publish('acme/sensors/temp', '12345', { qos: 1 });
      const reply = await admin.get('/internal/stats');
      assert.equal(reply.status, 200);
      assert.equal(reply.json.status, 'ok');
      assert.equal(typeof reply.json.uptime_seconds, 'number');
      assert.equal(reply.json.connections, 1);
      assert.deepEqual(reply.json.unauthenticated, { connections: 0, bytes: 0 });
      assert.deepEqual(reply.json.tenants.acme, { messages_in: 1, bytes_in: 5, messages_out: 0, bytes_out: 0, denials: {}, connections: 1, offline_dropped: 0 });
      assert.deepEqual(Object.keys(reply.json.persistence).sort(), ['offline_dropped', 'queued', 'retained', 'sessions_expired', 'store', 'subscriptions']);
      assert.equal(reply.json.persistence.store, 'sqlite');
      assert.equal(reply.json.tenants.globex.connections, 0);
      assert.equal(reply.json.total.messages_in, 1);
      assert.deepEqual(reply.json.webhooks, {});
    });
  });

  describe('tenants', () => {
    it('GET /internal/tenants lists style, limits and live connections, never a hash', async () => {
      await device('globex', 'globex-pw', 'g1');
      const reply = await admin.get('/internal/tenants');
      assert.equal(reply.status, 200);
      assert.equal(reply.json.status, 'ok');
      const [acme, globex] = reply.json.tenants;
      assert.deepEqual([acme.username, acme.isolation, acme.enabled, acme.connections], ['acme', 'prefix', true, 0]);
      assert.deepEqual([globex.username, globex.isolation, globex.connections], ['globex', 'mountpoint', 1]);
      for (const key of ['max_connections', 'max_msgs_per_sec', 'max_tenant_msgs_per_sec', 'max_payload_bytes', 'max_qos', 'allow_retain', 'max_subscriptions']) {
        assert.ok(key in acme, key);
      }
      assert.doesNotMatch(reply.text, /scrypt|hash|password/);
    });

    it('POST /internal/tenant/add creates a tenant that can log in (201)', async () => {
      const reply = await admin.post('/internal/tenant/add', { username: 'initech', password: 'pw', isolation: 'mountpoint', enabled: true, max_connections: 2, max_qos: 1, allow_retain: false });
      assert.equal(reply.status, 201);
      assert.equal(reply.json.status, 'ok');
      assert.deepEqual([reply.json.tenant.username, reply.json.tenant.isolation, reply.json.tenant.max_connections, reply.json.tenant.max_qos, reply.json.tenant.allow_retain], ['initech', 'mountpoint', 2, 1, false]);
      assert.equal(await connackCode(admin.engine.mqttUrl, { username: 'initech', password: 'pw' }), 0);
    });

    it('POST /internal/tenant/add refuses an existing name (409), a bad name, a bad field or no password (400)', async () => {
      assertError(await admin.post('/internal/tenant/add', { username: 'acme', password: 'pw' }), 409, /exists/);
      assertError(await admin.post('/internal/tenant/add', { username: 'root', password: 'pw' }), 400, /reserved/);
      assertError(await admin.post('/internal/tenant/add', { username: 'bad/name', password: 'pw' }), 400);
      assertError(await admin.post('/internal/tenant/add', { username: 'x' }), 400, /password/);
      assertError(await admin.post('/internal/tenant/add', { username: 'x', password: 'pw', max_qos: 3 }), 400, /max_qos/);
      assertError(await admin.post('/internal/tenant/add', { username: 'x', password: 'pw', isolation: 'none' }), 400, /isolation/);
      assertError(await admin.post('/internal/tenant/add', { username: 'x', password: 'pw', colour: 'red' }), 400, /unknown field "colour"/);
      assertError(await admin.post('/internal/tenant/add', { password: 'pw' }), 400, /username/);
    });

    it('POST /internal/tenant/update changes fields and a new password disconnects the tenant', async () => {
      const acme = await device('acme', 'acme-pw', 'a1');
      const gone = closed(acme.client);
      const reply = await admin.post('/internal/tenant/update', { username: 'acme', password: 'new-pw', max_subscriptions: 4, enabled: true });
      assert.equal(reply.status, 200);
      assert.equal(reply.json.status, 'ok');
      assert.equal(reply.json.tenant.max_subscriptions, 4);
      await gone;
      assert.equal(await connackCode(admin.engine.mqttUrl, { username: 'acme', password: 'acme-pw' }), 4);
      assert.equal(await connackCode(admin.engine.mqttUrl, { username: 'acme', password: 'new-pw' }), 0);
    });

    it('POST /internal/tenant/update: unknown tenant 404, no username or a bad field 400', async () => {
      assertError(await admin.post('/internal/tenant/update', { username: 'nobody', enabled: false }), 404, /nobody/);
      assertError(await admin.post('/internal/tenant/update', { enabled: false }), 400, /username/);
      assertError(await admin.post('/internal/tenant/update', { username: 'acme', enabled: 'yes' }), 400, /enabled/);
      assertError(await admin.post('/internal/tenant/update', { username: 'acme', max_connections: -1 }), 400, /max_connections/);
    });

    it('POST /internal/tenant/remove removes the tenant and disconnects its clients; unknown 404', async () => {
      const globex = await device('globex', 'globex-pw', 'g1');
      const gone = closed(globex.client);
      const reply = await admin.post('/internal/tenant/remove', { username: 'globex' });
      assert.deepEqual([reply.status, reply.json], [200, { status: 'ok' }]);
      await gone;
      const list = await admin.get('/internal/tenants');
      assert.deepEqual(list.json.tenants.map((t: { username: string }) => t.username), ['acme']);
      assertError(await admin.post('/internal/tenant/remove', { username: 'globex' }), 404);
      assertError(await admin.post('/internal/tenant/remove', {}), 400, /username/);
      assertError(await admin.post('/internal/tenant/remove', { username: 'acme', force: true }), 400, /unknown field/);
    });

    it('POST /internal/tenant/kick answers exactly {"status":"ok","kicked":N}', async () => {
      const a = await device('acme', 'acme-pw', 'a1');
      const b = await device('acme', 'acme-pw', 'a2');
      const other = await device('globex', 'globex-pw', 'g1');
      const gone = Promise.all([closed(a.client), closed(b.client)]);
      const reply = await admin.post('/internal/tenant/kick', { username: 'acme' });
      assert.equal(reply.status, 200);
      assert.equal(reply.text, '{"status":"ok","kicked":2}');
      await gone;
      assert.equal(other.client.connected, true);
      assert.equal((await admin.post('/internal/tenant/kick', { username: 'acme' })).text, '{"status":"ok","kicked":0}');
      assertError(await admin.post('/internal/tenant/kick', { username: 'nobody' }), 404);
      assertError(await admin.post('/internal/tenant/kick', { username: 42 }), 400);
    });
  });

  describe('webhooks', () => {
    let sink: HttpSink;
    beforeEach(async () => {
      sink = await HttpSink.start();
    });
    afterEach(async () => {
      await sink.close();
    });

    it('POST /internal/webhook/add registers a webhook that fires on the next matching message, with counters', async () => {
      const added = await admin.post('/internal/webhook/add', { username: 'acme', topic_filter: 'acme/sensors/+', webhook_url: sink.url('/hook'), secret: 'whsec_' + Buffer.from('a secret key of 32 bytes length!').toString('base64') });
      assert.equal(added.status, 201);
      assert.equal(added.json.status, 'ok');
      assert.equal(typeof added.json.id, 'number');
      assert.equal(added.json.webhook.has_secret, true);
      assert.doesNotMatch(added.text, /whsec_/);
      const delivered = new Promise<DeliveryResult>((resolve) => admin.engine.host.webhooks.once('delivered', resolve));
      const acme = await device('acme', 'acme-pw', 'a1');
      await acme.publish('acme/sensors/temp', '21.5');
      const [hook] = await sink.waitFor(1);
      assert.equal(hook.headers['x-mqtt-topic'], 'acme/sensors/temp');
      assert.equal(hook.body.toString(), '21.5');
      await delivered;
      const list = await admin.get('/internal/webhooks?username=acme');
      assert.equal(list.status, 200);
      assert.equal(list.json.webhooks.length, 1);
      const [webhook] = list.json.webhooks;
      assert.deepEqual([webhook.id, webhook.username, webhook.topic_filter, webhook.webhook_url, webhook.enabled, webhook.has_secret], [added.json.id, 'acme', 'acme/sensors/+', sink.url('/hook'), true, true]);
      assert.equal(webhook.secret, undefined);
      assert.deepEqual([webhook.counters.delivered, webhook.counters.failed, webhook.counters.last_status], [1, 0, 200]);
      const stats = await admin.get('/internal/stats');
      assert.equal(stats.json.webhooks[`registry:${added.json.id}`].delivered, 1);
    });

    it('POST /internal/webhook/add refuses a filter outside the tenant, a bad URL (400) and an unknown tenant (404)', async () => {
      assertError(await admin.post('/internal/webhook/add', { username: 'acme', topic_filter: 'globex/#', webhook_url: sink.url() }), 400, /acme\//);
      assertError(await admin.post('/internal/webhook/add', { username: 'acme', topic_filter: '#', webhook_url: sink.url() }), 400);
      assertError(await admin.post('/internal/webhook/add', { username: 'acme', topic_filter: 'acme/#', webhook_url: 'ftp://x/' }), 400, /http/);
      assertError(await admin.post('/internal/webhook/add', { username: 'acme', topic_filter: 'acme/#' }), 400, /webhook_url/);
      assertError(await admin.post('/internal/webhook/add', { username: 'acme', topic_filter: 'acme/#', webhook_url: sink.url(), secret: 42 }), 400, /secret/);
      assertError(await admin.post('/internal/webhook/add', { username: 'nobody', topic_filter: 'nobody/#', webhook_url: sink.url() }), 404);
    });

    it('GET /internal/webhooks lists all or one tenant\'s; unknown tenant 404, empty username 400', async () => {
      await admin.post('/internal/webhook/add', { username: 'acme', topic_filter: 'acme/#', webhook_url: sink.url('/a') });
      await admin.post('/internal/webhook/add', { username: 'globex', topic_filter: 'globex/#', webhook_url: sink.url('/g') });
      assert.deepEqual((await admin.get('/internal/webhooks')).json.webhooks.map((w: { username: string }) => w.username), ['acme', 'globex']);
      assert.deepEqual((await admin.get('/internal/webhooks?username=globex')).json.webhooks.map((w: { webhook_url: string }) => w.webhook_url), [sink.url('/g')]);
      assertError(await admin.get('/internal/webhooks?username=nobody'), 404);
      assertError(await admin.get('/internal/webhooks?username='), 400);
    });

    it('POST /internal/webhook/update and /remove; unknown id 404, bad id or field 400', async () => {
      const { json } = await admin.post('/internal/webhook/add', { username: 'acme', topic_filter: 'acme/#', webhook_url: sink.url('/a') });
      const id = json.id as number;
      const updated = await admin.post('/internal/webhook/update', { id, enabled: false, topic_filter: 'acme/x/#', webhook_url: sink.url('/b'), secret: 'a-plain-secret-of-some-length' });
      assert.equal(updated.status, 200);
      assert.deepEqual([updated.json.webhook.enabled, updated.json.webhook.topic_filter, updated.json.webhook.webhook_url, updated.json.webhook.has_secret], [false, 'acme/x/#', sink.url('/b'), true]);
      assert.equal(admin.engine.host.webhooks.has(`registry:${id}`), true);
      const cleared = await admin.post('/internal/webhook/update', { id: String(id), secret: null });
      assert.equal(cleared.json.webhook.has_secret, false);
      assertError(await admin.post('/internal/webhook/update', { id, topic_filter: 'globex/#' }), 400, /acme\//);
      assertError(await admin.post('/internal/webhook/update', { id, username: 'globex' }), 400, /unknown field/);
      assertError(await admin.post('/internal/webhook/update', { id: 9999, enabled: true }), 404, /9999/);
      assertError(await admin.post('/internal/webhook/update', { id: 'one', enabled: true }), 400, /id/);
      assertError(await admin.post('/internal/webhook/update', { enabled: true }), 400, /id/);
      const removed = await admin.post('/internal/webhook/remove', { id });
      assert.deepEqual([removed.status, removed.json], [200, { status: 'ok' }]);
      assert.equal(admin.engine.host.webhooks.has(`registry:${id}`), false);
      assertError(await admin.post('/internal/webhook/remove', { id }), 404);
      assertError(await admin.post('/internal/webhook/remove', { id: 0 }), 400);
    });
  });

  describe('GET /internal/topics', () => {
    it('lists a tenant\'s topics with message and byte counts; username required, unknown 404, bad limit 400', async () => {
      const acme = await device('acme', 'acme-pw', 'a1');
      await acme.publish('acme/a', '1');
      await acme.publish('acme/b', '22');
      await acme.publish('acme/b', '333');
      const reply = await admin.get('/internal/topics?username=acme');
      assert.equal(reply.status, 200);
      assert.equal(reply.json.username, 'acme');
      assert.deepEqual(reply.json.topics.map((t: { topic: string; messages: number; bytes: number }) => [t.topic, t.messages, t.bytes]), [['acme/b', 2, 5], ['acme/a', 1, 1]]);
      assert.ok(!Number.isNaN(Date.parse(reply.json.topics[0].last_seen)));
      assert.deepEqual(reply.json.other, { topics: 0, messages: 0, bytes: 0 });
      assert.equal((await admin.get('/internal/topics?username=acme&limit=1')).json.topics.length, 1);
      assertError(await admin.get('/internal/topics'), 400, /username/);
      assertError(await admin.get('/internal/topics?username=nobody'), 404);
      assertError(await admin.get('/internal/topics?username=acme&limit=0'), 400, /limit/);
      assertError(await admin.get('/internal/topics?username=acme&limit=abc'), 400, /limit/);
    });
  });

  describe('POST /internal/reload', () => {
    // watching off: the outside edit stays invisible until the request
    beforeEach(async () => {
      await admin.stop();
      admin = await startAdmin({}, { watchRegistry: false });
    });

    it('re-reads tenants changed in the file outside this process', async () => {
      const globex = await device('globex', 'globex-pw', 'g1');
      const gone = closed(globex.client);
      // as an operator would with the sqlite3 shell
      const db = new BetterSqlite3(admin.engine.dbPath);
      try {
        db.prepare("UPDATE tenants SET max_connections = 9 WHERE username = 'acme'").run();
        db.prepare("UPDATE tenants SET enabled = 0 WHERE username = 'globex'").run();
      } finally {
        db.close();
      }
      assert.equal((await admin.get('/internal/tenants')).json.tenants[0].max_connections, 0);
      const reply = await admin.post('/internal/reload');
      assert.deepEqual([reply.status, reply.json], [200, { status: 'ok', tenants: 2, webhooks: 0 }]);
      const [acme, disabled] = (await admin.get('/internal/tenants')).json.tenants;
      assert.deepEqual([acme.max_connections, disabled.enabled], [9, false]);
      await gone;
      assertError(await admin.post('/internal/reload', { force: true }), 400, /unknown field/);
    });
  });

  describe('GET /internal/audit', () => {
    it('lists events newest first, per tenant and limited; unknown tenant 404, bad limit 400', async () => {
      assert.equal(await connackCode(admin.engine.mqttUrl, { username: 'acme', password: 'wrong' }), 4);
      await admin.post('/internal/tenant/update', { username: 'acme', max_qos: 1 });
      const reply = await admin.get('/internal/audit?username=acme&limit=2');
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.json.events.map((e: { category: string; action: string }) => `${e.category}:${e.action}`), ['admin:tenant.update', 'security:login.failed']);
      const [update, login] = reply.json.events;
      assert.equal(update.tenant, 'acme');
      assert.deepEqual(update.detail.changed, ['maxQos']);
      assert.equal(login.detail.reason, 'bad-credentials');
      assert.ok(!Number.isNaN(Date.parse(login.at)));
      const all = await admin.get('/internal/audit');
      assert.ok(all.json.events.length >= 4, 'the two tenant.add of the fixture, the login, the update');
      assertError(await admin.get('/internal/audit?username=nobody'), 404);
      assertError(await admin.get('/internal/audit?limit=5000'), 400, /limit/);
    });
  });

  describe('routing', () => {
    it('answers 404 for an unknown route and 405 (with Allow) for a wrong method', async () => {
      assertError(await admin.get('/internal/nothing'), 404, /\/internal\/nothing/);
      assertError(await admin.get('/'), 404);
      const wrong = await admin.get('/internal/tenant/add');
      assertError(wrong, 405, /POST/);
      assert.equal(wrong.headers.allow, 'POST');
      const post = await admin.post('/internal/stats', {});
      assertError(post, 405);
      assert.equal(post.headers.allow, 'GET');
    });
  });

  describe('concurrency', () => {
    /** Records the patches in the order they reach the registry. */
    function spyOnUpdates(): Array<Record<string, unknown>> {
      const registry = admin.engine.host.registry;
      const original = registry.updateTenant.bind(registry);
      const calls: Array<Record<string, unknown>> = [];
      registry.updateTenant = (username, patch) => {
        calls.push({ ...patch });
        return original(username, patch);
      };
      return calls;
    }

    it('applies 20 parallel updates of one tenant without losing any, and memory matches the file', async () => {
      const calls = spyOnUpdates();
      const updates = Array.from({ length: 20 }, (_, i) =>
        i % 2 === 0 ? { username: 'acme', password: `pw-${i}`, max_connections: i + 1 } : { username: 'acme', max_msgs_per_sec: 100 + i },
      );
      const replies = await Promise.all(updates.map((body) => admin.post('/internal/tenant/update', body)));
      assert.deepEqual(replies.map((r) => r.status), Array(20).fill(200));
      const [final] = (await admin.get('/internal/tenants')).json.tenants;
      // the end state is every update applied in the order they were taken, none overwritten by a stale one
      const expected = { maxConnections: 0, maxMsgsPerSec: 0, password: 'acme-pw' };
      for (const patch of calls) Object.assign(expected, Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)));
      assert.equal(calls.length, 20);
      assert.deepEqual([final.max_connections, final.max_msgs_per_sec], [expected.maxConnections, expected.maxMsgsPerSec]);
      assert.equal(await connackCode(admin.engine.mqttUrl, { username: 'acme', password: expected.password }), 0);
      assert.equal(await connackCode(admin.engine.mqttUrl, { username: 'acme', password: 'acme-pw' }), 4);
      await admin.post('/internal/reload');
      const [reloaded] = (await admin.get('/internal/tenants')).json.tenants;
      assert.deepEqual(reloaded, final);
    });

    it('does not let an update overtake one still hashing its password', async () => {
      const calls = spyOnUpdates();
      const registry = admin.engine.host.registry;
      const hashing = new Promise<void>((resolve) => {
        const original = registry.updateTenant;
        registry.updateTenant = (username, patch) => {
          const result = original(username, patch);
          if (patch.password !== undefined) resolve();
          return result;
        };
      });
      const slow = admin.post('/internal/tenant/update', { username: 'acme', password: 'pw-2', max_connections: 5 });
      await hashing;
      const fast = admin.post('/internal/tenant/update', { username: 'acme', max_msgs_per_sec: 7 });
      assert.deepEqual((await Promise.all([slow, fast])).map((r) => r.status), [200, 200]);
      const [final] = (await admin.get('/internal/tenants')).json.tenants;
      assert.deepEqual([final.max_connections, final.max_msgs_per_sec], [5, 7]);
      assert.equal(calls.length, 2);
    });

    it('lets exactly one of parallel adds of one name succeed (201), the rest 409', async () => {
      const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => admin.post('/internal/tenant/add', { username: 'race', password: `pw-${i}` })));
      const statuses = replies.map((r) => r.status).sort();
      assert.deepEqual(statuses, [201, ...Array(9).fill(409)]);
      const winner = replies.findIndex((r) => r.status === 201);
      assert.equal(await connackCode(admin.engine.mqttUrl, { username: 'race', password: `pw-${winner}` }), 0);
    });
  });
});
