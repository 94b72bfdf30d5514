import { BrokerHost, type BoundAddresses, type BrokerHostOptions } from '../../src';
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
