import { EventEmitter } from 'node:events';
import type { Database, Statement } from 'better-sqlite3';

export type AuditCategory = 'admin' | 'security';

export interface AuditEvent {
  /** Set by SQLite once stored (another process may write the same table). */
  id?: number;
  /** Milliseconds since the epoch; for an entry standing for several occurrences, the first. */
  at: number;
  /** The tenant concerned, or null (root, an unknown username, the broker itself). */
  tenant: string | null;
  category: AuditCategory;
  /** What happened, e.g. `tenant.update`, `login.failed`, `publish.denied`. */
  action: string;
  /** Strings cut to MAX_DETAIL_STRING_BYTES. For an entry standing for several occurrences, the first one's. */
  detail: Record<string, unknown>;
  /** Occurrences this entry stands for: a security event repeated within a minute is one entry. */
  count: number;
  /** The first and the last occurrence (milliseconds since the epoch). */
  firstAt: number;
  lastAt: number;
}

export interface AuditLogOptions {
  /** Administrative entries kept; older ones are pruned. Default 10,000. */
  maxRows?: number;
  /** Security entries kept per tenant (unknown usernames and root: one more such bound). Default 1,000. */
  maxSecurityRowsPerTenant?: number;
  /** Security entries kept in all. Default 50,000. */
  maxSecurityRows?: number;
  flushIntervalMs?: number;
}

/** What the audit trail did not keep, since start. */
export interface AuditCounters {
  /** Entries not stored because too many were waiting to be written at once. */
  dropped: number;
  /** Stored entries removed to keep a bound. */
  pruned: number;
  /** Occurrences added to an earlier entry instead of stored on their own. */
  aggregated: number;
}

// A denial storm (a botnet guessing passwords) must not grow memory without bound between flushes.
const MAX_PENDING = 5000;
/** Repeats of one security event (same tenant, action and detail but the client id) within this time are one entry. */
export const AGGREGATE_WINDOW_MS = 60_000;
// entries that repeats may still join; beyond this many distinct ones, the oldest stops taking repeats
const MAX_OPEN = 10_000;
/** A string of an entry's detail (a username, client id, topic) is stored cut to this many UTF-8 bytes. */
export const MAX_DETAIL_STRING_BYTES = 256;

function cut(value: string): string {
  if (value.length * 3 <= MAX_DETAIL_STRING_BYTES || Buffer.byteLength(value) <= MAX_DETAIL_STRING_BYTES) return value;
  const bytes = Buffer.from(value.slice(0, MAX_DETAIL_STRING_BYTES)).subarray(0, MAX_DETAIL_STRING_BYTES - 3);
  return bytes.toString('utf8').replace(/\uFFFD$/, '') + '\u2026';
}

/** The detail with every string cut to MAX_DETAIL_STRING_BYTES (what a client sends can be 64 KiB). */
function bounded(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return cut(value);
  if (value === null || typeof value !== 'object' || depth > 4) return value;
  if (Array.isArray(value)) return value.map((item) => bounded(item, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, bounded(item, depth + 1)]));
}

/** Repeats differ in the client id an attacker picks at will: the rest says what happened. */
function aggregateKey(event: AuditEvent): string {
  const { clientId: _ignored, ...rest } = event.detail;
  return `${event.tenant ?? ''}\u0000${event.action}\u0000${JSON.stringify(rest)}`;
}

/**
 * Administrative changes and security denials, written behind in batches to
 * the `audit` table and emitted as `event` the moment they happen. Bounded so
 * that no flood evicts what matters: administrative entries and each
 * tenant's security entries have bounds of their own (a flood of failed
 * logins naming one tenant, or unknown names, prunes only its own kind); a
 * security event repeated within a minute is one entry with a `count`; every
 * string is stored cut; and what was dropped, pruned or aggregated is counted.
 */
export class AuditLog extends EventEmitter<{ event: [AuditEvent]; 'flush-error': [Error] }> {
  private pending: AuditEvent[] = [];
  /** Security entries that repeats may still join, by key, oldest first. */
  private readonly open = new Map<string, AuditEvent>();
  private readonly waiting = new Set<AuditEvent>();
  private readonly insert: Statement;
  private readonly update: Statement;
  private readonly pruneAdmin: Statement;
  private readonly pruneTenant: Statement;
  private readonly pruneSecurity: Statement;
  private readonly newest: Statement;
  private readonly newestOf: Statement;
  private readonly timer: NodeJS.Timeout;
  private readonly maxRows: number;
  private readonly maxPerTenant: number;
  private readonly maxSecurity: number;
  private closed = false;
  private readonly counts: AuditCounters = { dropped: 0, pruned: 0, aggregated: 0 };

