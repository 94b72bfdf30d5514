import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrokerHost } from '../../src';
import { connackCode, connect } from '../helpers/mqtt';
import { brokerConfig, brokerOf, helper, loadNode, nodeRedFixture } from '../helpers/nodes';
import type { tempDir } from '../helpers/tmp';

const tenantBroker = loadNode('tenant-broker');
const tenantAuth = loadNode('tenant-auth');
// the core nodes the example and these flows use, as Node-RED ships them
// eslint-disable-next-line @typescript-eslint/no-require-imports
const core = ['common/90-comment.js', 'function/10-function.js', 'function/15-change.js'].map((file) => require(`@node-red/nodes/core/${file}`));

type FlowNode = { id: string; type: string; [key: string]: unknown };
type Status = { fill?: string; shape?: string; text?: string };
type Call = { args: unknown[] };

const EXAMPLE = JSON.parse(readFileSync(join(__dirname, '../../examples/05 Auth as a flow.json'), 'utf8')) as FlowNode[];

/** The example exactly as shipped, its broker on ephemeral loopback ports with a temp registry. */
function exampleFlow(database: string): FlowNode[] {
  return EXAMPLE.map((node) => (node.type === 'tenant-broker' ? { ...node, tcpPort: '0', tcpHost: '127.0.0.1', wsPort: '0', wsHost: '127.0.0.1', database } : node));
}

const urlOf = (host: BrokerHost) => `mqtt://127.0.0.1:${host.bound.mqtt!.port}`;

/** The calls of a spied node method (the test helper spies on every node's `status`, `warn`, `error`, `send`) by node `id`. */
function callsOf(id: string, method: string): Call[] {
  const spy = (helper as unknown as { _NodePrototype: Record<string, { getCalls(): Array<Call & { thisValue?: { id?: string } }> }> })._NodePrototype[method];
  return spy.getCalls().filter((call) => call.thisValue?.id === id);
}

