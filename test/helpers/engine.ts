import { BrokerHost, type BoundAddresses, type BrokerHostOptions } from '../../src';
import { connect, type TestClient } from './mqtt';
import { tempDir } from './tmp';

export interface RunningEngine {
  host: BrokerHost;
  addresses: BoundAddresses;
  mqttUrl: string;
  wsUrl: string;
  dbPath: string;
  stop(): Promise<void>;
}

/**
 * An engine on 127.0.0.1 with ephemeral ports and a real SQLite file in a temp
 * dir, with demo tenants `acme` (prefix) and `globex` (mountpoint) unless told
 * otherwise.
 */
export async function startEngine(options: Partial<BrokerHostOptions> & { tenants?: boolean } = {}): Promise<RunningEngine> {
  const tmp = tempDir();
  const dbPath = tmp.file('registry.db');
  const host = new BrokerHost({
    mqtt: { port: 0, host: '127.0.0.1' },
    ws: { port: 0, host: '127.0.0.1', path: '/ws' },
    database: dbPath,
    rootPassword: 'rootpw',
    ...options,
  });
  if (options.tenants !== false) {
    await host.registry.addTenant({ username: 'acme', password: 'acme-pw', isolation: 'prefix' });
    await host.registry.addTenant({ username: 'globex', password: 'globex-pw', isolation: 'mountpoint' });
  }
  const addresses = await host.start();
  return {
    host,
    addresses,
    mqttUrl: `mqtt://127.0.0.1:${addresses.mqtt?.port}`,
    wsUrl: `ws://127.0.0.1:${addresses.ws?.port}/ws`,
    dbPath,
    async stop() {
      await host.close();
      tmp.remove();
    },
  };
}

/**
 * Registers beforeEach/afterEach that start an engine (see startEngine) and
 * close it with every client a test opened through `as`.
 */
export function engineFixture(options: Parameters<typeof startEngine>[0] = {}) {
  let engine: RunningEngine | undefined;
  const open: TestClient[] = [];
  beforeEach(async () => {
    engine = await startEngine(options);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.end().catch(() => undefined)));
    await engine?.stop();
  });
  return {
    get engine(): RunningEngine {
      return engine!;
    },
    /** Connects as a demo tenant (password `<name>-pw`) or as root (`rootpw`). */
    async as(username: string, options: Record<string, unknown> = {}, url?: string): Promise<TestClient> {
      const password = username === 'root' ? 'rootpw' : `${username}-pw`;
      const client = await connect(url ?? engine!.mqttUrl, { username, password, ...options });
      open.push(client);
      return client;
    },
  };
}
