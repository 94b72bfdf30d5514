import { EventEmitter } from 'node:events';
import type { Database } from 'better-sqlite3';
import { decodePacket, encodePacket, type PersistedPacket } from './packet-codec';
import type { Journal, JournaledEntry, StoredState } from './journal';
import type { PersistStatements } from './schema';

export interface FlushInfo {
  rows: number;
}

type OutgoingChange = { clientId: string; entry: (JournaledEntry & { seq: number }) | null };

function nested<K, V>(outer: Map<string, Map<K, V>>, first: string): Map<K, V> {
  let inner = outer.get(first);
  if (!inner) outer.set(first, (inner = new Map()));
  return inner;
}

function nestedSize(outer: Map<string, Map<unknown, unknown>>): number {
  let n = 0;
  for (const inner of outer.values()) n += inner.size;
  return n;
}

/**
 * The SQLite side of the durable store: a journal that keeps the latest value
 * of every changed key (so any number of changes to one key between flushes
 * costs one row write) and commits them in one transaction per interval. A
 * message enqueued, delivered and acknowledged within one interval never
 * touches the disk. Keys are kept per part (client, then topic or id) in
 * nested maps: no joined text that two pairs could share.
 *
 * Events: `flush` ({@link FlushInfo}) after each committed transaction,
 * `flushError` (Error) when a timed flush fails and will be retried.
 */
export class WriteBehind extends EventEmitter implements Journal {
  #retained = new Map<string, PersistedPacket | null>();
  #subscriptions = new Map<string, Map<string, { qos: number } | null>>();
  #outgoing = new Map<number, OutgoingChange>();
  #incoming = new Map<string, Map<number, JournaledEntry | null>>();
  #wills = new Map<string, PersistedPacket | null>();
  #seen = new Map<string, number | null>();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  flushes = 0;
  flushErrors = 0;
  readonly #writeBatch: (written: JournaledEntry[]) => number;

  constructor(
    private readonly db: Database,
    private readonly stmts: PersistStatements,
    private readonly intervalMs: number,
  ) {
    super();
    this.#writeBatch = db.transaction((written: JournaledEntry[]) => this.#writeDirty(written));
  }

  retained(topic: string, packet: PersistedPacket | null): void {
    this.#retained.set(topic, packet);
    this.#schedule();
  }

