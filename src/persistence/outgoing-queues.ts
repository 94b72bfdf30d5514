import { plainCopy, queuedCopy, type PersistedPacket } from './packet-codec';
import { pairKey, type Journal } from './journal';
import { decideQueue, type QueueBounds, type Usage } from '../tenancy/quotas';

/** Drops remembered per client, for deliveries aedes still makes of a dropped message. */
const RECENT_DROPS_PER_CLIENT = 256;

export interface OutgoingEntry {
  seq: number;
  packet: PersistedPacket;
  /** A row exists on disk: deleting an entry that never got one needs no write. */
  persisted: boolean;
  clientId: string;
  /** Payload and topic bytes, as the bounds count them. */
  bytes: number;
  /** The tenant's next older and newer entries, over all its clients' queues (see TenantQueues). */
  older: OutgoingEntry | null;
  newer: OutgoingEntry | null;
}

interface ClientQueue extends Usage {
  tenant: string | null;
  entries: OutgoingEntry[];
}

/** All queued entries of one tenant, oldest first (a list through the entries), and what they hold. */
interface TenantQueues extends Usage {
  oldest: OutgoingEntry | null;
  newest: OutgoingEntry | null;
}

export interface QueueOptions {
  tenantOf: (clientId: string) => string | null;
  /** The bounds of a client's queue (0: none), asked at each enqueue so a changed limit applies at once. */
  bounds: (clientId: string, tenant: string | null) => QueueBounds;
  /** A queued message was dropped (the oldest for a new one, or the new one). */
  onDrop: (clientId: string, tenant: string | null) => void;
}

function dropKey(packet: PersistedPacket): string {
  return pairKey(String(packet.brokerId), String(packet.brokerCounter));
}

/** A dropped message that was in flight: its PUBREC still comes, by messageId (the length prefix of dropKey is a digit). */
function inFlightKey(messageId: number): string {
  return `m${messageId}`;
}

function sizeOf(packet: PersistedPacket): number {
  return (packet.payload?.length ?? 0) + (packet.topic?.length ?? 0);
}

/**
 * A queued copy is a delivery to an established subscription, so its retain
 * flag is 0 whatever the publisher set [MQTT-3.3.1-9]; the retained-on-subscribe
 * copy, the one delivery that keeps it, is never queued (aedes writes it
 * directly). Live deliveries clear it in aedes; queued ones must here, since
 * aedes sends what a reconnecting client's queue holds as it is.
 */
function deliveryCopy(packet: PersistedPacket): PersistedPacket {
  const copy = queuedCopy(packet);
  copy.retain = false;
  return copy;
}

/**
 * Each persistent client's outgoing queue: QoS 1/2 messages offline and in
 * flight unacknowledged, bounded per client and per tenant (the policy core's
 * decideQueue). Past a bound the oldest message goes; a connected client's
 * in-flight message may be the one, and aedes' later PUBACK, PUBREC or
 * redelivery of it finds it remembered as dropped rather than failing.
 */
export class OutgoingQueues {
  readonly #queues = new Map<string, ClientQueue>();
  readonly #tenants = new Map<string, TenantQueues>();
  readonly #recentDrops = new Map<string, Set<string>>();
  #nextSeq = 1;
  queued = 0;
  dropped = 0;
  readonly droppedByTenant = new Map<string, number>();

  constructor(
    private readonly journal: Journal,
    private readonly options: QueueOptions,
  ) {}

  clients(): IterableIterator<string> {
    return this.#queues.keys();
  }

