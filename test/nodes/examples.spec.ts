import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrokerHost } from '../../src';
import { connect } from '../helpers/mqtt';
import { brokerOf, helper, loadNode, nodeRedFixture } from '../helpers/nodes';
import type { tempDir } from '../helpers/tmp';

const ours = (['tenant-broker', 'tenant-in', 'tenant-out', 'tenant-webhook', 'tenant-admin', 'tenant-auth'] as const).map(loadNode);
// the core nodes the examples use, as Node-RED ships them
// eslint-disable-next-line @typescript-eslint/no-require-imports
const core = ['common/20-inject.js', 'common/90-comment.js', 'common/21-debug.js', 'function/10-function.js', 'function/10-switch.js', 'function/15-change.js', 'network/21-httpin.js'].map((file) => require(`@node-red/nodes/core/${file}`));

type FlowNode = { id: string; type: string; [key: string]: unknown };

const examplesDir = join(__dirname, '../../examples');
const examples = readdirSync(examplesDir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({ name: file.replace(/\.json$/, ''), flow: JSON.parse(readFileSync(join(examplesDir, file), 'utf8')) as FlowNode[] }));

/** What a tenant gets when it is added without limits: the broker node's defaults. */
const DEFAULT_LIMITS = {
  maxConnections: 0,
  maxMsgsPerSec: 0,
  maxTenantMsgsPerSec: 0,
  maxPayloadBytes: 0,
  maxQos: 2,
  allowRetain: true,
  maxSubscriptions: 1000,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 64 * 1024 * 1024,
  maxRetainedMessages: 10_000,
  maxRetainedBytes: 64 * 1024 * 1024,
};

/**
 * The broker as the 0.1.0 editor saved an example's: every text field it
 * lacked written blank, "Allow retained messages" false, the selects left out.
 */
function savedBy010Dialog(broker: FlowNode): FlowNode {
  const saved: FlowNode = { ...broker, defaultAllowRetain: false };
  for (const key of ['defaultMaxMsgsPerSec', 'defaultMaxTenantMsgsPerSec', 'defaultMaxPayloadBytes', 'defaultMaxSubscriptions', 'maxPacketBytes', 'maxOfflinePerClient', 'maxOfflinePerTenant', 'sessionExpiry']) {
    if (!(key in broker)) saved[key] = '';
  }
  return saved;
}

describe('examples as shipped, in Node-RED', function () {
  const fixture = nodeRedFixture();
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = fixture.tmp));

  /** Loads a flow with its broker on ephemeral loopback ports and a temp registry: nothing else changed. */
  async function run(flow: FlowNode[]): Promise<BrokerHost> {
    const loaded = flow.map((node) => {
      if (node.type === 'tenant-broker') return { ...node, tcpPort: '0', tcpHost: '127.0.0.1', wsPort: '0', wsHost: '127.0.0.1', database: tmp.file('r.db') };
      if (node.type === 'tenant-admin') return { ...node, port: '0' };
      return node;
    });
    await helper.load([...ours, ...core], loaded as never);
    const broker = loaded.find((n) => n.type === 'tenant-broker');
    assert.ok(broker, 'the example has no broker');
    return brokerOf(broker.id);
  }

  /** The broker's settings in effect: each one the example leaves out is its default. */
  async function assertDefaultsInEffect(host: BrokerHost): Promise<void> {
    const tenant = await host.registry.addTenant({ username: 'fresh', password: 'pw' });
    assert.deepEqual(
      Object.fromEntries(Object.keys(DEFAULT_LIMITS).map((key) => [key, tenant[key as keyof typeof tenant]])),
      DEFAULT_LIMITS,
      'a new tenant does not get the default limits',
    );
    assert.equal(tenant.isolation, 'prefix');
    const listeners = (host as unknown as { servers: unknown[] }).servers;
    assert.equal(listeners.length, 2, 'MQTT over WebSocket is not listening');
    assert.equal(host.stats().persistence?.store, 'sqlite', 'sessions and retained messages are not kept in SQLite');
  }

  it('06 Device presence: keeps the online devices of tenant2 from its lifecycle events', async () => {
    const flow = examples.find((e) => e.name === '06 Device presence')!.flow;
    const host = await run(flow.map((n) => (n.type === 'debug' ? { ...n, type: 'helper' } : n)));
    await host.registry.addTenant({ username: 'tenant2', password: 'secret2', isolation: 'mountpoint' });
    const debug = helper.getNode('dp-debug');
    const changes: Array<{ payload: { change: string; device: string; online: string[] } }> = [];
    (debug as unknown as import('node:events').EventEmitter).on('input', (msg: (typeof changes)[number]) => void changes.push(msg));
    const address = (host as unknown as { addresses: { mqtt: { port: number } } }).addresses.mqtt.port;
    const device = await connect(`mqtt://127.0.0.1:${address}`, { username: 'tenant2', password: 'secret2', clientId: 'sensor-7' });
    while (changes.length < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    await device.end();
    while (changes.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    // the function node's objects come from its sandbox: compare them as JSON
    assert.deepEqual(
      JSON.parse(JSON.stringify(changes.map((m) => [m.payload.change, m.payload.device, m.payload.online]))),
      [
        ['online', 'tenant2/sensor-7', ['tenant2/sensor-7']],
        ['offline (client)', 'tenant2/sensor-7', []],
      ],
    );
  });

  for (const { name, flow } of examples) {
    it(`${name}: every field it leaves out is in effect as its default`, async () => {
      await assertDefaultsInEffect(await run(flow));
    });

    it(`${name}: saved by the 0.1.0 broker dialog, it still has its defaults`, async () => {
      await assertDefaultsInEffect(await run(flow.map((n) => (n.type === 'tenant-broker' ? savedBy010Dialog(n) : n))));
    });
  }
});
