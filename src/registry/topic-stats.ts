import type { Database, Statement } from 'better-sqlite3';

interface Pending {
  tenant: string;
  topic: string;
  messages: number;
  bytes: number;
  lastSeen: number;
}

export interface TopicStat {
  topic: string;
  messages: number;
  bytes: number;
  lastSeen: number;
}

// Flush early when this many distinct topics are pending, so a burst over many
// topics cannot grow memory without bound between timer flushes.
const MAX_PENDING_TOPICS = 10_000;

/**
 * Per-topic message and byte counters, written behind: the publish path only
 * touches a Map, and a timer upserts everything pending in one transaction.
 */
export class TopicStats {
  private pending = new Map<string, Pending>();
  private readonly upsert: Statement;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** Transactions written so far: lets tests show that writes are batched. */
  flushes = 0;
  /** Told about a failed timer flush (the figures stay pending and are retried). */
  onError: ((err: Error) => void) | null = null;

  constructor(
    private readonly db: Database,
    flushIntervalMs = 1000,
  ) {
    this.upsert = db.prepare(`
      INSERT INTO topic_stats (tenant, topic, messages, bytes, last_seen) VALUES (@tenant, @topic, @messages, @bytes, @lastSeen)
      ON CONFLICT (tenant, topic) DO UPDATE SET
        messages = messages + excluded.messages,
        bytes = bytes + excluded.bytes,
        last_seen = MAX(last_seen, excluded.last_seen)`);
    this.timer = setInterval(() => {
      try {
        this.flush();
      } catch (err) {
        this.onError?.(err as Error);
      }
    }, flushIntervalMs);
    this.timer.unref();
  }

  record(tenant: string, topic: string, bytes: number): void {
    const key = tenant + '\u0000' + topic;
    const entry = this.pending.get(key);
    if (entry) {
      entry.messages++;
      entry.bytes += bytes;
      entry.lastSeen = Date.now();
      return;
    }
    this.pending.set(key, { tenant, topic, messages: 1, bytes, lastSeen: Date.now() });
    if (this.pending.size >= MAX_PENDING_TOPICS) this.flush();
  }

  flush(): void {
    if (this.pending.size === 0 || this.closed) return;
    const batch = this.pending;
    this.db.transaction(() => {
      for (const entry of batch.values()) this.upsert.run(entry);
    })();
    this.pending = new Map();
    this.flushes++;
  }

  forgetTenant(tenant: string): void {
    for (const [key, entry] of this.pending) if (entry.tenant === tenant) this.pending.delete(key);
  }

  /** Stored plus pending figures for one tenant, busiest topics first. */
  forTenant(tenant: string, limit = 1000): TopicStat[] {
    const merged = new Map<string, TopicStat>();
    const rows = this.db
      .prepare('SELECT topic, messages, bytes, last_seen AS lastSeen FROM topic_stats WHERE tenant = ?')
      .all(tenant) as TopicStat[];
    for (const row of rows) merged.set(row.topic, { ...row });
    for (const entry of this.pending.values()) {
      if (entry.tenant !== tenant) continue;
      const row = merged.get(entry.topic) ?? { topic: entry.topic, messages: 0, bytes: 0, lastSeen: 0 };
      row.messages += entry.messages;
      row.bytes += entry.bytes;
      row.lastSeen = Math.max(row.lastSeen, entry.lastSeen);
      merged.set(entry.topic, row);
    }
    return [...merged.values()].sort((a, b) => b.messages - a.messages).slice(0, limit);
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
    this.closed = true;
  }
}
