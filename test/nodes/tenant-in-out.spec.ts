import assert from 'node:assert/strict';
import type { NodeMessage } from 'node-red';
import { helper, brokerConfig, brokerOf, loadNode, nodeRedFixture } from '../helpers/nodes';
import { connect, type TestClient } from '../helpers/mqtt';
import type { tempDir } from '../helpers/tmp';

const nodes = [loadNode('tenant-broker'), loadNode('tenant-in'), loadNode('tenant-out')];

type Msg = NodeMessage & { tenant?: string; qos?: number; retain?: boolean; clientid?: string };

/** Collects what a helper node receives; `next()` resolves with the next message (or one already waiting). */
function collector(id: string) {
  const received: Msg[] = [];
  const waiters: Array<(m: Msg) => void> = [];
  helper.getNode(id).on('input', (msg: Msg) => {
    const waiter = waiters.shift();
    if (waiter) waiter(msg);
    else received.push(msg);
  });
  return {
    next: (): Promise<Msg> => (received.length > 0 ? Promise.resolve(received.shift()!) : new Promise((resolve) => waiters.push(resolve))),
    pending: received,
  };
}

/** Sends a message into a node and resolves with the error it finished with (or null). */
function outcome(id: string, msg: Record<string, unknown>): Promise<Error | null> {
  const node = helper.getNode(id) as unknown as import('node:events').EventEmitter;
  return new Promise((resolve) => {
    const onError = (call: { args: [unknown] }) => {
      node.removeListener('call:error', onError);
      resolve(call.args[0] instanceof Error ? call.args[0] : new Error(String(call.args[0])));
    };
    node.on('call:error', onError);
    helper.getNode(id).receive(msg as NodeMessage);
    // a message that succeeds reports nothing: wait for a publish to land instead (see callers)
  });
}

