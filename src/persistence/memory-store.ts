/**
 * An aedes 1.x persistence in memory: the reference memory store of
 * aedes-persistence (Maps plus a qlobber subscription trie), with what the
 * broker needs beyond it: bounded queues, retained accounting per tenant,
 * session expiry and the removal of everything a tenant owned.
 *
 * Every change is told to a journal. In memory alone the journal does
 * nothing; `SqlitePersistence` gives it a write-behind journal that commits
 * the changes to SQLite in batches, and restores this store from the tables
 * on setup().
 */
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { plainCopy, queuedCopy, type PersistedPacket } from './packet-codec';
import { brokerCounter, hasConnectedClient, setBrokerCounter, type PersistenceBroker } from '../aedes-seam';
import { NO_JOURNAL, type Journal, type StoredState } from './journal';
import { OutgoingQueues } from './outgoing-queues';
import { firstLevelOwner, RetainedIndex, type RetainedQuota, type RetainedRefused } from './retained-index';
import type { QueueBounds } from '../tenancy/quotas';
import { SubscriptionIndex, type Subscription, type TopicSubscription } from './subscription-index';

export type { Subscription, SubscriptionRecord, TopicSubscription } from './subscription-index';

export type { PersistedPacket } from './packet-codec';
export type { PersistenceBroker } from '../aedes-seam';
export type { RetainedRefused } from './retained-index';

/** The sweep never waits longer than this, whatever the expiry. */
const MAX_SWEEP_INTERVAL_MS = 60_000;

export interface MemoryPersistenceOptions {
  /** Most messages queued for one client (offline, or in flight unacknowledged); past it the oldest is dropped and counted. */
  maxOfflinePerClient?: number;
  /** Most messages queued across one tenant's clients; past it the tenant's oldest is dropped and counted. */
  maxOfflinePerTenant?: number;
  /** Most payload and topic bytes queued across one tenant's clients. */
  maxQueuedBytesPerTenant?: number;
  /** The bounds of each client's queue, asked at every enqueue; replaces the three above (the broker's tenants have their own). */
  queueBounds?: (clientId: string, tenant: string | null) => QueueBounds;
  /** The retained quota of a topic's owner (its first level), asked at every retained publish; default none. */
  retainedQuota?: RetainedQuota;
  /** The owner (tenant) of a topic's namespace; default its first level. */
  ownerOfTopic?: (topic: string) => string;
  /** Tenant of a client id, or null; default: the part before the first ':' (`<tenant>:<clientid>`). */
  tenantOf?: (clientId: string) => string | null;
  /** The login a client id belongs to (what `removeLogin` names), or null; default: the part before the first ':'. */
  loginOf?: (clientId: string) => string | null;
  /** Offline time after which a session (subscriptions, queue, in-flight state, will) is discarded. */
  sessionExpiryMs?: number;
  /** How often expired sessions are swept; default sessionExpiryMs / 2, clamped to 1 s..60 s. */
  sweepIntervalMs?: number;
}

export interface PersistenceStats {
  /** Messages a full queue dropped (offline or in flight) since this instance was created. */
  offlineDropped: number;
  offlineDroppedByTenant: Record<string, number>;
  retained: number;
  /** Stored subscriptions of persistent sessions, QoS 0 included. */
  subscriptions: number;
  /** Messages in all outgoing queues (offline and in flight). */
  queued: number;
  /** SQLite transactions committed by flushes (0 in memory). */
  flushes: number;
  flushErrors: number;
  /** Dirty rows waiting for the next flush. */
  pendingWrites: number;
  sessionsExpired: number;
}

export interface PersistenceClient {
  id: string;
}

export interface IncomingEntry {
  packet: PersistedPacket;
  persisted: boolean;
}

function defaultTenantOf(clientId: string): string | null {
  const colon = clientId.indexOf(':');
  return colon > 0 ? clientId.slice(0, colon) : null;
}

export function checkPositive(name: string, value: number | undefined, max = Number.MAX_SAFE_INTEGER): void {
  if (value === undefined) return;
  if (!Number.isFinite(value) || value <= 0 || value > max) {
    throw new RangeError(`${name} must be a number in (0, ${max}], got ${value}`);
  }
}

export function checkMemoryOptions(opts: MemoryPersistenceOptions): void {
  checkPositive('maxOfflinePerClient', opts.maxOfflinePerClient);
  checkPositive('maxOfflinePerTenant', opts.maxOfflinePerTenant);
  checkPositive('maxQueuedBytesPerTenant', opts.maxQueuedBytesPerTenant);
  checkPositive('sessionExpiryMs', opts.sessionExpiryMs);
  checkPositive('sweepIntervalMs', opts.sweepIntervalMs);
}

