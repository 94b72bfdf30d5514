import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

/** A connected mqtt.js client plus everything it has received, in order. */
export interface TestClient {
  client: MqttClient;
  inbox: Received[];
  /** The CONNACK's session-present flag. */
  sessionPresent: boolean;
  /** Resolves with the first received message (already received or future) that matches. */
  waitFor(predicate: (m: Received) => boolean): Promise<Received>;
  subscribe(filter: string | string[], qos?: 0 | 1 | 2): Promise<number[]>;
  publish(topic: string, payload: string | Buffer, opts?: { qos?: 0 | 1 | 2; retain?: boolean }): Promise<void>;
  end(): Promise<void>;
}

/** Connects with reconnects off; rejects with the error (its `code` is the CONNACK code) when refused. */
export function connect(url: string, options: IClientOptions = {}): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...options });
    const inbox: Received[] = [];
    const waiters: Array<{ predicate: (m: Received) => boolean; resolve: (m: Received) => void }> = [];
    client.on('message', (topic, payload, packet) => {
      const message = { topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain };
      inbox.push(message);
      for (const waiter of [...waiters]) {
        if (waiter.predicate(message)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(message);
        }
      }
    });
    const fail = (err: Error) => {
      client.end(true);
      reject(err);
    };
    client.once('error', fail);
    client.once('close', () => fail(Object.assign(new Error('connection closed before CONNACK'), { code: 'closed' })));
    client.once('connect', (connack) => {
      client.removeListener('error', fail);
      client.removeAllListeners('close');
      client.on('error', () => undefined);
      resolve({
        client,
        inbox,
        sessionPresent: Boolean(connack.sessionPresent),
        waitFor(predicate) {
          const found = inbox.find(predicate);
          if (found) return Promise.resolve(found);
          return new Promise((res) => waiters.push({ predicate, resolve: res }));
        },
        subscribe(filter, qos = 0) {
          return new Promise((res, rej) =>
            // mqtt.js 5 reports a SUBACK with 0x80 as an error carrying the packet
            client.subscribe(filter, { qos }, (err, granted) => {
              const suback = (err as { packet?: { granted?: number[] } } | null)?.packet;
              if (suback?.granted) return res(suback.granted);
              return err ? rej(err) : res((granted ?? []).map((g) => g.qos));
            }),
          );
        },
        publish(topic, payload, opts = {}) {
          return new Promise((res, rej) => client.publish(topic, payload, { qos: opts.qos ?? 1, retain: opts.retain ?? false }, (err) => (err ? rej(err) : res())));
        },
        end() {
          if (!client.connected || client.stream?.destroyed) {
            client.end(true);
            return Promise.resolve();
          }
          return new Promise((res) => client.end(false, {}, () => res()));
        },
      });
    });
  });
}

/** The CONNACK return code a CONNECT with these options gets (0 when accepted). */
export async function connackCode(url: string, options: IClientOptions = {}): Promise<number | string> {
  try {
    const c = await connect(url, options);
    await c.end();
    return 0;
  } catch (err) {
    return (err as { code?: number | string }).code ?? 'error';
  }
}

/** Resolves when the client's connection closes (for a broker-initiated disconnect). */
export function closed(client: MqttClient): Promise<void> {
  if (!client.connected) return Promise.resolve();
  return new Promise((resolve) => client.once('close', () => resolve()));
}
