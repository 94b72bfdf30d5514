import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Aedes } from 'aedes';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createSqlitePersistence, type SqlitePersistence } from '../../src/persistence/sqlite-persistence';
import { Workspace } from './helpers';

/** A real aedes 1.x on 127.0.0.1:0 whose state lives in the workspace's database file. */
interface RunningBroker {
  url: string;
  aedes: Aedes;
  persistence: SqlitePersistence;
  stop(): Promise<void>;
}

async function startBroker(file: string): Promise<RunningBroker> {
  const { Aedes } = await import('aedes');
  const persistence = createSqlitePersistence({ path: file });
  const aedes = await Aedes.createBroker({ persistence });
  const server: Server = createServer((socket) => aedes.handle(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    aedes,
    persistence,
    async stop() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await persistence.destroy();
    },
  };
}

async function connect(url: string, opts: IClientOptions): Promise<{ client: MqttClient; sessionPresent: boolean }> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, ...opts });
  return new Promise((resolve, reject) => {
    client.once('connect', (connack) => resolve({ client, sessionPresent: connack.sessionPresent }));
    client.once('error', reject);
  });
}

function nextMessages(client: MqttClient, count: number): Promise<Array<[string, string]>> {
  return new Promise((resolve) => {
    const received: Array<[string, string]> = [];
    client.on('message', (topic, payload) => {
      received.push([topic, payload.toString()]);
      if (received.length === count) resolve(received);
    });
  });
}

describe('SqlitePersistence under aedes, across a broker restart', () => {
  let ws: Workspace;
  let broker: RunningBroker | undefined;
  const clients: MqttClient[] = [];
  beforeEach(() => {
    ws = new Workspace();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await broker?.stop();
    broker = undefined;
    await ws.cleanup();
  });

  it('delivers the offline queue of a persistent session and the retained messages after restart', async () => {
    broker = await startBroker(ws.file);
    const first = await connect(broker.url, { clientId: 'acme:sub', clean: false });
    await first.client.subscribeAsync('acme/data/#', { qos: 1 });
    await first.client.endAsync();

    const pub = await connect(broker.url, { clientId: 'acme:pub' });
    for (let i = 1; i <= 3; i++) await pub.client.publishAsync(`acme/data/${i}`, `m${i}`, { qos: 1 });
    await pub.client.publishAsync('acme/status', 'up', { qos: 1, retain: true });
    await pub.client.endAsync();

    await broker.stop();
    broker = await startBroker(ws.file);

    const back = await connect(broker.url, { clientId: 'acme:sub', clean: false });
    clients.push(back.client);
    assert.equal(back.sessionPresent, true, '[MQTT-3.2.2-2] the stored session is resumed');
    assert.deepEqual(await nextMessages(back.client, 3), [
      ['acme/data/1', 'm1'],
      ['acme/data/2', 'm2'],
      ['acme/data/3', 'm3'],
    ]);

    const fresh = await connect(broker.url, { clientId: 'acme:fresh' });
    clients.push(fresh.client);
    const retainedMessage = nextMessages(fresh.client, 1);
    await fresh.client.subscribeAsync('acme/status', { qos: 1 });
    assert.deepEqual(await retainedMessage, [['acme/status', 'up']]);
  });
});
