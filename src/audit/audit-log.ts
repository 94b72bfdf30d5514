import { EventEmitter } from 'node:events';
import type { Database, Statement } from 'better-sqlite3';

export type AuditCategory = 'admin' | 'security';

export interface AuditEvent {
  /** Set by SQLite once stored (another process may write the same table). */
  id?: number;
  /** Milliseconds since the epoch. */
  at: number;
  /** The tenant concerned, or null (root, an unknown username, the broker itself). */
  tenant: string | null;
  category: AuditCategory;
  /** What happened, e.g. `tenant.update`, `login.failed`, `publish.denied`. */
  action: string;
  detail: Record<string, unknown>;
}

export interface AuditLogOptions {
  /** Rows kept; older ones are pruned. Default 10,000. */
  maxRows?: number;
  flushIntervalMs?: number;
}

// A denial storm (a botnet guessing passwords) must not grow memory without bound between flushes.
const MAX_PENDING = 5000;

/**
 * Administrative changes and security denials, written behind in batches to
 * the `audit` table (bounded: the oldest rows are pruned) and emitted as
 * `event` the moment they happen.
 */
export class AuditLog extends EventEmitter<{ event: [AuditEvent]; 'flush-error': [Error] }> {
  private pending: AuditEvent[] = [];
  private readonly insert: Statement;
  private readonly prune: Statement;
  private readonly timer: NodeJS.Timeout;
  private readonly maxRows: number;
  private closed = false;
  /** Events not stored because too many were pending at once. */
  dropped = 0;

  constructor(
    private readonly db: Database,
    options: AuditLogOptions = {},
  ) {
    super();
    this.maxRows = options.maxRows ?? 10_000;
    this.insert = db.prepare('INSERT INTO audit (at, tenant, category, action, detail) VALUES (@at, @tenant, @category, @action, @detail)');
    this.prune = db.prepare('DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?');
    this.timer = setInterval(() => {
      try {
        this.flush();
      } catch (err) {
        this.emit('flush-error', err as Error);
      }
    }, options.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  record(tenant: string | null, category: AuditCategory, action: string, detail: Record<string, unknown> = {}): AuditEvent {
    const event: AuditEvent = { at: Date.now(), tenant, category, action, detail };
    if (this.pending.length >= MAX_PENDING) this.dropped++;
    else this.pending.push(event);
    this.emit('event', event);
    return event;
  }

  flush(): void {
    if (this.pending.length === 0 || this.closed) return;
    const batch = this.pending;
    // kept pending until committed: a failed flush (a locked file) is retried by the next one
    this.db.transaction(() => {
      for (const event of batch) {
        event.id = Number(this.insert.run({ at: event.at, tenant: event.tenant, category: event.category, action: event.action, detail: JSON.stringify(event.detail) }).lastInsertRowid);
      }
      this.prune.run(this.maxRows);
    })();
    this.pending = this.pending.slice(batch.length);
  }

  /** Newest first. */
  list(options: { tenant?: string; limit?: number } = {}): AuditEvent[] {
    this.flush();
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
    const rows = (options.tenant === undefined
      ? this.db.prepare('SELECT * FROM audit ORDER BY id DESC LIMIT ?').all(limit)
      : this.db.prepare('SELECT * FROM audit WHERE tenant = ? ORDER BY id DESC LIMIT ?').all(options.tenant, limit)) as Array<Omit<AuditEvent, 'detail'> & { detail: string }>;
    return rows.map((row) => ({ ...row, detail: JSON.parse(row.detail) as Record<string, unknown> }));
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
    this.closed = true;
  }
}
