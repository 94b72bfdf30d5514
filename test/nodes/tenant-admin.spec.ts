import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import net, { type AddressInfo } from 'node:net';
import type { NodeMessage } from 'node-red';
import type { AuditEvent } from '../../src';
import { request } from '../admin/helpers';
import { closedPort } from '../helpers/http-sink';
import { connackCode } from '../helpers/mqtt';
import { brokerConfig, brokerOf, helper, loadNode, nodeRedFixture } from '../helpers/nodes';
import type { tempDir } from '../helpers/tmp';

const nodes = [loadNode('tenant-broker'), loadNode('tenant-admin')];
// eslint-disable-next-line @typescript-eslint/no-require-imports
const core = ['function/10-function.js', 'function/10-switch.js'].map((file) => require(`@node-red/nodes/core/${file}`));

type Status = { fill?: string; shape?: string; text?: string };

function adminReady(id: string): Promise<AddressInfo> {
  return (helper.getNode(id) as unknown as { ready: Promise<AddressInfo> }).ready;
}

/** The first status (already shown or still to come) that matches. */
function statusOf(id: string, predicate: (s: Status) => boolean): Promise<Status> {
  const node = helper.getNode(id) as unknown as EventEmitter & { status: { args?: Status[][] } };
  const shown = (node.status.args ?? []).map((args) => args[0]).find(predicate);
  if (shown) return Promise.resolve(shown);
  return new Promise((resolve) => {
    const check = (call: { args: [Status] }) => {
      if (!predicate(call.args[0])) return;
      node.removeListener('call:status', check);
      resolve(call.args[0]);
    };
    node.on('call:status', check);
  });
}

function nextInput(id: string, predicate: (msg: NodeMessage) => boolean): Promise<NodeMessage> {
  const node = helper.getNode(id);
  return new Promise((resolve) => {
    const check = (msg: NodeMessage) => {
      if (!predicate(msg)) return;
      node.removeListener('input', check);
      resolve(msg);
    };
    node.on('input', check);
  });
}