/** A message a full queue dropped: the oldest of the client's (or its tenant's) queue, or the new one. */
export interface QueueOverflow {
  clientId: string;
  tenant: string | null;
}

/**
 * aedes persistence in memory; see the module comment.
 *
 * Events: `sessionExpired` (clientId) for each session discarded by the sweep,
 * `queueOverflow` ({@link QueueOverflow}) for each message a bound dropped,
 * `retainedRefused` ({@link RetainedRefused}) for each retained publish not kept.
 */
export class MemoryPersistence extends EventEmitter {
  readonly #journal: Journal;
  readonly #sessionExpiryMs: number | undefined;
  readonly #sweepIntervalMs: number;

  #broker: PersistenceBroker | undefined;
  #loaded = false;
  #destroyed = false;
  #sweepTimer: NodeJS.Timeout | null = null;
  readonly #touchListener = (client: PersistenceClient): void => this.touchClient(client.id);

  readonly #retained: RetainedIndex;
  readonly #tenantOf: (clientId: string) => string | null;
  readonly #ownerOfTopic: (topic: string) => string;
  readonly #loginOf: (clientId: string) => string | null;
  /** Tenants removed (and purged) whose name has not been given to a new tenant since. */
  readonly #removed = new Set<string>();
  /** Logins (devices) removed (and purged) whose name has not been given to a new login since. */
  readonly #removedLogins = new Set<string>();
  readonly #outgoing: OutgoingQueues;
  readonly #subscriptions: SubscriptionIndex;
  #incoming = new Map<string, Map<number, IncomingEntry>>();
  #wills = new Map<string, PersistedPacket>();
  #lastSeen = new Map<string, number>();

  #sessionsExpired = 0;

