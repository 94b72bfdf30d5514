import type { Aedes } from 'aedes';
import type { Database } from 'better-sqlite3';
import { persistenceOf } from '../aedes-seam';
import { forgetInFile, storedInFile, type StoredFigures } from '../persistence/sqlite-persistence';
import type { Tenant } from '../registry/registry';
import { isInsideTenant } from '../tenancy/topics';
import { parseSessionKey } from './connections';
import type { Fabric, PersistenceChoice } from './fabric';

type TenantRef = Pick<Tenant, 'username' | 'namespace'>;

/**
 * What the broker keeps for a tenant beyond its live connections: retained
 * messages under its namespace and sessions of its logins (keyed by its
 * name). Left behind, a tenant given that namespace or name later would find
 * them: a namespace changes only while there is none, a removed tenant's are
 * dropped with it, and a name is taken only while no session is kept under it.
 *
 * - SQLite persistence: its memory indexes while it runs, its tables otherwise.
 * - aedes' memory persistence keeps its state in private class fields (out of
 *   any reach) and loses it with its broker. It is followed here as it
 *   happens, from aedes' public events: retained topics (`publish`), and the
 *   ids that connected with a persistent session (`clientReady`,
 *   `client.clean`) until one connects clean again; an empty persistent
 *   session counts too. Its retained messages are dropped through the
 *   persistence's API; its sessions cannot be (no API empties an offline
 *   queue), so they hold their name until the broker restarts.
 * - A persistence passed in cannot be looked into and may hold state of
 *   earlier runs: a namespace never changes, and nothing is dropped.
 */
export class StoredState {
  private fabric: Fabric | null = null;
  private aedes: Aedes | null = null;
  /** With memory persistence: retained topics and persistent session keys of the running aedes. */
  private readonly retained = new Set<string>();
  private readonly persistent = new Set<string>();

  constructor(
    private readonly db: Database,
    private readonly choice: PersistenceChoice,
    private readonly failed: (error: Error) => void,
  ) {}

  /** A new aedes runs on this fabric (a start or a restart). */
  attach(aedes: Aedes, fabric: Fabric): void {
    this.fabric = fabric;
    this.aedes = aedes;
    this.retained.clear();
    this.persistent.clear();
    if (this.choice !== 'memory') return;
    aedes.on('publish', (packet) => {
      if (!packet.retain || packet.topic.charCodeAt(0) === 36) return;
      // [MQTT-3.3.1-10] an empty retained payload removes the retained message
      if (packet.payload.length === 0) this.retained.delete(packet.topic);
      else this.retained.add(packet.topic);
    });
    aedes.on('clientReady', (client) => {
      if (client.clean) this.persistent.delete(client.id);
      else this.persistent.add(client.id);
    });
  }

  /** The aedes of the last attach is closed (its persistence flushed). */
  detach(): void {
    this.fabric = null;
    this.aedes = null;
    this.retained.clear();
    this.persistent.clear();
  }

  /**
   * What is kept, in words for a refusal, or null. `leaving`: the tenant's
   * namespace is to change (its retained messages and sessions would stay
   * behind). `taking`: a new tenant takes this name (what an earlier tenant
   * of that name left, its sessions, would be resumed).
   */
  holds(tenant: TenantRef, purpose: 'leaving' | 'taking'): string | null {
    const inside = purpose === 'leaving' ? (topic: string) => isInsideTenant(topic, tenant.namespace) : () => false;
    const figures = this.figures(inside, owner(tenant.username));
    if (figures === null) return purpose === 'leaving' ? 'retained messages or sessions in a persistence the broker cannot look into' : null;
    const held = [figures.retained > 0 ? `retained messages (${figures.retained})` : '', figures.sessions > 0 ? `sessions (${figures.sessions})` : ''].filter(Boolean);
    return held.length > 0 ? held.join(', ') : null;
  }

  /** Drops what a removed tenant leaves: its retained messages and (but for memory persistence) its sessions. */
  forget(tenant: TenantRef): void {
    const inside = (topic: string) => isInsideTenant(topic, tenant.namespace);
    if (this.choice === 'sqlite') {
      if (this.fabric?.sqlite?.forgetFor(inside, owner(tenant.username)) == null) forgetInFile(this.db, inside, owner(tenant.username));
    } else if (this.choice === 'memory' && this.aedes) {
      const persistence = persistenceOf(this.aedes);
      for (const topic of [...this.retained].filter(inside)) {
        this.retained.delete(topic);
        persistence.storeRetained({ cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 0, retain: true }).catch(this.failed);
      }
    }
  }

  private figures(inside: (topic: string) => boolean, owns: (id: string) => boolean): StoredFigures | null {
    if (this.choice === 'memory') return { retained: [...this.retained].filter(inside).length, sessions: [...this.persistent].filter(owns).length };
    if (this.choice !== 'sqlite') return null;
    return this.fabric?.sqlite?.heldFor(inside, owns) ?? storedInFile(this.db, inside, owns);
  }
}

/** Session keys of a tenant's logins: its own and its devices' (see sessionKey). */
function owner(tenant: string): (id: string) => boolean {
  return (id) => parseSessionKey(id)?.tenant === tenant;
}
