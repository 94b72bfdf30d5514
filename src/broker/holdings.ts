import type { Database } from 'better-sqlite3';
import type { MemoryPersistence } from '../persistence/memory-store';
import { heldInFile } from '../persistence/sqlite-persistence';
import type { Tenant } from '../registry/registry';
import { isInsideTenant } from '../tenancy/topics';
import { parseSessionKey } from './connections';
import type { PersistenceChoice } from './fabric';

/**
 * What the broker keeps for a tenant beyond its live connections (retained
 * messages under its namespace, sessions of its logins), for the registry's
 * questions before a namespace changes or a name is taken: left behind, a
 * tenant given that namespace or name later would find them.
 *
 * - Running: the engine's store answers. A tenant added while it runs opens
 *   its name empty (`openTenant`), so a name is never refused then.
 * - Not running, SQLite: the tables answer; a name whose sessions are still
 *   there (its tenant removed and added again while the broker was down) is
 *   refused, as the next start could not tell the two tenants apart.
 * - Not running, memory: nothing is kept.
 * - A persistence passed in cannot be looked into: a namespace never changes.
 */
export class Holdings {
  constructor(
    private readonly db: Database,
    private readonly choice: PersistenceChoice,
    /** The engine's store while the broker runs, else null. */
    private readonly store: () => MemoryPersistence | null,
  ) {}

  /** What is kept, in words for a refusal, or null. */
  holds(tenant: Pick<Tenant, 'username' | 'namespace'>, purpose: 'leaving' | 'taking'): string | null {
    if (this.choice !== 'memory' && this.choice !== 'sqlite') {
      return purpose === 'leaving' ? 'retained messages or sessions in a persistence the broker cannot look into' : null;
    }
    const store = this.store();
    let figures: { retained: number; sessions: number };
    if (store) {
      if (purpose === 'taking') return null;
      figures = store.heldBy(tenant.username);
    } else if (this.choice === 'sqlite') {
      const inside = purpose === 'leaving' ? (topic: string) => isInsideTenant(topic, tenant.namespace) : () => false;
      figures = heldInFile(this.db, inside, (id) => parseSessionKey(id)?.tenant === tenant.username);
    } else {
      return null;
    }
    const held = [figures.retained > 0 ? `retained messages (${figures.retained})` : '', figures.sessions > 0 ? `sessions (${figures.sessions})` : ''].filter(Boolean);
    return held.length > 0 ? held.join(', ') : null;
  }
}
