import type { EventEmitter } from 'node:events';
import type { EngineEvents } from '../events';
import type { Registry } from '../registry/registry';
import { createMemoryPersistence, type MemoryPersistence, type MemoryPersistenceOptions, type QueueOverflow, type RetainedRefused } from '../persistence/memory-store';
import { createSqlitePersistence } from '../persistence/sqlite-persistence';
import { queueBounds, type BrokerQueueBounds } from '../tenancy/quotas';
import { BROKER_DEFAULTS } from '../defaults';
import { firstLevel, ROOT_USER } from '../tenancy/topics';
import { loginKey, parseSessionKey } from './connections';

/**
 * Where the broker keeps state (persistence) and how messages fan out (the
 * mqemitter): the one place that chooses them. Today: the engine's memory
 * store, alone or written behind to SQLite in the registry's file (both bound
 * queues and account for what each tenant keeps); the fan-out is aedes' own
 * in-process emitter. A shared fabric (e.g. aedes-persistence-redis with
 * mqemitter-redis, so several Node-RED instances serve one broker) plugs in
 * here, together with a way for registry changes to reach every instance.
 */
export type PersistenceChoice =
  | 'memory'
  | 'sqlite'
  /** Any aedes persistence object, used as it is. */
  | { readonly setup: (...args: never[]) => Promise<void> };

export interface FabricOptions {
  persistence?: PersistenceChoice;
  /**
   * Most QoS 1/2 messages queued for any one persistent client, offline or in
   * flight unacknowledged, whatever its tenant's `max_queued_messages` (0: no
   * limit; default 1,000). Past it the oldest is dropped.
   */
  maxOfflinePerClient?: number;
  /** Most messages queued across one tenant's clients (0: no limit, the default). */
  maxOfflinePerTenant?: number;
  /** Most payload and topic bytes queued across one tenant's clients (0: no limit; default 256 MiB). */
  maxQueuedBytesPerTenant?: number;
  /** A persistent session offline this long is discarded (0: never). */
  sessionExpiryMs?: number;
  /** Longest a write waits before it is committed (the loss window after a crash). */
  persistenceFlushMs?: number;
}

export interface Fabric {
  /** Passed to aedes as `persistence`. */
  persistence: unknown;
  /**
   * Passed to aedes as `concurrency`, the in-flight bound of its emitter: 0,
   * unbounded. With a bound, messages past it wait in one queue shared by every
   * tenant, so one subscriber that stops reading stalls everyone's publishes;
   * and once nothing matches, mqemitter drains that queue recursively, inside
   * one stack, until it overflows (a QoS 0 flood whose subscriber left crashed
   * the process). Unbounded, a publisher is held back by its own deliveries
   * only: aedes reads a client's next packets after its current ones completed.
   */
  concurrency: 0;
  /** The engine's own store (memory or SQLite), for its statistics and tenant accounting; null for a persistence passed in. */
  store: MemoryPersistence | null;
  /** Its figures are kept in SQLite. */
  durable: boolean;
  /** False for a persistence object the caller passed in: a restart reuses it, only the final close destroys it. */
  ownsPersistence: boolean;
}

/** The store's reports as engine events: a failed flush, and each message a queue bound dropped. */
function reportStore(store: MemoryPersistence, events: EventEmitter<EngineEvents>): void {
  store.on('flushError', (error: Error) => events.emit('engine-error', error));
  store.on('queueOverflow', ({ clientId, tenant }: QueueOverflow) => {
    const owner = tenant === ROOT_USER ? null : tenant;
    events.emit('storage-limit', { tenant: owner, clientId: parseSessionKey(clientId)?.clientId ?? clientId, reason: 'queue-overflow' });
  });
  store.on('retainedRefused', ({ owner }: RetainedRefused) => events.emit('storage-limit', { tenant: owner, clientId: null, reason: 'retained-quota' }));
}

export function createFabric(options: FabricOptions, registry: Registry, events: EventEmitter<EngineEvents>): Fabric {
  const choice = options.persistence ?? 'sqlite';
  if (choice !== 'memory' && choice !== 'sqlite') return { persistence: choice, store: null, durable: false, concurrency: 0, ownsPersistence: false };
  const broker: BrokerQueueBounds = {
    perClient: options.maxOfflinePerClient ?? BROKER_DEFAULTS.maxOfflinePerClient,
    perTenantMessages: options.maxOfflinePerTenant ?? BROKER_DEFAULTS.maxOfflinePerTenant,
    perTenantBytes: options.maxQueuedBytesPerTenant ?? BROKER_DEFAULTS.maxQueuedBytesPerTenant,
  };
  const common: MemoryPersistenceOptions = {
    // a tenant's limits are read at each enqueue, so a change applies at once
    queueBounds: (_clientId, tenant) => queueBounds(tenant === null ? undefined : registry.getTenant(tenant), broker),
    // a topic's tenant is the one whose namespace holds it; root's topics elsewhere have no quota
    retainedQuota: (owner) => registry.getTenant(owner),
    ownerOfTopic: (topic) => registry.tenantOfTopic(topic)?.username ?? firstLevel(topic),
    sessionExpiryMs: options.sessionExpiryMs || undefined,
    tenantOf: (clientId) => parseSessionKey(clientId)?.tenant ?? null,
    loginOf: (clientId) => {
      const key = parseSessionKey(clientId);
      return key ? loginKey(key.tenant, key.login) : null;
    },
  };
  const store = choice === 'memory' ? createMemoryPersistence(common) : createSqlitePersistence({ ...common, db: registry.db, flushIntervalMs: options.persistenceFlushMs });
  reportStore(store, events);
  return { persistence: store, store, durable: choice === 'sqlite', concurrency: 0, ownsPersistence: true };
}
