import assert from 'node:assert/strict';
import { decideQueue, decideRetained, queueBounds } from '../../src/tenancy/quotas';

describe('policy core: quotas (pure)', () => {
  describe('decideQueue', () => {
    const bounds = { clientMessages: 3, clientBytes: 100, tenantMessages: 5, tenantBytes: 150 };
    const usage = (messages: number, bytes: number) => ({ messages, bytes });

    it('accepts what fits every bound', () => {
      assert.deepEqual(decideQueue(usage(2, 50), usage(4, 100), 50, bounds), { kind: 'accept' });
    });
    it("evicts the client's oldest past its messages or bytes, then the tenant's oldest past the totals", () => {
      assert.deepEqual(decideQueue(usage(3, 10), usage(3, 10), 1, bounds), { kind: 'evict', from: 'client' });
      assert.deepEqual(decideQueue(usage(1, 60), usage(1, 60), 50, bounds), { kind: 'evict', from: 'client' });
      assert.deepEqual(decideQueue(usage(0, 0), usage(5, 50), 1, bounds), { kind: 'evict', from: 'tenant' });
      assert.deepEqual(decideQueue(usage(0, 0), usage(2, 140), 20, bounds), { kind: 'evict', from: 'tenant' });
    });
    it('refuses a message larger than a byte bound on its own, and one with nothing older to drop', () => {
      assert.deepEqual(decideQueue(usage(0, 0), usage(0, 0), 101, bounds), { kind: 'refuse' });
      assert.deepEqual(decideQueue(usage(0, 0), usage(0, 0), 1, { ...bounds, clientMessages: 0, tenantMessages: 0, clientBytes: 0, tenantBytes: 0 }), { kind: 'accept' });
      assert.deepEqual(decideQueue(usage(0, 0), null, 500, { ...bounds, clientBytes: 0 }), { kind: 'accept' }, "root's clients have no tenant totals");
    });
    it("bounds a tenant's client by the tighter of its limit and the broker's ceiling; root's by the ceiling", () => {
      const broker = { perClient: 1000, perTenantMessages: 0, perTenantBytes: 256 };
      assert.deepEqual(queueBounds({ maxQueuedMessages: 10, maxQueuedBytes: 64 }, broker), { clientMessages: 10, clientBytes: 64, tenantMessages: 0, tenantBytes: 256 });
      assert.equal(queueBounds({ maxQueuedMessages: 0, maxQueuedBytes: 0 }, broker).clientMessages, 1000, 'a tenant without a limit still has the ceiling');
      assert.deepEqual(queueBounds(undefined, broker), { clientMessages: 1000, clientBytes: 0, tenantMessages: 0, tenantBytes: 0 });
    });
  });

  describe('decideRetained', () => {
    const limits = { maxRetainedMessages: 2, maxRetainedBytes: 100 };
    it('keeps a new message within the count and bytes, refuses past either', () => {
      assert.deepEqual(decideRetained({ messages: 1, bytes: 50 }, 50, null, limits), { kind: 'keep' });
      assert.deepEqual(decideRetained({ messages: 2, bytes: 20 }, 1, null, limits), { kind: 'refuse', dropStale: false });
      assert.deepEqual(decideRetained({ messages: 1, bytes: 60 }, 41, null, limits), { kind: 'refuse', dropStale: false });
    });
    it('always allows a delete, and a replacement at the count; a replacement that grows past the bytes drops the stale one', () => {
      assert.deepEqual(decideRetained({ messages: 2, bytes: 100 }, 0, 50, limits), { kind: 'keep' });
      assert.deepEqual(decideRetained({ messages: 2, bytes: 60 }, 40, 30, limits), { kind: 'keep' });
      assert.deepEqual(decideRetained({ messages: 2, bytes: 150 }, 10, 30, limits), { kind: 'keep' }, 'shrinking is allowed even over the quota');
      assert.deepEqual(decideRetained({ messages: 2, bytes: 90 }, 50, 30, limits), { kind: 'refuse', dropStale: true });
    });
    it('has no quota for 0 and for an owner that is no tenant', () => {
      assert.deepEqual(decideRetained({ messages: 10 ** 6, bytes: 10 ** 9 }, 10 ** 6, null, { maxRetainedMessages: 0, maxRetainedBytes: 0 }), { kind: 'keep' });
      assert.deepEqual(decideRetained({ messages: 10 ** 6, bytes: 10 ** 9 }, 10 ** 6, null, undefined), { kind: 'keep' });
    });
  });
});
