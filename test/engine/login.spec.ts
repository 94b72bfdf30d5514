import assert from 'node:assert/strict';
import type { ConnectionRefused } from '../../src';
import { engineFixture, type RunningEngine } from '../helpers/engine';
import { connackCode, connect, type TestClient } from '../helpers/mqtt';

/**
 * Logins must not tell which usernames exist, nor let one tenant's failed
 * logins slow another's. Timing is compared through the work done (scrypt
 * runs, counted by the registry) and the order in which logins are answered,
 * never through durations.
 */
describe('logins: timing, throttle, fairness, quota', function () {
  this.timeout(30_000);
  const fixture = engineFixture();
  let engine: RunningEngine;
  let refused: ConnectionRefused[];
  beforeEach(() => {
    engine = fixture.engine;
    refused = [];
    engine.host.on('connection-refused', (e) => refused.push(e));
  });
  const code = (username: string, password: string, options: Record<string, unknown> = {}) => connackCode(engine.mqttUrl, { username, password, ...options });
  /** scrypt runs a login cost, and its CONNACK code. */
  async function work(username: string, password: string): Promise<[number, number | string]> {
    const before = engine.host.registry.scryptChecks;
    const answer = await code(username, password);
    return [engine.host.registry.scryptChecks - before, answer];
  }

  it('an unknown username costs the same scrypt as a known one, verified before or not', async () => {
    assert.deepEqual(await work('nobody', 'guess-1'), [1, 4], 'unknown username');
    assert.deepEqual(await work('acme', 'guess-1'), [1, 4], 'known username, never verified');
    assert.deepEqual(await work('acme', 'acme-pw'), [1, 0], 'first login');
    assert.deepEqual(await work('acme', 'acme-pw'), [0, 0], 'a verified password is known without hashing');
    assert.deepEqual(await work('acme', 'guess-2'), [1, 4], 'known username with a verified password');
    assert.deepEqual(await work('nobody', 'guess-2'), [1, 4], 'unknown username again');
  });

  it('after 10 failures of one username, refuses it with CONNACK 5 without hashing, except a password verified before', async () => {
    await fixture.as('globex'); // globex's devices logged in before the attack
    for (let i = 0; i < 10; i++) {
      assert.equal(await code('acme', `wrong-${i}`), 4);
      assert.equal(await code('globex', `wrong-${i}`), 4);
      assert.equal(await code('nobody', `wrong-${i}`), 4);
    }
    assert.deepEqual(await work('nobody', 'wrong-10'), [0, 5], 'unknown username, locked');
    assert.deepEqual(await work('acme', 'wrong-10'), [0, 5], 'known username, locked');
    assert.deepEqual(await work('acme', 'acme-pw'), [0, 5], 'the right password, never verified: locked too');
    assert.deepEqual(await work('globex', 'wrong-10'), [0, 5]);
    assert.deepEqual(await work('globex', 'globex-pw'), [0, 0], 'a fleet keeps logging in with its verified password');
    assert.deepEqual(await work('initech', 'x'), [1, 4], 'other usernames are not locked');
    assert.equal(refused.filter((e) => e.reason === 'login-throttled').length, 4);
    assert.equal(engine.host.stats().tenants.acme.denials['login-throttled'], 2);
  });

  it('after 50 failures from one address, refuses every username from it without hashing', async () => {
    // ten usernames, five failures each: no username reaches its own limit
    await Promise.all(Array.from({ length: 10 }, async (_, n) => {
      for (let i = 0; i < 5; i++) assert.equal(await code(`user${n}`, `wrong-${i}`), 4);
    }));
    assert.deepEqual(await work('user99', 'x'), [0, 5]);
    assert.deepEqual(await work('acme', 'acme-pw'), [0, 5]);
  });

  it("one tenant's failed logins do not delay another tenant's: hashing is queued per username and served in turn", async () => {
    const answered: string[] = [];
    const verify = engine.host.registry.verifyPassword.bind(engine.host.registry);
    let asked = 0;
    engine.host.registry.verifyPassword = (username, password) => {
      asked++;
      return verify(username, password);
    };
    // forty wrong passwords of acme at once, all waiting for hashing before globex's first login comes
    const flood = Array.from({ length: 40 }, (_, i) => code('acme', `wrong-${i}`).then((c) => answered.push(`acme:${c}`)));
    while (asked < 40) await new Promise((resolve) => setTimeout(resolve, 5));
    const globex = await connect(engine.mqttUrl, { username: 'globex', password: 'globex-pw' });
    answered.push('globex');
    await globex.end();
    await Promise.all(flood);
    const hashedBefore = answered.slice(0, answered.indexOf('globex')).filter((a) => a === 'acme:4').length;
    assert.ok(hashedBefore <= 6, `globex waited for ${hashedBefore} of acme's failed logins`);
    // acme's logins beyond its queue were refused at once, without hashing: CONNACK 3, counted
    const busy = answered.filter((a) => a === 'acme:3').length;
    assert.ok(busy >= 30, `${busy} refused as busy`);
    assert.equal(engine.host.stats().tenants.acme.denials['login-busy'], busy);
    assert.equal(engine.host.registry.scryptChecks, 40 - busy + 1);
  });

  it('max_connections holds for simultaneous first logins sharing one scrypt', async () => {
    await engine.host.registry.updateTenant('acme', { maxConnections: 2 });
    const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => connect(engine.mqttUrl, { username: 'acme', password: 'acme-pw', clientId: `first-${i}` })));
    const accepted = results.filter((r): r is PromiseFulfilledResult<TestClient> => r.status === 'fulfilled').map((r) => r.value);
    try {
      assert.equal(accepted.length, 2);
      assert.equal(engine.host.connectionCount('acme'), 2);
      assert.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => (r.reason as { code?: number }).code), Array(28).fill(5));
      assert.equal(refused.filter((e) => e.reason === 'over-quota').length, 28);
    } finally {
      await Promise.all(accepted.map((c) => c.end()));
    }
  });
});
