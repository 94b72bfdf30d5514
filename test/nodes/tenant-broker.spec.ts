import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { helper, brokerConfig, brokerOf, loadNode, nodeRedFixture } from '../helpers/nodes';
import { HttpSink } from '../helpers/http-sink';
import { closed, connect, connackCode } from '../helpers/mqtt';
import { sqliteShell } from '../helpers/sqlite-shell';
import type { tempDir } from '../helpers/tmp';
import { until } from '../helpers/until';
import type { BrokerState } from '../../nodes/shared/status';

const tenantBroker = loadNode('tenant-broker');
const tenantOut = loadNode('tenant-out');
const tenantIn = loadNode('tenant-in');

type StatusCall = { args: [{ fill?: string; shape?: string; text?: string }] };

type StatusSpy = { callCount: number; getCall(i: number): { thisValue: unknown; args: StatusCall['args'] } };

/** The status a node shows now: its own latest call (the helper's spy on `status` may be shared by every node). */
function shownBy(id: string): StatusCall['args'][0] | undefined {
  const node = helper.getNode(id) as unknown as { status: StatusSpy };
  for (let i = node.status.callCount - 1; i >= 0; i--) {
    const call = node.status.getCall(i);
    if (call.thisValue === node) return call.args[0];
  }
  return undefined;
}

/**
 * Resolves with the status a node shows now, or the first it reports later,
 * that matches: the broker sends a node only statuses that change what it
 * shows, and client counts after a short delay.
 */
function statusOf(id: string, predicate: (s: StatusCall['args'][0]) => boolean): Promise<StatusCall['args'][0]> {
  // the test helper emits `call:<method>` for spied node methods; Node's types do not know it
  const node = helper.getNode(id) as unknown as import('node:events').EventEmitter;
  const now = shownBy(id);
  if (now && predicate(now)) return Promise.resolve(now);
  return new Promise((resolve) => {
    const check = (call: StatusCall) => {
      if (predicate(call.args[0])) {
        node.removeListener('call:status', check);
        resolve(call.args[0]);
      }
    };
    node.on('call:status', check);
  });
}

