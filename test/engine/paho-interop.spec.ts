import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { startEngine, type RunningEngine } from '../helpers/engine';
import { connectPacket, emptyIdPersistentConnect, rawConnect } from '../helpers/raw-mqtt';
import { until } from '../helpers/until';

/**
 * The Eclipse Paho MQTT 3.1.1 interoperability suite (eclipse/paho.mqtt.testing,
 * interoperability/client_test.py), ported test by test to mqtt.js with the
 * suite's own topics, client identifiers, clean-up and expectations, and run as
 * a device of a mountpoint tenant whose one role is
 * `[deny subscribe test/nosubscribe, allow all #]`: the suite's client sends
 * the device's username and password in every CONNECT.
 *
 * The suite waits with sleeps; here each wait is for the effect itself (the
 * expected messages, bounded), and "no more than that" is proven with a
 * sentinel published after them that must arrive first. Sentinels are kept
 * out of the messages the suite counts.
 *
 * Where the suite's mqtt client does what mqtt.js does not: `pause()` (a
 * receiver that ignores PUBLISH packets without acknowledging them) is
 * mqtt.js' `customHandleAcks` failing while paused, which drops the packet
 * unacknowledged; a client that never sends PINGREQ is mqtt.js with a timer
 * that never fires; an empty client identifier without clean session, which
 * mqtt.js refuses to send, is written as bytes.
 */

// the suite's globals (client_test.py, __main__)
const topics = ['TopicA', 'TopicA/B', 'Topic/C', 'TopicA/C', '/TopicA'] as const;
const wildtopics = ['TopicA/+', '+/C', '#', '/#', '/+', '+/+', 'TopicA/#'] as const;
const nosubscribeTopics = ['test/nosubscribe'] as const;

const DEVICE = 'paho-device';
const PASSWORD = 'paho-device-pw';
const SENTINEL = 'sentinel-';

/** The suite's Callbacks: what one client has received, in order. */
class Callbacks {
  messages: Array<{ topic: string; payload: string; qos: number; retained: boolean }> = [];
  subscribeds: number[][] = [];
  unsubscribeds = 0;
  /** Sentinels arrived (never counted in `messages`). */
  sentinels: string[] = [];
  clear(): void {
    this.messages = [];
    this.subscribeds = [];
    this.unsubscribeds = 0;
    this.sentinels = [];
  }
}

interface ConnectOptions {
  cleansession?: boolean;
  keepalive?: number;
  will?: { topic: string; payload: string };
}

/** The suite's mqtt client (mqtt/clients/V311/main.py) over mqtt.js, logging in as the device. */
class PahoClient {
  private client: MqttClient | null = null;
  private paused = false;
  /** PUBLISH packets a paused client received and ignored. */
  ignored = 0;

  constructor(
    private readonly engine: () => RunningEngine,
    readonly clientid: string,
    readonly callback: Callbacks | null,
  ) {}

  /** Resolves with the CONNACK's session-present flag; rejects when refused, as the suite's connect raises. */
  connect(options: ConnectOptions = {}): Promise<{ sessionPresent: boolean }> {
    const { cleansession = true, keepalive = 0, will } = options;
    const mqttOptions: IClientOptions = {
      clientId: this.clientid,
      clean: cleansession,
      keepalive,
      username: DEVICE,
      password: PASSWORD,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      // the suite's client has no pinger: keepalive is only what CONNECT announces
      timerVariant: { set: () => 0, clear: () => undefined },
      // the suite's default will: QoS 2, not retained
      ...(will ? { will: { topic: will.topic, payload: Buffer.from(will.payload), qos: 2 as const, retain: false } } : {}),
    };
    return new Promise((resolve, reject) => {
      const client = mqtt.connect(this.engine().mqttUrl, mqttOptions);
      // the suite's paused receiver: a QoS 1 or 2 PUBLISH is neither acknowledged nor passed on. mqtt.js takes
      // customHandleAcks from connect() for MQTT 5 only, but reads it from the client's options for every packet
      client.options.customHandleAcks = (_topic, _message, _packet, done) => {
        if (!this.paused) return done(0);
        this.ignored++;
        done(new Error('paused'));
      };
      const fail = (err: Error) => {
        client.end(true);
        reject(err);
      };
      client.once('error', fail);
      client.once('close', () => fail(new Error('connect failed - socket closed, no connack')));
      client.once('connect', (connack) => {
        client.removeListener('error', fail);
        client.removeAllListeners('close');
        client.on('error', () => undefined);
        client.on('message', (topic, payload, packet) => {
          if (this.paused) return;
          const text = payload.toString();
          if (text.startsWith(SENTINEL)) this.callback?.sentinels.push(text);
          else this.callback?.messages.push({ topic, payload: text, qos: packet.qos, retained: packet.retain });
        });
        this.client = client;
        resolve({ sessionPresent: Boolean(connack.sessionPresent) });
      });
    });
  }

