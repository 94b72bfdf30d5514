import type { Database, Statement } from 'better-sqlite3';

interface Pending {
  messages: number;
  bytes: number;
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
  // tenant → topic → counts: no key string built per message
  private pending = new Map<string, Map<string, Pending>>();
  private pendingTopics = 0;
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
    let topics = this.pending.get(tenant);
    if (!topics) this.pending.set(tenant, (topics = new Map()));
    const entry = topics.get(topic);
    if (entry) {
      entry.messages++;
      entry.bytes += bytes;
      return;
    }
    topics.set(topic, { messages: 1, bytes });
    if (++this.pendingTopics >= MAX_PENDING_TOPICS) this.flush();
  }

  /** Writes everything pending in one transaction; last seen is the flush time (at most one interval late). */
  flush(): void {
    if (this.pendingTopics === 0 || this.closed) return;
    const batch = this.pending;
    const lastSeen = Date.now();
    this.db.transaction(() => {
      for (const [tenant, topics] of batch) {
        for (const [topic, entry] of topics) this.upsert.run({ tenant, topic, messages: entry.messages, bytes: entry.bytes, lastSeen });
      }
    })();
    this.pending = new Map();
    this.pendingTopics = 0;
    this.flushes++;
  }

  forgetTenant(tenant: string): void {
    this.pendingTopics -= this.pending.get(tenant)?.size ?? 0;
    this.pending.delete(tenant);
  }

  /** Stored plus pending figures for one tenant, busiest topics first. */
  forTenant(tenant: string, limit = 1000): TopicStat[] {
    const merged = new Map<string, TopicStat>();
    const rows = this.db
      .prepare('SELECT topic, messages, bytes, last_seen AS lastSeen FROM topic_stats WHERE tenant = ?')
      .all(tenant) as TopicStat[];
    for (const row of rows) merged.set(row.topic, { ...row });
    const now = Date.now();
    for (const [topic, entry] of this.pending.get(tenant) ?? []) {
      const row = merged.get(topic) ?? { topic, messages: 0, bytes: 0, lastSeen: 0 };
      row.messages += entry.messages;
      row.bytes += entry.bytes;
      row.lastSeen = now;
      merged.set(topic, row);
    }
    return [...merged.values()].sort((a, b) => b.messages - a.messages).slice(0, limit);
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
    this.closed = true;
  }
}
