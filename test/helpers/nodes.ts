import helper from 'node-red-node-test-helper';
import type { NodeAPI } from 'node-red';
import type { BrokerHost } from '../../src';
import { tempDir } from './tmp';

export type NodeInitializer = (RED: NodeAPI) => void;

/**
 * The BUILT node, exactly what Node-RED loads. Node-RED unwraps an ES module
 * `default` itself; the test helper calls the export directly, so unwrap here.
 */
export function loadNode(type: 'tenant-broker' | 'tenant-in' | 'tenant-out' | 'tenant-webhook' | 'tenant-admin' | 'tenant-auth'): NodeInitializer {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(`../../dist/nodes/${type}.js`).default as NodeInitializer;
}

helper.init(require.resolve('node-red'));

export { helper };

/** The engine of a loaded tenant-broker config node, once it listens. */
export function brokerOf(id: string): Promise<BrokerHost> {
  const node = helper.getNode(id) as unknown as { ready: Promise<BrokerHost> } | null;
  if (!node) throw new Error(`no node ${id}`);
  return node.ready;
}

/** A tenant-broker config node on ephemeral loopback ports with its registry in `database`. */
export function brokerConfig(id: string, database: string, extra: Record<string, unknown> = {}): { id: string; type: string; [key: string]: unknown } {
  return { id, type: 'tenant-broker', name: 'test broker', tcpPort: '0', tcpHost: '127.0.0.1', wsEnabled: true, wsPort: '0', wsHost: '127.0.0.1', wsPath: '/ws', database, defaultIsolation: 'prefix', ...extra };
}

/**
 * Registers beforeEach/afterEach that start the test helper's Node-RED server
 * with a fresh temp dir, and unload the flow, stop the server and remove the
 * dir after each test. `tmp` is that test's dir.
 */
export function nodeRedFixture() {
  let tmp: ReturnType<typeof tempDir> | undefined;
  beforeEach((done) => {
    tmp = tempDir();
    helper.startServer(done);
  });
  afterEach(async () => {
    await helper.unload();
    await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
    tmp?.remove();
  });
  return {
    get tmp(): ReturnType<typeof tempDir> {
      return tmp!;
    },
  };
}