  private get connected(): MqttClient {
    assert.ok(this.client, `${this.clientid} is not connected`);
    return this.client;
  }

  /** One SUBSCRIBE; resolves on its SUBACK, recorded as the suite's `subscribeds`. */
  subscribe(filters: readonly string[], qoss: Array<0 | 1 | 2>): Promise<number[]> {
    const client = this.connected;
    return new Promise((resolve, reject) => {
      client.subscribe(
        Object.fromEntries(filters.map((topic, i) => [topic, { qos: qoss[i] }])),
        (err, granted) => {
          // mqtt.js reports a SUBACK holding 0x80 as an error carrying the packet
          const suback = (err as { packet?: { granted?: number[] } } | null)?.packet?.granted;
          if (err && !suback) return reject(err);
          const codes = suback ?? (granted ?? []).map((g) => g.qos);
          this.callback?.subscribeds.push(codes);
          resolve(codes);
        },
      );
    });
  }

  unsubscribe(filters: readonly string[]): Promise<void> {
    const client = this.connected;
    return new Promise((resolve, reject) =>
      client.unsubscribe([...filters], (err) => {
        if (err) return reject(err);
        if (this.callback) this.callback.unsubscribeds++;
        resolve();
      }),
    );
  }

  /** Resolves once the QoS exchange is complete (the suite's disconnect waits for that). */
  publish(topic: string, payload: string, qos: 0 | 1 | 2 = 0, retained = false): Promise<void> {
    const client = this.connected;
    return new Promise((resolve, reject) => client.publish(topic, payload, { qos, retain: retained }, (err) => (err ? reject(err) : resolve())));
  }

  /** DISCONNECT, then the socket closes. */
  disconnect(): Promise<void> {
    const client = this.connected;
    this.client = null;
    return new Promise((resolve) => client.end(false, {}, () => resolve()));
  }

