/**
 * The policy core's rules for what a tenant keeps in the broker: the queues of
 * its persistent clients (offline and unacknowledged in flight) and its
 * retained messages. Pure decisions: the store keeps the figures, asks here,
 * and carries the verdict out.
 */
import type { TenantLimits } from '../model';

/** What a queue, or all of a tenant's queues, or a tenant's retained messages hold. */
export interface Usage {
  messages: number;
  /** Payload and topic bytes. */
  bytes: number;
}

/** The bounds one client's queue is held to; 0: none. */
export interface QueueBounds {
  clientMessages: number;
  clientBytes: number;
  /** Over all queues of the client's tenant (none for root's clients). */
  tenantMessages: number;
  tenantBytes: number;
}

/** The broker's own bounds, beside each tenant's per-client limits. */
export interface BrokerQueueBounds {
  /** Every client's queue, whatever its tenant's limit (the broker node's "queue per client"). */
  perClient: number;
  perTenantMessages: number;
  perTenantBytes: number;
}

/** The tighter of two bounds where 0 means none. */
function tighter(a: number, b: number): number {
  return a === 0 ? b : b === 0 ? a : Math.min(a, b);
}

/**
 * The bounds of a client's queue: its tenant's `max_queued_messages` and
 * `max_queued_bytes` under the broker's ceiling per client, and the broker's
 * totals per tenant. Root's clients (no tenant) have the ceiling alone.
 */
export function queueBounds(tenant: Pick<TenantLimits, 'maxQueuedMessages' | 'maxQueuedBytes'> | undefined, broker: BrokerQueueBounds): QueueBounds {
  if (!tenant) return { clientMessages: broker.perClient, clientBytes: 0, tenantMessages: 0, tenantBytes: 0 };
  return {
    clientMessages: tighter(tenant.maxQueuedMessages, broker.perClient),
    clientBytes: tenant.maxQueuedBytes,
    tenantMessages: broker.perTenantMessages,
    tenantBytes: broker.perTenantBytes,
  };
}

/**
 * A message about to join a client's queue: it fits (`accept`), or the oldest
 * message of the client's queue or of its tenant's queues must go first
 * (`evict`; asked again after each), or it is the one dropped (`refuse`: it
 * is larger than a byte bound on its own, or there is nothing older to drop).
 * The queue holds what is offline and what is in flight unacknowledged, so a
 * connected client that never acknowledges is held to the same bounds.
 */
export type QueueVerdict = { kind: 'accept' } | { kind: 'evict'; from: 'client' | 'tenant' } | { kind: 'refuse' };

export function decideQueue(client: Usage, tenant: Usage | null, bytes: number, bounds: QueueBounds): QueueVerdict {
  if ((bounds.clientBytes > 0 && bytes > bounds.clientBytes) || (tenant && bounds.tenantBytes > 0 && bytes > bounds.tenantBytes)) return { kind: 'refuse' };
  if (over(client, bytes, bounds.clientMessages, bounds.clientBytes)) return client.messages > 0 ? { kind: 'evict', from: 'client' } : { kind: 'refuse' };
  if (tenant && over(tenant, bytes, bounds.tenantMessages, bounds.tenantBytes)) return tenant.messages > 0 ? { kind: 'evict', from: 'tenant' } : { kind: 'refuse' };
  return { kind: 'accept' };
}

function over(usage: Usage, bytes: number, maxMessages: number, maxBytes: number): boolean {
  return (maxMessages > 0 && usage.messages + 1 > maxMessages) || (maxBytes > 0 && usage.bytes + bytes > maxBytes);
}

/**
 * A retained publish into a tenant's namespace, of `bytes` (payload and
 * topic), replacing a stored message of `replaces` bytes (null: none). Kept,
 * or refused: delivered live with retain cleared and not stored. Deleting
 * (an empty payload) is always allowed, and so is a replacement as far as the
 * count goes (it adds no message); a replacement may still not take the
 * tenant past its bytes unless it grows nothing: otherwise ten thousand tiny
 * messages, each replaced by a large one, would pass any byte quota. A
 * refused replacement drops the message it was to replace (`dropStale`): the
 * publisher has said it is out of date, and new subscribers must not get it.
 */
export type RetainedVerdict = { kind: 'keep' } | { kind: 'refuse'; dropStale: boolean };

export function decideRetained(usage: Usage, bytes: number, replaces: number | null, limits: Pick<TenantLimits, 'maxRetainedMessages' | 'maxRetainedBytes'> | undefined): RetainedVerdict {
  if (!limits || bytes === 0) return { kind: 'keep' };
  const { maxRetainedMessages: maxMessages, maxRetainedBytes: maxBytes } = limits;
  if (replaces === null && maxMessages > 0 && usage.messages + 1 > maxMessages) return { kind: 'refuse', dropStale: false };
  const after = usage.bytes - (replaces ?? 0) + bytes;
  if (maxBytes > 0 && after > maxBytes && bytes > (replaces ?? 0)) return { kind: 'refuse', dropStale: replaces !== null };
  return { kind: 'keep' };
}