/** Resolves with the arguments of the first call (made already, or to come) of node `id`'s `method` that matches. */
async function called(id: string, method: string, predicate: (args: unknown[]) => boolean = () => true): Promise<unknown[]> {
  for (;;) {
    const found = callsOf(id, method).find((call) => predicate(call.args));
    if (found) return found.args;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The messages node `id` sends from now on, as they were when sent (the flow changes them afterwards). */
function sentBy(id: string): Array<{ _loginId: string; topic: string; payload: Record<string, unknown> }> {
  const list: Array<{ _loginId: string; topic: string; payload: Record<string, unknown> }> = [];
  (helper.getNode(id) as unknown as EventEmitter).on('call:send', (call: Call) => {
    const msg = call.args[0] as { _loginId: string; topic: string; payload: Record<string, unknown> };
    list.push({ ...msg, payload: { ...msg.payload } });
  });
  return list;
}

describe('tenant-auth node', function () {
  const fixture = nodeRedFixture();
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = fixture.tmp));

  async function loadExample(): Promise<BrokerHost> {
    const flow = exampleFlow(tmp.file('r.db'));
    await helper.load([tenantBroker, tenantAuth, ...core], flow as never);
    const host = await brokerOf(flow.find((n) => n.type === 'tenant-broker')!.id);
    await host.registry.addTenant({ username: 'tenant1', password: 'secret', isolation: 'prefix' });
    return host;
  }

  it('example 05 as shipped: flow-demo / let-me-in gets into tenant1 as device flow-demo, publishes and subscribes there', async () => {
    const host = await loadExample();
    const url = urlOf(host);
    const owner = await connect(url, { username: 'tenant1', password: 'secret', clientId: 'owner' });
    const device = await connect(url, { username: 'flow-demo', password: 'let-me-in', clientId: 'flow-demo' });
    try {
      assert.deepEqual(await owner.subscribe('tenant1/#', 1), [1]);
      await device.publish('tenant1/hello', 'from a flow login');
      const seen = await owner.waitFor((m) => m.topic === 'tenant1/hello');
      assert.equal(seen.payload, 'from a flow login');
      // and it reads inside tenant1
      assert.deepEqual(await device.subscribe('tenant1/cmd', 1), [1]);
      await owner.publish('tenant1/cmd', 'on');
      assert.equal((await device.waitFor((m) => m.topic === 'tenant1/cmd')).payload, 'on');
      // placed as the device the flow named, in tenant1
      const clients = host.connectionCounts();
      assert.equal(clients.get('tenant1'), 2);
    } finally {
      await device.end();
      await owner.end();
    }
  });

  it('example 05: a wrong password is an explicit deny (CONNACK 5); the registry still decides its own logins first', async () => {
    const host = await loadExample();
    const url = urlOf(host);
    const sent = sentBy('au-auth');
    assert.equal(await connackCode(url, { username: 'flow-demo', password: 'wrong', clientId: 'x1' }), 5);
    assert.equal(await connackCode(url, { username: 'someone', password: 'let-me-in', clientId: 'x2' }), 5);
    // tenant1's own login never reaches the flow
    assert.equal(await connackCode(url, { username: 'tenant1', password: 'secret', clientId: 'x3' }), 0);
    // a wrong password of a registry login is not the registry's: the flow sees it, and denies it
    assert.equal(await connackCode(url, { username: 'tenant1', password: 'wrong', clientId: 'x4' }), 5);
    const asked = sent.map((m) => m.payload.username);
    assert.deepEqual(asked, ['flow-demo', 'someone', 'tenant1']);
  });

  it('emits username, client id, peer address, transport, protocol and the password as a Buffer, paired by msg._loginId; never logs the password', async () => {
    const host = await loadExample();
    const logged: string[] = [];
    const spy = helper.log();
    const sent = sentBy('au-auth');
    assert.equal(await connackCode(urlOf(host), { username: 'flow-demo', password: 'let-me-in', clientId: 'the-client' }), 0);
    const msg = sent[0];
    assert.equal(typeof msg._loginId, 'string');
    assert.ok(msg._loginId.length > 0);
    assert.equal(msg.topic, 'flow-demo');
    assert.deepEqual({ ...msg.payload, password: undefined }, { username: 'flow-demo', password: undefined, clientid: 'the-client', peerhost: '127.0.0.1', transport: 'tcp', protocol: 'mqtt' });
    assert.ok(Buffer.isBuffer(msg.payload.password));
    assert.equal((msg.payload.password as Buffer).toString(), 'let-me-in');
    for (const call of (spy as unknown as { args: unknown[][] }).args) logged.push(JSON.stringify(call));
    assert.ok(logged.length > 0, 'the log spy saw nothing: is it still reading the log?');
    assert.ok(!logged.some((line) => line.includes('let-me-in')), 'the password was logged');
  });

  it('refuses a login the flow does not answer within the timeout (CONNACK 5), and warns about the late answer', async () => {
    const flow: FlowNode[] = [
      brokerConfig('b1', tmp.file('r.db')),
      // a flow that never answers
      { id: 'auth', type: 'tenant-auth', broker: 'b1', timeout: '200', wires: [['sink']] },
      { id: 'sink', type: 'helper' },
    ];
    await helper.load([tenantBroker, tenantAuth], flow as never);
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'tenant1', password: 'secret' });
    const sent = sentBy('auth');
    assert.equal(await connackCode(urlOf(host), { username: 'flow-demo', password: 'let-me-in', clientId: 'slow' }), 5);
    assert.equal(sent.length, 1);
    // the answer comes after the login was refused
    helper.getNode('auth').receive({ _loginId: sent[0]._loginId, payload: { result: 'allow', tenant: 'tenant1' } } as never);
    assert.match(String((await called('auth', 'warn'))[0]), /tenant-auth\.warn\.late/);
    helper.getNode('auth').receive({ _loginId: 'no-such-login', payload: { result: 'allow', tenant: 'tenant1' } } as never);
    assert.match(String((await called('auth', 'warn', (args) => /unmatched/.test(String(args[0]))))[0]), /tenant-auth\.warn\.unmatched/);
  });

  it('refuses a login with a malformed answer (CONNACK 5) and reports it as an error', async () => {
    const flow: FlowNode[] = [
      brokerConfig('b1', tmp.file('r.db')),
      { id: 'auth', type: 'tenant-auth', broker: 'b1', wires: [['fn']] },
      { id: 'fn', type: 'function', func: "msg.payload = { result: 'maybe' }; return msg;", outputs: 1, wires: [['auth']] },
    ];
    await helper.load([tenantBroker, tenantAuth, ...core], flow as never);
    const host = await brokerOf('b1');
    assert.equal(await connackCode(urlOf(host), { username: 'x', password: 'y', clientId: 'c' }), 5);
    assert.match(String((await called('auth', 'error'))[0]), /tenant-auth\.errors\.malformed/);
  });

  it('with no tenant-auth node deployed, the registry and the end of the chain decide (CONNACK 4 for an unknown login)', async () => {
    const flow = exampleFlow(tmp.file('r.db')).filter((n) => n.type === 'tenant-broker' || n.type === 'tab');
    await helper.load([tenantBroker, tenantAuth], flow as never);
    const host = await brokerOf('tb-broker');
    await host.registry.addTenant({ username: 'tenant1', password: 'secret' });
    const url = urlOf(host);
    assert.equal(await connackCode(url, { username: 'flow-demo', password: 'let-me-in', clientId: 'a' }), 4);
    assert.equal(await connackCode(url, { username: 'tenant1', password: 'secret', clientId: 'b' }), 0);
  });

  it('lets only one tenant-auth node decide a broker\'s logins: the second shows an error and takes over when the first is gone', async () => {
    const flow: FlowNode[] = [
      brokerConfig('b1', tmp.file('r.db')),
      { id: 'first', type: 'tenant-auth', broker: 'b1', wires: [['allow']] },
      { id: 'allow', type: 'change', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: '{"result":"allow","tenant":"tenant1"}', tot: 'json' }], wires: [['first']] },
      { id: 'second', type: 'tenant-auth', broker: 'b1', wires: [['deny']] },
      { id: 'deny', type: 'change', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: '{"result":"deny"}', tot: 'json' }], wires: [['second']] },
    ];
    await helper.load([tenantBroker, tenantAuth, ...core], flow as never);
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'tenant1', password: 'secret' });
    const [status] = (await called('second', 'status', ([s]) => (s as Status).fill === 'red')) as [Status];
    assert.equal(status.shape, 'ring');
    assert.match(String(status.text), /tenant-auth\.status\.second-node/);
    assert.match(String((await called('second', 'error'))[0]), /tenant-auth\.errors\.second-node/);
    // the first decides
    assert.equal(await connackCode(urlOf(host), { username: 'someone', password: 'pw', clientId: 'c1' }), 0);
    // once it is gone the second takes over
    await (helper.getNode('first') as unknown as { close(removed: boolean): Promise<void> }).close(true);
    assert.equal(await connackCode(urlOf(host), { username: 'someone', password: 'pw', clientId: 'c2' }), 5);
  });

  it('answers "not mine" again once its node is closed, and a redeployed node decides again', async () => {
    const host = await loadExample();
    const url = urlOf(host);
    assert.equal(await connackCode(url, { username: 'flow-demo', password: 'let-me-in', clientId: 'a' }), 0);
    // the node closes (as in a redeploy): its handler is gone
    await new Promise<void>((resolve) => (helper.getNode('au-auth') as unknown as { close(removed: boolean): Promise<void> }).close(true).then(() => resolve()));
    assert.equal(host.flowAuth.active, false);
    assert.equal(await connackCode(url, { username: 'flow-demo', password: 'let-me-in', clientId: 'b' }), 4);
  });
});