  /** The socket goes without DISCONNECT: the will is published. */
  terminate(): void {
    const client = this.connected;
    this.client = null;
    client.stream.destroy();
    client.end(true);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  close(): void {
    this.client?.end(true);
    this.client = null;
  }
}

for (const namespace of ['interop', 'tenants/interop']) {
  describe(`Eclipse Paho 3.1.1 interoperability suite, as a device of a mountpoint tenant (namespace "${namespace}") with [deny subscribe test/nosubscribe, allow all #]`, () => {
    let engine: RunningEngine;
    const clients: PahoClient[] = [];
    let callback: Callbacks;
    let callback2: Callbacks;
    let aclient: PahoClient;
    let bclient: PahoClient;

    const client = (clientid: string, cb: Callbacks | null) => {
      const c = new PahoClient(() => engine, clientid, cb);
      clients.push(c);
      return c;
    };

    /** Publishes a sentinel into the tenant (on a topic the client's subscriptions match) and waits for it. */
    async function sentinel(cb: Callbacks, topic: string): Promise<void> {
      const marker = SENTINEL + randomUUID();
      await engine.host.publish('interop', { topic, payload: marker, qos: 1 });
      await until(`sentinel on ${topic}`, () => cb.sentinels.includes(marker));
    }

    const atLeast = (cb: Callbacks, n: number) => until(`${n} messages`, () => cb.messages.length >= n);

    /** The suite's cleanup(): clean sessions of both client ids, then delete every retained message. */
    async function cleanup(): Promise<void> {
      for (const clientid of ['myclientid', 'myclientid2']) {
        const curclient = client(clientid, null);
        await curclient.connect({ cleansession: true });
        await curclient.disconnect();
      }
      for (;;) {
        const found = new Callbacks();
        const curclient = client('clean retained', found);
        await curclient.connect({ cleansession: true });
        await curclient.subscribe(['#'], [0]);
        await sentinel(found, 'cleanup/sentinel'); // instead of "wait for all retained messages to arrive"
        const retained = found.messages.filter((m) => m.retained);
        for (const message of retained) await curclient.publish(message.topic, '', 0, true);
        await curclient.disconnect();
        // the suite cleans once; here it runs until a pass finds nothing, so each test starts clean
        if (retained.length === 0) return;
      }
    }

    before(async () => {
      engine = await startEngine({ tenants: false });
      const registry = engine.host.registry;
      await registry.addTenant({ username: 'interop', password: 'interop-pw', isolation: 'mountpoint', namespace });
      registry.devices.setRole('interop', 'interop', [
        { permission: 'deny', action: 'subscribe', topic: nosubscribeTopics[0] },
        { permission: 'allow', action: 'all', topic: '#' },
      ], 'add');
      await registry.devices.add({ tenant: 'interop', username: DEVICE, password: PASSWORD, roles: ['interop'] });
    });
    after(async () => {
      await engine?.stop();
    });
    // the suite's setUpClass, with its cleanup before every test so each stands alone
    beforeEach(async () => {
      await cleanup();
      callback = new Callbacks();
      callback2 = new Callbacks();
      aclient = client('myclientid', callback);
      bclient = client('myclientid2', callback2);
    });
    afterEach(() => {
      for (const c of clients.splice(0)) c.close();
    });

    it('testBasic (the suite\'s first test, besides the ten)', async () => {
      await aclient.connect();
      await aclient.disconnect();
      const connack = await aclient.connect();
      assert.equal(connack.sessionPresent, false);
      await aclient.subscribe([topics[0]], [2]);
      await aclient.publish(topics[0], 'qos 0');
      await aclient.publish(topics[0], 'qos 1', 1);
      await aclient.publish(topics[0], 'qos 2', 2);
      await atLeast(callback, 3);
      await sentinel(callback, topics[0]);
      await aclient.disconnect();
      assert.equal(callback.messages.length, 3);
      assert.deepEqual(callback.messages.map((m) => m.topic), [topics[0], topics[0], topics[0]]);

      // a second CONNECT on one socket fails [MQTT-3.1.0-2]; so does a wrong protocol name [MQTT-3.1.2-1]
      const port = engine.addresses.mqtt!.port;
      const twice = await rawConnect(port);
      twice.send(connectPacket({ clientId: 'myclientid', username: DEVICE, password: Buffer.from(PASSWORD) }));
      assert.equal(((await twice.next('connack')) as { returnCode: number }).returnCode, 0);
      twice.send(connectPacket({ clientId: 'myclientid', username: DEVICE, password: Buffer.from(PASSWORD) }));
      await twice.closed;
      assert.equal(twice.packets.filter((p) => p.cmd === 'connack').length, 1);
      const wrongName = await rawConnect(port);
      wrongName.sendBytes(Buffer.from(mqttPacket.generate(connectPacket({ protocolId: 'hj', clientId: 'myclientid', username: DEVICE, password: Buffer.from(PASSWORD) }) as unknown as Packet)));
      await wrongName.closed;
      assert.ok(!wrongName.packets.some((p) => p.cmd === 'connack' && (p as { returnCode: number }).returnCode === 0));
    });

    it('test_retained_messages', async () => {
      callback.clear();
      let connack = await aclient.connect({ cleansession: true });
      assert.equal(connack.sessionPresent, false);
      await aclient.publish(topics[1], 'qos 0', 0, true);
      await aclient.publish(topics[2], 'qos 1', 1, true);
      await aclient.publish(topics[3], 'qos 2', 2, true);
      await aclient.subscribe([wildtopics[5]], [2]);
      await atLeast(callback, 3);
      await sentinel(callback, 'sentinel/x');
      await aclient.disconnect();
      assert.equal(callback.messages.length, 3);
      // beyond the suite: in the device's view, without the namespace
      assert.deepEqual(callback.messages.map((m) => [m.topic, m.retained]).sort(), [[topics[1], true], [topics[2], true], [topics[3], true]].sort());

      // clear retained messages
      callback.clear();
      connack = await aclient.connect({ cleansession: true });
      assert.equal(connack.sessionPresent, false);
      await aclient.publish(topics[1], '', 0, true);
      await aclient.publish(topics[2], '', 1, true);
      await aclient.publish(topics[3], '', 2, true);
      await aclient.subscribe([wildtopics[5]], [2]);
      await sentinel(callback, 'sentinel/x');
      await aclient.disconnect();
      assert.deepEqual(callback.messages, []);
    });

    it('test_zero_length_clientid', async () => {
      // cleansession false: rejected (CONNACK 2) [MQTT-3.1.3-8]
      const raw = await rawConnect(engine.addresses.mqtt!.port);
      raw.sendBytes(emptyIdPersistentConnect(DEVICE, PASSWORD));
      assert.equal(((await raw.next('connack')) as { returnCode: number }).returnCode, 2);
      await raw.closed;
      // cleansession true: works [MQTT-3.1.3-6]
      const client0 = client('', null);
      await client0.connect({ cleansession: true });
      await client0.disconnect();
    });

    it('test_will_message (will_message_test)', async () => {
      callback2.clear();
      assert.equal(callback2.messages.length, 0);
      const connack = await aclient.connect({ cleansession: true, will: { topic: topics[2], payload: 'client not disconnected' }, keepalive: 2 });
      assert.equal(connack.sessionPresent, false);
      await bclient.connect({ cleansession: false });
      await bclient.subscribe([topics[2]], [2]);
      aclient.terminate();
      await atLeast(callback2, 1);
      await sentinel(callback2, topics[2]);
      await bclient.disconnect();
      assert.equal(callback2.messages.length, 1);
      assert.deepEqual(callback2.messages[0], { topic: topics[2], payload: 'client not disconnected', qos: 2, retained: false });
    });

    it('test_offline_message_queueing', async function () {
      callback.clear();
      await aclient.connect({ cleansession: false });
      await aclient.subscribe([wildtopics[5]], [2]);
      await aclient.disconnect();

      let connack = await bclient.connect({ cleansession: true });
      assert.equal(connack.sessionPresent, false);
      await bclient.publish(topics[1], 'qos 0', 0);
      await bclient.publish(topics[2], 'qos 1', 1);
      await bclient.publish(topics[3], 'qos 2', 2);
      await bclient.disconnect();

      connack = await aclient.connect({ cleansession: false });
      assert.equal(connack.sessionPresent, true);
      await atLeast(callback, 2);
      await sentinel(callback, 'sentinel/x');
      await aclient.disconnect();
      // the suite accepts both: whether QoS 0 messages are queued for an offline client is the server's choice
      assert.ok([2, 3].includes(callback.messages.length), JSON.stringify(callback.messages));
      this.test!.title += `: ${callback.messages.length} messages (this server ${callback.messages.length === 3 ? 'is' : 'is not'} queueing QoS 0 messages for offline clients)`;
    });

    it('test_overlapping_subscriptions', async function () {
      callback.clear();
      callback2.clear();
      await aclient.connect();
      await aclient.subscribe([wildtopics[6], wildtopics[0]], [2, 1]);
      await aclient.publish(topics[3], 'overlapping topic filters', 2);
      await atLeast(callback, 1);
      await sentinel(callback, 'TopicA/sentinel');
      // the suite accepts both: one message at the highest QoS of the matching subscriptions, or one per subscription
      const qoss = callback.messages.map((m) => m.qos);
      assert.ok([1, 2].includes(qoss.length), JSON.stringify(callback.messages));
      if (qoss.length === 1) assert.equal(qoss[0], 2);
      else assert.deepEqual([...qoss].sort(), [1, 2]);
      await aclient.disconnect();
      this.test!.title += qoss.length === 1 ? ': one message for all matching overlapping subscriptions, at QoS 2' : ': one message per matching subscription';
    });

    it('test_keepalive', async () => {
      callback2.clear();
      // the suite announces 5 s and waits 15; 2 s (the broker closes after 1.5 times that) keeps the expectation and the run short
      await aclient.connect({ cleansession: true, keepalive: 2, will: { topic: topics[4], payload: 'keepalive expiry' } });
      await bclient.connect({ cleansession: true, keepalive: 0 });
      await bclient.subscribe([topics[4]], [2]);
      await atLeast(callback2, 1);
      await sentinel(callback2, topics[4]);
      await bclient.disconnect();
      assert.equal(callback2.messages.length, 1);
      assert.deepEqual(callback2.messages[0], { topic: topics[4], payload: 'keepalive expiry', qos: 2, retained: false });
    });

    it('test_redelivery_on_reconnect', async () => {
      callback.clear();
      callback2.clear();
      await bclient.connect({ cleansession: false });
      await bclient.subscribe([wildtopics[6]], [2]);
      bclient.pause(); // stops responding to incoming publishes
      await bclient.publish(topics[1], '', 1, false);
      await bclient.publish(topics[3], '', 2, false);
      await until('both deliveries reached the paused client', () => bclient.ignored === 2);
      await bclient.disconnect();
      assert.equal(callback2.messages.length, 0);
      bclient.resume();
      await bclient.connect({ cleansession: false });
      await atLeast(callback2, 2);
      await sentinel(callback2, 'TopicA/sentinel');
      assert.equal(callback2.messages.length, 2);
      assert.deepEqual(callback2.messages.map((m) => [m.topic, m.qos]).sort(), [[topics[1], 1], [topics[3], 2]]);
      await bclient.disconnect();
    });

    it('test_subscribe_failure', async () => {
      callback.clear();
      await aclient.connect();
      await aclient.subscribe([nosubscribeTopics[0]], [2]);
      // subscribeds is a list of [qos]
      assert.equal(callback.subscribeds[0][0], 0x80);
    });

    it('test_dollar_topics', async () => {
      callback2.clear();
      await bclient.connect({ cleansession: true, keepalive: 0 });
      await bclient.subscribe([wildtopics[5]], [2]);
      await sentinel(callback2, 'sentinel/x'); // "wait for all retained messages, hopefully"
      callback2.clear();
      await bclient.publish('$' + topics[1], '', 1, false);
      await sentinel(callback2, 'sentinel/x');
      assert.deepEqual(callback2.messages, []);
      await bclient.disconnect();
    });

    it('test_unsubscribe', async () => {
      callback2.clear();
      await bclient.connect({ cleansession: true });
      await bclient.subscribe([topics[0]], [2]);
      await bclient.subscribe([topics[1]], [2]);
      await bclient.subscribe([topics[2]], [2]);
      // unsubscribed from one topic
      await bclient.unsubscribe([topics[0]]);

      await aclient.connect({ cleansession: true });
      await aclient.publish(topics[0], '', 1, false);
      await aclient.publish(topics[1], '', 1, false);
      await aclient.publish(topics[2], '', 1, false);
      await atLeast(callback2, 2);
      await sentinel(callback2, topics[2]);

      await bclient.disconnect();
      await aclient.disconnect();
      assert.equal(callback2.messages.length, 2);
      assert.deepEqual(callback2.messages.map((m) => m.topic), [topics[1], topics[2]]);
    });
  });
}
