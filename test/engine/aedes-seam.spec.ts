import assert from 'node:assert/strict';
import type { Aedes, AedesOptions, Client, PublishPacket, Subscription } from 'aedes';
import net, { type AddressInfo } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import {
  brokerCounter,
  clientOfStream,
  connectedClients,
  discard,
  fitWire,
  hasConnectedClient,
  hasSubscriptionMatching,
  isOwnWill,
  keepWillsStored,
  onBrokerError,
  pendingWillOf,
  persistenceOf,
  publisherIdOf,
  setBrokerCounter,
  stampPublisher,
  storeOnlyGranted,
  type ParsedPacket,
  type Wire,
} from '../../src/aedes-seam';
import { connectPacket, rawConnect, type RawConnection } from '../helpers/raw-mqtt';
import { once } from 'node:events';
import { dropWill, isInflightOverflow } from '../../src/aedes-seam';
import { until } from '../helpers/until';
import http from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import { capWebSocketMessages } from '../../src/aedes-seam';

/**
 * One test per assumption the seam makes about aedes and mqtt-packet, each on
 * a bare aedes: an upgrade that renames a field, reorders hooks or changes
 * packet-copy semantics fails here, by name, instead of quietly opening a hole.
 */
describe('aedes seam: the assumptions, one by one', () => {
  let aedes: Aedes;
  let server: net.Server;
  let port = 0;
  const raws: RawConnection[] = [];

  async function start(options: Partial<AedesOptions> = {}, onClient?: (client: Client) => void): Promise<void> {
    const { Aedes } = await import('aedes');
    aedes = await Aedes.createBroker({ concurrency: 0, ...options });
    server = net.createServer((socket) => {
      const client = aedes.handle(socket);
      onClient?.(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  }

  async function raw(clientId: string, extra: Record<string, unknown> = {}): Promise<RawConnection> {
    const connection = await rawConnect(port);
    raws.push(connection);
    connection.send(connectPacket({ clientId, ...extra }));
    await connection.next('connack');
    return connection;
  }

  afterEach(async () => {
    for (const r of raws.splice(0)) r.socket.destroy();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('pendingWillOf: the CONNECT will is on the client while authenticate runs; isOwnWill: aedes publishes that very object', async () => {
    let seen = null as PublishPacket | null;
    let published = null as PublishPacket | null;
    let own = false;
    await start({
      authenticate(client, _u, _p, done) {
        seen = pendingWillOf(client);
        done(null, true);
      },
      authorizePublish(client, packet, callback) {
        published = packet;
        own = client !== null && isOwnWill(client, packet);
        callback(null);
      },
    });
    const r = await raw('w', { will: { topic: 'last/words', payload: Buffer.from('bye'), qos: 0, retain: false } });
    assert.equal(seen!.topic, 'last/words');
    r.socket.destroy(); // no DISCONNECT: aedes publishes the will
    while (!published) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal((published as PublishPacket | null)?.topic, 'last/words');
    assert.equal(own, true);
  });

  it('keepWillsStored: clearing `will` of connected clients keeps aedes from publishing them on close', async () => {
    const published: string[] = [];
    await start({ authorizePublish: (_c, packet, cb) => (published.push(packet.topic), cb(null)) });
    await raw('k', { will: { topic: 'kept', payload: Buffer.from('x'), qos: 0, retain: false } });
    keepWillsStored(aedes);
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(published, []);
    const { Aedes } = await import('aedes');
    aedes = await Aedes.createBroker({}); // for afterEach
  });

  it('connectedClients, clientOfStream: aedes keeps clients by id and links conn to client', async () => {
    let client: Client | null = null;
    await start({}, (c) => (client = c));
    const r = await raw('s');
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/+', qos: 1 }] });
    await r.next('suback');
    assert.equal(connectedClients(aedes).s, client);
    assert.equal(clientOfStream(client!.conn as unknown as import('node:stream').Duplex), client);
    assert.equal(hasConnectedClient(aedes as never, 's'), true);
    assert.equal(hasConnectedClient(aedes as never, 'nobody'), false);
  });

  it('publisherIdOf / stampPublisher: aedes stamps the publisher id on the packets it emits; a stamped in-process packet keeps it', async () => {
    await start();
    const seen: Array<string | undefined> = [];
    await new Promise<void>((resolve) => aedes.subscribe('p/#', (packet, cb) => (seen.push(publisherIdOf(packet)), cb()), resolve));
    const r = await raw('pub');
    r.send({ cmd: 'publish', topic: 'p/1', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    const packet: PublishPacket = { cmd: 'publish', topic: 'p/2', payload: Buffer.from('y'), qos: 0, retain: false, dup: false };
    stampPublisher(packet, 'flow:node-red');
    await new Promise<void>((resolve) => aedes.publish(packet, () => resolve()));
    while (seen.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(seen.sort(), ['flow:node-red', 'pub']);
  });

  it('onBrokerError: aedes emits "error" when persistence fails under a publish (and never completes it)', async () => {
    await start();
    const errors: Error[] = [];
    onBrokerError(aedes, (err) => errors.push(err));
    const persistence = persistenceOf(aedes) as unknown as { subscriptionsByTopic(topic: string): Promise<unknown> };
    persistence.subscriptionsByTopic = () => Promise.reject(new Error('down'));
    aedes.publish({ cmd: 'publish', topic: 'x', payload: Buffer.from('x'), qos: 1, retain: false, dup: false }, () => undefined);
    while (errors.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(errors[0].message, 'down');
  });

  it('persistenceOf: aedes exposes the persistence with the methods the engine uses', async () => {
    await start();
    const persistence = persistenceOf(aedes);
    for (const method of ['streamWill', 'getWill', 'delWill', 'createRetainedStreamCombi', 'addSubscriptions', 'storeRetained'] as const) assert.equal(typeof persistence[method], 'function', method);
  });

  it("persistenceOf(...).storeRetained: an empty payload removes a retained message from aedes' memory persistence; aedes emits 'publish' for what it retains", async () => {
    await start();
    const retained: string[] = [];
    aedes.on('publish', (packet) => {
      if (packet.retain) retained.push(packet.topic);
    });
    await new Promise<void>((resolve) => aedes.publish({ cmd: 'publish', topic: 't/x', payload: Buffer.from('kept'), qos: 0, retain: true, dup: false }, () => resolve()));
    assert.deepEqual(retained, ['t/x']);
    const stored = async () => {
      const found: string[] = [];
      for await (const packet of persistenceOf(aedes).createRetainedStreamCombi(['t/#'])) found.push(packet.topic);
      return found;
    };
    assert.deepEqual(await stored(), ['t/x']);
    await persistenceOf(aedes).storeRetained({ cmd: 'publish', topic: 't/x', payload: Buffer.alloc(0), qos: 0, retain: true });
    assert.deepEqual(await stored(), []);
  });

  it('brokerCounter / setBrokerCounter: aedes numbers stored packets with `counter`', async () => {
    await start();
    const before = brokerCounter(aedes as never);
    assert.equal(typeof before, 'number');
    setBrokerCounter(aedes as never, before! + 1000);
    await new Promise<void>((resolve) => aedes.publish({ cmd: 'publish', topic: 'c', payload: Buffer.from('x'), qos: 1, retain: true, dup: false }, () => resolve()));
    assert.ok(brokerCounter(aedes as never)! > before! + 1000);
  });

  it('storeOnlyGranted: aedes stores the whole packet.subscriptions of a SUBSCRIBE once one filter is granted', async () => {
    const stored: string[][] = [];
    await start({ authorizeSubscribe: (_c, sub, cb) => cb(null, sub.topic === 'no' ? null : sub) });
    const persistence = persistenceOf(aedes);
    const add = persistence.addSubscriptions.bind(persistence);
    persistence.addSubscriptions = (client, subs) => (stored.push(subs.map((s) => s.topic)), add(client, subs));
    const r = await raw('store', { clean: false });
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'yes', qos: 1 }, { topic: 'no', qos: 1 }] });
    assert.deepEqual((await r.next('suback') as { granted: number[] }).granted, [1, 128]);
    // the assumption: aedes hands the refused filter to the persistence too
    assert.ok(stored.some((topics) => topics.includes('no')));
    // and the wrapper keeps it out
    const kept: string[][] = [];
    persistence.addSubscriptions = (client, subs) => (kept.push(subs.map((s) => s.topic)), add(client, subs));
    const refused = new WeakSet<Subscription>();
    storeOnlyGranted(aedes, (sub) => refused.has(sub));
    const wrapped = persistence.addSubscriptions;
    const no = { topic: 'no', qos: 1 } as Subscription;
    refused.add(no);
    await wrapped({ id: 'store' } as Client, [{ topic: 'yes', qos: 1 } as Subscription, no]);
    assert.deepEqual(kept.at(-1), ['yes']);
  });

  it('discard: a publish authorized onto the sink is acknowledged, not retained, and reaches no wildcard subscriber', async () => {
    await start({ authorizePublish: (_c, packet, cb) => (discard(packet), cb(null)) });
    const watcher = await raw('watcher');
    watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '#', qos: 1 }, { topic: '+/discarded', qos: 1 }] });
    await watcher.next('suback');
    const r = await raw('d');
    r.send({ cmd: 'publish', topic: 'gone', payload: Buffer.from('x'), qos: 1, messageId: 3, retain: true, dup: false });
    await r.next('puback');
    const retained: string[] = [];
    for await (const packet of persistenceOf(aedes).createRetainedStreamCombi(['#', '$tenant-broker/#'])) retained.push(packet.topic);
    aedes.publish({ cmd: 'publish', topic: 'sentinel', payload: Buffer.from('s'), qos: 1, retain: false, dup: false }, () => undefined);
    await watcher.next('publish');
    assert.deepEqual(watcher.packets.filter((p) => p.cmd === 'publish').map((p) => (p as { topic: string }).topic), ['sentinel']);
    assert.deepEqual(retained, []);
  });

  describe('the wire (mqtt-packet parser)', () => {
    function wire(overrides: Partial<Wire> = {}): Wire {
      return { maxPacketBytes: () => 1024, packetBytesAlwaysAllowed: 0, isAccepted: () => true, decide: () => undefined, ...overrides };
    }

    it('a length header over the limit is refused as soon as it is read: _parseLength and packet.length', async () => {
      await start({}, (client) => fitWire(client, wire()));
      const r = await rawConnect(port);
      raws.push(r);
      r.send(connectPacket({ clientId: 'big' }));
      await r.next('connack');
      // claims 2 MiB and sends 10 bytes: the parser must refuse on the header alone
      r.sendBytes(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x01, 0, 1, 0x61, 0x62, 0x63]));
      await r.closed;
    });

    it('UTF-8 strings pass through _parseString, whose bytes are _list[_pos - length, _pos)', async () => {
      await start({}, (client) => fitWire(client, wire()));
      const r = await rawConnect(port);
      raws.push(r);
      const bytes = Buffer.from(mqttPacket.generate(connectPacket({ clientId: 'aZ' }) as unknown as Packet));
      bytes[bytes.indexOf(0x5a)] = 0xc3; // a lone UTF-8 lead byte
      r.sendBytes(bytes);
      await r.closed;
      assert.ok(!r.packets.some((p) => p.cmd === 'connack'));
    });

    it('a prepended packet listener runs before aedes handles SUBSCRIBE, and aedes reports the QoS it left (hooks cannot change the SUBACK)', async () => {
      const order: string[] = [];
      await start({ authorizeSubscribe: (_c, sub, cb) => (order.push('hook'), (sub.qos = 0), cb(null, sub)) }, (client) =>
        fitWire(client, wire({ decide: (_c, packet: ParsedPacket) => (order.push('decide'), packet.subscriptions!.forEach((s) => (s.qos = 1))) })),
      );
      const r = await raw('order');
      r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q', qos: 2 }] });
      assert.deepEqual((await r.next('suback') as { granted: number[] }).granted, [1]);
      assert.deepEqual(order, ['decide', 'hook']);
    });

    it('packets pipelined behind CONNECT wait for "connected", which comes after authenticate and before aedes dispatches them', async () => {
      const order: string[] = [];
      let accepted = false;
      await start(
        {
          authenticate: (_c, _u, _p, done) => setTimeout(() => (order.push('authenticate'), (accepted = true), done(null, true)), 20),
          authorizeSubscribe: (_c, sub, cb) => (order.push('dispatch'), cb(null, sub)),
        },
        (client) => fitWire(client, wire({ isAccepted: () => accepted, decide: () => void order.push('decide') })),
      );
      const r = await rawConnect(port);
      raws.push(r);
      r.sendBytes(
        Buffer.concat([
          Buffer.from(mqttPacket.generate(connectPacket({ clientId: 'piped' }) as unknown as Packet)),
          Buffer.from(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'x', qos: 0 }] } as Packet)),
        ]),
      );
      await r.next('suback');
      assert.deepEqual(order, ['authenticate', 'decide', 'dispatch']);
    });

    it('a restored session asks authorizeSubscribe during CONNECT, before "connected", with the stored subscription objects', async () => {
      const events: string[] = [];
      await start({ authorizeSubscribe: (client, sub, cb) => (events.push(`restore ${sub.topic}`), cb(null, sub)) }, (client) => client.once('connected', () => events.push('connected')));
      const first = await raw('sess', { clean: false });
      first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'kept', qos: 1 }] });
      await first.next('suback');
      first.socket.destroy();
      await first.closed;
      events.length = 0;
      await raw('sess', { clean: false });
      while (!events.includes('connected')) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.deepEqual(events, ['restore kept', 'connected']);
    });
  });

  it('authorizeForward: each subscriber gets its own packet copy, so rewriting it in place touches no other delivery', async () => {
    const topics: string[] = [];
    await start({
      authorizeForward(client, packet) {
        const mine = `${client.id}:${packet.topic}`;
        packet.topic = mine;
        return packet;
      },
    });
    const a = await raw('a');
    const b = await raw('b');
    for (const r of [a, b]) {
      r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't', qos: 0 }] });
      await r.next('suback');
    }
    aedes.publish({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, dup: false }, () => undefined);
    for (const r of [a, b]) topics.push(((await r.next('publish')) as { topic: string }).topic);
    assert.deepEqual(topics, ['a:t', 'b:t']);
  });

  it("hasSubscriptionMatching: aedes keeps every subscription, a client's or an in-process one, in mq._matcher (a Qlobber)", async () => {
    await start();
    const topic = '$events/acme/client/connected';
    assert.equal(hasSubscriptionMatching(aedes, topic), false);
    const r = await raw('sub');
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$events/acme/#', qos: 0 }] });
    await r.next('suback');
    assert.equal(hasSubscriptionMatching(aedes, topic), true);
    assert.equal(hasSubscriptionMatching(aedes, '$events/globex/client/connected'), false);
    r.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['$events/acme/#'] });
    await r.next('unsuback');
    await until('the unsubscribed filter is removed', () => !hasSubscriptionMatching(aedes, topic));
    const inProcess = (_packet: unknown, cb: () => void) => cb();
    await new Promise<void>((resolve) => aedes.subscribe('$events/+/client/#', inProcess, resolve));
    assert.equal(hasSubscriptionMatching(aedes, topic), true);
  });

  it("hasSubscriptionMatching: the Qlobber's root is a Map keyed by first levels, wildcards under '+' and '#'", async () => {
    await start();
    const root = (aedes as unknown as { mq: { _matcher: { _trie: unknown } } }).mq._matcher._trie;
    assert.ok(root instanceof Map, 'mq._matcher._trie is a Map');
    const inProcess = (_packet: unknown, cb: () => void) => cb();
    const subscribe = (filter: string) => new Promise<void>((resolve) => aedes.subscribe(filter, inProcess, resolve));
    const unsubscribe = (filter: string) => new Promise<void>((resolve) => aedes.unsubscribe(filter, inProcess, resolve));
    await subscribe('$events/acme/#');
    assert.ok(root.has('$events'));
    assert.equal(hasSubscriptionMatching(aedes, 'other/client/connected'), false);
    for (const filter of ['+/acme/client/connected', '#']) {
      await subscribe(filter);
      assert.ok(root.has(filter[0]), `a filter starting with ${filter[0]} is kept under ${filter[0]}`);
      assert.equal(hasSubscriptionMatching(aedes, 'other/acme/client/connected'), filter === '#' || filter.startsWith('+'), filter);
      await unsubscribe(filter);
      assert.ok(!root.has(filter[0]), `${filter[0]} goes with its last filter`);
    }
    assert.equal(hasSubscriptionMatching(aedes, 'single'), false);
    await subscribe('single');
    assert.equal(hasSubscriptionMatching(aedes, 'single'), true);
  });

  it('the emitter with concurrency 0 never queues: a flood with no subscriber completes every publish in order', async () => {
    await start();
    const mq = (aedes as unknown as { mq: { concurrency: number; length: number } }).mq;
    assert.equal(mq.concurrency, 0);
    let done = 0;
    for (let i = 0; i < 20_000; i++) aedes.publish({ cmd: 'publish', topic: `f/${i}`, payload: Buffer.alloc(1), qos: 0, retain: false, dup: false }, () => done++);
    assert.equal(mq.length, 0);
    while (done < 20_000) await new Promise((resolve) => setImmediate(resolve));
  });
});

