import assert from 'node:assert/strict';
import { once } from 'node:events';
import MemoryPersistence from 'aedes-persistence/asyncPersistence.js';
import { engineFixture, startEngine, type RunningEngine } from '../helpers/engine';
import { closed, connect } from '../helpers/mqtt';

/**
 * An exception inside the broker is a bug, but it must never reach the
 * process: Node-RED exits on an uncaught exception, taking every flow with it.
 * Mocha fails a test on an uncaught exception or an unhandled rejection, so
 * each case below would fail if the throw escaped.
 */
describe('errors inside the broker stay inside', () => {
  describe('a hook that throws', () => {
    const fixture = engineFixture();

    it('refuses that login with CONNACK 3, reports engine-error, and serves the next client', async () => {
      const { host } = fixture.engine;
      const errors: Error[] = [];
      host.on('engine-error', (err) => errors.push(err));
      const verify = host.registry.verifyPassword.bind(host.registry);
      host.registry.verifyPassword = (username, password) => {
        if (username === 'globex') throw new Error('injected fault');
        return verify(username, password);
      };
      await assert.rejects(fixture.as('globex'), (err: { code?: number }) => err.code === 3);
      assert.deepEqual(errors.map((e) => e.message), ['injected fault']);
      const acme = await fixture.as('acme');
      await acme.subscribe('acme/x');
      await acme.publish('acme/x', 'fine');
      await acme.waitFor((m) => m.payload === 'fine');
    });

    it('closes a client whose publish could not be decided, and no one else', async () => {
      const { host } = fixture.engine;
      const errors: Error[] = [];
      host.on('engine-error', (err) => errors.push(err));
      const globex = await fixture.as('globex');
      const acme = await fixture.as('acme');
      const getTenant = host.registry.getTenant.bind(host.registry);
      let armed = true;
      host.registry.getTenant = (name) => {
        if (armed && name === 'globex') throw new Error('injected fault');
        return getTenant(name);
      };
      const gone = closed(globex.client);
      globex.client.publish('x', 'boom');
      await gone;
      armed = false;
      assert.ok(errors.some((e) => e.message === 'injected fault'));
      await acme.subscribe('acme/y');
      await acme.publish('acme/y', 'fine');
      await acme.waitFor((m) => m.payload === 'fine');
    });
  });

  describe('a failure that leaves the broker in an unknown state', () => {
    let engine: RunningEngine | undefined;
    afterEach(async () => engine?.stop());

    it('is reported as engine-failed, and restart() brings the broker back on the same port with its in-process subscriptions', async () => {
      // a real in-memory persistence whose subscription lookup fails for one topic
      class FailingPersistence extends MemoryPersistence {
        override subscriptionsByTopic(topic: string): Promise<unknown> {
          return topic.endsWith('/poison') ? Promise.reject(new Error('persistence unavailable')) : super.subscriptionsByTopic(topic);
        }
      }
      engine = await startEngine({ persistence: new FailingPersistence() as never });
      const { host } = engine;
      const seen: string[] = [];
      await host.subscribe('globex', 'events/#', (m) => seen.push(m.topic));
      const failed = once(host, 'engine-failed');
      const globex = await connect(engine.mqttUrl, { username: 'globex', password: 'globex-pw' });
      globex.client.publish('poison', 'x', { qos: 1 });
      const [error] = (await failed) as [Error];
      assert.equal(error.message, 'persistence unavailable');
      globex.client.end(true);

      const port = engine.addresses.mqtt!.port;
      const addresses = await host.restart();
      assert.equal(addresses.mqtt!.port, port);
      const again = await connect(engine.mqttUrl, { username: 'globex', password: 'globex-pw' });
      try {
        await again.subscribe('events/+', 1);
        await again.publish('events/a', 'after restart', { qos: 1 });
        await again.waitFor((m) => m.payload === 'after restart');
        assert.deepEqual(seen, ['events/a']);
      } finally {
        await again.end();
      }
    });
  });
});