describe('tenant-broker node', function () {
  const fixture = nodeRedFixture();
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = fixture.tmp));

  it('starts the engine, takes the root password from credentials and shows green with the client count', async () => {
    const flow = [brokerConfig('b1', tmp.file('r.db')), { id: 'out', type: 'tenant-out', broker: 'b1', tenant: 'acme', topic: 'x', qos: '', retain: '', wires: [] }];
    await helper.load([tenantBroker, tenantOut], flow, { b1: { rootPassword: 'rootpw' } });
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'acme', password: 'acme-pw' });
    const url = `mqtt://127.0.0.1:${(await addressOf('b1')).port}`;
    const green = statusOf('out', (s) => s.fill === 'green' && s.text === 'node-red-contrib-tenant-broker/tenant-broker:tenant-broker.status.tenant');
    const root = await connect(url, { username: 'root', password: 'rootpw' });
    // the node's tenant's clients, not everyone's (the text reads "acme: 0 connected")
    assert.deepEqual(await green, { fill: 'green', shape: 'dot', text: 'node-red-contrib-tenant-broker/tenant-broker:tenant-broker.status.tenant' });
    assert.equal(host.connectionCount(), 1);
    // the counts follow the clients, coalesced: shortly after, not at every connect
    const broker = helper.getNode('b1') as unknown as { state: BrokerState };
    const acme = await connect(url, { username: 'acme', password: 'acme-pw' });
    await until('the broker state counts the acme client', () => broker.state.kind === 'listening' && broker.state.clients.get('acme') === 1);
    await acme.end();
    await until('and its leaving', () => broker.state.kind === 'listening' && !broker.state.clients.get('acme'));
    assert.equal(await connackCode(url, { username: 'acme', password: 'wrong' }), 4);
    await root.end();
  });

  it('accepts ports through environment variables', async () => {
    const free = await freePort();
    process.env.TB_TEST_PORT = String(free);
    try {
      await helper.load([tenantBroker], [brokerConfig('b1', tmp.file('r.db'), { tcpPort: '${TB_TEST_PORT}', wsEnabled: false })]);
      await brokerOf('b1');
      assert.equal((await addressOf('b1')).port, free);
    } finally {
      delete process.env.TB_TEST_PORT;
    }
  });

  it('shows a red ring with the reason when the port is in use, and keeps Node-RED running', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const flow = [brokerConfig('b1', tmp.file('r.db'), { tcpPort: String(port) }), { id: 'out', type: 'tenant-out', broker: 'b1', tenant: 'acme', topic: 'x', qos: '', retain: '', wires: [] }];
      const red = new Promise<StatusCall['args'][0]>((resolve) => {
        helper.load([tenantBroker, tenantOut], flow).then(() => statusOf('out', (s) => s.fill === 'red').then(resolve));
      });
      const status = await red;
      assert.equal(status.shape, 'ring');
      assert.match(String(status.text), new RegExp(String(port)));
    } finally {
      blocker.close();
    }
  });

  it('shows a red ring when the registry cannot be opened', async () => {
    const flow = [brokerConfig('b1', tmp.file('missing-dir/sub/r.db')), { id: 'out', type: 'tenant-out', broker: 'b1', tenant: 'acme', topic: 'x', qos: '', retain: '', wires: [] }];
    await helper.load([tenantBroker, tenantOut], flow);
    const status = await new Promise<StatusCall['args'][0]>((resolve) => {
      const last = helper.getNode('out').status as unknown as { lastCall?: StatusCall };
      if (last.lastCall?.args[0].fill === 'red') return resolve(last.lastCall.args[0]);
      statusOf('out', (s) => s.fill === 'red').then(resolve);
    });
    assert.match(String(status.text), /directory|open/i);
  });

  it('releases its ports on redeploy so the next instance binds the same ones', async () => {
    const tcp = await freePort();
    const ws = await freePort();
    const flow = [brokerConfig('b1', tmp.file('r.db'), { tcpPort: String(tcp), wsPort: String(ws) })];
    for (let i = 0; i < 5; i++) {
      await helper.load([tenantBroker], flow, { b1: { rootPassword: 'rootpw' } });
      await brokerOf('b1');
      const tcpClient = await connect(`mqtt://127.0.0.1:${tcp}`, { username: 'root', password: 'rootpw' });
      const wsClient = await connect(`ws://127.0.0.1:${ws}/ws`, { username: 'root', password: 'rootpw' });
      // clients still connected at redeploy must not keep the ports
      await helper.unload();
      tcpClient.client.end(true);
      wsClient.client.end(true);
    }
  });

  it('keeps retained messages and persistent sessions across a redeploy (sqlite persistence)', async () => {
    const flow = [brokerConfig('b1', tmp.file('r.db'))];
    await helper.load([tenantBroker], flow, { b1: { rootPassword: 'rootpw' } });
    let host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'acme', password: 'acme-pw', isolation: 'mountpoint' });
    const device = await connect(`mqtt://127.0.0.1:${(await addressOf('b1')).port}`, { username: 'acme', password: 'acme-pw', clientId: 'keep', clean: false });
    await device.subscribe('cmd/#', 1);
    await device.end();
    await host.publish('acme', { topic: 'state', payload: 'kept', qos: 1, retain: true });
    await host.publish('acme', { topic: 'cmd/1', payload: 'queued', qos: 1 });
    await helper.unload();
    await helper.load([tenantBroker], flow, { b1: { rootPassword: 'rootpw' } });
    host = await brokerOf('b1');
    const retained: string[] = [];
    await host.subscribe('acme', 'state', (m) => retained.push(m.payload.toString()));
    assert.deepEqual(retained, ['kept']);
    const back = await connect(`mqtt://127.0.0.1:${(await addressOf('b1')).port}`, { username: 'acme', password: 'acme-pw', clientId: 'keep', clean: false });
    assert.equal((await back.waitFor((m) => m.topic === 'cmd/1')).payload, 'queued');
    await back.end();
  });

  it('contains engine errors: node.error and a red status, and restarts a broker whose state is unknown', async () => {
    const flow = [
      brokerConfig('b1', tmp.file('r.db')),
      { id: 'in', type: 'tenant-in', broker: 'b1', tenant: 'acme', topic: 'sensors/+', qos: '1', datatype: 'utf8', wires: [['sink']] },
      { id: 'sink', type: 'helper' },
    ];
    await helper.load([tenantBroker, tenantIn], flow);
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'acme', password: 'acme-pw' });
    const port = (await addressOf('b1')).port;
    const broker = helper.getNode('b1') as unknown as { error: { calledWith(text: string): boolean }; on(e: string, f: (c: { args: unknown[] }) => void): void };
    const erred = new Promise<string>((resolve) => broker.on('call:error', (call) => resolve(String(call.args[0]))));

    // a bug inside a hook: the login fails with CONNACK 3, the broker goes on
    const verify = host.registry.verifyPassword.bind(host.registry);
    host.registry.verifyPassword = () => {
      throw new Error('injected fault');
    };
    const red = statusOf('in', (s) => s.fill === 'red');
    assert.equal(await connackCode(`mqtt://127.0.0.1:${port}`, { username: 'acme', password: 'acme-pw' }), 3);
    assert.equal(await erred, 'tenant-broker.errors.engine');
    assert.match(String((await red).text), /injected fault/);
    host.registry.verifyPassword = verify;

    // the engine says its state is unknown: the node replaces aedes on the same port, flows keep their subscriptions
    const restarted = statusOf('in', (s) => s.fill === 'yellow');
    host.emit('engine-failed', new Error('persistence lost'));
    await restarted;
    const sink = helper.getNode('sink');
    const received = new Promise<{ payload: unknown; topic: string }>((resolve) => sink.on('input', resolve as never));
    let device: Awaited<ReturnType<typeof connect>> | undefined;
    for (let attempt = 0; !device; attempt++) {
      device = await connect(`mqtt://127.0.0.1:${port}`, { username: 'acme', password: 'acme-pw' }).catch((err) => {
        if (attempt > 50) throw err;
        return new Promise<undefined>((resolve) => setTimeout(resolve, 100));
      });
    }
    await device.publish('acme/sensors/t', '21', { qos: 1 });
    assert.deepEqual(await received.then((m) => [m.topic, m.payload]), ['sensors/t', '21']);
    await device.end();
  });

  it('warns once when a registry webhook starts failing and once when it recovers; nodes of its tenant show it', async () => {
    let down = true;
    const sink = await HttpSink.start(() => (down ? { status: 503 } : { status: 204 }));
    try {
      const flow = [
        brokerConfig('b1', tmp.file('r.db')),
        { id: 'o1', type: 'tenant-out', broker: 'b1', tenant: 'acme', topic: 'x', qos: '', retain: '', wires: [] },
        { id: 'o2', type: 'tenant-out', broker: 'b1', tenant: 'other', topic: 'x', qos: '', retain: '', wires: [] },
      ];
      await helper.load([tenantBroker, tenantOut], flow);
      const host = await brokerOf('b1');
      await host.registry.addTenant({ username: 'acme', password: 'pw' });
      await host.registry.addTenant({ username: 'other', password: 'pw' });
      host.registry.addWebhook({ tenant: 'acme', topicFilter: 'acme/#', url: sink.url('/hook?token=t0k') });
      const broker = helper.getNode('b1') as unknown as { warn: { args: unknown[][] } };
      const warnings = () => broker.warn.args.map((args) => String(args[0]));

      const flagged = statusOf('o1', (s) => s.fill === 'yellow');
      // two deliveries fail (each after its retries): one warning
      await Promise.all([host.publish('acme', { topic: 'x', payload: '1' }), host.publish('acme', { topic: 'x', payload: '2' })]);
      assert.deepEqual(await flagged, { fill: 'yellow', shape: 'dot', text: 'node-red-contrib-tenant-broker/tenant-broker:tenant-broker.status.webhooks-failing' });
      await new Promise<void>((resolve) => {
        const check = () => (host.webhooks.counters('registry:1')?.failed === 2 ? resolve() : host.webhooks.once('failed', check));
        check();
      });
      assert.deepEqual(warnings(), ['tenant-broker.warn.webhook-failing']);
      assert.equal(shownBy('o2')?.fill, 'green', 'a node of another tenant does not show acme\'s webhook');

      down = false;
      const cleared = statusOf('o1', (s) => s.fill === 'green');
      await host.publish('acme', { topic: 'x', payload: 'back' });
      assert.equal((await cleared).text, 'node-red-contrib-tenant-broker/tenant-broker:tenant-broker.status.tenant');
      assert.deepEqual(warnings(), ['tenant-broker.warn.webhook-failing', 'tenant-broker.warn.webhook-recovered']);
    } finally {
      await sink.close();
    }
  });

  it('serves the Tenants tab: list, add, update, remove, with JSON errors', async () => {
    await helper.load([tenantBroker], [brokerConfig('b1', tmp.file('r.db'))]);
    await brokerOf('b1');
    const request = helper.request();
    const added = await request.post('/tenant-broker/b1/tenants').send({ username: 'acme', password: 'pw', isolation: 'mountpoint' });
    assert.equal(added.status, 201);
    assert.equal(added.body.tenant.isolation, 'mountpoint');
    assert.equal(added.body.tenant.password_hash, undefined);
    const list = await request.get('/tenant-broker/b1/tenants');
    assert.deepEqual(list.body.tenants.map((t: { username: string }) => t.username), ['acme']);
    assert.equal((await request.post('/tenant-broker/b1/tenants').send({ username: 'acme', password: 'pw' })).status, 409);
    const bad = await request.post('/tenant-broker/b1/tenants').send({ username: 'root', password: 'pw' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.status, 'error');
    assert.match(bad.body.error, /reserved/);
    const updated = await request.put('/tenant-broker/b1/tenants/acme').send({ enabled: false, max_connections: 3 });
    assert.deepEqual([updated.body.tenant.enabled, updated.body.tenant.max_connections], [false, 3]);
    assert.equal((await request.put('/tenant-broker/b1/tenants/nobody').send({ enabled: true })).status, 404);
    assert.equal((await request.delete('/tenant-broker/b1/tenants/acme')).status, 200);
    assert.equal((await request.get('/tenant-broker/nope/tenants')).status, 404);
  });

  it('refuses cross-site requests on the Tenants tab routes: 403 for a foreign Origin, 415 for a body that is not JSON', async () => {
    await helper.load([tenantBroker], [brokerConfig('b1', tmp.file('r.db'))]);
    const host = await brokerOf('b1');
    const request = helper.request();
    const editor = 'node-red.example:1880';
    // what a page on evil.example can send without a preflight: a form post, with the browser's Origin
    const form = await request.post('/tenant-broker/b1/tenants').set('Host', editor).set('Origin', 'http://evil.example').type('form').send('username=evil&password=pw');
    assert.deepEqual([form.status, form.body.status], [403, 'error']);
    assert.match(form.body.error, /evil\.example/);
    // the same form without Origin (not a browser), and JSON sent as text/plain (no preflight either)
    assert.equal((await request.post('/tenant-broker/b1/tenants').type('form').send('username=evil&password=pw')).status, 415);
    const text = await request.post('/tenant-broker/b1/tenants').set('Origin', `http://${editor}`).set('Host', editor).set('Content-Type', 'text/plain').send('{"username":"evil","password":"pw"}');
    assert.deepEqual([text.status, text.body.status], [415, 'error']);
    assert.equal((await request.put('/tenant-broker/b1/tenants/acme').type('form').send('enabled=false')).status, 415);
    assert.equal((await request.post('/tenant-broker/b1/tenants/acme/devices/d1/kick').type('form').send('')).status, 415, 'an empty form');
    // sandboxed frames send Origin: null; reads and deletes from another page are refused too
    assert.equal((await request.post('/tenant-broker/b1/tenants').set('Origin', 'null').send({ username: 'evil', password: 'pw' })).status, 403);
    assert.equal((await request.get('/tenant-broker/b1/tenants').set('Host', editor).set('Origin', 'http://evil.example')).status, 403);
    assert.equal((await request.delete('/tenant-broker/b1/tenants/evil').set('Host', editor).set('Origin', `http://${editor}.evil.example`)).status, 403);
    assert.equal(host.registry.getTenant('evil'), undefined);

    // the editor itself: same host (default port implied), or behind a proxy that forwards its host
    const own = await request.post('/tenant-broker/b1/tenants').set('Host', 'node-red.example:80').set('Origin', 'http://node-red.example').send({ username: 'acme', password: 'pw' });
    assert.equal(own.status, 201);
    const proxied = await request.put('/tenant-broker/b1/tenants/acme').set('Host', '127.0.0.1:1880').set('X-Forwarded-Host', 'nr.example').set('Origin', 'https://nr.example').send({ enabled: false });
    assert.equal(proxied.status, 200);
    assert.equal((await request.get('/tenant-broker/b1/tenants').set('Host', editor)).status, 200);
    assert.equal((await request.delete('/tenant-broker/b1/tenants/acme').set('Host', editor).set('Origin', `http://${editor}`)).status, 200);
  });

  it('applies a tenant disabled with the sqlite3 shell by itself: no request, no redeploy', async () => {
    const database = tmp.file('r.db');
    await helper.load([tenantBroker], [brokerConfig('b1', database)]);
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'acme', password: 'acme-pw' });
    const url = `mqtt://127.0.0.1:${(await addressOf('b1')).port}`;
    const device = await connect(url, { username: 'acme', password: 'acme-pw' });
    const gone = closed(device.client);
    await sqliteShell(database, "UPDATE tenants SET enabled = 0 WHERE username = 'acme'");
    await gone;
    assert.equal(await connackCode(url, { username: 'acme', password: 'acme-pw' }), 5);
  });

  it('leaves SIGHUP to Node-RED: no listener of its own, the same after close', async () => {
    const before = process.listeners('SIGHUP');
    await helper.load([tenantBroker], [brokerConfig('b1', tmp.file('r.db'))]);
    await brokerOf('b1');
    assert.deepEqual(process.listeners('SIGHUP'), before);
    await helper.unload();
    assert.deepEqual(process.listeners('SIGHUP'), before);
  });
});

async function addressOf(id: string): Promise<AddressInfo> {
  const host = await brokerOf(id);
  return (host as unknown as { servers: Array<{ server: net.Server }> }).servers[0].server.address() as AddressInfo;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