/** Resolves once nothing listens on the port any more. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

describe('tenant-admin node', () => {
  const fixture = nodeRedFixture();
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = fixture.tmp));

  const flow = (admin: Record<string, unknown> = {}) => [
    brokerConfig('b1', tmp.file('r.db')),
    { id: 'a1', type: 'tenant-admin', broker: 'b1', host: '127.0.0.1', port: '0', wires: [['out']], ...admin },
    { id: 'out', type: 'helper' },
  ];

  it('serves the API on its address and shows it with a green dot', async () => {
    await helper.load(nodes, flow(), { b1: { rootPassword: 'rootpw' } });
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'acme', password: 'pw' });
    const address = await adminReady('a1');
    assert.equal(address.address, '127.0.0.1');
    assert.notEqual(address.port, 0);
    const status = await statusOf('a1', (s) => s.fill === 'green');
    assert.deepEqual([status.fill, status.shape], ['green', 'dot']);
    const reply = await request(address.port, 'GET', '/internal/tenants');
    assert.deepEqual(reply.json.tenants.map((t: { username: string }) => t.username), ['acme']);
  });

  it('sends every audit event: a failed MQTT login arrives as msg.topic login.failed', async () => {
    await helper.load(nodes, flow(), { b1: { rootPassword: 'rootpw' } });
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'acme', password: 'pw' });
    await adminReady('a1');
    const failed = nextInput('out', (msg) => msg.topic === 'login.failed');
    const mqttPort = (host as unknown as { servers: Array<{ server: net.Server }> }).servers[0].server.address() as AddressInfo;
    assert.equal(await connackCode(`mqtt://127.0.0.1:${mqttPort.port}`, { username: 'acme', password: 'wrong', clientId: 'guess-1' }), 4);
    const msg = (await failed) as NodeMessage & { tenant?: string };
    const event = msg.payload as AuditEvent;
    assert.deepEqual([event.category, event.action, event.tenant, msg.tenant], ['security', 'login.failed', 'acme', 'acme']);
    assert.equal(event.detail.clientId, 'guess-1');
    assert.equal(typeof event.at, 'number');
    // administrative changes through the API are events too
    const kicked = nextInput('out', (m) => m.topic === 'tenant.kick');
    await request((await adminReady('a1')).port, 'POST', '/internal/tenant/kick', { body: { username: 'acme' } });
    assert.equal(((await kicked).payload as AuditEvent).category, 'admin');
  });

  it('takes the token from its credentials and enforces it', async () => {
    await helper.load(nodes, flow(), { b1: {}, a1: { token: 'node-token' } });
    const { port } = await adminReady('a1');
    assert.equal((await request(port, 'GET', '/internal/stats')).status, 401);
    assert.equal((await request(port, 'GET', '/internal/stats', { token: 'node-token' })).status, 200);
  });

  it('releases its port on redeploy so the next instance serves on the same one', async () => {
    const port = await closedPort();
    for (let i = 0; i < 5; i++) {
      await helper.load(nodes, flow({ port: String(port) }), { b1: {} });
      assert.equal((await adminReady('a1')).port, port);
      // a keep-alive client still connected at redeploy must not hold the port
      const idle = net.connect(port, '127.0.0.1');
      await new Promise((resolve) => idle.once('connect', resolve));
      assert.equal((await request(port, 'GET', '/internal/tenants')).status, 200);
      await helper.unload();
      idle.destroy();
    }
  });

  it('accepts its port through an environment variable', async () => {
    const port = await closedPort();
    process.env.TB_ADMIN_TEST_PORT = String(port);
    try {
      await helper.load(nodes, flow({ port: '${TB_ADMIN_TEST_PORT}' }), { b1: {} });
      assert.equal((await adminReady('a1')).port, port);
    } finally {
      delete process.env.TB_ADMIN_TEST_PORT;
    }
  });

  it('on close frees the port and stops sending audit events', async () => {
    await helper.load(nodes, flow(), { b1: {} });
    const host = await brokerOf('b1');
    const { port } = await adminReady('a1');
    assert.equal(host.registry.audit.listenerCount('event'), 1);
    await new Promise<void>((resolve) => helper.getNode('a1').close(false).then(() => resolve()));
    assert.equal(host.registry.audit.listenerCount('event'), 0);
    assert.equal(await canBind(port), true);
  });

  it('shows a red ring with the reason when its port is in use', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      await helper.load(nodes, flow({ port: String(port) }), { b1: {} });
      await assert.rejects(adminReady('a1'));
      const status = await statusOf('a1', (s) => s.fill === 'red');
      assert.equal(status.shape, 'ring');
      assert.match(String(status.text), new RegExp(String(port)));
    } finally {
      blocker.close();
    }
  });

  it('refuses a non-loopback host without a token: red ring, nothing bound', async () => {
    await helper.load(nodes, flow({ host: '0.0.0.0' }), { b1: {} });
    await assert.rejects(adminReady('a1'), (err: { key?: string }) => err.key === 'errors.admin-token-required');
    const status = await statusOf('a1', (s) => s.fill === 'red');
    assert.equal(status.shape, 'ring');
    assert.match(String(status.text), /token/);
  });

  it('shows a red ring without a broker', async () => {
    await helper.load(nodes, [{ id: 'a1', type: 'tenant-admin', broker: 'missing', host: '127.0.0.1', port: '0', wires: [] }] as never);
    await assert.rejects(adminReady('a1'));
    const status = await statusOf('a1', (s) => s.fill === 'red');
    assert.match(String(status.text), /missing-broker/);
  });

  it('example 04 alerts once when a username fails to log in five times', async () => {
    const example = JSON.parse(readFileSync(join(__dirname, '../../examples/04 Alert on failed logins.json'), 'utf8')) as Array<Record<string, unknown>>;
    const flow = example
      .filter((n) => n.type !== 'tab' && n.type !== 'comment')
      .map((n) => {
        if (n.type === 'tenant-broker') return brokerConfig(String(n.id), tmp.file('r.db'));
        if (n.type === 'tenant-admin') return { ...n, port: '0' };
        if (n.type === 'debug') return { id: n.id, type: 'helper', z: n.z };
        return n;
      });
    await helper.load([...nodes, ...core], flow as never, { 'tb-broker': {} });
    const host = await brokerOf('tb-broker');
    await host.registry.addTenant({ username: 'tenant1', password: 'secret' });
    await adminReady('al-admin');
    const url = `mqtt://127.0.0.1:${((host as unknown as { servers: Array<{ server: net.Server }> }).servers[0].server.address() as AddressInfo).port}`;
    const alerts: NodeMessage[] = [];
    helper.getNode('al-alert').on('input', (msg: NodeMessage) => alerts.push(msg));
    const firstAlert = nextInput('al-alert', () => true);
    for (let i = 0; i < 4; i++) assert.equal(await connackCode(url, { username: 'tenant1', password: 'wrong' }), 4);
    assert.equal(await connackCode(url, { username: 'tenant2', password: 'wrong' }), 4);
    assert.equal(await connackCode(url, { username: 'tenant1', password: 'secret' }), 0);
    assert.equal(alerts.length, 0);
    assert.equal(await connackCode(url, { username: 'tenant1', password: 'wrong' }), 4);
    const alert = (await firstAlert) as NodeMessage & { payload: { username: string; tenant: string; failures: number } };
    assert.deepEqual([alert.payload.username, alert.payload.tenant, alert.payload.failures], ['tenant1', 'tenant1', 5]);
    assert.match(String(alert.topic), /^ALERT/);
    // a sixth failure is the same burst: no second alert. tenant2 reaching five afterwards travels the
    // same path, so its alert arriving shows the sixth was handled
    assert.equal(await connackCode(url, { username: 'tenant1', password: 'wrong' }), 4);
    const sentinel = nextInput('al-alert', (m) => (m.payload as { username: string }).username === 'tenant2');
    for (let i = 0; i < 4; i++) assert.equal(await connackCode(url, { username: 'tenant2', password: 'wrong' }), 4);
    await sentinel;
    assert.deepEqual(alerts.map((m) => [(m.payload as { username: string; tenant: string | null }).username, (m.payload as { tenant: string | null }).tenant]), [['tenant1', 'tenant1'], ['tenant2', null]]);
  });
});
