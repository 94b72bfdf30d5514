import type { Aedes } from 'aedes';
import type { Database } from 'better-sqlite3';
import { storedInFile, type StoredFigures } from '../persistence/sqlite-persistence';
import type { Tenant } from '../registry/registry';
import { isInsideTenant } from '../tenancy/topics';
import { parseSessionKey } from './connections';
import type { Fabric, PersistenceChoice } from './fabric';

/**
 * What the broker keeps for a tenant beyond its live connections: retained
 * messages under its namespace and sessions of its logins. A namespace may
 * change only while there is none (`Registry.namespaceHolds`): they would stay
 * under the old namespace, where a tenant given it later would find them.
 *
 * - SQLite persistence: its memory indexes while it runs, its tables otherwise.
 * - aedes' memory persistence keeps its state in private class fields (out of
 *   any reach) and loses it with its broker. It is followed here as it
 *   happens, from aedes' public events: retained topics (`publish`), and the
 *   ids that connected with a persistent session (`clientReady`,
 *   `client.clean`) until one connects clean again; an empty persistent
 *   session counts too.
 * - A persistence passed in cannot be looked into and may hold state of
 *   earlier runs: a namespace change is always refused.
 */
export class StoredState {
  private fabric: Fabric | null = null;
  /** With memory persistence: retained topics and persistent session keys of the running aedes. */
  private readonly retained = new Set<string>();
  private readonly persistent = new Set<string>();

  constructor(
    private readonly db: Database,
    private readonly choice: PersistenceChoice,
  ) {}

  /** A new aedes runs on this fabric (a start or a restart). */
  attach(aedes: Aedes, fabric: Fabric): void {
    this.fabric = fabric;
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
    this.retained.clear();
    this.persistent.clear();
  }

  /** What is kept for the tenant, in words for a refusal, or null: nothing. */
  holds(tenant: Pick<Tenant, 'username' | 'namespace'>): string | null {
    const inside = (topic: string) => isInsideTenant(topic, tenant.namespace);
    const owns = (id: string) => parseSessionKey(id)?.tenant === tenant.username;
    const figures = this.figures(inside, owns);
    if (figures === null) return 'retained messages or sessions in a persistence the broker cannot look into';
    const held = [figures.retained > 0 ? `retained messages (${figures.retained})` : '', figures.sessions > 0 ? `sessions (${figures.sessions})` : ''].filter(Boolean);
    return held.length > 0 ? held.join(', ') : null;
  }

  private figures(inside: (topic: string) => boolean, owns: (id: string) => boolean): StoredFigures | null {
    if (this.choice === 'memory') return { retained: [...this.retained].filter(inside).length, sessions: [...this.persistent].filter(owns).length };
    if (this.choice !== 'sqlite') return null;
    return this.fabric?.sqlite?.heldFor(inside, owns) ?? storedInFile(this.db, inside, owns);
  }
}
