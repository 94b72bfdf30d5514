import assert from 'node:assert/strict';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { engineFixture } from '../helpers/engine';
import { closed } from '../helpers/mqtt';
import { connectPacket, rawConnect, type RawConnection } from '../helpers/raw-mqtt';

/** Packet bytes with every `Z` of the encoded strings replaced by `byte` (same length, so the lengths stay right). */
function withByte(packet: Record<string, unknown>, byte: number): Buffer {
  const bytes = Buffer.from(mqttPacket.generate(packet as unknown as Packet));
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x5a) bytes[i] = byte;
  return bytes;
}

describe('protocol conformance in each client\'s own view', () => {
  const fixture = engineFixture();

  async function connected(username: string, clientId = 'raw'): Promise<RawConnection> {
    const raw = await rawConnect(fixture.engine.addresses.mqtt!.port);
    raw.send(connectPacket({ clientId, username, password: Buffer.from(`${username}-pw`) }));
    assert.equal(((await raw.next('connack')) as { returnCode: number }).returnCode, 0);
    return raw;
  }

  describe('[MQTT-4.7.2-1] $-topics of a mountpoint view (Eclipse Paho test_dollar_topics)', () => {
    it('acknowledges a publish to $TopicA/B, keeps the connection and delivers it to no wildcard subscription', async () => {
      const client = await fixture.as('globex', { clientId: 'clientb' });
      // Paho subscribes wildtopics[5] ("+/+"); the suite's other wildcards must hold as well
      assert.deepEqual(await client.subscribe(['TopicA/+', '+/C', '#', '/#', '/+', '+/+', 'TopicA/#'], 2), [2, 2, 2, 2, 2, 2, 2]);
      await client.publish('$TopicA/B', '', { qos: 1 }); // resolves on PUBACK
      await client.publish('TopicA/B', 'sentinel', { qos: 1 });
      await client.waitFor((m) => m.payload === 'sentinel');
      assert.equal(client.client.connected, true);
      assert.deepEqual(client.inbox.filter((m) => m.topic.startsWith('$')), []);
    });

    it('delivers a $-topic to an explicit $ subscription, in the view, and never to another tenant or its wildcards', async () => {
      const own = await fixture.as('globex');
      assert.deepEqual(await own.subscribe('$TopicA/+', 1), [1]);
      const root = await fixture.as('root');
      await root.subscribe('globex/#', 1);
      const other = await fixture.as('acme');
      await other.subscribe('acme/#', 1);
      await (await fixture.as('globex')).publish('$TopicA/B', 'dollar', { qos: 1 });
      assert.deepEqual(await own.waitFor((m) => m.payload === 'dollar'), { topic: '$TopicA/B', payload: 'dollar', qos: 1, retain: false });
      // root's view begins with the namespace: plain MQTT there
      assert.equal((await root.waitFor((m) => m.payload === 'dollar')).topic, 'globex/$TopicA/B');
      await fixture.engine.host.publish('acme', { topic: 'sentinel', payload: 'S' });
      await other.waitFor((m) => m.payload === 'S');
      assert.equal(other.inbox.length, 1);
    });

    it('keeps $-topics from flows\' wildcard subscriptions too, not from an explicit one', async () => {
      const wildcard: string[] = [];
      const explicit: string[] = [];
      await fixture.engine.host.subscribe('globex', '#', (m) => wildcard.push(m.topic));
      await fixture.engine.host.subscribe('globex', '$TopicA/#', (m) => explicit.push(m.topic));
      await fixture.engine.host.publish('globex', { topic: '$TopicA/B', payload: 'x' });
      await fixture.engine.host.publish('globex', { topic: 'plain', payload: 'y' });
      while (!wildcard.includes('plain')) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual([wildcard, explicit], [['plain'], ['$TopicA/B']]);
    });

    it('keeps $SYS and the discard sink from a root flow\'s # (a flow\'s view obeys [MQTT-4.7.2-1] too)', async () => {
      const { host } = fixture.engine;
      await host.registry.updateTenant('acme', { deniedPublish: 'drop' });
      const seen: string[] = [];
      await host.subscribe('root', '#', (m) => seen.push(m.topic));
      await (await fixture.as('acme', { clientId: 'sys-maker' })).publish('outside/dropped', 'x', { qos: 1 });
      await host.publish('acme', { topic: 'sentinel', payload: 'S' });
      while (!seen.includes('acme/sentinel')) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(seen.filter((t) => t.startsWith('$')), []);
    });

    it('still refuses $SYS and $events to publish, and $SYS and $share to subscribe ($events is its lifecycle events)', async () => {
      const client = await fixture.as('globex');
      assert.deepEqual(await client.subscribe(['$SYS/#', '$share/g/x', '$events'], 0), [128, 128, 128]);
      for (const topic of ['$SYS/x', '$events/client/connected']) {
        const c = await fixture.as('globex');
        const gone = closed(c.client);
        c.client.publish(topic, 'x');
        await gone;
      }
    });
  });

  describe('[MQTT-1.5.3-1, 1.5.3-2] UTF-8 fields', () => {
    const cases: Array<[string, (byte: number) => Buffer, boolean]> = [
      ['client id', (b) => withByte(connectPacket({ clientId: 'idZ', username: 'acme', password: Buffer.from('acme-pw') }), b), false],
      ['username', (b) => withByte(connectPacket({ clientId: 'id', username: 'Zacme', password: Buffer.from('acme-pw') }), b), false],
      ['will topic', (b) => withByte(connectPacket({ clientId: 'id', username: 'acme', password: Buffer.from('acme-pw'), will: { topic: 'acme/Z', payload: Buffer.from('w'), qos: 0, retain: false } }), b), false],
      ['topic', (b) => withByte({ cmd: 'publish', topic: 'acme/Z', payload: Buffer.from('p'), qos: 0, retain: false, dup: false }, b), true],
      ['filter', (b) => withByte({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'acme/Z', qos: 0 }] }, b), true],
      ['unsubscribe filter', (b) => withByte({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['acme/Z'] }, b), true],
    ];
    for (const [field, bytes, afterConnect] of cases) {
      for (const [what, byte] of [['malformed UTF-8', 0xff], ['U+0000', 0x00]] as const) {
        it(`closes the connection for ${what} in a ${field}`, async () => {
          const raw = afterConnect ? await connected('acme') : await rawConnect(fixture.engine.addresses.mqtt!.port);
          raw.sendBytes(bytes(byte));
          await raw.closed;
          assert.ok(!raw.packets.some((p) => p.cmd === 'suback' || p.cmd === 'unsuback' || (p.cmd === 'connack' && !afterConnect)), `answered ${raw.packets.map((p) => p.cmd)}`);
        });
      }
    }

    it('accepts well-formed UTF-8, a genuine U+FFFD included', async () => {
      const client = await fixture.as('acme');
      await client.subscribe('acme/ü/\uFFFD/😀', 1);
      await client.publish('acme/ü/\uFFFD/😀', 'ok', { qos: 1 });
      assert.equal((await client.waitFor(() => true)).topic, 'acme/ü/\uFFFD/😀');
    });
  });

  describe('limits counted on the mounted topic', () => {
    it('refuses, without a PUBACK, a QoS 1 publish whose topic exceeds 100 levels only once mounted', async () => {
      const raw = await connected('globex');
      raw.send({ cmd: 'publish', topic: Array(100).fill('l').join('/'), payload: Buffer.from('x'), qos: 1, messageId: 7, retain: false, dup: false });
      await raw.closed;
      assert.ok(!raw.packets.some((p) => p.cmd === 'puback'));
    });

    it('refuses with SUBACK 0x80 a filter of 100 levels that mounting makes 101', async () => {
      const client = await fixture.as('globex');
      assert.deepEqual(await client.subscribe(Array(99).fill('l').join('/') + '/#', 1), [128]);
      assert.deepEqual(await client.subscribe(Array(98).fill('l').join('/') + '/#', 1), [1]);
    });
  });

  describe('SUBSCRIBE pipelined behind CONNECT', () => {
    it('is decided once the client is authenticated: mounted and granted as if sent after CONNACK', async () => {
      const raw = await rawConnect(fixture.engine.addresses.mqtt!.port);
      raw.sendBytes(
        Buffer.concat([
          Buffer.from(mqttPacket.generate(connectPacket({ clientId: 'piped', username: 'globex', password: Buffer.from('globex-pw') }) as unknown as Packet)),
          Buffer.from(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'piped/+', qos: 1 }, { topic: '$SYS/#', qos: 0 }] } as Packet)),
        ]),
      );
      assert.deepEqual(((await raw.next('suback')) as { granted: number[] }).granted, [1, 128]);
      await fixture.engine.host.publish('globex', { topic: 'piped/x', payload: 'in view', qos: 1 });
      const message = (await raw.next('publish')) as { topic: string };
      assert.equal(message.topic, 'piped/x');
      raw.socket.destroy();
    });
  });

  describe('discard: a denied publish acknowledged and dropped (denied_publish "drop")', () => {
    it('answers PUBACK, keeps the connection, and stores, forwards, counts and posts nothing', async () => {
      const { host } = fixture.engine;
      await host.registry.updateTenant('acme', { deniedPublish: 'drop', maxPayloadBytes: 4 });
      const root = await fixture.as('root');
      await root.subscribe('#', 1);
      // the sink is no one's to read, root's neither
      assert.deepEqual(await root.subscribe(['$tenant-broker/#', '$tenant-broker/discarded', '$tenant-broker/+'], 1), [128, 128, 128]);
      const before = host.stats().tenants.acme;
      const client = await fixture.as('acme');
      await client.publish('globex/steal', 'outside', { qos: 1, retain: true });
      await client.publish('acme/big', 'too large', { qos: 1 });
      assert.equal(client.client.connected, true);
      await client.publish('acme/ok', 'fine', { qos: 1 });
      await root.waitFor((m) => m.payload === 'fine');
      assert.deepEqual(root.inbox.map((m) => m.payload), ['fine']);
      // aedes runs the published hook once the deliveries are written
      while (host.stats().tenants.acme.messagesIn === before.messagesIn) await new Promise((resolve) => setTimeout(resolve, 10));
      const after = host.stats().tenants.acme;
      assert.equal(after.messagesIn - before.messagesIn, 1);
      assert.equal((after.denials['outside-namespace'] ?? 0) + (after.denials['payload-too-large'] ?? 0), 2);
      const fresh = await fixture.as('root');
      await fresh.subscribe('globex/#', 1);
      await host.publish('globex', { topic: 'sentinel', payload: 'S', qos: 1 });
      await fresh.waitFor((m) => m.payload === 'S');
      assert.deepEqual(fresh.inbox.map((m) => m.payload), ['S'], 'the discarded retained publish was stored');
    });
  });
});
