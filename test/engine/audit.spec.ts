import assert from 'node:assert/strict';
import { Registry } from '../../src';
import { engineFixture } from '../helpers/engine';
import { connackCode } from '../helpers/mqtt';
import { tempDir } from '../helpers/tmp';

describe('audit trail: bounded, aggregated, cut (finding 10)', () => {
  describe('in the registry', () => {
    let tmp: ReturnType<typeof tempDir>;
    let registry: Registry;
    beforeEach(() => {
      tmp = tempDir();
      registry = new Registry({ path: tmp.file('registry.db') });
    });
    afterEach(() => {
      registry.close();
      tmp.remove();
    });

    const rows = (where = '1 = 1', ...params: unknown[]) => (registry.db.prepare(`SELECT COUNT(*) AS n FROM audit WHERE ${where}`).get(...params) as { n: number }).n;

    it('10,050 failed logins evict neither administrative events nor another tenant\'s security events, and what is pruned is counted', async () => {
      await registry.addTenant({ username: 't1', password: 'x' });
      await registry.addTenant({ username: 't2', password: 'x' });
      registry.audit.record('t2', 'security', 'publish.denied', { clientId: 'c', topic: 'x', reason: 'outside-namespace' });
      registry.audit.flush();
      // unknown usernames from as many addresses: nothing to aggregate
      for (let i = 0; i < 10_050; i++) {
        registry.audit.record(null, 'security', 'login.failed', { username: `guess${i}`, remoteAddress: `10.0.${i >> 8}.${i & 255}`, reason: 'bad-credentials' });
        if (i % 1000 === 999) registry.audit.flush(); // as the timer would, between bursts
      }
      registry.audit.flush();
      // and wrong passwords for t1
      for (let i = 0; i < 2000; i++) registry.audit.record('t1', 'security', 'login.failed', { username: 't1', remoteAddress: `10.1.${i >> 8}.${i & 255}`, reason: 'bad-credentials' });
      registry.audit.flush();
      assert.equal(rows("tenant = 't1' AND category = 'admin' AND action = 'tenant.add'"), 1);
      assert.deepEqual(registry.audit.list({ tenant: 't2' }).map((e) => e.action), ['publish.denied', 'tenant.add']);
      assert.equal(rows("tenant IS NULL AND category = 'security'"), 1000);
      assert.equal(rows("tenant = 't1' AND category = 'security'"), 1000);
      assert.deepEqual(registry.audit.counters(), { dropped: 0, pruned: 10_050 - 1000 + 2000 - 1000, aggregated: 0 });
    });

    it('a failure repeated within a minute is one entry with count, first_at and last_at; strings are stored cut', () => {
      const long = 'u'.repeat(60_000);
      for (let i = 0; i < 500; i++) registry.audit.record(null, 'security', 'login.failed', { username: long, clientId: `c${i}-${long}`, remoteAddress: '10.0.0.1', reason: 'bad-credentials' });
      registry.audit.record(null, 'security', 'login.failed', { username: 'other', clientId: 'c', remoteAddress: '10.0.0.1', reason: 'bad-credentials' });
      registry.audit.flush();
      // repeats after the flush go on counting in the stored entry
      for (let i = 0; i < 100; i++) registry.audit.record(null, 'security', 'login.failed', { username: long, clientId: `d${i}`, remoteAddress: '10.0.0.1', reason: 'bad-credentials' });
      const events = registry.audit.list();
      assert.equal(events.length, 2);
      const [other, flood] = events;
      assert.equal(other.count, 1);
      assert.equal(flood.count, 600);
      assert.ok(flood.lastAt >= flood.firstAt && flood.firstAt === flood.at);
      assert.ok(Buffer.byteLength(flood.detail.username as string) <= 256);
      assert.ok(Buffer.byteLength(flood.detail.clientId as string) <= 256);
      const stored = registry.db.prepare('SELECT MAX(LENGTH(detail)) AS n FROM audit').get() as { n: number };
      assert.ok(stored.n < 1024, `an entry of ${stored.n} bytes`);
      assert.equal(registry.audit.counters().aggregated, 599);
    });
  });

  describe('over MQTT', () => {
    const fixture = engineFixture();

    it('failed CONNECTs with 60 KB client ids: one audit entry with their count, the id cut, counted in stats', async () => {
      const clientId = 'x'.repeat(60_000);
      // the 11th failure of a username locks it: the rest are refused as throttled (CONNACK 5), one entry again
      for (let i = 0; i < 20; i++) assert.equal(await connackCode(fixture.engine.mqttUrl, { username: 'acme', password: 'wrong', clientId: `${i}${clientId}` }), i < 10 ? 4 : 5);
      const events = fixture.engine.host.registry.audit.list({ tenant: 'acme' });
      const failed = events.filter((e) => e.action === 'login.failed');
      const throttled = events.filter((e) => e.action === 'connect.refused' && e.detail.reason === 'login-throttled');
      assert.deepEqual([failed.length, failed[0].count, throttled.length, throttled[0].count], [1, 10, 1, 10]);
      for (const e of [failed[0], throttled[0]]) assert.ok(Buffer.byteLength(e.detail.clientId as string) <= 256);
      assert.equal(fixture.engine.host.stats().audit.aggregated, 18);
    });
  });
});