  constructor(
    private readonly db: Database,
    options: AuditLogOptions = {},
  ) {
    super();
    this.maxRows = options.maxRows ?? 10_000;
    this.maxPerTenant = options.maxSecurityRowsPerTenant ?? 1000;
    this.maxSecurity = options.maxSecurityRows ?? 50_000;
    this.insert = db.prepare('INSERT INTO audit (at, tenant, category, action, detail, count, last_at) VALUES (@at, @tenant, @category, @action, @detail, @count, @lastAt)');
    this.update = db.prepare('UPDATE audit SET count = @count, last_at = @lastAt WHERE id = @id');
    const newest = (where: string) => `DELETE FROM audit WHERE ${where} AND id <= (SELECT id FROM audit WHERE ${where} ORDER BY id DESC LIMIT 1 OFFSET @keep)`;
    this.pruneAdmin = db.prepare(newest("category = 'admin'"));
    this.pruneTenant = db.prepare(newest("tenant IS @tenant AND category = 'security'"));
    this.pruneSecurity = db.prepare(newest("category = 'security'"));
    const columns = 'id, at, tenant, category, action, detail, count, COALESCE(last_at, at) AS lastAt';
    this.newest = db.prepare(`SELECT ${columns} FROM audit ORDER BY id DESC LIMIT ?`);
    this.newestOf = db.prepare(`SELECT ${columns} FROM audit WHERE tenant = ? ORDER BY id DESC LIMIT ?`);
    this.timer = setInterval(() => {
      try {
        this.flush();
      } catch (err) {
        this.emit('flush-error', err as Error);
      }
    }, options.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** Events not stored because too many were pending at once. */
  get dropped(): number {
    return this.counts.dropped;
  }

  counters(): AuditCounters {
    return { ...this.counts };
  }

  record(tenant: string | null, category: AuditCategory, action: string, detail: Record<string, unknown> = {}): AuditEvent {
    const at = Date.now();
    const event: AuditEvent = { at, tenant, category, action, detail: bounded(detail) as Record<string, unknown>, count: 1, firstAt: at, lastAt: at };
    this.keep(event);
    this.emit('event', event);
    return event;
  }

  private keep(event: AuditEvent): void {
    const key = event.category === 'security' ? aggregateKey(event) : null;
    const earlier = key === null ? undefined : this.open.get(key);
    if (earlier && event.at - earlier.firstAt < AGGREGATE_WINDOW_MS) {
      earlier.count++;
      earlier.lastAt = event.at;
      this.counts.aggregated++;
      // an entry already stored is written again (its count); bounded by MAX_OPEN
      if (!this.waiting.has(earlier)) this.wait(earlier);
      return;
    }
    if (this.pending.length >= MAX_PENDING) {
      this.counts.dropped++;
      return;
    }
    const entry = { ...event };
    this.wait(entry);
    if (key === null) return;
    this.open.delete(key);
    this.open.set(key, entry);
    if (this.open.size > MAX_OPEN) this.open.delete(this.open.keys().next().value!);
  }

  private wait(entry: AuditEvent): void {
    this.waiting.add(entry);
    this.pending.push(entry);
  }

  flush(): void {
    this.closeAggregates(Date.now());
    if (this.pending.length === 0 || this.closed) return;
    const batch = this.pending;
    const tenants = new Set<string | null>();
    const inserted: AuditEvent[] = [];
    // kept pending until committed: a failed flush (a locked file) is retried by the next one
    const write = this.db.transaction(() => {
      for (const entry of batch) {
        if (entry.id === undefined) {
          const row = { at: entry.at, tenant: entry.tenant, category: entry.category, action: entry.action, detail: JSON.stringify(entry.detail), count: entry.count, lastAt: entry.lastAt };
          entry.id = Number(this.insert.run(row).lastInsertRowid);
          inserted.push(entry);
        } else this.update.run({ id: entry.id, count: entry.count, lastAt: entry.lastAt });
        if (entry.category === 'security') tenants.add(entry.tenant);
      }
      let pruned = 0;
      if (batch.some((entry) => entry.category === 'admin')) pruned += this.pruneAdmin.run({ keep: this.maxRows }).changes;
      for (const tenant of tenants) pruned += this.pruneTenant.run({ tenant, keep: this.maxPerTenant }).changes;
      if (tenants.size > 0) pruned += this.pruneSecurity.run({ keep: this.maxSecurity }).changes;
      return pruned;
    });
    try {
      this.counts.pruned += write();
    } catch (err) {
      // rolled back: those rows do not exist
      for (const entry of inserted) entry.id = undefined;
      throw err;
    }
    for (const entry of batch) this.waiting.delete(entry);
    this.pending = [];
  }

  /** Entries past the aggregation window take no more repeats (the map is in order of first occurrence). */
  private closeAggregates(now: number): void {
    for (const [key, entry] of this.open) {
      if (now - entry.firstAt < AGGREGATE_WINDOW_MS) break;
      this.open.delete(key);
    }
  }

  /** Newest first. */
  list(options: { tenant?: string; limit?: number } = {}): AuditEvent[] {
    this.flush();
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
    const rows = (options.tenant === undefined ? this.newest.all(limit) : this.newestOf.all(options.tenant, limit)) as Array<Omit<AuditEvent, 'detail' | 'firstAt'> & { detail: string }>;
    return rows.map((row) => ({ ...row, detail: JSON.parse(row.detail) as Record<string, unknown>, firstAt: row.at }));
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
    this.closed = true;
  }
}