  *packets(): Generator<PersistedPacket> {
    for (const queue of this.#queues.values()) for (const entry of queue.entries) yield entry.packet;
  }

  /** Messages and bytes queued for a tenant's clients. */
  usage(tenant: string): Usage {
    const figures = this.#tenants.get(tenant);
    return { messages: figures?.messages ?? 0, bytes: figures?.bytes ?? 0 };
  }

  enqueue(clientId: string, packet: PersistedPacket): void {
    const existing = this.#queues.get(clientId);
    const tenant = existing ? existing.tenant : this.options.tenantOf(clientId);
    const bytes = sizeOf(packet);
    const bounds = this.options.bounds(clientId, tenant);
    for (;;) {
      const queue = this.#queues.get(clientId);
      const verdict = decideQueue(queue ?? { messages: 0, bytes: 0 }, tenant === null ? null : this.usage(tenant), bytes, bounds);
      if (verdict.kind === 'accept') break;
      if (verdict.kind === 'refuse') return this.#recordDrop(clientId, tenant, packet);
      const victim = verdict.from === 'client' ? queue!.entries[0] : this.#tenants.get(tenant!)!.oldest!;
      this.#evict(victim);
    }
    let queue = this.#queues.get(clientId);
    if (!queue) this.#queues.set(clientId, (queue = { tenant, entries: [], messages: 0, bytes: 0 }));
    this.#append(queue, this.#entry(this.#nextSeq++, clientId, deliveryCopy(packet), false, bytes));
  }

  /** A queued message read back from a durable store (in seq order): not journaled again, and not bounded until the next enqueue. */
  restore(seq: number, clientId: string, packet: PersistedPacket): void {
    let queue = this.#queues.get(clientId);
    if (!queue) this.#queues.set(clientId, (queue = { tenant: this.options.tenantOf(clientId), entries: [], messages: 0, bytes: 0 }));
    // queued by an earlier version, perhaps with the publisher's retain flag
    if (packet.cmd === 'publish') packet.retain = false;
    this.#append(queue, this.#entry(seq, clientId, packet, true, sizeOf(packet)));
    this.#nextSeq = Math.max(this.#nextSeq, seq + 1);
  }

  /** aedes' outgoingUpdate: a delivery got its messageId, or a PUBREL replaced its PUBLISH. */
  update(clientId: string, packet: PersistedPacket): void {
    const queue = this.#queues.get(clientId);
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
            this.journal.outgoing(clientId, entry, true);
            return;
          }
        } else if (stored.messageId === packet.messageId) {
          entry.packet = plainCopy(packet);
          this.journal.outgoing(clientId, entry, true);
          return;
        }
      }
    }
    // A dropped message is still delivered (live, or from a queue snapshot
    // taken before the drop), and a dropped in-flight one still gets its
    // PUBREC: failing here would make aedes error and disconnect the client.
    const drops = this.#recentDrops.get(clientId);
    const key = packet.brokerId === undefined && typeof packet.messageId === 'number' ? inFlightKey(packet.messageId) : dropKey(packet);
    if (drops?.delete(key)) return;
    throw new Error('no such packet');
  }

  clearMessageId(clientId: string, messageId: number | undefined): PersistedPacket | undefined {
    const queue = this.#queues.get(clientId);
    if (!queue) return undefined;
    const index = queue.entries.findIndex((entry) => entry.packet.messageId === messageId);
    if (index === -1) return undefined;
    const [entry] = queue.entries.splice(index, 1);
    this.#forget(queue, entry);
    return entry.packet;
  }

  /** A snapshot: aedes clears entries while it drains it. */
  snapshot(clientId: string): PersistedPacket[] {
    const queue = this.#queues.get(clientId);
    return queue ? queue.entries.map((entry) => entry.packet) : [];
  }

  /** Drops a client's queue and what is remembered of it. */
  drop(clientId: string): void {
    this.#recentDrops.delete(clientId);
    const queue = this.#queues.get(clientId);
    if (!queue) return;
    const entries = queue.entries;
    queue.entries = [];
    for (const entry of entries) this.#forget(queue, entry);
  }

  clear(): void {
    this.#queues.clear();
    this.#tenants.clear();
    this.#recentDrops.clear();
  }

  #entry(seq: number, clientId: string, packet: PersistedPacket, persisted: boolean, bytes: number): OutgoingEntry {
    return { seq, packet, persisted, clientId, bytes, older: null, newer: null };
  }

  #append(queue: ClientQueue, entry: OutgoingEntry): void {
    queue.entries.push(entry);
    queue.messages++;
    queue.bytes += entry.bytes;
    this.queued++;
    if (queue.tenant !== null) {
      let tenant = this.#tenants.get(queue.tenant);
      if (!tenant) this.#tenants.set(queue.tenant, (tenant = { messages: 0, bytes: 0, oldest: null, newest: null }));
      // seq only grows (and a restore comes in seq order), so the newest is always last
      entry.older = tenant.newest;
      if (tenant.newest) tenant.newest.newer = entry;
      else tenant.oldest = entry;
      tenant.newest = entry;
      tenant.messages++;
      tenant.bytes += entry.bytes;
    }
    if (!entry.persisted) this.journal.outgoing(entry.clientId, entry, true);
  }

  /** Drops the oldest message of a queue (or of a tenant's queues) to make room. */
  #evict(entry: OutgoingEntry): void {
    const queue = this.#queues.get(entry.clientId)!;
    const index = queue.entries[0] === entry ? 0 : queue.entries.indexOf(entry);
    queue.entries.splice(index, 1);
    this.#forget(queue, entry);
    this.#recordDrop(entry.clientId, queue.tenant, entry.packet);
  }

  #recordDrop(clientId: string, tenant: string | null, packet: PersistedPacket): void {
    this.dropped++;
    if (tenant !== null) this.droppedByTenant.set(tenant, (this.droppedByTenant.get(tenant) ?? 0) + 1);
    let drops = this.#recentDrops.get(clientId);
    if (!drops) this.#recentDrops.set(clientId, (drops = new Set()));
    drops.add(dropKey(packet));
    if (typeof packet.messageId === 'number') drops.add(inFlightKey(packet.messageId));
    while (drops.size > RECENT_DROPS_PER_CLIENT) drops.delete(drops.values().next().value as string);
    this.options.onDrop(clientId, tenant);
  }

  #forget(queue: ClientQueue, entry: OutgoingEntry): void {
    queue.messages--;
    queue.bytes -= entry.bytes;
    this.queued--;
    if (queue.tenant !== null) {
      const tenant = this.#tenants.get(queue.tenant)!;
      if (entry.older) entry.older.newer = entry.newer;
      else tenant.oldest = entry.newer;
      if (entry.newer) entry.newer.older = entry.older;
      else tenant.newest = entry.older;
      entry.older = entry.newer = null;
      tenant.messages--;
      tenant.bytes -= entry.bytes;
      if (tenant.messages === 0) this.#tenants.delete(queue.tenant);
    }
    if (queue.entries.length === 0) this.#queues.delete(entry.clientId);
    this.journal.outgoing(entry.clientId, entry, false);
  }
}
