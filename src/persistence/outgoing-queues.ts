import { plainCopy, queuedCopy, type PersistedPacket } from './packet-codec';
import { pairKey, type Journal } from './journal';

/** Drops remembered per client for the connect race in update(). */
const RECENT_DROPS_PER_CLIENT = 256;

export interface OutgoingEntry {
  seq: number;
  packet: PersistedPacket;
  /** A row exists on disk: deleting an entry that never got one needs no write. */
  persisted: boolean;
}

interface ClientQueue {
  tenant: string | null;
  entries: OutgoingEntry[];
}

export interface QueueOptions {
  maxPerClient: number | undefined;
  maxPerTenant: number | undefined;
  tenantOf: (clientId: string) => string | null;
  isConnected: (clientId: string) => boolean;
}

function dropKey(packet: PersistedPacket): string {
  return pairKey(String(packet.brokerId), String(packet.brokerCounter));
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

/** Each persistent client's outgoing queue: messages offline and in flight (QoS 1/2), bounded. */
export class OutgoingQueues {
  readonly #queues = new Map<string, ClientQueue>();
  readonly #recentDrops = new Map<string, Set<string>>();
  readonly #tenantQueued = new Map<string, number>();
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

  enqueue(clientId: string, packet: PersistedPacket): void {
    let queue = this.#queues.get(clientId);
    const tenant = queue ? queue.tenant : this.options.tenantOf(clientId);
    if (this.#isFull(clientId, queue, tenant)) {
      this.#recordDrop(clientId, tenant, packet);
      return;
    }
    if (!queue) {
      queue = { tenant, entries: [] };
      this.#queues.set(clientId, queue);
    }
    this.#append(clientId, queue, { seq: this.#nextSeq++, packet: deliveryCopy(packet), persisted: false });
  }

  /** A queued message read back from a durable store (in seq order): not journaled again. */
  restore(seq: number, clientId: string, packet: PersistedPacket): void {
    let queue = this.#queues.get(clientId);
    if (!queue) this.#queues.set(clientId, (queue = { tenant: this.options.tenantOf(clientId), entries: [] }));
    // queued by an earlier version, perhaps with the publisher's retain flag
    if (packet.cmd === 'publish') packet.retain = false;
    this.#append(clientId, queue, { seq, packet, persisted: true });
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
    // A message dropped by a full queue while its client was reconnecting
    // (subscribed again but not yet registered) is still delivered live;
    // failing here would make aedes error and disconnect that client.
    if (this.#recentDrops.get(clientId)?.delete(dropKey(packet))) return;
    throw new Error('no such packet');
  }

  clearMessageId(clientId: string, messageId: number | undefined): PersistedPacket | undefined {
    const queue = this.#queues.get(clientId);
    if (!queue) return undefined;
    const index = queue.entries.findIndex((entry) => entry.packet.messageId === messageId);
    if (index === -1) return undefined;
    const [entry] = queue.entries.splice(index, 1);
    this.#forget(clientId, queue, entry);
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
    for (const entry of entries) this.#forget(clientId, queue, entry);
  }

  clear(): void {
    this.#queues.clear();
    this.#recentDrops.clear();
  }

  #append(clientId: string, queue: ClientQueue, entry: OutgoingEntry): void {
    queue.entries.push(entry);
    this.queued++;
    if (queue.tenant !== null) this.#tenantQueued.set(queue.tenant, (this.#tenantQueued.get(queue.tenant) ?? 0) + 1);
    if (!entry.persisted) this.journal.outgoing(clientId, entry, true);
  }

  /**
   * Limits apply to offline clients only. For a connected persistent client
   * the queue holds its in-flight messages, which aedes must be able to find
   * again in outgoingUpdate; a slow consumer there is aedes' drainTimeout's job.
   */
  #isFull(clientId: string, queue: ClientQueue | undefined, tenant: string | null): boolean {
    const { maxPerClient, maxPerTenant } = this.options;
    if (maxPerClient === undefined && maxPerTenant === undefined) return false;
    if (this.options.isConnected(clientId)) return false;
    if (maxPerClient !== undefined && (queue?.entries.length ?? 0) >= maxPerClient) return true;
    return maxPerTenant !== undefined && tenant !== null && (this.#tenantQueued.get(tenant) ?? 0) >= maxPerTenant;
  }

  #recordDrop(clientId: string, tenant: string | null, packet: PersistedPacket): void {
    this.dropped++;
    if (tenant !== null) this.droppedByTenant.set(tenant, (this.droppedByTenant.get(tenant) ?? 0) + 1);
    let drops = this.#recentDrops.get(clientId);
    if (!drops) this.#recentDrops.set(clientId, (drops = new Set()));
    drops.add(dropKey(packet));
    if (drops.size > RECENT_DROPS_PER_CLIENT) drops.delete(drops.values().next().value as string);
  }

  #forget(clientId: string, queue: ClientQueue, entry: OutgoingEntry): void {
    this.queued--;
    if (queue.tenant !== null) {
      const left = (this.#tenantQueued.get(queue.tenant) ?? 1) - 1;
      if (left > 0) this.#tenantQueued.set(queue.tenant, left);
      else this.#tenantQueued.delete(queue.tenant);
    }
    if (queue.entries.length === 0) this.#queues.delete(clientId);
    this.journal.outgoing(clientId, entry, false);
  }
}
