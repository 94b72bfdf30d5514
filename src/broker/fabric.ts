import type { Registry } from '../registry/registry';
import { createMemoryPersistence, type MemoryPersistence, type MemoryPersistenceOptions } from '../persistence/memory-store';
import { createSqlitePersistence } from '../persistence/sqlite-persistence';
import { splitInternalClientId } from './connections';

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
  /** Most QoS 1/2 messages queued for one offline client (0: no limit). */
  maxOfflinePerClient?: number;
  /** Most messages queued across one tenant's offline clients (0: no limit). */
  maxOfflinePerTenant?: number;
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

export function createFabric(options: FabricOptions, registry: Registry): Fabric {
  const choice = options.persistence ?? 'sqlite';
  if (choice !== 'memory' && choice !== 'sqlite') return { persistence: choice, store: null, durable: false, concurrency: 0, ownsPersistence: false };
  const common: MemoryPersistenceOptions = {
    maxOfflinePerClient: options.maxOfflinePerClient || undefined,
    maxOfflinePerTenant: options.maxOfflinePerTenant || undefined,
    sessionExpiryMs: options.sessionExpiryMs || undefined,
    tenantOf: (clientId) => splitInternalClientId(clientId)?.username ?? null,
  };
  const store = choice === 'memory' ? createMemoryPersistence(common) : createSqlitePersistence({ ...common, db: registry.db, flushIntervalMs: options.persistenceFlushMs });
  return { persistence: store, store, durable: choice === 'sqlite', concurrency: 0, ownsPersistence: true };
}
