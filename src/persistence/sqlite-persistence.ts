/**
 * A durable aedes 1.x persistence on SQLite (better-sqlite3).
 *
 * Shape: the reference memory persistence of aedes-persistence (Maps plus a
 * qlobber subscription trie) answers every read, and SQLite sits underneath
 * as a write-behind store. Mutations mark rows dirty; one transaction per
 * flush interval writes the net change, so a message that is enqueued,
 * delivered and acknowledged within one interval never touches the disk. On
 * setup() the memory indexes are rebuilt from the tables, which is how a
 * restarted broker gets its retained messages, persistent sessions, offline
 * queues, in-flight QoS state and wills back.
 *
 * Durability contract: with WAL and synchronous=NORMAL a committed flush
 * survives a process crash (kill -9), so at most the last flushIntervalMs of
 * writes is lost. Promises resolve before the write reaches the disk: aedes
 * handles a client's packets one after another, and waiting for the flush
 * there would cap every publisher at one message per interval.
 */
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { QlobberTrue } from 'qlobber';
import QlobberSub from 'qlobber/aedes/qlobber-sub';
import { decodePacket, encodePacket, plainCopy, queuedCopy, type PersistedPacket } from './packet-codec';
import { brokerCounter, hasConnectedClient, setBrokerCounter, type PersistenceBroker } from '../aedes-seam';
import { createSchema, prepareStatements, type PersistStatements } from './schema';

export type { PersistedPacket } from './packet-codec';

export const DEFAULT_FLUSH_INTERVAL_MS = 200;
export const MAX_FLUSH_INTERVAL_MS = 1000;
/** The sweep never waits longer than this, whatever the expiry. */
const MAX_SWEEP_INTERVAL_MS = 60_000;
/** Drops remembered per client for the connect race in outgoingUpdate. */
const RECENT_DROPS_PER_CLIENT = 256;

const QLOBBER_OPTIONS = { wildcard_one: '+', wildcard_some: '#', separator: '/' };
// [MQTT-1.5.3-2] U+0000 cannot occur in a client id or topic, so it cannot
// make two different (client, topic) pairs collide in a composite key.
const SEP = '\u0000';

export interface SqlitePersistenceOptions {
  /** An open better-sqlite3 handle to share (e.g. the registry's); it is neither reconfigured nor closed. */
  db?: Database;
  /** Database file to open (and own) when `db` is not given; default ':memory:'. */
  path?: string;
  /** Longest time a write waits in memory before its transaction; 1..1000, default 200. */
  flushIntervalMs?: number;
  /** Most messages queued for one offline client; further messages are dropped and counted. */
  maxOfflinePerClient?: number;
  /** Most messages queued across one tenant's clients while the target client is offline. */
  maxOfflinePerTenant?: number;
  /** Tenant of a client id, or null; default: the part before the first ':' (`<tenant>:<clientid>`). */
  tenantOf?: (clientId: string) => string | null;
  /** Offline time after which a session (subscriptions, queue, in-flight state, will) is discarded. */
  sessionExpiryMs?: number;
  /** How often expired sessions are swept; default sessionExpiryMs / 2, clamped to 1 s..60 s. */
  sweepIntervalMs?: number;
}

export interface SqlitePersistenceStats {
  /** Messages refused by a full offline queue since this instance was created. */
  offlineDropped: number;
  offlineDroppedByTenant: Record<string, number>;
  retained: number;
  /** Stored subscriptions of persistent sessions, QoS 0 included. */
  subscriptions: number;
  /** Messages in all outgoing queues (offline and in flight). */
  queued: number;
  /** SQLite transactions committed by flushes. */
  flushes: number;
  flushErrors: number;
  /** Dirty rows waiting for the next flush. */
  pendingWrites: number;
  sessionsExpired: number;
}

export type { PersistenceBroker } from '../aedes-seam';

export interface PersistenceClient {
  id: string;
}

export interface Subscription {
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  subscriptionIdentifier?: number;
}

export interface TopicSubscription {
  clientId: string;
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
}

export interface FlushInfo {
  rows: number;
}

type SubscriptionRecord = Omit<Subscription, 'topic'>;

interface OutgoingEntry {
  seq: number;
  packet: PersistedPacket;
  /** A row exists on disk: deleting an entry that never got one needs no write. */
  persisted: boolean;
}

interface ClientQueue {
  tenant: string | null;
  entries: OutgoingEntry[];
}

interface IncomingEntry {
  packet: PersistedPacket;
  persisted: boolean;
}

function defaultTenantOf(clientId: string): string | null {
  const colon = clientId.indexOf(':');
  return colon > 0 ? clientId.slice(0, colon) : null;
}

function checkPositive(name: string, value: number | undefined, max = Number.MAX_SAFE_INTEGER): void {
  if (value === undefined) return;
  if (!Number.isFinite(value) || value <= 0 || value > max) {
    throw new RangeError(`${name} must be a number in (0, ${max}], got ${value}`);
  }
}

function hasWildcard(pattern: string): boolean {
  return pattern.includes('+') || pattern.includes('#');
}

