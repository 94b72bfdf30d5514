/**
 * A durable aedes 1.x persistence on SQLite (better-sqlite3).
 *
 * Shape: the memory store (memory-store.ts) answers every read, and SQLite
 * sits underneath as a write-behind store (write-behind.ts): mutations mark
 * rows dirty; one transaction per flush interval writes the net change. On
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
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import type { StoredState } from './journal';
import { checkMemoryOptions, checkPositive, MemoryPersistence, type MemoryPersistenceOptions, type PersistenceStats } from './memory-store';
import { createSchema, prepareStatements, type PersistStatements } from './schema';
import { readStoredState, WriteBehind } from './write-behind';

export type { PersistedPacket } from './packet-codec';
export type { PersistenceBroker, PersistenceClient, Subscription, TopicSubscription } from './memory-store';
export type { FlushInfo } from './write-behind';

export const DEFAULT_FLUSH_INTERVAL_MS = 200;
export const MAX_FLUSH_INTERVAL_MS = 1000;

export interface SqlitePersistenceOptions extends MemoryPersistenceOptions {
  /** An open better-sqlite3 handle to share (e.g. the registry's); it is neither reconfigured nor closed. */
  db?: Database;
  /** Database file to open (and own) when `db` is not given; default ':memory:'. */
  path?: string;
  /** Longest time a write waits in memory before its transaction; 1..1000, default 200. */
  flushIntervalMs?: number;
}

export type SqlitePersistenceStats = PersistenceStats;

interface Opened {
  db: Database;
  ownsDb: boolean;
  stmts: PersistStatements;
  writer: WriteBehind;
}

function open(opts: SqlitePersistenceOptions): Opened {
  if (opts.db && opts.path !== undefined) throw new TypeError('give either db (a shared handle) or path, not both');
  checkPositive('flushIntervalMs', opts.flushIntervalMs, MAX_FLUSH_INTERVAL_MS);
  // checked before a file is opened (the memory store checks them again)
  checkMemoryOptions(opts);
  const ownsDb = !opts.db;
  const db = opts.db ?? new BetterSqlite3(opts.path ?? ':memory:');
  try {
    if (ownsDb) {
      // Whoever opens the file configures it: a shared handle keeps its
      // owner's settings (the registry opens WAL as well).
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    createSchema(db);
    const stmts = prepareStatements(db);
    return { db, ownsDb, stmts, writer: new WriteBehind(db, stmts, opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS) };
  } catch (err) {
    if (ownsDb) db.close();
    throw err;
  }
}

/**
 * aedes persistence backed by SQLite; see the module comment for the design.
 *
 * Events: `flush` ({@link FlushInfo}) after each committed transaction,
 * `flushError` (Error) when a background flush fails and will be retried,
 * `sessionExpired` (clientId) for each session discarded by the sweep.
 */
export class SqlitePersistence extends MemoryPersistence {
  readonly #opened: Opened;

  constructor(opts: SqlitePersistenceOptions = {}) {
    const opened = open(opts);
    super(opts, opened.writer);
    this.#opened = opened;
    opened.writer.on('flush', (info) => this.emit('flush', info));
    opened.writer.on('flushError', (err) => this.emit('flushError', err));
  }

  protected override storedState(): StoredState {
    return readStoredState(this.#opened.stmts);
  }

  override stats(): SqlitePersistenceStats {
    const writer = this.#opened.writer;
    return { ...super.stats(), flushes: writer.flushes, flushErrors: writer.flushErrors, pendingWrites: writer.pending };
  }

  /** Writes everything pending now, in one transaction. Rejects if the write fails. */
  async flush(): Promise<void> {
    this.assertOpen();
    this.#opened.writer.flushNow();
  }

  /** The final flush, then the database is closed if this instance opened it. */
  protected override closeJournal(): void {
    const { db, ownsDb, writer } = this.#opened;
    try {
      writer.close();
    } finally {
      if (ownsDb && db.open) db.close();
    }
  }
}

/**
 * What the tables keep, for while no persistence has them loaded (the broker
 * is not running): retained messages on topics `inside` accepts, and sessions
 * of client ids `owns` accepts (all offline then).
 */
export function heldInFile(db: Database, inside: (topic: string) => boolean, owns: (clientId: string) => boolean): { retained: number; sessions: number } {
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'persist_retained'").get()) return { retained: 0, sessions: 0 };
  let retained = 0;
  for (const row of db.prepare('SELECT topic FROM persist_retained').iterate() as Iterable<{ topic: string }>) if (inside(row.topic)) retained++;
  let sessions = 0;
  const ids = db.prepare('SELECT client_id FROM persist_subscriptions UNION SELECT client_id FROM persist_outgoing UNION SELECT client_id FROM persist_incoming UNION SELECT client_id FROM persist_wills');
  for (const row of ids.iterate() as Iterable<{ client_id: string }>) if (owns(row.client_id)) sessions++;
  return { retained, sessions };
}

/** Creates an aedes persistence on SQLite; pass it as `persistence` to `Aedes.createBroker()`. */
export function createSqlitePersistence(opts: SqlitePersistenceOptions = {}): SqlitePersistence {
  return new SqlitePersistence(opts);
}
