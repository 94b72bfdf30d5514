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

/** What was folded into one row per tenant: topics beyond the busiest, their messages and bytes. */
export interface OtherTopics {
  topics: number;
  messages: number;
  bytes: number;
}

// Flush early when this many distinct topics are pending, so a burst over many
// topics cannot grow memory without bound between timer flushes (nor make one flush long).
const MAX_PENDING_TOPICS = 2000;
/** Topics kept per tenant, the busiest; the rest are added up in one row (`topic_stats_other`). */
export const MAX_TOPICS_PER_TENANT = 1000;
/** A longer topic is stored cut to this many UTF-8 bytes, ending in `…`: its figures count with others of the same start. */
export const MAX_STORED_TOPIC_BYTES = 256;
const ELLIPSIS = '\u2026';

/** The topic as stored: at most MAX_STORED_TOPIC_BYTES of UTF-8, never a split character. */
export function storedTopic(topic: string): string {
  // a UTF-16 unit is at most 3 UTF-8 bytes: short topics need no measuring
  if (topic.length * 3 <= MAX_STORED_TOPIC_BYTES || Buffer.byteLength(topic) <= MAX_STORED_TOPIC_BYTES) return topic;
  const cut = Buffer.from(topic.slice(0, MAX_STORED_TOPIC_BYTES)).subarray(0, MAX_STORED_TOPIC_BYTES - Buffer.byteLength(ELLIPSIS)).toString('utf8');
  // a character cut in half decodes as U+FFFD: drop it
  return cut.replace(/\uFFFD$/, '') + ELLIPSIS;
}

/**
 * Per-topic message and byte counters, written behind: the publish path only
 * touches a Map, and a timer upserts everything pending in one transaction.
 * Bounded per tenant: long topics are stored cut (storedTopic), and after
 * each flush only the MAX_TOPICS_PER_TENANT busiest topics keep a row, the
 * others being added up in the tenant's `other` row. Reads touch at most
 * that many rows, so an admin read never stalls the event loop for long.
 */
export class TopicStats {
  // tenant → topic → counts: no key string built per message
  private pending = new Map<string, Map<string, Pending>>();
  private pendingTopics = 0;
  private readonly upsert: Statement;
  private readonly rowCount: Statement;
  private readonly leastBusy: Statement;
  private readonly deleteRow: Statement;
  private readonly addOther: Statement;
  private readonly readOther: Statement;
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
    this.rowCount = db.prepare('SELECT COUNT(*) AS n FROM topic_stats WHERE tenant = ?').pluck();
    this.leastBusy = db.prepare('SELECT topic, messages, bytes FROM topic_stats WHERE tenant = ? ORDER BY messages ASC, last_seen ASC LIMIT ?');
    this.deleteRow = db.prepare('DELETE FROM topic_stats WHERE tenant = ? AND topic = ?');
    this.addOther = db.prepare(`
      INSERT INTO topic_stats_other (tenant, topics, messages, bytes) VALUES (@tenant, @topics, @messages, @bytes)
      ON CONFLICT (tenant) DO UPDATE SET
        topics = topics + excluded.topics,
        messages = messages + excluded.messages,
        bytes = bytes + excluded.bytes`);
    this.readOther = db.prepare('SELECT topics, messages, bytes FROM topic_stats_other WHERE tenant = ?');
    this.timer = setInterval(() => {
      try {
        this.flush();
      } catch (err) {
        this.onError?.(err as Error);
      }
    }, flushIntervalMs);
    this.timer.unref();
  }

  record(tenant: string, fullTopic: string, bytes: number): void {
    const topic = storedTopic(fullTopic);
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
        this.foldLeastBusy(tenant);
      }
    })();
    this.pending = new Map();
    this.pendingTopics = 0;
    this.flushes++;
  }

  /** Beyond MAX_TOPICS_PER_TENANT rows, the least busy (the oldest among equals) go into the tenant's `other` row. */
  private foldLeastBusy(tenant: string): void {
    const excess = (this.rowCount.get(tenant) as number) - MAX_TOPICS_PER_TENANT;
    if (excess <= 0) return;
    const folded: OtherTopics & { tenant: string } = { tenant, topics: 0, messages: 0, bytes: 0 };
    for (const row of this.leastBusy.all(tenant, excess) as Array<{ topic: string; messages: number; bytes: number }>) {
      this.deleteRow.run(tenant, row.topic);
      folded.topics++;
      folded.messages += row.messages;
      folded.bytes += row.bytes;
    }
    this.addOther.run(folded);
  }

  /** The figures of the topics folded away for a tenant (a topic folded, seen again and folded again counts twice). */
  other(tenant: string): OtherTopics {
    return (this.readOther.get(tenant) as OtherTopics | undefined) ?? { topics: 0, messages: 0, bytes: 0 };
  }

  forgetTenant(tenant: string): void {
    this.pendingTopics -= this.pending.get(tenant)?.size ?? 0;
    this.pending.delete(tenant);
  }

  /** Stored plus pending figures for one tenant, busiest topics first. */
  forTenant(tenant: string, limit = MAX_TOPICS_PER_TENANT): TopicStat[] {
    const merged = new Map<string, TopicStat>();
    // at most MAX_TOPICS_PER_TENANT rows, plus what is pending (at most MAX_PENDING_TOPICS)
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