/**
 * aedes persistence backed by SQLite; see the module comment for the design.
 *
 * Events: `flush` ({@link FlushInfo}) after each committed transaction,
 * `flushError` (Error) when a background flush fails and will be retried,
 * `sessionExpired` (clientId) for each session discarded by the sweep.
 */
export class SqlitePersistence extends EventEmitter {
  readonly #db: Database;
  readonly #ownsDb: boolean;
  readonly #stmts: PersistStatements;
  readonly #flushIntervalMs: number;
  readonly #maxPerClient: number | undefined;
  readonly #maxPerTenant: number | undefined;
  readonly #tenantOf: (clientId: string) => string | null;
  readonly #sessionExpiryMs: number | undefined;
  readonly #sweepIntervalMs: number;

  #broker: PersistenceBroker | undefined;
  #loaded = false;
  #destroyed = false;
  #flushTimer: NodeJS.Timeout | null = null;
  #sweepTimer: NodeJS.Timeout | null = null;
  readonly #touchListener = (client: PersistenceClient): void => this.touchClient(client.id);

  // In-memory state, the same indexes as aedes-persistence's memory store.
  #retained = new Map<string, PersistedPacket>();
  #subscriptions = new Map<string, Map<string, SubscriptionRecord>>();
  #trie = new QlobberSub(QLOBBER_OPTIONS);
  #outgoing = new Map<string, ClientQueue>();
  #incoming = new Map<string, Map<number, IncomingEntry>>();
  #wills = new Map<string, PersistedPacket>();
  #lastSeen = new Map<string, number>();
  #recentDrops = new Map<string, Set<string>>();
  #nextSeq = 1;

  // Dirty sets: the flush writes the current in-memory value of each key, so
  // any number of changes to one key between flushes costs one row write.
  #dirtyRetained = new Set<string>();
  #dirtySubscriptions = new Map<string, { clientId: string; topic: string }>();
  #dirtyOutgoing = new Map<number, { clientId: string; entry: OutgoingEntry | null }>();
  #dirtyIncoming = new Map<string, { clientId: string; messageId: number; entry: IncomingEntry | null }>();
  #dirtyWills = new Set<string>();
  #dirtyClients = new Set<string>();

  // Counters for stats()
  #subscriptionCount = 0;
  #queuedCount = 0;
  #tenantQueued = new Map<string, number>();
  #offlineDropped = 0;
  #offlineDroppedByTenant = new Map<string, number>();
  #flushes = 0;
  #flushErrors = 0;
  #sessionsExpired = 0;

  readonly #writeBatch: (written: Array<{ persisted: boolean }>) => number;