describe('tenant-in and tenant-out nodes', () => {
  const fixture = nodeRedFixture();
  let tmp: ReturnType<typeof tempDir>;
  const clients: TestClient[] = [];
  beforeEach(() => (tmp = fixture.tmp));
  afterEach(() => Promise.all(clients.splice(0).map((c) => c.end())));

  async function start(flow: Array<Record<string, unknown>>) {
    await helper.load(nodes, [brokerConfig('b1', tmp.file('r.db')), ...flow] as never, { b1: { rootPassword: 'rootpw' } });
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'tenant1', password: 'secret', isolation: 'prefix' });
    await host.registry.addTenant({ username: 'tenant2', password: 'secret2', isolation: 'mountpoint' });
    const port = (host as unknown as { servers: Array<{ server: import('node:net').Server }> }).servers[0].server.address() as import('node:net').AddressInfo;
    const device = async (username: string, password: string, clientId?: string) => {
      const c = await connect(`mqtt://127.0.0.1:${port.port}`, { username, password, clientId });
      clients.push(c);
      return c;
    };
    return { host, device };
  }

  it('tenant-out publishes into each tenant, received by devices of both styles', async () => {
    const { device } = await start([
      { id: 'o1', type: 'tenant-out', broker: 'b1', tenant: 'tenant1', topic: 'sensors/temp', qos: '1', retain: '', wires: [] },
      { id: 'o2', type: 'tenant-out', broker: 'b1', tenant: '', topic: '', qos: '', retain: '', wires: [] },
    ]);
    const d1 = await device('tenant1', 'secret');
    await d1.subscribe('tenant1/#', 1);
    const d2 = await device('tenant2', 'secret2');
    await d2.subscribe('#', 1);
    helper.getNode('o1').receive({ payload: { client_id: 'sensor_01', temp_c: 23.45 } } as never);
    helper.getNode('o2').receive({ payload: Buffer.from([1, 2, 3]), tenant: 'tenant2', topic: 'raw/bytes', qos: 1 } as never);
    const m1 = await d1.waitFor((m) => m.topic === 'tenant1/sensors/temp');
    assert.deepEqual(JSON.parse(m1.payload), { client_id: 'sensor_01', temp_c: 23.45 });
    const m2 = await d2.waitFor((m) => m.topic === 'raw/bytes');
    assert.equal(m2.payload, '\u0001\u0002\u0003');
    assert.equal(d1.inbox.filter((m) => m.topic.includes('raw')).length, 0);
  });

  it('tenant-in receives device messages without the prefix, with tenant, qos and clientid', async () => {
    const { device } = await start([
      { id: 'i1', type: 'tenant-in', broker: 'b1', tenant: 'tenant1', topic: 'sensors/+', qos: '1', datatype: 'auto-detect', wires: [['h1']] },
      { id: 'i2', type: 'tenant-in', broker: 'b1', tenant: 'tenant2', topic: 'sensors/+', qos: '0', datatype: 'utf8', wires: [['h2']] },
      { id: 'h1', type: 'helper' },
      { id: 'h2', type: 'helper' },
    ]);
    const h1 = collector('h1');
    const h2 = collector('h2');
    await (await device('tenant1', 'secret', 'dev-a')).publish('tenant1/sensors/temp', '{"t":1}');
    await (await device('tenant2', 'secret2', 'dev-b')).publish('sensors/temp', 'plain', { qos: 1 });
    const a = await h1.next();
    assert.deepEqual([a.topic, a.payload, a.tenant, a.qos, a.retain, a.clientid], ['sensors/temp', { t: 1 }, 'tenant1', 1, false, 'dev-a']);
    const b = await h2.next();
    assert.deepEqual([b.topic, b.payload, b.tenant, b.qos, b.clientid], ['sensors/temp', 'plain', 'tenant2', 0, 'dev-b']);
    // isolation: the sentinel to tenant1 arrives after tenant2's message, and tenant1's node never saw tenant2's
    await (await device('tenant1', 'secret')).publish('tenant1/sensors/sentinel', 'S');
    assert.equal((await h1.next()).topic, 'sensors/sentinel');
  });

  it('tenant-in gives msg.clientid "node-red" for what a tenant-out published', async () => {
    await start([
      { id: 'o1', type: 'tenant-out', broker: 'b1', tenant: 'tenant1', topic: 'sensors/temp', qos: '0', retain: '', wires: [] },
      { id: 'i1', type: 'tenant-in', broker: 'b1', tenant: 'tenant1', topic: 'sensors/#', qos: '0', datatype: 'utf8', wires: [['h1']] },
      { id: 'h1', type: 'helper' },
    ]);
    const got = collector('h1');
    helper.getNode('o1').receive({ payload: 'from a flow' } as never);
    const msg = await got.next();
    assert.deepEqual([msg.topic, msg.payload, msg.clientid], ['sensors/temp', 'from a flow', 'node-red']);
  });

  it('all-tenants mode sets msg.tenant from the topic', async () => {
    const { device } = await start([
      { id: 'i1', type: 'tenant-in', broker: 'b1', tenant: '*', topic: 'sensors/#', qos: '0', datatype: 'utf8', wires: [['h1']] },
      { id: 'h1', type: 'helper' },
    ]);
    const h1 = collector('h1');
    await (await device('tenant2', 'secret2')).publish('sensors/x', 'two');
    const first = await h1.next();
    await (await device('tenant1', 'secret')).publish('tenant1/sensors/y', 'one');
    const second = await h1.next();
    assert.deepEqual([first.tenant, first.topic, second.tenant, second.topic], ['tenant2', 'sensors/x', 'tenant1', 'sensors/y']);
  });

  it('dynamic subscriptions: subscribe, getSubscriptions, unsubscribe', async () => {
    const { host } = await start([
      { id: 'i1', type: 'tenant-in', broker: 'b1', tenant: 'tenant1', topic: '', qos: '0', datatype: 'utf8', inputs: 1, wires: [['h1']] },
      { id: 'h1', type: 'helper' },
    ]);
    const h1 = collector('h1');
    const input = helper.getNode('i1');
    input.receive({ action: 'subscribe', topic: ['a/+', { topic: 'b', qos: 1 }] } as never);
    input.receive({ action: 'getSubscriptions' } as never);
    const subs = await h1.next();
    assert.deepEqual(subs.payload, ['a/+', 'b']);
    await host.publish('tenant1', { topic: 'a/1', payload: 'A' });
    assert.equal((await h1.next()).payload, 'A');
    input.receive({ action: 'unsubscribe', topic: 'a/+' } as never);
    input.receive({ action: 'getSubscriptions' } as never);
    assert.deepEqual((await h1.next()).payload, ['b']);
    await host.publish('tenant1', { topic: 'a/2', payload: 'after' });
    await host.publish('tenant1', { topic: 'b', payload: 'sentinel' });
    assert.equal((await h1.next()).payload, 'sentinel');
  });

  it('tenant-in reports invalid JSON without stopping', async () => {
    const { host } = await start([
      { id: 'i1', type: 'tenant-in', broker: 'b1', tenant: 'tenant1', topic: 'j', qos: '0', datatype: 'json', wires: [['h1']] },
      { id: 'h1', type: 'helper' },
    ]);
    const h1 = collector('h1');
    const errors: unknown[] = [];
    (helper.getNode('i1') as unknown as import('node:events').EventEmitter).on('call:error', (call: { args: unknown[] }) => errors.push(call.args[0]));
    await host.publish('tenant1', { topic: 'j', payload: 'not json' });
    await host.publish('tenant1', { topic: 'j', payload: '{"ok":true}' });
    assert.deepEqual((await h1.next()).payload, { ok: true });
    assert.equal(errors.length, 1);
  });

  for (const [what, msg, expected] of [
    ['a wildcard topic', { payload: 'x', tenant: 'tenant1', topic: 'a/+' }, /errors.bad-topic|\+ or #/],
    ['a missing topic', { payload: 'x', tenant: 'tenant1' }, /no-topic/],
    ['a missing tenant', { payload: 'x', topic: 'a' }, /no-tenant/],
    ['an unknown tenant', { payload: 'x', tenant: 'nobody', topic: 'a' }, /nobody/],
    ['a bad qos', { payload: 'x', tenant: 'tenant1', topic: 'a', qos: 7 }, /bad-qos/],
  ] as const) {
    it(`tenant-out fails a message with ${what} through done(err)`, async () => {
      await start([{ id: 'o1', type: 'tenant-out', broker: 'b1', tenant: '', topic: '', qos: '', retain: '', wires: [] }]);
      const err = await outcome('o1', msg as unknown as Record<string, unknown>);
      assert.match(err!.message, expected);
    });
  }

  it('tenant-out fails a message for a disabled tenant', async () => {
    const { host } = await start([{ id: 'o1', type: 'tenant-out', broker: 'b1', tenant: 'tenant1', topic: 't', qos: '', retain: '', wires: [] }]);
    await host.registry.updateTenant('tenant1', { enabled: false });
    const err = await outcome('o1', { payload: 'x' });
    assert.match(err!.message, /disabled/);
  });

  it('retain from the node or from msg.retain', async () => {
    const { host } = await start([
      { id: 'o1', type: 'tenant-out', broker: 'b1', tenant: 'tenant2', topic: '', qos: '1', retain: '', wires: [] },
      { id: 'i1', type: 'tenant-in', broker: 'b1', tenant: 'tenant2', topic: 'sentinel', qos: '0', datatype: 'utf8', wires: [['h1']] },
      { id: 'h1', type: 'helper' },
    ]);
    const h1 = collector('h1');
    helper.getNode('o1').receive({ payload: 'kept', topic: 'state', retain: true } as never);
    helper.getNode('o1').receive({ payload: 'S', topic: 'sentinel' } as never);
    await h1.next();
    const retained: string[] = [];
    await host.subscribe('tenant2', 'state', (m) => retained.push(`${m.payload}:${m.retain}`));
    assert.deepEqual(retained, ['kept:true']);
  });
});