/**
 * One test per assumption src/aedes-seam.ts makes about aedes' private
 * behaviour, against bare aedes: an upgrade that breaks one fails here by name.
 */
describe('the aedes seam: assumptions about aedes', () => {
  it('isInflightOverflow: aedes closes a client past maxInflightInbound with an error naming it', async () => {
    const { Aedes } = await import('aedes');
    const aedes = await Aedes.createBroker({ maxInflightInbound: 1 });
    const server = net.createServer((socket) => aedes.handle(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const raw = await rawConnect((server.address() as AddressInfo).port);
      raw.send(connectPacket({ clientId: 'q2' }));
      await raw.next('connack');
      const failed = once(aedes, 'clientError') as Promise<[unknown, Error]>;
      raw.send({ cmd: 'publish', topic: 't', payload: Buffer.from('1'), qos: 2, messageId: 1 });
      raw.send({ cmd: 'publish', topic: 't', payload: Buffer.from('2'), qos: 2, messageId: 2 });
      const [, error] = await failed;
      assert.equal(isInflightOverflow(error), true, error.message);
      assert.equal(isInflightOverflow(new Error('drain timeout')), false);
      await raw.closed;
    } finally {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      server.close();
    }
  });

  it("dropWill: aedes publishes a client's will from client.will when its connection ends without DISCONNECT", async () => {
    const { Aedes } = await import('aedes');
    const aedes = await Aedes.createBroker();
    const server = net.createServer((socket) => aedes.handle(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const published: string[] = [];
    aedes.on('publish', (packet) => {
      if (!packet.topic.startsWith('$SYS')) published.push(packet.topic);
    });
    try {
      const port = (server.address() as AddressInfo).port;
      for (const [clientId, drop] of [['kept', false], ['dropped', true]] as const) {
        const ready = once(aedes, 'clientReady') as Promise<[Parameters<typeof dropWill>[0]]>;
        const raw = await rawConnect(port);
        raw.send(connectPacket({ clientId, will: { topic: `will/${clientId}`, payload: Buffer.from('bye'), qos: 0, retain: false } }));
        const [client] = await ready;
        if (drop) dropWill(client);
        const gone = once(aedes, 'clientDisconnect');
        raw.socket.destroy();
        await gone;
        // a publish after the close, to know the will (published during it) would have come before
        await new Promise<void>((resolve) => aedes.publish({ cmd: 'publish', topic: `after/${clientId}`, payload: Buffer.alloc(0), qos: 0, retain: false, dup: false }, () => resolve()));
        await until(`after/${clientId} published`, () => published.includes(`after/${clientId}`));
      }
      assert.deepEqual(published.sort(), ['after/dropped', 'after/kept', 'will/kept']);
    } finally {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      server.close();
    }
  });
});

/**
 * One test per assumption src/aedes-seam.ts makes about a dependency's
 * private state: an upgrade that breaks one fails here, by name.
 */
describe('the seam: assumptions about private state', () => {
  describe('ws', () => {
    let server: http.Server;
    let wss: WebSocketServer;
    let url: string;
    const serverSide: WebSocket[] = [];
    beforeEach(async () => {
      server = http.createServer();
      wss = new WebSocketServer({ server, maxPayload: 1024 * 1024, perMessageDeflate: false });
      wss.on('connection', (ws) => serverSide.push(ws));
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterEach(async () => {
      for (const ws of serverSide.splice(0)) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => server.close(() => resolve())));
    });

    async function pair(): Promise<{ client: WebSocket; server: WebSocket; received: Buffer[] }> {
      const client = new WebSocket(url);
      client.on('error', () => undefined);
      await once(client, 'open');
      while (serverSide.length === 0) await new Promise((resolve) => setImmediate(resolve));
      const ws = serverSide[serverSide.length - 1];
      const received: Buffer[] = [];
      ws.on('message', (data: Buffer) => received.push(data));
      ws.on('error', () => undefined);
      return { client, server: ws, received };
    }

    it("capWebSocketMessages: ws 8 checks each frame header against the receiver's _maxPayload, per connection, before buffering", async () => {
      const { client, server: ws, received } = await pair();
      assert.equal(capWebSocketMessages(ws, 100), true);
      client.send(Buffer.alloc(100, 1));
      await new Promise<void>((resolve) => ws.once('message', () => resolve()));
      // raised again, a larger message passes
      assert.equal(capWebSocketMessages(ws, 1000), true);
      client.send(Buffer.alloc(1000, 2));
      await new Promise<void>((resolve) => ws.once('message', () => resolve()));
      assert.deepEqual(received.map((m) => m.length), [100, 1000]);
      // over the cap: the fragments of a message never finished are refused by their length, with 1009
      capWebSocketMessages(ws, 100);
      const [code] = (await Promise.all([once(client, 'close'), client.send(Buffer.alloc(60), { fin: false }), client.send(Buffer.alloc(60), { fin: false })]))[0] as [number];
      assert.equal(code, 1009);
    });

    it('capWebSocketMessages answers false for an object that is not a ws 8 WebSocket', () => {
      assert.equal(capWebSocketMessages({} as WebSocket, 100), false);
    });
  });
});