  subscription(clientId: string, topic: string, record: { qos: number } | null): void {
    nested(this.#subscriptions, clientId).set(topic, record);
    this.#schedule();
  }

  outgoing(clientId: string, entry: JournaledEntry & { seq: number }, present: boolean): void {
    if (present) this.#outgoing.set(entry.seq, { clientId, entry });
    else if (entry.persisted) this.#outgoing.set(entry.seq, { clientId, entry: null });
    else this.#outgoing.delete(entry.seq);
    this.#schedule();
  }

  incoming(clientId: string, messageId: number, entry: JournaledEntry, present: boolean): void {
    if (present || entry.persisted) nested(this.#incoming, clientId).set(messageId, present ? entry : null);
    else this.#incoming.get(clientId)?.delete(messageId);
    this.#schedule();
  }

  will(clientId: string, packet: PersistedPacket | null): void {
    this.#wills.set(clientId, packet);
    this.#schedule();
  }

  seen(clientId: string, at: number | null): void {
    this.#seen.set(clientId, at);
    this.#schedule();
  }

  commit(): void {
    this.flushNow();
  }

  get pending(): number {
    return this.#retained.size + nestedSize(this.#subscriptions) + this.#outgoing.size + nestedSize(this.#incoming) + this.#wills.size + this.#seen.size;
  }

  // One timer per interval, started by the first write after a flush, so
  // there is at most one transaction per interval and no write waits longer
  // than one interval. Not unref'd: a process that stops doing anything else
  // still commits its last writes before it exits.
  #schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      try {
        this.flushNow();
      } catch (err) {
        this.emit('flushError', err);
      }
    }, this.intervalMs);
  }

  /** Writes everything pending now, in one transaction; throws (and keeps it pending) if the write fails. */
  flushNow(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.pending === 0) return;
    const written: JournaledEntry[] = [];
    let rows: number;
    try {
      rows = this.#writeBatch(written);
    } catch (err) {
      // The dirty maps are untouched by the rolled-back transaction: retry
      // them with whatever else is written in the meantime.
      this.flushErrors++;
      this.#schedule();
      throw err;
    }
    // Only after the commit: a rolled-back row must still count as absent.
    for (const entry of written) entry.persisted = true;
    this.#retained.clear();
    this.#subscriptions.clear();
    this.#outgoing.clear();
    this.#incoming.clear();
    this.#wills.clear();
    this.#seen.clear();
    this.flushes++;
    this.emit('flush', { rows } satisfies FlushInfo);
  }

  /** The final flush: commits what is pending (if the handle is still open) and stops the timer. */
  close(): void {
    this.#closed = true;
    try {
      if (this.db.open) this.flushNow();
      else if (this.pending > 0) {
        // a shared handle closed by its owner before this destroy()
        throw new Error(`database closed before the final flush: ${this.pending} writes lost`);
      }
    } finally {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  /** Runs inside the flush transaction; returns the number of rows written. */
  #writeDirty(written: JournaledEntry[]): number {
    const s = this.stmts;
    for (const [topic, packet] of this.#retained) {
      if (packet) s.upsertRetained.run(topic, encodePacket(packet));
      else s.deleteRetained.run(topic);
    }
    for (const [clientId, topics] of this.#subscriptions) {
      for (const [topic, record] of topics) {
        if (record) {
          const { qos, ...options } = record;
          s.upsertSubscription.run(clientId, topic, qos, JSON.stringify(options));
        } else {
          s.deleteSubscription.run(clientId, topic);
        }
      }
    }
    for (const [seq, { clientId, entry }] of this.#outgoing) {
      if (entry) {
        s.upsertOutgoing.run(seq, clientId, encodePacket(entry.packet));
        written.push(entry);
      } else {
        s.deleteOutgoing.run(seq);
      }
    }
    for (const [clientId, ids] of this.#incoming) {
      for (const [messageId, entry] of ids) {
        if (entry) {
          s.upsertIncoming.run(clientId, messageId, encodePacket(entry.packet));
          written.push(entry);
        } else {
          s.deleteIncoming.run(clientId, messageId);
        }
      }
    }
    for (const [clientId, will] of this.#wills) {
      if (will) s.upsertWill.run(clientId, encodePacket(will));
      else s.deleteWill.run(clientId);
    }
    for (const [clientId, at] of this.#seen) {
      if (at !== null) s.upsertClient.run(clientId, at);
      else s.deleteClient.run(clientId);
    }
    return this.pending;
  }
}

/** Everything the tables hold, decoded, for the memory store to rebuild itself from. */
export function readStoredState(s: PersistStatements): StoredState {
  return {
    retained: (function* () {
      for (const row of s.selectRetained.iterate()) yield { topic: row.topic, packet: decodePacket(row.packet) };
    })(),
    subscriptions: (function* () {
      for (const row of s.selectSubscriptions.iterate()) {
        const options = JSON.parse(row.options) as { rh?: number; rap?: boolean; nl?: boolean; subscriptionIdentifier?: number };
        yield {
          clientId: row.client_id,
          subscription: {
            topic: row.topic,
            qos: row.qos,
            rh: options.rh,
            rap: options.rap,
            nl: options.nl,
            ...(options.subscriptionIdentifier !== undefined && { subscriptionIdentifier: options.subscriptionIdentifier }),
          },
        };
      }
    })(),
    outgoing: (function* () {
      for (const row of s.selectOutgoing.iterate()) yield { seq: row.seq, clientId: row.client_id, packet: decodePacket(row.packet) };
    })(),
    incoming: (function* () {
      for (const row of s.selectIncoming.iterate()) yield { clientId: row.client_id, messageId: row.message_id, packet: decodePacket(row.packet) };
    })(),
    wills: (function* () {
      for (const row of s.selectWills.iterate()) yield { clientId: row.client_id, packet: decodePacket(row.packet) };
    })(),
    lastSeen: (function* () {
      for (const row of s.selectClients.iterate()) yield { clientId: row.client_id, at: row.last_seen };
    })(),
  };
}
