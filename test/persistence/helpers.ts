import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import BetterSqlite3 from 'better-sqlite3';
import {
  createSqlitePersistence,
  type PersistedPacket,
  type SqlitePersistence,
  type SqlitePersistenceOptions,
} from '../../src/persistence/sqlite-persistence';

/** Stands in for aedes: an id, the connected-clients map and its client events. */
export class FakeBroker extends EventEmitter {
  clients: Record<string, unknown> = {};
  counter = 0;
  constructor(public id: string) {
    super();
  }
  connect(clientId: string): void {
    this.clients[clientId] = { id: clientId };
    this.emit('client', { id: clientId });
  }
  disconnect(clientId: string): void {
    delete this.clients[clientId];
    this.emit('clientDisconnect', { id: clientId });
  }
}

/** A temp dir holding one database file; every persistence opened here is destroyed by cleanup(). */
export class Workspace {
  readonly dir = mkdtempSync(join(tmpdir(), 'persist-spec-'));
  readonly file = join(this.dir, 'broker.db');
  readonly #open = new Set<SqlitePersistence>();

  async open(opts: SqlitePersistenceOptions = {}, broker = new FakeBroker('broker-1')): Promise<SqlitePersistence> {
    const persistence = createSqlitePersistence({ path: this.file, ...opts });
    this.#open.add(persistence);
    await persistence.setup(broker);
    return persistence;
  }

  async close(persistence: SqlitePersistence): Promise<void> {
    this.#open.delete(persistence);
    await persistence.destroy();
  }

  /** Rows in a table, read through a separate connection: what is on disk, not in memory. */
  countRows(table: string): number {
    const db = new BetterSqlite3(this.file, { readonly: true });
    try {
      return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    } finally {
      db.close();
    }
  }

  async cleanup(): Promise<void> {
    for (const persistence of this.#open) await persistence.destroy();
    this.#open.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function collect<T = PersistedPacket>(stream: Readable): Promise<T[]> {
  const items: T[] = [];
  for await (const item of stream) items.push(item as T);
  return items;
}

export function publish(topic: string, payload: string, extra: Partial<PersistedPacket> = {}): PersistedPacket {
  return { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false, ...extra };
}

export function retained(topic: string, payload: string): PersistedPacket {
  return { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: true };
}

export function payloads(packets: PersistedPacket[]): string[] {
  return packets.map((p) => String(p.payload));
}
