import assert from 'node:assert/strict';
import { engineFixture } from '../helpers/engine';

describe('queued messages of persistent sessions', () => {
  const { as } = engineFixture();

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
