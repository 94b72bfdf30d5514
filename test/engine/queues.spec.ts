import assert from 'node:assert/strict';
import type { Packet } from 'mqtt-packet';
import { engineFixture } from '../helpers/engine';
import { connectPacket, rawConnect, type RawConnection } from '../helpers/raw-mqtt';
import { until } from '../helpers/until';

describe('queued messages of persistent sessions', () => {
  const fixture = engineFixture({ maxInflightInbound: 3 });
  const { as } = fixture;
  const stats = () => fixture.engine.host.stats();
  const publishes = (raw: RawConnection) => raw.packets.filter((p): p is Packet & { cmd: 'publish'; payload: Buffer } => p.cmd === 'publish').map((p) => p.payload.toString());

  /** A persistent acme client on raw MQTT, subscribed at QoS 1, that never acknowledges anything. */
  async function silentSubscriber(topic: string): Promise<RawConnection> {
    const raw = await rawConnect(fixture.engine.addresses.mqtt!.port);
    raw.send(connectPacket({ clientId: 'silent', clean: false, username: 'acme', password: Buffer.from('acme-pw') }));
    assert.equal(((await raw.next('connack')) as { returnCode: number }).returnCode, 0);
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
    await raw.next('suback');
    return raw;
  }

  describe('bounds (issue 10, finding 2a)', () => {
    it('hold a connected client that never acknowledges to max_queued_messages: the oldest go, counted as queue-overflow', async () => {
      await fixture.engine.host.registry.updateTenant('acme', { maxQueuedMessages: 5 });
      const silent = await silentSubscriber('acme/flood');
      const publisher = await as('acme');
      for (let i = 0; i < 12; i++) await publisher.publish('acme/flood', `m${i}`, { qos: 1 });
      await until('every message reached the silent client', () => publishes(silent).length === 12);
      await until('seven counted', () => stats().tenants.acme.denials['queue-overflow'] === 7);
      assert.equal(stats().persistence!.queued, 5);
      assert.equal(stats().tenants.globex.denials['queue-overflow'], undefined);

      // what is left unacknowledged is the newest five, sent again on reconnect
      silent.socket.destroy();
      await silent.closed;
      const back = await silentSubscriber('acme/flood');
      await until('the queue was sent again', () => publishes(back).length >= 5);
      assert.deepEqual(publishes(back).slice(0, 5), ['m7', 'm8', 'm9', 'm10', 'm11']);
      back.socket.destroy();
    });

    it('hold a client to max_queued_bytes, payload and topic counted', async () => {
      await fixture.engine.host.registry.updateTenant('acme', { maxQueuedBytes: 3000 });
      const silent = await silentSubscriber('acme/big');
      const publisher = await as('acme');
      for (let i = 0; i < 6; i++) await publisher.publish('acme/big', String(i).repeat(1000), { qos: 1 });
      await until('four counted', () => stats().tenants.acme.denials['queue-overflow'] === 4);
      assert.equal(stats().persistence!.queued, 2, 'two of 1,008 bytes fit in 3,000, three do not');
      silent.socket.destroy();
    });

    it('disconnect a client holding more inbound QoS 2 messages unreleased than maxInflightInbound, counted as inflight-overflow', async () => {
      const raw = await rawConnect(fixture.engine.addresses.mqtt!.port);
      raw.send(connectPacket({ clientId: 'no-pubrel', username: 'acme', password: Buffer.from('acme-pw') }));
      await raw.next('connack');
      for (let id = 1; id <= 3; id++) raw.send({ cmd: 'publish', topic: 'acme/q2', payload: Buffer.from('x'), qos: 2, messageId: id });
      await until('three PUBRECs', () => raw.packets.filter((p) => p.cmd === 'pubrec').length === 3);
      raw.send({ cmd: 'publish', topic: 'acme/q2', payload: Buffer.from('x'), qos: 2, messageId: 4 });
      await raw.closed;
      assert.equal(raw.packets.filter((p) => p.cmd === 'pubrec').length, 3);
      await until('counted', () => stats().tenants.acme.denials['inflight-overflow'] === 1);
    });
  });

  describe('[MQTT-3.3.1-9] the retain flag of a queued copy', () => {
    it('is 0 on a message queued while its subscriber was offline, and 1 only on the retained-on-subscribe copy', async () => {
      const first = await as('acme', { clientId: 'station', clean: false });
      assert.deepEqual(await first.subscribe('acme/state', 1), [1]);
      await first.end();

      const publisher = await as('acme');
      await publisher.publish('acme/state', 'queued', { qos: 1, retain: true });

      const back = await as('acme', { clientId: 'station', clean: false });
      assert.equal(back.sessionPresent, true);
      const queued = await back.waitFor((m) => m.payload === 'queued');
      assert.equal(queued.retain, false, 'a queued copy matched an established subscription: retain 0');

      // a new subscription's copy of the retained message keeps its flag
      const fresh = await as('acme');
      await fresh.subscribe('acme/state', 1);
      assert.equal((await fresh.waitFor((m) => m.payload === 'queued')).retain, true);
    });
  });
});