  constructor(opts: SqlitePersistenceOptions = {}) {
    super();
    if (opts.db && opts.path !== undefined) {
      throw new TypeError('give either db (a shared handle) or path, not both');
    }
    checkPositive('flushIntervalMs', opts.flushIntervalMs, MAX_FLUSH_INTERVAL_MS);
    checkPositive('maxOfflinePerClient', opts.maxOfflinePerClient);
    checkPositive('maxOfflinePerTenant', opts.maxOfflinePerTenant);
    checkPositive('sessionExpiryMs', opts.sessionExpiryMs);
    checkPositive('sweepIntervalMs', opts.sweepIntervalMs);

    this.#flushIntervalMs = opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.#maxPerClient = opts.maxOfflinePerClient;
    this.#maxPerTenant = opts.maxOfflinePerTenant;
    this.#tenantOf = opts.tenantOf ?? defaultTenantOf;
    this.#sessionExpiryMs = opts.sessionExpiryMs;
    this.#sweepIntervalMs =
      opts.sweepIntervalMs ??
      Math.min(Math.max((opts.sessionExpiryMs ?? MAX_SWEEP_INTERVAL_MS) / 2, 1000), MAX_SWEEP_INTERVAL_MS);

    this.#ownsDb = !opts.db;
    this.#db = opts.db ?? new BetterSqlite3(opts.path ?? ':memory:');
    try {
      if (this.#ownsDb) {
        // Whoever opens the file configures it: a shared handle keeps its
        // owner's settings (the registry opens WAL as well).
        this.#db.pragma('journal_mode = WAL');
        this.#db.pragma('synchronous = NORMAL');
      }
      createSchema(this.#db);
      this.#stmts = prepareStatements(this.#db);
    } catch (err) {
      if (this.#ownsDb) this.#db.close();
      throw err;
    }
    this.#writeBatch = this.#db.transaction((written: Array<{ persisted: boolean }>) => this.#writeDirty(written));
  }

  /** The broker given to setup(); the abstract test suite reads its id. */
  get broker(): PersistenceBroker | undefined {
    return this.#broker;
  }

  // aedes refuses a persistence whose setup is not an AsyncFunction.
  async setup(broker: PersistenceBroker): Promise<void> {
    this.#assertOpen();
    if (this.#broker !== broker) {
      this.#detachBroker();
      this.#broker = broker;
      if (typeof broker.on === 'function') {
        broker.on('client', this.#touchListener);
        broker.on('clientDisconnect', this.#touchListener);
      }
    }
    if (!this.#loaded) {
      this.#load();
      this.#loaded = true;
    }
    this.#advanceBrokerCounter(broker);
    if (this.#sessionExpiryMs !== undefined && !this.#sweepTimer) {
      this.#sweepTimer = setInterval(() => this.sweepExpiredSessions(), this.#sweepIntervalMs);
      this.#sweepTimer.unref();
    }
  }

  // ---- retained -----------------------------------------------------------

  async storeRetained(packet: PersistedPacket): Promise<void> {
    this.#assertOpen();
    const topic = packet.topic as string;
    // [MQTT-3.3.1-10] an empty retained payload deletes the retained message
    if (!packet.payload || packet.payload.length === 0) {
      this.#retained.delete(topic);
    } else {
      this.#retained.set(topic, plainCopy(packet));
    }
    this.#dirtyRetained.add(topic);
    this.#scheduleFlush();
  }

  createRetainedStream(pattern: string): Readable {
    return this.createRetainedStreamCombi([pattern]);
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    return Readable.from(this.#retainedMatching(patterns));
  }

  *#retainedMatching(patterns: string[]): Generator<PersistedPacket> {
    // Exact topics are direct lookups; all wildcard patterns share one pass
    // over the retained set. Each message is yielded once even when several
    // patterns match it.
    const exact = new Set<string>();
    let anchored: QlobberTrue | null = null;
    let leading: QlobberTrue | null = null;
    for (const pattern of patterns) {
      if (!hasWildcard(pattern)) {
        exact.add(pattern);
      } else if (pattern[0] === '+' || pattern[0] === '#') {
        leading ??= new QlobberTrue(QLOBBER_OPTIONS);
        leading.add(pattern);
      } else {
        anchored ??= new QlobberTrue(QLOBBER_OPTIONS);
        anchored.add(pattern);
      }
    }
    for (const topic of exact) {
      const packet = this.#retained.get(topic);
      if (packet) yield packet;
    }
    if (!anchored && !leading) return;
    for (const [topic, packet] of this.#retained) {
      if (exact.has(topic)) continue;
      // [MQTT-4.7.2-1] a filter starting with a wildcard does not match a topic starting with '$'
      const matched =
        (anchored !== null && anchored.test(topic)) ||
        (leading !== null && topic[0] !== '$' && leading.test(topic));
      if (matched) yield packet;
    }
  }

  // ---- subscriptions --------------------------------------------------------

  async addSubscriptions(client: PersistenceClient, subs: Subscription[]): Promise<void> {
    this.#assertOpen();
    for (const sub of subs) this.#putSubscription(client.id, sub);
    this.touchClient(client.id);
    this.#scheduleFlush();
  }

  async removeSubscriptions(client: PersistenceClient, topics: string[]): Promise<void> {
    this.#assertOpen();
    for (const topic of topics) this.#deleteSubscription(client.id, topic);
    this.#scheduleFlush();
  }

  async subscriptionsByClient(client: PersistenceClient): Promise<Subscription[]> {
    this.#assertOpen();
    // aedes calls this when a persistent client connects: it is a sign of life
    this.touchClient(client.id);
    const stored = this.#subscriptions.get(client.id);
    if (!stored) return [];
    return Array.from(stored, ([topic, record]) => ({ topic, ...record }));
  }

  async countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    return { subsCount: this.#trie.subscriptionsCount, clientsCount: this.#subscriptions.size };
  }

  async subscriptionsByTopic(pattern: string): Promise<TopicSubscription[]> {
    this.#assertOpen();
    return this.#trie.match(pattern);
  }

  async cleanSubscriptions(client: PersistenceClient): Promise<void> {
    this.#assertOpen();
    this.#dropSubscriptions(client.id);
    this.#scheduleFlush();
  }

  getClientList(topic: string): Readable {
    const subscriptions = this.#subscriptions;
    return Readable.from(
      (function* clientsOf() {
        for (const [clientId, stored] of subscriptions) {
          if (stored.has(topic)) yield clientId;
        }
      })(),
    );
  }

  #putSubscription(clientId: string, sub: Subscription): void {
    let stored = this.#subscriptions.get(clientId);
    if (!stored) {
      stored = new Map();
      this.#subscriptions.set(clientId, stored);
    }
    const previous = stored.get(sub.topic);
    const record: SubscriptionRecord = { qos: sub.qos, rh: sub.rh, rap: sub.rap, nl: sub.nl };
    if (sub.subscriptionIdentifier !== undefined) record.subscriptionIdentifier = sub.subscriptionIdentifier;
    // QoS 0 subscriptions are restored on reconnect but never queue offline
    // messages, so only QoS > 0 ones go into the matching trie.
    if (sub.qos > 0) {
      this.#trie.add(sub.topic, { clientId, topic: sub.topic, qos: sub.qos, rh: sub.rh, rap: sub.rap, nl: sub.nl });
    } else if (previous && previous.qos > 0) {
      this.#trie.remove(sub.topic, { clientId, topic: sub.topic });
    }
    if (!previous) this.#subscriptionCount++;
    stored.set(sub.topic, record);
    this.#dirtySubscriptions.set(clientId + SEP + sub.topic, { clientId, topic: sub.topic });
  }

  #deleteSubscription(clientId: string, topic: string): void {
    const stored = this.#subscriptions.get(clientId);
    const record = stored?.get(topic);
    if (!stored || !record) return;
    if (record.qos > 0) this.#trie.remove(topic, { clientId, topic });
    stored.delete(topic);
    this.#subscriptionCount--;
    if (stored.size === 0) this.#subscriptions.delete(clientId);
    this.#dirtySubscriptions.set(clientId + SEP + topic, { clientId, topic });
  }

  #dropSubscriptions(clientId: string): void {
    const stored = this.#subscriptions.get(clientId);
    if (!stored) return;
    for (const topic of Array.from(stored.keys())) this.#deleteSubscription(clientId, topic);
  }

  // ---- outgoing (offline queue and in-flight QoS 1/2) -------------------------

  async outgoingEnqueue(sub: { clientId: string }, packet: PersistedPacket): Promise<void> {
    this.#assertOpen();
    this.#enqueue(sub.clientId, packet);
    this.#scheduleFlush();
  }

  async outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: PersistedPacket): Promise<void> {
    this.#assertOpen();
    // One entry per matching subscription, even for the same client (a/# and
    // a/+), as in the memory store: aedes pairs the duplicate live delivery,
    // which it dedupes, with an outgoingClearMessageId that removes one entry.
    for (const sub of subs) this.#enqueue(sub.clientId, packet);
    this.#scheduleFlush();
  }

