import assert from 'node:assert/strict';
import mqttPacket, { type IConnackPacket, type Packet } from 'mqtt-packet';
import { enterWindow, leaveWindow, newPublishWindow, PUBLISH_WINDOW, waitingCount } from '../../src/broker/publish-window';
import { engineFixture } from '../helpers/engine';
import { connectPacket, rawConnect } from '../helpers/raw-mqtt';

describe("the publish window: how many of one client's publishes are in flight at once", () => {
  const nextImmediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('lets PUBLISH_WINDOW through, holds the rest in order, and gives the places freed on together, from an immediate', async () => {
    const window = newPublishWindow();
    const started: number[] = [];
    for (let i = 0; i < PUBLISH_WINDOW + 3; i++) enterWindow(window, 0, () => started.push(i), 0);
    assert.equal(started.length, PUBLISH_WINDOW);
    assert.equal(waitingCount(window), 3);
    leaveWindow(window, 0);
    leaveWindow(window, 0);
    assert.equal(started.length, PUBLISH_WINDOW, 'not released in the completing call');
    assert.equal(window.publishesInFlight, PUBLISH_WINDOW - 2);
    await nextImmediate();
    assert.deepEqual(started.slice(PUBLISH_WINDOW), [PUBLISH_WINDOW, PUBLISH_WINDOW + 1], 'both freed places given on in one release');
    assert.equal(window.publishesInFlight, PUBLISH_WINDOW);
    // a publish arriving while others wait queues behind them
    leaveWindow(window, 0);
    assert.equal(enterWindow(window, 0, () => started.push(-1), 0), true);
    await nextImmediate();
    for (let i = 0; i < PUBLISH_WINDOW + 1; i++) leaveWindow(window, 0);
    await nextImmediate();
    assert.deepEqual(started, [...Array.from({ length: PUBLISH_WINDOW + 3 }, (_, i) => i), -1]);
    for (let i = 0; i < PUBLISH_WINDOW; i++) leaveWindow(window, 0);
    assert.equal(window.publishesInFlight, 0);
    leaveWindow(window, 0);
    assert.equal(window.publishesInFlight, 0, 'never below zero (a will completes without entering)');
  });

  it('releases publishes that complete at once without recursing', async () => {
    const window = newPublishWindow();
    const count = 100_000;
    let started = 0;
    let depth = 0;
    let deepest = 0;
    // as with no subscriber: a released publish completes inside its own authorization
    const go = (): void => {
      started++;
      depth++;
      deepest = Math.max(deepest, depth);
      if (started > PUBLISH_WINDOW) leaveWindow(window, 0);
      depth--;
    };
    for (let i = 0; i < count; i++) enterWindow(window, 0, go, 0);
    assert.equal(started, PUBLISH_WINDOW);
    leaveWindow(window, 0);
    await nextImmediate();
    assert.equal(started, count);
    assert.equal(deepest, 1);
    assert.equal(waitingCount(window), 0);
  });

  it('leaves QoS 1 and 2 out', () => {
    const window = newPublishWindow();
    let started = 0;
    for (const qos of [1, 2]) for (let i = 0; i < PUBLISH_WINDOW * 2; i++) enterWindow(window, qos, () => started++, 0);
    assert.equal(started, PUBLISH_WINDOW * 4);
    assert.equal(window.publishesInFlight, 0);
    leaveWindow(window, 1);
    assert.equal(window.publishesInFlight, 0);
  });

  describe('in the broker', () => {
    const fixture = engineFixture();

    for (const qos of [0, 1] as const) {
      it(`delivers a burst of ${PUBLISH_WINDOW * 8} QoS ${qos} publishes written at once, all and in order, and the publisher goes on`, async () => {
        const subscriber = await fixture.as('globex');
        await subscriber.subscribe('burst/#', 1);
        const raw = await rawConnect(fixture.engine.addresses.mqtt!.port);
        raw.send(connectPacket({ clientId: `burst${qos}`, username: 'globex', password: Buffer.from('globex-pw') }));
        assert.equal(((await raw.next('connack')) as IConnackPacket).returnCode, 0);
        const count = PUBLISH_WINDOW * 8;
        // one write: aedes parses all of it as one batch
        raw.sendBytes(Buffer.concat(Array.from({ length: count }, (_, i) => mqttPacket.generate({ cmd: 'publish', topic: 'burst/a', payload: Buffer.from(String(i)), qos, messageId: i + 1, retain: false, dup: false } as Packet))));
        await subscriber.waitFor((m) => m.payload === String(count - 1));
        assert.deepEqual(
          subscriber.inbox.map((m) => Number(m.payload)),
          Array.from({ length: count }, (_, i) => i),
        );
        const held = fixture.engine.host.stats().tenants.globex.publishesHeld;
        if (qos === 0) assert.ok(held > 0, `the window held ${held} of ${count}`);
        else assert.equal(held, 0, 'QoS 1 has no window');
        if (qos === 1) {
          const deadline = Date.now() + 5000;
          while (raw.packets.filter((p) => p.cmd === 'puback').length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
          assert.equal(raw.packets.filter((p) => p.cmd === 'puback').length, count);
        }
        // the window emptied: the same client still publishes
        raw.send({ cmd: 'publish', topic: 'burst/a', payload: Buffer.from('after'), qos: 0, retain: false, dup: false });
        await subscriber.waitFor((m) => m.payload === 'after');
        raw.socket.destroy();
      });
    }
  });
});
