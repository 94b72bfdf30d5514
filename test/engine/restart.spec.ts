import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { BrokerHost, type BrokerHostOptions } from '../../src';
import { renderMetrics } from '../../src/admin/metrics';
import { connect, type TestClient } from '../helpers/mqtt';
import { tempDir } from '../helpers/tmp';

/**
 * Nothing lost across restarts: each test stops the engine and starts a new
 * one on the same registry file, as a Node-RED restart or redeploy does.
 */
describe('persistence across restarts', () => {
  let tmp: ReturnType<typeof tempDir>;
  let host: BrokerHost | null = null;
  let url = '';
  const open: TestClient[] = [];

  async function start(options: Partial<BrokerHostOptions> = {}): Promise<BrokerHost> {
    host = new BrokerHost({ mqtt: { port: 0, host: '127.0.0.1' }, ws: false, database: tmp.file('registry.db'), rootPassword: 'rootpw', ...options });
    if (!host.registry.getTenant('acme')) {
      await host.registry.addTenant({ username: 'acme', password: 'acme-pw', isolation: 'prefix' });
      await host.registry.addTenant({ username: 'globex', password: 'globex-pw', isolation: 'mountpoint' });
    }
    url = `mqtt://127.0.0.1:${(await host.start()).mqtt!.port}`;
    return host;
  }
  async function restart(options: Partial<BrokerHostOptions> = {}): Promise<BrokerHost> {
    await host!.close();
    for (const c of open.splice(0)) c.client.end(true);
    return start(options);
  }
  async function as(username: string, options: Record<string, unknown> = {}): Promise<TestClient> {
    const c = await connect(url, { username, password: `${username}-pw`, ...options });
    open.push(c);
    return c;
  }

  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.end()));
    await host?.close();
    host = null;
    tmp.remove();
  });

  it('keeps retained messages: publish retained, restart, subscribe, receive', async () => {
    await start();
    await (await as('globex')).publish('state/door', 'open', { qos: 1, retain: true });
    await (await as('acme')).publish('acme/state', 'on', { qos: 1, retain: true });
    await restart();
    const g = await as('globex');
    await g.subscribe('#', 1);
    assert.deepEqual(await g.waitFor((m) => m.topic === 'state/door'), { topic: 'state/door', payload: 'open', qos: 1, retain: true });
    const a = await as('acme');
    await a.subscribe('acme/#', 1);
    assert.equal((await a.waitFor((m) => m.retain)).payload, 'on');
    // isolation holds for restored retained messages too
    await host!.publish('globex', { topic: 'sentinel', payload: 'S' });
    await g.waitFor((m) => m.payload === 'S');
    assert.equal(g.inbox.filter((m) => m.payload === 'on').length, 0);
  });

  it('keeps a persistent session: offline messages arrive after the restart, in order, for its own tenant only', async () => {
    await start();
    const sub = await as('globex', { clientId: 'station', clean: false });
    await sub.subscribe('readings/#', 1);
    await sub.end();
    const pub = await as('globex');
    for (let i = 0; i < 20; i++) await pub.publish(`readings/${i}`, String(i), { qos: 1 });
    await restart();
    // another tenant using the same client identifier finds no session
    const thief = await as('acme', { clientId: 'station', clean: false });
    assert.equal(thief.sessionPresent, false);
    const back = await as('globex', { clientId: 'station', clean: false });
    assert.equal(back.sessionPresent, true);
    await back.waitFor((m) => m.payload === '19');
    assert.deepEqual(back.inbox.map((m) => m.payload), Array.from({ length: 20 }, (_, i) => String(i)));
    assert.ok(back.inbox.every((m) => m.topic.startsWith('readings/')));
    assert.equal(thief.inbox.length, 0);
  });

  it('keeps a will across a restart and publishes it when its client does not come back', async () => {
    await start();
    await as('globex', { clientId: 'gone', will: { topic: 'status/gone', payload: Buffer.from('offline'), qos: 1, retain: true } });
    await as('globex', { clientId: 'returns', will: { topic: 'status/returns', payload: Buffer.from('offline'), qos: 1, retain: true } });
    await restart({ willGraceMs: 60_000 });
    const watcher = await as('globex');
    await watcher.subscribe('status/#', 1);
    await as('globex', { clientId: 'returns' });
    await host!.flushOrphanedWills();
    await host!.publish('globex', { topic: 'status/sentinel', payload: 'S' });
    await watcher.waitFor((m) => m.payload === 'S');
    assert.deepEqual(watcher.inbox.filter((m) => m.payload === 'offline').map((m) => m.topic), ['status/gone']);
  });

  it('limits offline queues per client, dropping the oldest, and counts what overflows', async () => {
    await start({ maxOfflinePerClient: 5 });
    const sub = await as('acme', { clientId: 'slow', clean: false });
    await sub.subscribe('acme/q/#', 1);
    await sub.end();
    const pub = await as('acme');
    for (let i = 0; i < 8; i++) await pub.publish(`acme/q/${i}`, String(i), { qos: 1 });
    assert.equal(host!.stats().tenants.acme.offlineDropped, 3);
    assert.equal(host!.stats().tenants.acme.denials['queue-overflow'], 3);
    assert.match(renderMetrics(host!), /^tenant_broker_offline_dropped_total\{tenant="acme"\} 3$/m);
    assert.match(renderMetrics(host!), /^tenant_broker_denials_total\{tenant="acme",reason="queue-overflow"\} 3$/m);
    const back = await as('acme', { clientId: 'slow', clean: false });
    await back.waitFor((m) => m.payload === '7');
    await host!.publish('acme', { topic: 'q/sentinel', payload: 'S' });
    await back.waitFor((m) => m.payload === 'S');
    assert.deepEqual(back.inbox.map((m) => m.payload), ['3', '4', '5', '6', '7', 'S']);
  });

  it('memory persistence forgets everything on restart (the choice is real)', async () => {
    await start({ persistence: 'memory' });
    await (await as('acme')).publish('acme/kept', 'x', { qos: 1, retain: true });
    await restart({ persistence: 'memory' });
    const c = await as('acme');
    await c.subscribe(['acme/kept', 'acme/sentinel'], 1);
    await host!.publish('acme', { topic: 'sentinel', payload: 'S' });
    await c.waitFor((m) => m.payload === 'S');
    assert.equal(c.inbox.length, 1);
  });

  it('survives kill -9: what was published more than the flush interval before is there after', async function () {
    this.timeout(60_000);
    const db = tmp.file('registry.db');
    const child = spawn(process.execPath, ['-r', 'esbuild-register', join(__dirname, '..', 'fixtures', 'engine-crash-child.ts'), db], { stdio: ['ignore', 'pipe', 'inherit'] });
    const ready = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk) => {
        out += chunk;
        if (out.includes('\n')) resolve(out.trim());
      });
      child.once('exit', (code) => reject(new Error(`child exited with ${code} before it was ready`)));
    });
    const { published } = JSON.parse(ready) as { published: number };
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    await start();
    const c = await as('acme');
    await c.subscribe('acme/crash/#', 1);
    await c.waitFor((m) => m.topic === `acme/crash/${published - 1}`);
    const kept = new Set(c.inbox.map((m) => m.topic));
    for (let i = 0; i < published; i++) assert.ok(kept.has(`acme/crash/${i}`), `acme/crash/${i} lost`);
  });
});
