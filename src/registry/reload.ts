import type { Database, Statement } from 'better-sqlite3';
import type { Tenant, TenantChange } from './records';

/** Watching the registry file for commits of other processes: on (default interval), off, or an interval. */
export type WatchRegistry = boolean | { intervalMs?: number };

export const DEFAULT_WATCH_INTERVAL_MS = 1000;

/** What asked for a reload: a request (`POST /internal/reload`), SIGHUP, or the watch finding a commit. */
export type ReloadTrigger = 'request' | 'sighup' | 'watch';

/** What a reload found different from memory. */
export interface ReloadResult {
  /** Tenants added, changed or removed, by username. */
  tenants: string[];
  /** Whether any webhook row was added, changed or removed. */
  webhooks: boolean;
}

/** The poll interval for a `watchRegistry` setting, or null when watching is off. */
export function watchIntervalMs(setting: WatchRegistry | undefined): number | null {
  if (setting === false) return null;
  const ms = typeof setting === 'object' ? (setting.intervalMs ?? DEFAULT_WATCH_INTERVAL_MS) : DEFAULT_WATCH_INTERVAL_MS;
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`watchRegistry.intervalMs must be a positive number, not ${ms}`);
  return ms;
}

/**
 * Notices commits that other connections (the sqlite3 shell, another tool)
 * make to the file. `PRAGMA data_version` changes only when another
 * connection has committed since the last look: the registry's own writes,
 * and those of the audit trail, topic statistics and SQLite persistence that
 * share its handle, never change it. Reading it reads no table (only the
 * WAL index in shared memory), so a poll every second is cheap; the timer is
 * unref'd and stopped by `close()`.
 */
export class CommitWatcher {
  private readonly version: Statement;
  private seen: number;
  private readonly timer: NodeJS.Timeout | null;
  private failing = false;
  /** Polls so far: lets tests see the watcher at work. */
  polls = 0;

  /**
   * `onCommit` runs when a poll finds a commit made elsewhere; `onError` when a
   * poll or `onCommit` throws, once until a poll succeeds again (the next poll
   * retries). With `intervalMs` null there is no timer, only `changed()`.
   */
  constructor(db: Database, intervalMs: number | null, onCommit: () => void, onError: (err: Error) => void) {
    this.version = db.prepare('PRAGMA data_version').pluck();
    this.seen = this.current();
    this.timer = intervalMs === null ? null : setInterval(() => this.poll(onCommit, onError), intervalMs);
    this.timer?.unref();
  }

  private poll(onCommit: () => void, onError: (err: Error) => void): void {
    this.polls++;
    try {
      if (this.changed()) onCommit();
      this.failing = false;
    } catch (err) {
      if (!this.failing) onError(err as Error);
      this.failing = true;
    }
  }

  /** The file's version as this connection sees it now; read it before reading the file. */
  current(): number {
    return this.version.get() as number;
  }

  /** Marks `version` (read before reading the file) as seen; a commit after it is found by the next poll. */
  markSeen(version: number): void {
    this.seen = version;
  }

  /** Whether another connection has committed since the version last marked seen. */
  changed(): boolean {
    return this.current() !== this.seen;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/**
 * The changes between the tenants held in memory and those just read: one
 * per tenant added, removed or different (any field, or its password hash),
 * none for a tenant that is the same.
 */
export function diffTenants(
  before: ReadonlyMap<string, Tenant>,
  beforeHashes: ReadonlyMap<string, string>,
  after: ReadonlyMap<string, Tenant>,
  afterHashes: ReadonlyMap<string, string>,
): TenantChange[] {
  const changes: TenantChange[] = [];
  for (const [username, old] of before) {
    const now = after.get(username) ?? null;
    const passwordChanged = now !== null && beforeHashes.get(username) !== afterHashes.get(username);
    if (!now || passwordChanged || JSON.stringify(now) !== JSON.stringify(old)) {
      changes.push({ kind: now ? 'updated' : 'removed', username, before: old, after: now, passwordChanged });
    }
  }
  for (const [username, now] of after) {
    if (!before.has(username)) changes.push({ kind: 'added', username, before: null, after: now, passwordChanged: false });
  }
  return changes;
}
