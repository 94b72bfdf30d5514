import type { Database, Statement } from 'better-sqlite3';

/**
 * Every table carries the `persist_` prefix so the store can live in the same
 * database file as the registry (tenants, webhooks, topic_stats,
 * schema_migrations), whose tables it never touches. Its schema version lives
 * in its own `persist_meta` table for the same reason: `PRAGMA user_version`
 * and `schema_migrations` belong to the file's owner.
 */
export const PERSIST_SCHEMA_VERSION = 1;

const DDL = `
CREATE TABLE IF NOT EXISTS persist_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS persist_retained (
  topic  TEXT PRIMARY KEY,
  packet BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS persist_subscriptions (
  client_id TEXT NOT NULL,
  topic     TEXT NOT NULL,
  qos       INTEGER NOT NULL,
  options   TEXT NOT NULL,
  PRIMARY KEY (client_id, topic)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS persist_outgoing (
  seq       INTEGER PRIMARY KEY,
  client_id TEXT NOT NULL,
  packet    BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS persist_incoming (
  client_id  TEXT NOT NULL,
  message_id INTEGER NOT NULL,
  packet     BLOB NOT NULL,
  PRIMARY KEY (client_id, message_id)
);
CREATE TABLE IF NOT EXISTS persist_wills (
  client_id TEXT PRIMARY KEY,
  packet    BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS persist_clients (
  client_id TEXT PRIMARY KEY,
  last_seen INTEGER NOT NULL
) WITHOUT ROWID;
`;

export interface RetainedRow { topic: string; packet: Buffer }
export interface SubscriptionRow { client_id: string; topic: string; qos: number; options: string }
export interface OutgoingRow { seq: number; client_id: string; packet: Buffer }
export interface IncomingRow { client_id: string; message_id: number; packet: Buffer }
export interface WillRow { client_id: string; packet: Buffer }
export interface ClientRow { client_id: string; last_seen: number }

export interface PersistStatements {
  selectRetained: Statement<[], RetainedRow>;
  upsertRetained: Statement<[string, Buffer]>;
  deleteRetained: Statement<[string]>;
  selectSubscriptions: Statement<[], SubscriptionRow>;
  upsertSubscription: Statement<[string, string, number, string]>;
  deleteSubscription: Statement<[string, string]>;
  selectOutgoing: Statement<[], OutgoingRow>;
  upsertOutgoing: Statement<[number, string, Buffer]>;
  deleteOutgoing: Statement<[number]>;
  selectIncoming: Statement<[], IncomingRow>;
  upsertIncoming: Statement<[string, number, Buffer]>;
  deleteIncoming: Statement<[string, number]>;
  selectWills: Statement<[], WillRow>;
  upsertWill: Statement<[string, Buffer]>;
  deleteWill: Statement<[string]>;
  selectClients: Statement<[], ClientRow>;
  upsertClient: Statement<[string, number]>;
  deleteClient: Statement<[string]>;
}

/** Creates the tables if needed and refuses a store written by a newer schema. */
export function createSchema(db: Database): void {
  db.exec(DDL);
  db.prepare("INSERT OR IGNORE INTO persist_meta (key, value) VALUES ('schema_version', ?)")
    .run(String(PERSIST_SCHEMA_VERSION));
  const row = db.prepare("SELECT value FROM persist_meta WHERE key = 'schema_version'").get() as
    | { value: string }
    | undefined;
  const version = Number(row?.value);
  if (version > PERSIST_SCHEMA_VERSION) {
    throw new Error(
      `persist_* tables have schema version ${version}; this build understands up to ${PERSIST_SCHEMA_VERSION}`,
    );
  }
}

export function prepareStatements(db: Database): PersistStatements {
  return {
    selectRetained: db.prepare('SELECT topic, packet FROM persist_retained'),
    upsertRetained: db.prepare('INSERT OR REPLACE INTO persist_retained (topic, packet) VALUES (?, ?)'),
    deleteRetained: db.prepare('DELETE FROM persist_retained WHERE topic = ?'),
    selectSubscriptions: db.prepare('SELECT client_id, topic, qos, options FROM persist_subscriptions'),
    upsertSubscription: db.prepare(
      'INSERT OR REPLACE INTO persist_subscriptions (client_id, topic, qos, options) VALUES (?, ?, ?, ?)',
    ),
    deleteSubscription: db.prepare('DELETE FROM persist_subscriptions WHERE client_id = ? AND topic = ?'),
    // seq is assigned in enqueue order, so this restores every queue in order
    selectOutgoing: db.prepare('SELECT seq, client_id, packet FROM persist_outgoing ORDER BY seq'),
    upsertOutgoing: db.prepare('INSERT OR REPLACE INTO persist_outgoing (seq, client_id, packet) VALUES (?, ?, ?)'),
    deleteOutgoing: db.prepare('DELETE FROM persist_outgoing WHERE seq = ?'),
    selectIncoming: db.prepare('SELECT client_id, message_id, packet FROM persist_incoming'),
    upsertIncoming: db.prepare(
      'INSERT OR REPLACE INTO persist_incoming (client_id, message_id, packet) VALUES (?, ?, ?)',
    ),
    deleteIncoming: db.prepare('DELETE FROM persist_incoming WHERE client_id = ? AND message_id = ?'),
    selectWills: db.prepare('SELECT client_id, packet FROM persist_wills'),
    upsertWill: db.prepare('INSERT OR REPLACE INTO persist_wills (client_id, packet) VALUES (?, ?)'),
    deleteWill: db.prepare('DELETE FROM persist_wills WHERE client_id = ?'),
    selectClients: db.prepare('SELECT client_id, last_seen FROM persist_clients'),
    upsertClient: db.prepare('INSERT OR REPLACE INTO persist_clients (client_id, last_seen) VALUES (?, ?)'),
    deleteClient: db.prepare('DELETE FROM persist_clients WHERE client_id = ?'),
  };
}