  async outgoingUpdate(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    this.#assertOpen();
    const queue = this.#outgoing.get(client.id);
    if (queue) {
      // Same matching as the memory store: a packet from this broker is found
      // by (brokerId, brokerCounter) and gets its new messageId, since the
      // 16-bit messageId wraps; anything else (PUBREL) replaces the entry
      // holding its messageId.
      for (const entry of queue.entries) {
        const stored = entry.packet;
        if (stored.brokerId === packet.brokerId) {
          if (stored.brokerCounter === packet.brokerCounter) {
            stored.messageId = packet.messageId;
            this.#markOutgoing(client.id, entry);
            return;
          }
        } else if (stored.messageId === packet.messageId) {
          entry.packet = plainCopy(packet);
          this.#markOutgoing(client.id, entry);
          return;
        }
      }
    }
    // A message dropped by a full queue while its client was reconnecting
    // (subscribed again but not yet registered) is still delivered live;
    // failing here would make aedes error and disconnect that client.
    if (this.#recentDrops.get(client.id)?.delete(dropKey(packet))) return;
    throw new Error('no such packet');
  }

  async outgoingClearMessageId(
    client: PersistenceClient,
    packet: PersistedPacket,
  ): Promise<PersistedPacket | undefined> {
    this.#assertOpen();
    const queue = this.#outgoing.get(client.id);
    if (!queue) return undefined;
    const messageId = packet?.messageId;
    const index = queue.entries.findIndex((entry) => entry.packet.messageId === messageId);
    if (index === -1) return undefined;
    const [entry] = queue.entries.splice(index, 1);
    this.#forgetOutgoing(client.id, queue, entry);
    return entry.packet;
  }

  outgoingStream(client: PersistenceClient): Readable {
    // A snapshot: aedes clears entries while it drains the stream.
    const queue = this.#outgoing.get(client.id);
    return Readable.from(queue ? queue.entries.map((entry) => entry.packet) : []);
  }

  #enqueue(clientId: string, packet: PersistedPacket): void {
    let queue = this.#outgoing.get(clientId);
    const tenant = queue ? queue.tenant : this.#tenantOf(clientId);
    if (this.#queueIsFull(clientId, queue, tenant)) {
      this.#recordDrop(clientId, tenant, packet);
      return;
    }
    if (!queue) {
      queue = { tenant, entries: [] };
      this.#outgoing.set(clientId, queue);
    }
    const entry: OutgoingEntry = { seq: this.#nextSeq++, packet: queuedCopy(packet), persisted: false };
    queue.entries.push(entry);
    this.#queuedCount++;
    if (tenant !== null) this.#tenantQueued.set(tenant, (this.#tenantQueued.get(tenant) ?? 0) + 1);
    this.#markOutgoing(clientId, entry);
  }

  /**
   * Limits apply to offline clients only. For a connected persistent client
   * the queue holds its in-flight messages, which aedes must be able to find
   * again in outgoingUpdate; a slow consumer there is aedes' drainTimeout's job.
   */
  #queueIsFull(clientId: string, queue: ClientQueue | undefined, tenant: string | null): boolean {
    if (this.#maxPerClient === undefined && this.#maxPerTenant === undefined) return false;
    if (this.#isConnected(clientId)) return false;
    if (this.#maxPerClient !== undefined && (queue?.entries.length ?? 0) >= this.#maxPerClient) return true;
    return (
      this.#maxPerTenant !== undefined &&
      tenant !== null &&
      (this.#tenantQueued.get(tenant) ?? 0) >= this.#maxPerTenant
    );
  }

  #recordDrop(clientId: string, tenant: string | null, packet: PersistedPacket): void {
    this.#offlineDropped++;
    if (tenant !== null) {
      this.#offlineDroppedByTenant.set(tenant, (this.#offlineDroppedByTenant.get(tenant) ?? 0) + 1);
    }
    let drops = this.#recentDrops.get(clientId);
    if (!drops) {
      drops = new Set();
      this.#recentDrops.set(clientId, drops);
    }
    drops.add(dropKey(packet));
    if (drops.size > RECENT_DROPS_PER_CLIENT) {
      drops.delete(drops.values().next().value as string);
    }
  }

  #isConnected(clientId: string): boolean {
    return this.#broker !== undefined && hasConnectedClient(this.#broker, clientId);
  }

  #markOutgoing(clientId: string, entry: OutgoingEntry): void {
    this.#dirtyOutgoing.set(entry.seq, { clientId, entry });
  }

  #forgetOutgoing(clientId: string, queue: ClientQueue, entry: OutgoingEntry): void {
    this.#queuedCount--;
    if (queue.tenant !== null) {
      const left = (this.#tenantQueued.get(queue.tenant) ?? 1) - 1;
      if (left > 0) this.#tenantQueued.set(queue.tenant, left);
      else this.#tenantQueued.delete(queue.tenant);
    }
    if (queue.entries.length === 0) this.#outgoing.delete(clientId);
    if (entry.persisted) this.#dirtyOutgoing.set(entry.seq, { clientId, entry: null });
    else this.#dirtyOutgoing.delete(entry.seq);
    this.#scheduleFlush();
  }

  #dropQueue(clientId: string): void {
    const queue = this.#outgoing.get(clientId);
    if (!queue) return;
    const entries = queue.entries;
    queue.entries = [];
    for (const entry of entries) this.#forgetOutgoing(clientId, queue, entry);
  }

