import type { Database } from 'better-sqlite3';

/**
 * Numbered, additive migrations. Each runs once, in order, inside a
 * transaction, and is recorded in `schema_migrations`; a database written by
 * an older release is brought forward on open. Never edit a shipped
 * migration: add the next number.
 */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'tenants, webhooks, topic stats',
    sql: `
      CREATE TABLE tenants (
        id              INTEGER PRIMARY KEY,
        username        TEXT NOT NULL UNIQUE,
        password_hash   TEXT NOT NULL,
        isolation       TEXT NOT NULL CHECK (isolation IN ('prefix', 'mountpoint')),
        enabled         INTEGER NOT NULL DEFAULT 1,
        max_connections INTEGER NOT NULL DEFAULT 0,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
      );
      CREATE TABLE webhooks (
        id           INTEGER PRIMARY KEY,
        tenant       TEXT NOT NULL REFERENCES tenants(username) ON DELETE CASCADE ON UPDATE CASCADE,
        topic_filter TEXT NOT NULL,
        url          TEXT NOT NULL,
        enabled      INTEGER NOT NULL DEFAULT 1,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL
      );
      CREATE INDEX webhooks_tenant ON webhooks(tenant);
      CREATE TABLE topic_stats (
        tenant    TEXT NOT NULL,
        topic     TEXT NOT NULL,
        messages  INTEGER NOT NULL DEFAULT 0,
        bytes     INTEGER NOT NULL DEFAULT 0,
        last_seen INTEGER NOT NULL,
        PRIMARY KEY (tenant, topic)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'webhook signing secrets',
    sql: `ALTER TABLE webhooks ADD COLUMN secret TEXT;`,
  },
  {
    version: 3,
    name: 'tenant limits, audit trail',
    sql: `
      ALTER TABLE tenants ADD COLUMN max_msgs_per_sec INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE tenants ADD COLUMN max_tenant_msgs_per_sec INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE tenants ADD COLUMN max_payload_bytes INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE tenants ADD COLUMN max_qos INTEGER NOT NULL DEFAULT 2;
      ALTER TABLE tenants ADD COLUMN allow_retain INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE tenants ADD COLUMN max_subscriptions INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE audit (
        id       INTEGER PRIMARY KEY,
        at       INTEGER NOT NULL,
        tenant   TEXT,
        category TEXT NOT NULL CHECK (category IN ('admin', 'security')),
        action   TEXT NOT NULL,
        detail   TEXT NOT NULL
      );
      CREATE INDEX audit_tenant ON audit(tenant, id);
    `,
  },
  {
    version: 4,
    name: 'broker identity',
    sql: `CREATE TABLE broker_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`,
  },
  {
    version: 5,
    name: 'what a denied publish does',
    sql: `ALTER TABLE tenants ADD COLUMN denied_publish TEXT NOT NULL DEFAULT 'close' CHECK (denied_publish IN ('close', 'drop'));`,
  },
  {
    version: 6,
    name: 'queue and retained quotas',
    // 0 (no limit) for the tenants there are: a quota they never had must not delete what they keep
    sql: `
      ALTER TABLE tenants ADD COLUMN max_queued_messages INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE tenants ADD COLUMN max_queued_bytes INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE tenants ADD COLUMN max_retained_messages INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE tenants ADD COLUMN max_retained_bytes INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 7,
    name: 'bounded topic statistics and audit trail',
    sql: `
      CREATE TABLE topic_stats_other (
        tenant   TEXT PRIMARY KEY,
        topics   INTEGER NOT NULL DEFAULT 0,
        messages INTEGER NOT NULL DEFAULT 0,
        bytes    INTEGER NOT NULL DEFAULT 0
      ) WITHOUT ROWID;
      CREATE INDEX topic_stats_busy ON topic_stats(tenant, messages, last_seen);
      ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE audit ADD COLUMN last_at INTEGER;
      CREATE INDEX audit_category ON audit(category, id);
      CREATE INDEX audit_tenant_category ON audit(tenant, category, id);
    `,
  },
  {
    version: 9,
    name: 'devices, roles, namespaces',
    sql: `
      ALTER TABLE tenants ADD COLUMN namespace TEXT;
      ALTER TABLE tenants ADD COLUMN device_default_access TEXT NOT NULL DEFAULT 'allow' CHECK (device_default_access IN ('allow', 'deny'));
      CREATE TABLE roles (
        tenant     TEXT NOT NULL REFERENCES tenants(username) ON DELETE CASCADE ON UPDATE CASCADE,
        name       TEXT NOT NULL,
        rules      TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, name)
      ) WITHOUT ROWID;
      CREATE TABLE devices (
        id              INTEGER PRIMARY KEY,
        tenant          TEXT NOT NULL REFERENCES tenants(username) ON DELETE CASCADE ON UPDATE CASCADE,
        username        TEXT NOT NULL UNIQUE,
        password_hash   TEXT NOT NULL,
        enabled         INTEGER NOT NULL DEFAULT 1,
        roles           TEXT NOT NULL DEFAULT '[]',
        client_id       TEXT,
        max_connections INTEGER NOT NULL DEFAULT 0,
        last_seen       INTEGER,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
      );
      CREATE INDEX devices_tenant ON devices(tenant);
    `,
  },
  {
    version: 10,
    name: 'message policies',
    sql: `
      CREATE TABLE policies (
        id         INTEGER PRIMARY KEY,
        tenant     TEXT NOT NULL REFERENCES tenants(username) ON DELETE CASCADE ON UPDATE CASCADE,
        definition TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX policies_tenant ON policies(tenant);
    `,
  },
];

export function migrate(db: Database): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map((row) => row.version),
  );
  const ran: number[] = [];
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const migration of MIGRATIONS) {
    if (applied.has(migration.version)) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      record.run(migration.version, migration.name, Date.now());
    })();
    ran.push(migration.version);
  }
  return ran;
}