  constructor(opts: MemoryPersistenceOptions = {}, journal: Journal = NO_JOURNAL) {
    super();
    checkMemoryOptions(opts);
    this.#journal = journal;
    this.#subscriptions = new SubscriptionIndex(journal);
    this.#ownerOfTopic = opts.ownerOfTopic ?? firstLevelOwner;
    this.#retained = new RetainedIndex(journal, opts.retainedQuota ?? (() => undefined), (event) => this.emit('retainedRefused', event satisfies RetainedRefused), this.#ownerOfTopic);
    this.#tenantOf = opts.tenantOf ?? defaultTenantOf;
    this.#loginOf = opts.loginOf ?? defaultTenantOf;
    const fixed: QueueBounds = { clientMessages: opts.maxOfflinePerClient ?? 0, clientBytes: 0, tenantMessages: opts.maxOfflinePerTenant ?? 0, tenantBytes: opts.maxQueuedBytesPerTenant ?? 0 };
    this.#outgoing = new OutgoingQueues(journal, {
      tenantOf: this.#tenantOf,
      bounds: opts.queueBounds ?? (() => fixed),
      onDrop: (clientId, tenant) => this.emit('queueOverflow', { clientId, tenant } satisfies QueueOverflow),
    });
    this.#sessionExpiryMs = opts.sessionExpiryMs;
    this.#sweepIntervalMs =
      opts.sweepIntervalMs ??
      Math.min(Math.max((opts.sessionExpiryMs ?? MAX_SWEEP_INTERVAL_MS) / 2, 1000), MAX_SWEEP_INTERVAL_MS);
  }

  /** The broker given to setup(); the abstract test suite reads its id. */
  get broker(): PersistenceBroker | undefined {
    return this.#broker;
  }

  /** What a durable store had before this start; nothing in memory. */
  protected storedState(): StoredState | null {
    return null;
  }

  // aedes refuses a persistence whose setup is not an AsyncFunction.
  async setup(broker: PersistenceBroker): Promise<void> {
    this.assertOpen();
    if (this.#broker !== broker) {
      this.#detachBroker();
      this.#broker = broker;
      if (typeof broker.on === 'function') {
        broker.on('client', this.#touchListener);
        broker.on('clientDisconnect', this.#touchListener);
      }
    }
    if (!this.#loaded) {
      const state = this.storedState();
      if (state) this.#restore(state);
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
    this.assertOpen();
    if (this.#removed.size > 0 && this.#removed.has(this.#ownerOfTopic(packet.topic as string))) {
      packet.retain = false;
      return;
    }
    this.#retained.store(packet);
  }

  createRetainedStream(pattern: string): Readable {
    return this.createRetainedStreamCombi([pattern]);
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    return Readable.from(this.#retained.matching(patterns));
  }

  /** Retained messages and bytes in an owner's namespace (a topic's first level). */
  retainedUsage(owner: string): { messages: number; bytes: number } {
    return this.#retained.usage(owner);
  }

  // ---- subscriptions --------------------------------------------------------

  async addSubscriptions(client: PersistenceClient, subs: Subscription[]): Promise<void> {
    this.assertOpen();
    if (this.#gone(client.id)) return;
    for (const sub of subs) this.#subscriptions.put(client.id, sub);
    this.touchClient(client.id);
  }

  async removeSubscriptions(client: PersistenceClient, topics: string[]): Promise<void> {
    this.assertOpen();
    for (const topic of topics) this.#subscriptions.delete(client.id, topic);
  }

  async subscriptionsByClient(client: PersistenceClient): Promise<Subscription[]> {
    this.assertOpen();
    // aedes calls this when a persistent client connects: it is a sign of life
    this.touchClient(client.id);
    return this.#subscriptions.of(client.id);
  }

  async countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    return { subsCount: this.#subscriptions.matchable, clientsCount: this.#subscriptions.clientCount };
  }

  async subscriptionsByTopic(pattern: string): Promise<TopicSubscription[]> {
    this.assertOpen();
    return this.#subscriptions.match(pattern);
  }

  async cleanSubscriptions(client: PersistenceClient): Promise<void> {
    this.assertOpen();
    this.#subscriptions.drop(client.id);
  }

  getClientList(topic: string): Readable {
    return Readable.from(this.#subscriptions.clientsWith(topic));
  }

  // ---- outgoing (offline queue and in-flight QoS 1/2) -------------------------

  async outgoingEnqueue(sub: { clientId: string }, packet: PersistedPacket): Promise<void> {
    this.assertOpen();
    if (!this.#gone(sub.clientId)) this.#outgoing.enqueue(sub.clientId, packet);
  }

  async outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: PersistedPacket): Promise<void> {
    this.assertOpen();
    // One entry per matching subscription, even for the same client (a/# and
    // a/+), as in the memory store: aedes pairs the duplicate live delivery,
    // which it dedupes, with an outgoingClearMessageId that removes one entry.
    for (const sub of subs) if (!this.#gone(sub.clientId)) this.#outgoing.enqueue(sub.clientId, packet);
  }

  async outgoingUpdate(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    this.assertOpen();
    this.#outgoing.update(client.id, packet);
  }

  async outgoingClearMessageId(client: PersistenceClient, packet: PersistedPacket): Promise<PersistedPacket | undefined> {
    this.assertOpen();
    return this.#outgoing.clearMessageId(client.id, packet?.messageId);
  }

  outgoingStream(client: PersistenceClient): Readable {
    return Readable.from(this.#outgoing.snapshot(client.id));
  }

  #isConnected(clientId: string): boolean {
    return this.#broker !== undefined && hasConnectedClient(this.#broker, clientId);
  }

  // ---- incoming QoS 2 -----------------------------------------------------

  async incomingStorePacket(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    this.assertOpen();
    if (this.#gone(client.id)) return;
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
    this.#journal.incoming(client.id, messageId, entry, true);
  }

  async incomingGetPacket(client: PersistenceClient, packet: PersistedPacket): Promise<PersistedPacket> {
    this.assertOpen();
    const entry = this.#incoming.get(client.id)?.get(packet.messageId as number);
    if (!entry) throw new Error('no such packet');
    return entry.packet;
  }

  async incomingDelPacket(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    this.assertOpen();
    const store = this.#incoming.get(client.id);
    const messageId = packet.messageId as number;
    const entry = store?.get(messageId);
    if (!store || !entry) throw new Error('no such packet');
    this.#forgetIncoming(client.id, store, messageId, entry);
  }

  // [MQTT-3.1.2-6] the QoS 2 dedup state ends with a clean session
  async cleanIncoming(client: PersistenceClient): Promise<void> {
    this.assertOpen();
    this.#dropIncoming(client.id);
  }

  #forgetIncoming(clientId: string, store: Map<number, IncomingEntry>, messageId: number, entry: IncomingEntry): void {
    store.delete(messageId);
    if (store.size === 0) this.#incoming.delete(clientId);
    this.#journal.incoming(clientId, messageId, entry, false);
  }

  #dropIncoming(clientId: string): void {
    const store = this.#incoming.get(clientId);
    if (!store) return;
    for (const [messageId, entry] of Array.from(store)) this.#forgetIncoming(clientId, store, messageId, entry);
  }

  // ---- wills ---------------------------------------------------------------

  async putWill(client: PersistenceClient, packet: PersistedPacket): Promise<void> {
    this.assertOpen();
    // Stamped on the caller's packet, as the memory store does: aedes reads
    // brokerId/clientId back from the will it keeps.
    packet.brokerId = this.#broker?.id;
    packet.clientId = client.id;
    if (this.#gone(client.id)) return;
    const copy = plainCopy(packet);
    this.#wills.set(client.id, copy);
    this.#journal.will(client.id, copy);
    this.touchClient(client.id);
  }

  async getWill(client: PersistenceClient): Promise<PersistedPacket | undefined> {
    this.assertOpen();
    return this.#wills.get(client.id);
  }

  async delWill(client: PersistenceClient): Promise<PersistedPacket | undefined> {
    this.assertOpen();
    const will = this.#wills.get(client.id);
    if (will) {
      this.#wills.delete(client.id);
      this.#journal.will(client.id, null);
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
    if (this.#sessionExpiryMs === undefined || this.#destroyed || this.#gone(clientId)) return;
    this.#lastSeen.set(clientId, at);
    this.#journal.seen(clientId, at);
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
    return expired;
  }

  #dropSession(clientId: string): void {
    this.#subscriptions.drop(clientId);
    this.#outgoing.drop(clientId);
    this.#dropIncoming(clientId);
    if (this.#wills.delete(clientId)) this.#journal.will(clientId, null);
    if (this.#lastSeen.delete(clientId)) this.#journal.seen(clientId, null);
  }

  // ---- tenants ---------------------------------------------------------------

  /**
   * Removes, at once, everything a removed tenant owned: the retained
   * messages of its namespace and every session of its clients (subscriptions,
   * queues, in-flight state, wills), and commits it (durably, for SQLite).
   * Until `openTenant`, nothing more is kept for that tenant: its kicked
   * clients' packets still on their way are not stored.
   */
  removeTenant(tenant: string): void {
    this.assertOpen();
    this.#removed.add(tenant);
    this.#purge((clientId) => this.#tenantOf(clientId) === tenant, tenant);
  }

  /** A tenant of this name (new): it inherits nothing, whatever was left under its name (a crash, an outside edit). */
  openTenant(tenant: string): void {
    this.assertOpen();
    this.#purge((clientId) => this.#tenantOf(clientId) === tenant, tenant);
    this.#removed.delete(tenant);
  }

  /** Drops the sessions of clients whose user is neither a tenant nor root (tenants removed while the broker was down). */
  dropOrphanSessions(isOwner: (user: string) => boolean): number {
    this.assertOpen();
    return this.#purge((clientId) => {
      const user = this.#tenantOf(clientId);
      return user !== null && !isOwner(user);
    }, null);
  }

  /**
   * Removes, at once, every session of a removed login (a device): its
   * subscriptions, queues, in-flight state and will, and commits it. Until
   * `openLogin`, nothing more is kept for it: its kicked clients' packets
   * still on their way are not stored.
   */
  removeLogin(login: string): void {
    this.assertOpen();
    this.#removedLogins.add(login);
    this.#purge((clientId) => this.#loginOf(clientId) === login, null);
  }

  /** A login of this name (new): it inherits nothing, whatever was left under its name. */
  openLogin(login: string): void {
    this.assertOpen();
    this.#purge((clientId) => this.#loginOf(clientId) === login, null);
    this.#removedLogins.delete(login);
  }

  /** Drops, and commits, the sessions of the client ids `owns` names (e.g. logins gone while the broker was down); returns how many. */
  dropSessions(owns: (clientId: string) => boolean): number {
    this.assertOpen();
    return this.#purge(owns, null);
  }

  #gone(clientId: string): boolean {
    if (this.#removed.size > 0) {
      const tenant = this.#tenantOf(clientId);
      if (tenant !== null && this.#removed.has(tenant)) return true;
    }
    if (this.#removedLogins.size > 0) {
      const login = this.#loginOf(clientId);
      if (login !== null && this.#removedLogins.has(login)) return true;
    }
    return false;
  }

  /**
   * What a tenant keeps here: retained messages counted to it (by namespace,
   * when stored) and sessions of its logins holding subscriptions or queued
   * messages (a will or QoS 2 state only while offline: a connected client's
   * end with its connection).
   */
  heldBy(tenant: string): { retained: number; sessions: number } {
    const ids = new Set<string>();
    for (const holder of [this.#subscriptions.clients(), this.#outgoing.clients()]) for (const id of holder) if (this.#tenantOf(id) === tenant) ids.add(id);
    for (const holder of [this.#incoming.keys(), this.#wills.keys()]) for (const id of holder) if (this.#tenantOf(id) === tenant && !this.#isConnected(id)) ids.add(id);
    return { retained: this.#retained.usage(tenant).messages, sessions: ids.size };
  }

  /** Sessions (and, for a tenant, its retained messages) dropped and committed; returns the sessions dropped. */
  #purge(owns: (clientId: string) => boolean, tenant: string | null): number {
    const ids = new Set<string>();
    for (const holder of [this.#subscriptions.clients(), this.#outgoing.clients(), this.#incoming.keys(), this.#wills.keys(), this.#lastSeen.keys()]) {
      for (const clientId of holder) if (owns(clientId)) ids.add(clientId);
    }
    for (const clientId of ids) this.#dropSession(clientId);
    if (tenant !== null) this.#retained.purge(tenant);
    this.#journal.commit();
    return ids.size;
  }

  // ---- lifecycle, stats ------------------------------------------------------

  stats(): PersistenceStats {
    return {
      offlineDropped: this.#outgoing.dropped,
      offlineDroppedByTenant: Object.fromEntries(this.#outgoing.droppedByTenant),
      retained: this.#retained.size,
      subscriptions: this.#subscriptions.count,
      queued: this.#outgoing.queued,
      flushes: 0,
      flushErrors: 0,
      pendingWrites: 0,
      sessionsExpired: this.#sessionsExpired,
    };
  }

  /** Stops the timers and forgets everything held in memory. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    this.#sweepTimer = null;
    this.#detachBroker();
    try {
      this.closeJournal();
    } finally {
      this.#retained.clear();
      this.#subscriptions.clear();
      this.#outgoing.clear();
      this.#incoming.clear();
      this.#wills.clear();
      this.#lastSeen.clear();
    }
  }

  /** Runs once on destroy(), before memory is cleared: a durable store commits what is pending. */
  protected closeJournal(): void {}

  protected get destroyed(): boolean {
    return this.#destroyed;
  }

  protected assertOpen(): void {
    if (this.#destroyed) throw new Error(`${this.constructor.name} is destroyed`);
  }

  #detachBroker(): void {
    const broker = this.#broker;
    if (broker && typeof broker.removeListener === 'function') {
      broker.removeListener('client', this.#touchListener);
      broker.removeListener('clientDisconnect', this.#touchListener);
    }
  }

  /** Rebuilds every index from a durable store's state, without journaling it again (once, on the first setup). */
  #restore(state: StoredState): void {
    for (const { topic, packet } of state.retained) this.#retained.restore(topic, packet);
    for (const { clientId, subscription } of state.subscriptions) this.#subscriptions.put(clientId, subscription, false);
    for (const { seq, clientId, packet } of state.outgoing) this.#outgoing.restore(seq, clientId, packet);
    for (const { clientId, messageId, packet } of state.incoming) {
      let store = this.#incoming.get(clientId);
      if (!store) this.#incoming.set(clientId, (store = new Map()));
      store.set(messageId, { packet, persisted: true });
    }
    for (const { clientId, packet } of state.wills) this.#wills.set(clientId, packet);
    if (this.#sessionExpiryMs === undefined) return;
    // The broker's downtime counts as offline time (as with mosquitto's
    // persistent_client_expiration). A session with state but no last-seen row
    // (stored while expiry was off) starts its clock at this load.
    for (const { clientId, at } of state.lastSeen) this.#lastSeen.set(clientId, at);
    const now = Date.now();
    for (const ids of [this.#subscriptions.clients(), this.#outgoing.clients(), this.#incoming.keys(), this.#wills.keys()]) {
      for (const clientId of ids) if (!this.#lastSeen.has(clientId)) this.touchClient(clientId, now);
    }
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
    for (const packet of this.#outgoing.packets()) consider(packet);
    for (const store of this.#incoming.values()) for (const entry of store.values()) consider(entry.packet);
    for (const packet of this.#retained.packets()) consider(packet);
    setBrokerCounter(broker, highest);
  }
}

/** Creates an aedes persistence in memory; pass it as `persistence` to `Aedes.createBroker()`. */
export function createMemoryPersistence(opts: MemoryPersistenceOptions = {}): MemoryPersistence {
  return new MemoryPersistence(opts);
}