  // ---- incoming QoS 2 -----------------------------------------------------

  async incomingStorePacket(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    this.#assertOpen();
    let store = this.#incoming.get(client.id);
    if (!store) {
      store = new Map();
      this.#incoming.set(client.id, store);
    }
    const messageId = packet.messageId as number;
    const copy = queuedCopy(packet);
    copy.messageId = messageId;
    const entry: IncomingEntry = { packet: copy, persisted: store.get(messageId)?.persisted ?? false };
    store.set(messageId, entry);
    this.#dirtyIncoming.set(client.id + SEP + messageId, { clientId: client.id, messageId, entry });
    this.#scheduleFlush();
  }

  async incomingGetPacket(client: PersistenceClient, packet: PersistedPacket): Promise<PersistedPacket> {
    this.#assertOpen();
    const entry = this.#incoming.get(client.id)?.get(packet.messageId as number);
    if (!entry) throw new Error('no such packet');
    return entry.packet;
  }

  async incomingDelPacket(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    this.#assertOpen();
    const store = this.#incoming.get(client.id);
    const messageId = packet.messageId as number;
    const entry = store?.get(messageId);
    if (!store || !entry) throw new Error('no such packet');
    this.#forgetIncoming(client.id, store, messageId, entry);
  }

  // [MQTT-3.1.2-6] the QoS 2 dedup state ends with a clean session
  async cleanIncoming(client: PersistenceClient): Promise<void> {
    this.#assertOpen();
    this.#dropIncoming(client.id);
  }