describe('tenant-broker node: authentication settings', function () {
  const fixture = nodeRedFixture();
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = fixture.tmp));

  async function sign(claims: Record<string, unknown>, secret: string): Promise<string> {
    const { SignJWT } = await import('jose');
    return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(secret));
  }

  it('admits a JWT signed with the configured secret (CONNACK 0) into its tenant, and denies one signed with another (CONNACK 5)', async () => {
    const flow = [brokerConfig('b1', tmp.file('r.db'))];
    await helper.load([tenantBroker], flow as never, { b1: { jwtSecret: 'a shared secret of the demo' } });
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'tenant1', password: 'secret' });
    const url = urlOf(host);
    const good = await sign({ tenant: 'tenant1', sub: 'sensor-1' }, 'a shared secret of the demo');
    const owner = await connect(url, { username: 'tenant1', password: 'secret', clientId: 'owner' });
    const device = await connect(url, { username: 'sensor-1', password: good, clientId: 'sensor-1' });
    try {
      await owner.subscribe('tenant1/#', 1);
      await device.publish('tenant1/t', '21');
      assert.equal((await owner.waitFor((m) => m.topic === 'tenant1/t')).payload, '21');
    } finally {
      await device.end();
      await owner.end();
    }
    const bad = await sign({ tenant: 'tenant1', sub: 'sensor-1' }, 'another secret');
    assert.equal(await connackCode(url, { username: 'sensor-1', password: bad, clientId: 'sensor-1' }), 5);
  });

  it('takes the base64 secret encoding, the tenant claim and the username claim from the node', async () => {
    const raw = 'raw bytes secret';
    const flow = [brokerConfig('b1', tmp.file('r.db'), { jwtSecretEncoding: 'base64', jwtTenantClaim: 'org', jwtUsernameClaim: 'sub' })];
    await helper.load([tenantBroker], flow as never, { b1: { jwtSecret: Buffer.from(raw).toString('base64') } });
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'tenant1', password: 'secret' });
    const url = urlOf(host);
    const token = await sign({ org: 'tenant1', sub: 'sensor-1' }, raw);
    assert.equal(await connackCode(url, { username: 'sensor-1', password: token, clientId: 'c1' }), 0);
    assert.equal(await connackCode(url, { username: 'someone-else', password: token, clientId: 'c2' }), 5);
  });

  it('a broker saved before authentication existed reads every missing field as its default: flow listed, no JWT, no HTTP', async () => {
    // brokerConfig has none of the authentication fields
    const flow: FlowNode[] = [brokerConfig('b1', tmp.file('r.db')), { id: 'auth', type: 'tenant-auth', broker: 'b1', wires: [['ok']] }, { id: 'ok', type: 'change', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: '{"result":"allow","tenant":"tenant1"}', tot: 'json' }], wires: [['auth']] }];
    await helper.load([tenantBroker, tenantAuth, ...core], flow as never);
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'tenant1', password: 'secret' });
    assert.equal(await connackCode(urlOf(host), { username: 'via-flow', password: 'x', clientId: 'c' }), 0);
  });

  it('an order without flow keeps the flow out of the chain', async () => {
    const flow: FlowNode[] = [brokerConfig('b1', tmp.file('r.db'), { authOrder: 'jwt,http' }), { id: 'auth', type: 'tenant-auth', broker: 'b1', wires: [['ok']] }, { id: 'ok', type: 'change', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: '{"result":"allow","tenant":"tenant1"}', tot: 'json' }], wires: [['auth']] }];
    await helper.load([tenantBroker, tenantAuth, ...core], flow as never);
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'tenant1', password: 'secret' });
    assert.equal(await connackCode(urlOf(host), { username: 'via-flow', password: 'x', clientId: 'c' }), 4);
  });

  for (const [what, extra, credentials, expected] of [
    ['a JWKS file that does not exist', { jwtJwksFile: 'missing-jwks.json' }, {}, /missing-jwks\.json/],
    ['an auth service URL that is not one', { httpAuthUrl: 'ftp://auth.example/' }, {}, /errors\.auth-url|auth service URL/],
    ['headers that are not a JSON object', { httpAuthUrl: 'http://127.0.0.1:9/auth' }, { httpAuthHeaders: '[1, 2]' }, /tenant-broker\.errors\.auth-headers/],
    ['an order naming an unknown provider', { authOrder: 'jwt,ldap' }, {}, /tenant-broker\.errors\.auth-order/],
    ['a clock tolerance above 5 s', { jwtClockTolerance: '30' }, { jwtSecret: 's' }, /not a valid JWT clock tolerance/],
  ] as const) {
    it(`reports ${what} as the broker's error, on the nodes that use it, without a crash`, async () => {
      const flow: FlowNode[] = [brokerConfig('b1', tmp.file('r.db'), extra), { id: 'auth', type: 'tenant-auth', broker: 'b1', wires: [[]] }];
      await helper.load([tenantBroker, tenantAuth], flow as never, { b1: credentials });
      await assert.rejects(brokerOf('b1'));
      const [status] = (await called('auth', 'status', ([s]) => (s as Status).fill === 'red')) as [Status];
      assert.equal(status.shape, 'ring');
      assert.match(String((await called('b1', 'error'))[0]), /tenant-broker\.errors\.start-failed/);
      // the reason is the status text (RED._ of the test helper answers with the key)
      assert.match(String(status.text), expected);
    });
  }
});
