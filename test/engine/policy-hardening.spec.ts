import assert from 'node:assert/strict';
import type { Scope, TenantPolicy } from '../../src/model';
import { NO_LIMITS } from '../../src/registry/limits';
import { UNAUTHENTICATED_BASE_BYTES, UnauthenticatedMemory } from '../../src/tenancy/admission';
import { FairTurns, LoginFailures } from '../../src/tenancy/login';
import { admit, decideWill, decideWillPublish, newClientPolicyState, type LoginFacts } from '../../src/tenancy/policy';
import { TenantBuckets, TokenBucket } from '../../src/tenancy/rate';

const globex: Scope = { kind: 'tenant', tenant: 'globex', namespace: 'globex', isolation: 'mountpoint' };
const tenant = (patch: Partial<TenantPolicy> = {}): TenantPolicy => ({ ...NO_LIMITS, username: 'globex', namespace: 'globex', isolation: 'mountpoint', enabled: true, ...patch });

/** The policy core's rules added by issue 10, without a socket. */
describe('policy core (pure): wills', () => {
  it('decideWill mounts the will, refuses one over max_payload_bytes and clears retain without allow_retain', () => {
    const limited = tenant({ maxPayloadBytes: 10, allowRetain: false });
    assert.deepEqual(decideWill(globex, { topic: 'status', payloadBytes: 10, retain: false }, limited), { kind: 'allow', topic: 'globex/status', retain: false, applied: [] });
    assert.deepEqual(decideWill(globex, { topic: 'status', payloadBytes: 11, retain: false }, limited), { kind: 'refuse', reason: 'will-too-large' });
    assert.deepEqual(decideWill(globex, { topic: 'status', payloadBytes: 1, retain: true }, limited), { kind: 'allow', topic: 'globex/status', retain: false, applied: ['retain'] });
    assert.deepEqual(decideWill(globex, { topic: '$SYS/x', payloadBytes: 1, retain: false }, limited), { kind: 'refuse', reason: 'will-denied' });
    assert.deepEqual(decideWill({ kind: 'root' }, { topic: 'any/where', payloadBytes: 1e6, retain: true }, undefined), { kind: 'allow', topic: 'any/where', retain: true, applied: [] });
  });

  it('decideWillPublish applies the limits of now, and drops a will over the rate instead of making it wait', () => {
    const rate = { client: newClientPolicyState(), tenants: new TenantBuckets() };
    const will = { topic: 'globex/status', payloadBytes: 5, retain: true };
    assert.equal(decideWillPublish(null, will, tenant(), rate).kind, 'refuse');
    assert.deepEqual(decideWillPublish(globex, { ...will, topic: 'acme/status' }, tenant(), rate), { kind: 'refuse', reason: 'outside-namespace' });
    assert.deepEqual(decideWillPublish(globex, will, tenant({ maxPayloadBytes: 4 }), rate), { kind: 'refuse', reason: 'payload-too-large' });
    assert.deepEqual(decideWillPublish(globex, will, tenant({ allowRetain: false }), rate), { kind: 'allow', topic: 'globex/status', retain: false, wait: 0, applied: ['retain'] });
    assert.deepEqual(decideWillPublish(globex, will, tenant({ enabled: false }), rate), { kind: 'refuse', reason: 'outside-namespace' });
    // one token a second for the tenant: the first will takes it, the next is dropped
    const perTenant = tenant({ maxTenantMsgsPerSec: 1 });
    assert.equal(decideWillPublish(globex, will, perTenant, rate).kind, 'allow');
    assert.deepEqual(decideWillPublish(globex, will, perTenant, { ...rate, client: newClientPolicyState() }), { kind: 'refuse', reason: 'rate-limit' });
    // the client's own bucket in debt (it published over its rate): its will is dropped
    const client = newClientPolicyState();
    client.bucket = new TokenBucket(1);
    client.bucket.take();
    client.bucket.take();
    assert.deepEqual(decideWillPublish(globex, will, tenant({ maxMsgsPerSec: 1 }), { client, tenants: new TenantBuckets() }), { kind: 'refuse', reason: 'rate-limit' });
  });

  it('TokenBucket.tryTake never goes into debt', () => {
    const bucket = new TokenBucket(2, 0);
    assert.deepEqual([bucket.tryTake(0), bucket.tryTake(0), bucket.tryTake(0)], [true, true, false]);
    assert.equal(bucket.tryTake(499), false);
    assert.equal(bucket.tryTake(500), true);
    assert.equal(bucket.take(500), 500);
  });
});

