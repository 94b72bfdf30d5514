import assert from 'node:assert/strict';
import type { NodeMessage } from 'node-red';
import { verifySignature } from '../../src';
import { helper, brokerConfig, brokerOf, loadNode, nodeRedFixture } from '../helpers/nodes';
import { closedPort, HttpSink } from '../helpers/http-sink';
import { connect } from '../helpers/mqtt';
import type { tempDir } from '../helpers/tmp';

const nodes = [loadNode('tenant-broker'), loadNode('tenant-webhook'), loadNode('tenant-out')];

function nextInput(id: string): Promise<NodeMessage & Record<string, unknown>> {
  return new Promise((resolve) => helper.getNode(id).once('input', resolve));
}

describe('tenant-webhook node', () => {
  const fixture = nodeRedFixture();
  let tmp: ReturnType<typeof tempDir>;
  let sink: HttpSink;
  beforeEach(async () => {
    tmp = fixture.tmp;
    sink = await HttpSink.start();
  });
  afterEach(() => sink.close());

  async function start(webhook: Record<string, unknown>, secret?: string) {
    const flow = [
      brokerConfig('b1', tmp.file('r.db')),
      { id: 'w1', type: 'tenant-webhook', broker: 'b1', tenant: 'tenant1', topic: 'sensors/+', url: sink.url('/hook'), headers: '{"Authorization":"Bearer t0k"}', timeout: '2000', retries: '0', concurrency: '1', wires: [['ok'], ['failed']], ...webhook },
      { id: 'ok', type: 'helper' },
      { id: 'failed', type: 'helper' },
    ];
    await helper.load(nodes, flow as never, { b1: { rootPassword: 'rootpw' }, w1: secret ? { secret } : {} });
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'tenant1', password: 'secret', isolation: 'mountpoint' });
    return host;
  }

  it('POSTs matching device messages with MQTT headers and reports each delivery on output 1', async () => {
    const host = await start({});
    const delivered = nextInput('ok');
    const { port } = (host as unknown as { servers: Array<{ server: import('node:net').Server }> }).servers[0].server.address() as import('node:net').AddressInfo;
    const device = await connect(`mqtt://127.0.0.1:${port}`, { username: 'tenant1', password: 'secret', clientId: 'dev-1' });
    await device.publish('sensors/temp', '{"temp_c":23.45}');
    await device.end();
    const [request] = await sink.waitFor(1);
    assert.equal(request.body.toString(), '{"temp_c":23.45}');
    assert.equal(request.headers['x-mqtt-topic'], 'tenant1/sensors/temp');
    assert.equal(request.headers['x-mqtt-username'], 'tenant1');
    assert.equal(request.headers['x-mqtt-client-id'], 'dev-1');
    assert.equal(request.headers.authorization, 'Bearer t0k');
    const msg = await delivered;
    assert.deepEqual([msg.topic, msg.tenant, (msg.payload as { status: number }).status], ['tenant1/sensors/temp', 'tenant1', 200]);
  });

  it('sends X-MQTT-Client-Id "node-red" for a flow\'s tenant-out publishes and its own input messages', async () => {
    const flow = [
      brokerConfig('b1', tmp.file('r.db')),
      { id: 'w1', type: 'tenant-webhook', broker: 'b1', tenant: 'tenant1', topic: 'sensors/+', url: sink.url('/hook'), headers: '', timeout: '2000', retries: '0', concurrency: '1', wires: [[], []] },
      { id: 'o1', type: 'tenant-out', broker: 'b1', tenant: 'tenant1', topic: 'sensors/temp', qos: '', retain: '', wires: [] },
    ];
    await helper.load(nodes, flow as never);
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'tenant1', password: 'secret' });
    helper.getNode('o1').receive({ payload: 'published by a flow' } as never);
    const [published] = await sink.waitFor(1);
    assert.equal(published.body.toString(), 'published by a flow');
    assert.deepEqual([published.headers['x-mqtt-username'], published.headers['x-mqtt-client-id']], ['tenant1', 'node-red']);
    helper.getNode('w1').receive({ payload: 'ad hoc', topic: 'sensors/manual' } as never);
    const [, adHoc] = await sink.waitFor(2);
    assert.deepEqual([adHoc.body.toString(), adHoc.headers['x-mqtt-client-id']], ['ad hoc', 'node-red']);
  });

  it('signs requests with the secret from its credentials', async () => {
    const secret = 'whsec_' + Buffer.from('a secret key of 32 bytes length!').toString('base64');
    const host = await start({}, secret);
    await host.publish('tenant1', { topic: 'sensors/x', payload: 'signed' });
    const [request] = await sink.waitFor(1);
    assert.equal(verifySignature(secret, request.body, request.headers), true);
    assert.equal(verifySignature(secret, Buffer.from('tampered'), request.headers), false);
  });

  it('sends a failure after the last retry to output 2', async () => {
    const port = await closedPort();
    const host = await start({ url: `http://127.0.0.1:${port}/down` });
    const failed = nextInput('failed');
    await host.publish('tenant1', { topic: 'sensors/x', payload: 'lost' });
    const msg = await failed;
    assert.match(String((msg.payload as { error: string }).error), /ECONNREFUSED|refused/i);
  });

  it('warns once when it starts failing and once when it recovers, and shows it in its status', async () => {
    let down = true;
    sink.script = () => (down ? { status: 503 } : { status: 204 });
    const host = await start({ url: sink.url('/hook?token=t0k') });
    const node = helper.getNode('w1') as unknown as { warn: { args: unknown[][] }; status: { lastCall: { args: [{ fill?: string; shape?: string; text?: string }] } } };
    const warnings = () => node.warn.args.map((args) => String(args[0]));
    let failed = 0;
    const threeFailed = new Promise<void>((resolve) => helper.getNode('failed').on('input', () => ++failed === 3 && resolve()));
    for (let i = 0; i < 3; i++) await host.publish('tenant1', { topic: 'sensors/x', payload: String(i) });
    await threeFailed;
    assert.deepEqual(warnings(), ['tenant-webhook.warn.failing'], 'one warning for three failed deliveries');
    assert.deepEqual([node.status.lastCall.args[0].fill, node.status.lastCall.args[0].text], ['red', 'tenant-webhook.status.failing']);

    down = false;
    const delivered = nextInput('ok');
    await host.publish('tenant1', { topic: 'sensors/x', payload: 'back' });
    await delivered;
    assert.deepEqual(warnings(), ['tenant-webhook.warn.failing', 'tenant-webhook.warn.recovered']);
    assert.equal(node.status.lastCall.args[0].fill, 'green');
  });

  it('delivers an input message ad hoc and answers with that message', async () => {
    await start({});
    const delivered = nextInput('ok');
    helper.getNode('w1').receive({ payload: { hello: 'world' }, topic: 'manual/test', _msgid: 'm1', extra: 42 } as never);
    const msg = await delivered;
    assert.equal((msg as { extra?: number }).extra, 42);
    const [request] = await sink.waitFor(1);
    assert.equal(request.body.toString(), '{"hello":"world"}');
    assert.equal(request.headers['x-mqtt-topic'], 'tenant1/manual/test');
  });

  it('is removed from the broker on close', async () => {
    const host = await start({});
    assert.equal(host.webhooks.has('node:w1'), true);
    await helper.unload();
    assert.equal(host.webhooks.has('node:w1'), false);
  });
});
