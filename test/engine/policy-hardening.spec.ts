import assert from 'node:assert/strict';
import type { Scope, TenantPolicy } from '../../src/model';
import { NO_LIMITS } from '../../src/registry/limits';
import { decideWill, decideWillPublish, newClientPolicyState } from '../../src/tenancy/policy';
import { TenantBuckets, TokenBucket } from '../../src/tenancy/rate';

const globex: Scope = { kind: 'tenant', tenant: 'globex', isolation: 'mountpoint' };
const tenant = (patch: Partial<TenantPolicy> = {}): TenantPolicy => ({ ...NO_LIMITS, username: 'globex', isolation: 'mountpoint', enabled: true, ...patch });

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