describe('policy core (pure): logins', () => {
  const limits = { failuresPerUsername: 3, failuresPerAddress: 5, windowMs: 60_000, lockMs: 60_000, maxTracked: 100 };

  it('locks a username after its limit of failures within the window, for the lock time', () => {
    const failures = new LoginFailures(limits);
    failures.failed('acme', 'a1', 0);
    failures.failed('acme', 'a2', 30_000);
    failures.failed('acme', 'a3', 60_001); // the first has left the window
    assert.equal(failures.locked('acme', 'a9', 60_001), false);
    failures.failed('acme', 'a4', 60_002);
    assert.equal(failures.locked('acme', 'a9', 60_002), true);
    assert.equal(failures.locked('globex', 'a9', 60_002), false);
    assert.equal(failures.locked('acme', 'a9', 120_001), true);
    assert.equal(failures.locked('acme', 'a9', 120_002), false);
  });

  it('locks a source address after its limit, whatever the usernames', () => {
    const failures = new LoginFailures(limits);
    for (let i = 0; i < 5; i++) failures.failed(`user${i}`, '10.0.0.1', i);
    assert.equal(failures.locked('anyone', '10.0.0.1', 10), true);
    assert.equal(failures.locked('anyone', '10.0.0.2', 10), false);
    assert.equal(failures.locked('anyone', undefined, 10), false);
  });

  it('remembers at most maxTracked usernames and addresses each, forgetting the stalest', () => {
    const failures = new LoginFailures({ ...limits, maxTracked: 10 });
    for (let i = 0; i < 1000; i++) failures.failed(`user${i}`, `10.0.${i >> 8}.${i & 255}`, i);
    assert.equal(failures.tracked, 20);
  });

  it('admit refuses a throttled login with login-throttled unless its password was verified before', () => {
    const facts: LoginFacts = { username: 'acme', clientId: 'c1', passwordOk: false, throttled: true, rootEnabled: true, tenant: tenant({ username: 'acme' }), liveConnections: 0 };
    assert.deepEqual(admit(facts), { kind: 'refuse', reason: 'login-throttled' });
    assert.deepEqual(admit({ ...facts, tenant: undefined }), { kind: 'refuse', reason: 'login-throttled' }, 'an unknown username reads the same');
    assert.equal(admit({ ...facts, passwordOk: true }).kind, 'allow');
    assert.deepEqual(admit({ ...facts, throttled: false }), { kind: 'refuse', reason: 'bad-credentials' });
    assert.deepEqual(admit({ ...facts, username: 'root', tenant: undefined }), { kind: 'refuse', reason: 'login-throttled' });
  });

  it('FairTurns serves each key in turn and bounds every queue', () => {
    const turns = new FairTurns<string>(2);
    assert.deepEqual(['a1', 'a2', 'a3'].map((item) => turns.offer('a', item)), [true, true, false]);
    turns.offer('b', 'b1');
    turns.offer('b', 'b2');
    turns.offer('c', 'c1');
    const order: string[] = [];
    for (let item = turns.next(); item !== undefined; item = turns.next()) order.push(item);
    assert.deepEqual(order, ['a1', 'b1', 'c1', 'a2', 'b2']);
    assert.equal(turns.waiting, 0);
  });
});

describe('policy core (pure): connections before CONNACK', () => {
  it('UnauthenticatedMemory admits while the base cost fits, refuses growth past the limit, and frees on release', () => {
    const memory = new UnauthenticatedMemory(100);
    assert.deepEqual([memory.admit(40), memory.admit(40), memory.admit(40)], [true, true, false]);
    assert.equal(memory.grow(20), true);
    assert.equal(memory.grow(1), false, 'past the limit: the connection that grows is closed');
    assert.deepEqual([memory.connections, memory.bytes], [2, 100]);
    memory.release(60);
    assert.deepEqual([memory.connections, memory.bytes], [1, 40]);
    assert.equal(memory.admit(40), true);
  });

  it('a limit of 0 is no limit, and every transport has a base cost', () => {
    const memory = new UnauthenticatedMemory(0);
    for (let i = 0; i < 1000; i++) assert.equal(memory.admit(1 << 20), true);
    for (const transport of ['tcp', 'tls', 'ws', 'wss'] as const) assert.ok(UNAUTHENTICATED_BASE_BYTES[transport] > 0);
  });
});
