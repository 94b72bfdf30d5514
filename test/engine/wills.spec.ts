import assert from 'node:assert/strict';
import { BrokerHost, type BrokerHostOptions, type WillDropped } from '../../src';
import { engineFixture } from '../helpers/engine';
import { connackCode, connect, type TestClient } from '../helpers/mqtt';
import { tempDir } from '../helpers/tmp';
import { until } from '../helpers/until';

const will = (topic: string, payload: string | Buffer, retain = false) => ({ will: { topic, payload: Buffer.from(payload), qos: 1 as const, retain } });

/** Wills obey the limits a publish of the same message obeys: max_payload_bytes, allow_retain and the rates. */
describe('wills and tenant limits', () => {
  describe('at CONNECT and when the client goes', () => {
    const fixture = engineFixture();
    const as = fixture.as;
    const limit = (patch: Record<string, unknown>) => fixture.engine.host.registry.updateTenant('globex', patch);

    it('a will over max_payload_bytes is refused with CONNACK 5 and counted; one at the limit is accepted', async () => {
      await limit({ maxPayloadBytes: 10, allowRetain: false });
      const { engine } = fixture;
      // the case: a 60,000-byte retained will of a tenant limited to 10 bytes without retain
      assert.equal(await connackCode(engine.mqttUrl, { username: 'globex', password: 'globex-pw', ...will('status/x', Buffer.alloc(60_000, 120), true) }), 5);
      assert.equal(engine.host.stats().tenants.globex.denials['will-too-large'], 1);
      const fits = await as('globex', will('status/x', '0123456789'));
      await fits.end();
      const late = await as('globex');
      await late.subscribe(['status/#', 'sentinel'], 1);
      await engine.host.publish('globex', { topic: 'sentinel', payload: 'S' });
      await late.waitFor((m) => m.payload === 'S');
      assert.deepEqual(late.inbox.map((m) => m.payload), ['S'], 'nothing of the refused will was retained');
    });

    it('a retained will without allow_retain has its retain flag cleared: delivered live, never stored', async () => {
      await limit({ allowRetain: false });
      const watcher = await as('globex');
      await watcher.subscribe('status/#', 1);
      const dying = await as('globex', will('status/dev', 'offline', true));
      dying.client.stream.destroy();
      await watcher.waitFor((m) => m.payload === 'offline');
      const late = await as('globex');
      await late.subscribe(['status/#', 'sentinel'], 1);
      await fixture.engine.host.publish('globex', { topic: 'sentinel', payload: 'S' });
      await late.waitFor((m) => m.payload === 'S');
      assert.equal(late.inbox.filter((m) => m.payload === 'offline').length, 0, 'the will was stored as a retained message');
      assert.equal(fixture.engine.host.stats().tenants.globex.denials['retain-cleared'], 1);
    });

    it("a client's own will over its rate is dropped and counted", async () => {
      await limit({ maxMsgsPerSec: 1 });
      const { host } = fixture.engine;
      const watcher = await as('globex');
      await watcher.subscribe(['status/#', 'burst/#'], 1);
      const dropped: WillDropped[] = [];
      host.on('will-dropped', (e) => dropped.push(e));
      const dying = await as('globex', { clientId: 'dev1', ...will('status/dev1', 'offline') });
      // three publishes at once at one per second: the bucket is two seconds in debt when the client goes
      for (let i = 0; i < 3; i++) dying.client.publish(`burst/${i}`, String(i), { qos: 0 });
      await watcher.waitFor((m) => m.payload === '0');
      dying.client.stream.destroy();
      await until('the will is decided', () => dropped.length === 1);
      assert.deepEqual(dropped, [{ tenant: 'globex', clientId: 'dev1', topic: 'globex/status/dev1', reason: 'rate-limit' }]);
      await host.publish('globex', { topic: 'status/sentinel', payload: 'S' });
      await watcher.waitFor((m) => m.payload === 'S');
      assert.equal(watcher.inbox.filter((m) => m.payload === 'offline').length, 0);
      assert.equal(host.stats().tenants.globex.denials['will-rate-limit'], 1);
    });
  });

  describe('kept across a restart', () => {
    let tmp: ReturnType<typeof tempDir>;
    let host: BrokerHost | null = null;
    let url = '';
    const open: TestClient[] = [];
    async function start(options: Partial<BrokerHostOptions> = {}): Promise<BrokerHost> {
      host = new BrokerHost({ mqtt: { port: 0, host: '127.0.0.1' }, ws: false, database: tmp.file('registry.db'), willGraceMs: 60_000, ...options });
      if (!host.registry.getTenant('globex')) await host.registry.addTenant({ username: 'globex', password: 'globex-pw', isolation: 'mountpoint' });
      url = `mqtt://127.0.0.1:${(await host.start()).mqtt!.port}`;
      return host;
    }
    const as = async (options: Record<string, unknown> = {}) => {
      const c = await connect(url, { username: 'globex', password: 'globex-pw', ...options });
      open.push(c);
      return c;
    };
    beforeEach(() => (tmp = tempDir()));
    afterEach(async () => {
      await Promise.all(open.splice(0).map((c) => c.end()));
      await host?.close();
      host = null;
      tmp.remove();
    });

    it('are published within the tenant rate and payload limit of now: the rest are dropped and counted', async () => {
      await start();
      for (let i = 0; i < 5; i++) await as({ clientId: `dev${i}`, ...will(`status/dev${i}`, 'offline') });
      await as({ clientId: 'big', ...will('status/big', 'offline, and much longer') });
      await host!.close();
      for (const c of open.splice(0)) c.client.end(true);
      await start();
      await host!.registry.updateTenant('globex', { maxTenantMsgsPerSec: 1, maxPayloadBytes: 10 });
      const watcher = await as();
      await watcher.subscribe('status/#', 1);
      const dropped: WillDropped[] = [];
      host!.on('will-dropped', (e) => dropped.push(e));
      await host!.flushOrphanedWills();
      await host!.registry.updateTenant('globex', { maxTenantMsgsPerSec: 0 });
      await host!.publish('globex', { topic: 'status/sentinel', payload: 'S' });
      await watcher.waitFor((m) => m.payload === 'S');
      const delivered = watcher.inbox.filter((m) => m.payload.startsWith('offline')).map((m) => m.topic);
      assert.ok(!delivered.includes('status/big'), 'a will over the payload limit of now was published');
      assert.deepEqual(dropped.filter((e) => e.reason === 'payload-too-large').map((e) => e.topic), ['globex/status/big']);
      // one token a second: the first will takes it, the ones right after it are over the rate
      const overRate = dropped.filter((e) => e.reason === 'rate-limit').length;
      assert.equal(delivered.length + overRate, 5);
      assert.ok(delivered.length >= 1 && overRate >= 3, `delivered ${delivered.length}, dropped over the rate ${overRate}`);
      const denials = host!.stats().tenants.globex.denials;
      assert.deepEqual([denials['will-rate-limit'], denials['will-payload-too-large']], [overRate, 1]);
    });
  });
});
