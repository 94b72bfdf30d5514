import { EventEmitter } from 'node:events';
import type { Database, Statement } from 'better-sqlite3';

export type AuditCategory = 'admin' | 'security';

export interface AuditEvent {
  id: number;
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
export class AuditLog extends EventEmitter<{ event: [AuditEvent] }> {
  private pending: AuditEvent[] = [];
  private nextId: number;
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
    this.nextId = ((db.prepare('SELECT MAX(id) AS id FROM audit').get() as { id: number | null }).id ?? 0) + 1;
    this.insert = db.prepare('INSERT INTO audit (id, at, tenant, category, action, detail) VALUES (@id, @at, @tenant, @category, @action, @detail)');
    this.prune = db.prepare('DELETE FROM audit WHERE id <= ?');
    this.timer = setInterval(() => this.flush(), options.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  record(tenant: string | null, category: AuditCategory, action: string, detail: Record<string, unknown> = {}): AuditEvent {
    const event: AuditEvent = { id: this.nextId++, at: Date.now(), tenant, category, action, detail };
    if (this.pending.length >= MAX_PENDING) this.dropped++;
    else this.pending.push(event);
    this.emit('event', event);
    return event;
  }

  flush(): void {
    if (this.pending.length === 0 || this.closed) return;
    const batch = this.pending;
    this.pending = [];
    this.db.transaction(() => {
      for (const event of batch) this.insert.run({ ...event, detail: JSON.stringify(event.detail) });
      this.prune.run(this.nextId - 1 - this.maxRows);
    })();
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