  #forgetIncoming(clientId: string, store: Map<number, IncomingEntry>, messageId: number, entry: IncomingEntry): void {
    store.delete(messageId);
    if (store.size === 0) this.#incoming.delete(clientId);
    const key = clientId + SEP + messageId;
    if (entry.persisted) this.#dirtyIncoming.set(key, { clientId, messageId, entry: null });
    else this.#dirtyIncoming.delete(key);
    this.#scheduleFlush();
  }

  #dropIncoming(clientId: string): void {
    const store = this.#incoming.get(clientId);
    if (!store) return;
    for (const [messageId, entry] of Array.from(store)) this.#forgetIncoming(clientId, store, messageId, entry);
  }

  // ---- wills ---------------------------------------------------------------

  async putWill(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    this.#assertOpen();
    // Stamped on the caller's packet, as the memory store does: aedes reads
    // brokerId/clientId back from the will it keeps.
    packet.brokerId = this.#broker?.id;
    packet.clientId = client.id;
    this.#wills.set(client.id, plainCopy(packet));
    this.#dirtyWills.add(client.id);
    this.touchClient(client.id);
    this.#scheduleFlush();
  }

  async getWill(client: PersistenceClient): Promise<PersistedPacket | undefined> {
    this.#assertOpen();
    return this.#wills.get(client.id);
  }

  async delWill(client: PersistenceClient): Promise<PersistedPacket | undefined> {
    this.#assertOpen();
    const will = this.#wills.get(client.id);
    if (will) {
      this.#wills.delete(client.id);
      this.#dirtyWills.add(client.id);
      this.#scheduleFlush();
    }
    return will;
  }

  /** Wills of brokers not in `brokers`: after a restart, every stored will (aedes then publishes them). */
  streamWill(brokers: Record<string, unknown> = {}): Readable {
    const wills = this.#wills;
    return Readable.from(
      (function* orphanWills() {
        for (const will of wills.values()) {
          const id = will.brokerId as string;
          if (!Object.prototype.hasOwnProperty.call(brokers, id) || !brokers[id]) yield will;
        }
      })(),
    );
  }

  // ---- session expiry -------------------------------------------------------

  /**
   * Records that a client was seen (connect or disconnect). aedes' `client`
   * and `clientDisconnect` events already call this when setup() got a real
   * broker; the engine may call it too. A no-op without `sessionExpiryMs`.
   */
  touchClient(clientId: string, at: number = Date.now()): void {
    if (this.#sessionExpiryMs === undefined || this.#destroyed) return;
    this.#lastSeen.set(clientId, at);
    this.#dirtyClients.add(clientId);
    this.#scheduleFlush();
  }

  /**
   * Discards the session of every client offline for longer than
   * `sessionExpiryMs` at time `now`: subscriptions, queue, in-flight QoS 2
   * state and will. Runs on a timer; callable directly. Returns the count.
   */
  sweepExpiredSessions(now: number = Date.now()): number {
    const expiry = this.#sessionExpiryMs;
    if (expiry === undefined || this.#destroyed) return 0;
    let expired = 0;
    for (const [clientId, seen] of this.#lastSeen) {
      if (now - seen <= expiry) continue;
      if (this.#isConnected(clientId)) {
        this.touchClient(clientId, now);
        continue;
      }
      this.#dropSession(clientId);
      expired++;
      this.#sessionsExpired++;
      this.emit('sessionExpired', clientId);
    }
    if (expired > 0) this.#scheduleFlush();
    return expired;
  }

  #dropSession(clientId: string): void {
    this.#dropSubscriptions(clientId);
    this.#dropQueue(clientId);
    this.#dropIncoming(clientId);
    if (this.#wills.delete(clientId)) this.#dirtyWills.add(clientId);
    this.#recentDrops.delete(clientId);
    this.#lastSeen.delete(clientId);
    this.#dirtyClients.add(clientId);
  }

  // ---- lifecycle, flushing, stats ------------------------------------------

  stats(): SqlitePersistenceStats {
    return {
      offlineDropped: this.#offlineDropped,
      offlineDroppedByTenant: Object.fromEntries(this.#offlineDroppedByTenant),
      retained: this.#retained.size,
      subscriptions: this.#subscriptionCount,
      queued: this.#queuedCount,
      flushes: this.#flushes,
      flushErrors: this.#flushErrors,
      pendingWrites: this.#pendingWrites(),
      sessionsExpired: this.#sessionsExpired,
    };
  }

  /**
   * What is kept for a part of the tree, from the memory indexes: retained
   * messages on topics `inside` accepts, and sessions of client ids `owns`
   * accepts (subscriptions or queued messages; a will or in-flight QoS 2
   * state only while offline: a connected client's end with its connection).
   * Null once destroyed.
   */
  heldFor(inside: (topic: string) => boolean, owns: (clientId: string) => boolean): StoredFigures | null {
    // destroyed, the indexes are empty and the tables hold everything (see storedInFile)
    if (this.#destroyed) return null;
    let retained = 0;
    for (const topic of this.#retained.keys()) if (inside(topic)) retained++;
    const sessions = new Set<string>();
    for (const id of [...this.#subscriptions.keys(), ...this.#outgoing.keys()]) if (owns(id)) sessions.add(id);
    for (const id of [...this.#incoming.keys(), ...this.#wills.keys()]) if (owns(id) && !this.#isConnected(id)) sessions.add(id);
    return { retained, sessions: sessions.size };
  }

  /**
   * Drops what a tenant leaves behind: retained messages on topics `inside`
   * accepts and every session (subscriptions, queue, in-flight state, will)
   * of client ids `owns` accepts. Null once destroyed (see forgetInFile).
   */
  forgetFor(inside: (topic: string) => boolean, owns: (clientId: string) => boolean): StoredFigures | null {
    if (this.#destroyed) return null;
    let retained = 0;
    for (const topic of [...this.#retained.keys()]) {
      if (!inside(topic)) continue;
      this.#retained.delete(topic);
      this.#dirtyRetained.add(topic);
      retained++;
    }
    const ids = new Set([...this.#subscriptions.keys(), ...this.#outgoing.keys(), ...this.#incoming.keys(), ...this.#wills.keys(), ...this.#lastSeen.keys()].filter(owns));
    for (const id of ids) this.#dropSession(id);
    if (retained > 0 || ids.size > 0) this.#scheduleFlush();
    return { retained, sessions: ids.size };
  }

  /** Writes everything pending now, in one transaction. Rejects if the write fails. */
  async flush(): Promise<void> {
    this.#assertOpen();
    this.#flushNow();
  }

  /** Flushes what is pending, stops the timers and closes the database if this instance opened it. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    this.#sweepTimer = null;
    this.#detachBroker();
    try {
      if (this.#db.open) this.#flushNow();
      else if (this.#pendingWrites() > 0) {
        // a shared handle closed by its owner before this destroy()
        throw new Error(`database closed before the final flush: ${this.#pendingWrites()} writes lost`);
      }
    } finally {
      if (this.#flushTimer) clearTimeout(this.#flushTimer);
      this.#flushTimer = null;
      if (this.#ownsDb && this.#db.open) this.#db.close();
      this.#retained.clear();
      this.#subscriptions.clear();
      this.#outgoing.clear();
      this.#incoming.clear();
      this.#wills.clear();
      this.#lastSeen.clear();
      this.#recentDrops.clear();
    }
  }

  #assertOpen(): void {
    if (this.#destroyed) throw new Error('SqlitePersistence is destroyed');
  }

  #detachBroker(): void {
    const broker = this.#broker;
    if (broker && typeof broker.removeListener === 'function') {
      broker.removeListener('client', this.#touchListener);
      broker.removeListener('clientDisconnect', this.#touchListener);
    }
  }

  #pendingWrites(): number {
    return (
      this.#dirtyRetained.size +
      this.#dirtySubscriptions.size +
      this.#dirtyOutgoing.size +
      this.#dirtyIncoming.size +
      this.#dirtyWills.size +
      this.#dirtyClients.size
    );
  }

  // One timer per interval, started by the first write after a flush, so
  // there is at most one transaction per interval and no write waits longer
  // than one interval. Not unref'd: a process that stops doing anything else
  // still commits its last writes before it exits.
  #scheduleFlush(): void {
    if (this.#flushTimer || this.#destroyed) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = null;
      try {
        this.#flushNow();
      } catch (err) {
        this.emit('flushError', err);
      }
    }, this.#flushIntervalMs);
  }

  #flushNow(): void {
    if (this.#flushTimer) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = null;
    }
    if (this.#pendingWrites() === 0) return;
    const written: Array<{ persisted: boolean }> = [];
    let rows: number;
    try {
      rows = this.#writeBatch(written);
    } catch (err) {
      // The dirty sets are untouched by the rolled-back transaction: retry
      // them with whatever else is written in the meantime.
      this.#flushErrors++;
      this.#scheduleFlush();
      throw err;
    }
    // Only after the commit: a rolled-back row must still count as absent.
    for (const entry of written) entry.persisted = true;
    this.#dirtyRetained.clear();
    this.#dirtySubscriptions.clear();
    this.#dirtyOutgoing.clear();
    this.#dirtyIncoming.clear();
    this.#dirtyWills.clear();
    this.#dirtyClients.clear();
    this.#flushes++;
    this.emit('flush', { rows } satisfies FlushInfo);
  }

  /** Runs inside the flush transaction; returns the number of rows written. */
  #writeDirty(written: Array<{ persisted: boolean }>): number {
    const s = this.#stmts;
    for (const topic of this.#dirtyRetained) {
      const packet = this.#retained.get(topic);
      if (packet) s.upsertRetained.run(topic, encodePacket(packet));
      else s.deleteRetained.run(topic);
    }
    for (const { clientId, topic } of this.#dirtySubscriptions.values()) {
      const record = this.#subscriptions.get(clientId)?.get(topic);
      if (record) {
        const { qos, ...options } = record;
        s.upsertSubscription.run(clientId, topic, qos, JSON.stringify(options));
      } else {
        s.deleteSubscription.run(clientId, topic);
      }
    }
    for (const [seq, { clientId, entry }] of this.#dirtyOutgoing) {
      if (entry) {
        s.upsertOutgoing.run(seq, clientId, encodePacket(entry.packet));
        written.push(entry);
      } else {
        s.deleteOutgoing.run(seq);
      }
    }
    for (const { clientId, messageId, entry } of this.#dirtyIncoming.values()) {
      if (entry) {
        s.upsertIncoming.run(clientId, messageId, encodePacket(entry.packet));
        written.push(entry);
      } else {
        s.deleteIncoming.run(clientId, messageId);
      }
    }
    for (const clientId of this.#dirtyWills) {
      const will = this.#wills.get(clientId);
      if (will) s.upsertWill.run(clientId, encodePacket(will));
      else s.deleteWill.run(clientId);
    }
    for (const clientId of this.#dirtyClients) {
      const seen = this.#lastSeen.get(clientId);
      if (seen !== undefined) s.upsertClient.run(clientId, seen);
      else s.deleteClient.run(clientId);
    }
    return this.#pendingWrites();
  }

  /** Rebuilds every memory index from the tables (once, on the first setup). */
  #load(): void {
    const s = this.#stmts;
    for (const row of s.selectRetained.iterate()) {
      this.#retained.set(row.topic, decodePacket(row.packet));
    }
    for (const row of s.selectSubscriptions.iterate()) {
      const options = JSON.parse(row.options) as Omit<SubscriptionRecord, 'qos'>;
      this.#putSubscription(row.client_id, {
        topic: row.topic,
        qos: row.qos,
        rh: options.rh,
        rap: options.rap,
        nl: options.nl,
        ...(options.subscriptionIdentifier !== undefined && { subscriptionIdentifier: options.subscriptionIdentifier }),
      });
    }
    this.#dirtySubscriptions.clear();
    for (const row of s.selectOutgoing.iterate()) {
      let queue = this.#outgoing.get(row.client_id);
      if (!queue) {
        queue = { tenant: this.#tenantOf(row.client_id), entries: [] };
        this.#outgoing.set(row.client_id, queue);
      }
      queue.entries.push({ seq: row.seq, packet: decodePacket(row.packet), persisted: true });
      this.#queuedCount++;
      if (queue.tenant !== null) {
        this.#tenantQueued.set(queue.tenant, (this.#tenantQueued.get(queue.tenant) ?? 0) + 1);
      }
      this.#nextSeq = Math.max(this.#nextSeq, row.seq + 1);
    }
    for (const row of s.selectIncoming.iterate()) {
      let store = this.#incoming.get(row.client_id);
      if (!store) {
        store = new Map();
        this.#incoming.set(row.client_id, store);
      }
      store.set(row.message_id, { packet: decodePacket(row.packet), persisted: true });
    }
    for (const row of s.selectWills.iterate()) {
      this.#wills.set(row.client_id, decodePacket(row.packet));
    }
    if (this.#sessionExpiryMs !== undefined) this.#loadLastSeen();
  }

  /**
   * aedes finds an in-flight packet by (brokerId, brokerCounter). A broker
   * restarted with a fixed `id` starts counting at 0 again, so its new
   * packets would collide with restored ones; continuing after the highest
   * restored counter of that id keeps the pair unique.
   */
  #advanceBrokerCounter(broker: PersistenceBroker): void {
    const counter = brokerCounter(broker);
    if (counter === undefined) return;
    let highest = counter;
    const consider = (packet: PersistedPacket): void => {
      if (packet.brokerId === broker.id && typeof packet.brokerCounter === 'number') {
        highest = Math.max(highest, packet.brokerCounter);
      }
    };
    for (const queue of this.#outgoing.values()) for (const entry of queue.entries) consider(entry.packet);
    for (const store of this.#incoming.values()) for (const entry of store.values()) consider(entry.packet);
    this.#retained.forEach(consider);
    setBrokerCounter(broker, highest);
  }

  // The broker's downtime counts as offline time (as with mosquitto's
  // persistent_client_expiration). A session with state but no last-seen row
  // (stored while expiry was off) starts its clock at this load.
  #loadLastSeen(): void {
    for (const row of this.#stmts.selectClients.iterate()) {
      this.#lastSeen.set(row.client_id, row.last_seen);
    }
    const now = Date.now();
    const holders = [this.#subscriptions.keys(), this.#outgoing.keys(), this.#incoming.keys(), this.#wills.keys()];
    for (const ids of holders) {
      for (const clientId of ids) {
        if (!this.#lastSeen.has(clientId)) this.touchClient(clientId, now);
      }
    }
  }
}

function dropKey(packet: PersistedPacket): string {
  return `${packet.brokerId}${SEP}${packet.brokerCounter}`;
}

/** Creates an aedes persistence on SQLite; pass it as `persistence` to `Aedes.createBroker()`. */
/** Retained messages and sessions kept for a tenant (see heldFor). */
export interface StoredFigures {
  retained: number;
  sessions: number;
}

/**
 * heldFor from the tables, for while no persistence has them loaded (the
 * broker is not running): everything stored then belongs to offline clients.
 */
export function storedInFile(db: Database, inside: (topic: string) => boolean, owns: (clientId: string) => boolean): StoredFigures {
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'persist_retained'").get()) return { retained: 0, sessions: 0 };
  let retained = 0;
  for (const row of db.prepare('SELECT topic FROM persist_retained').iterate() as Iterable<{ topic: string }>) if (inside(row.topic)) retained++;
  let sessions = 0;
  const ids = db.prepare('SELECT client_id FROM persist_subscriptions UNION SELECT client_id FROM persist_outgoing UNION SELECT client_id FROM persist_incoming UNION SELECT client_id FROM persist_wills');
  for (const row of ids.iterate() as Iterable<{ client_id: string }>) if (owns(row.client_id)) sessions++;
  return { retained, sessions };
}

/** forgetFor on the tables, for while no persistence has them loaded (the broker is not running). */
export function forgetInFile(db: Database, inside: (topic: string) => boolean, owns: (clientId: string) => boolean): StoredFigures {
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'persist_retained'").get()) return { retained: 0, sessions: 0 };
  return db.transaction(() => {
    const topics = (db.prepare('SELECT topic FROM persist_retained').all() as Array<{ topic: string }>).map((r) => r.topic).filter(inside);
    for (const topic of topics) db.prepare('DELETE FROM persist_retained WHERE topic = ?').run(topic);
    const ids = db.prepare('SELECT client_id FROM persist_subscriptions UNION SELECT client_id FROM persist_outgoing UNION SELECT client_id FROM persist_incoming UNION SELECT client_id FROM persist_wills UNION SELECT client_id FROM persist_clients');
    const owned = (ids.all() as Array<{ client_id: string }>).map((r) => r.client_id).filter(owns);
    for (const id of owned) {
      for (const table of ['persist_subscriptions', 'persist_outgoing', 'persist_incoming', 'persist_wills', 'persist_clients']) db.prepare(`DELETE FROM ${table} WHERE client_id = ?`).run(id);
    }
    return { retained: topics.length, sessions: owned.length };
  })();
}

export function createSqlitePersistence(opts: SqlitePersistenceOptions = {}): SqlitePersistence {
  return new SqlitePersistence(opts);
}
