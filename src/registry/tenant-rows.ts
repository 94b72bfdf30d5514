import type { Database } from 'better-sqlite3';
import type { IsolationStyle } from '../model';
import { limitsToRow, type TenantLimits } from './limits';
import { LIMIT_COLUMNS, toTenant, type Tenant, type TenantRow } from './records';

/** The SQL of the `tenants` table: the registry decides, these read and write its rows. */

/** Every tenant and its password hash (the caller's transaction makes it one commit's). */
export function readTenantRows(db: Database): { tenants: Map<string, Tenant>; hashes: Map<string, string> } {
  const tenants = new Map<string, Tenant>();
  const hashes = new Map<string, string>();
  for (const row of db.prepare('SELECT * FROM tenants ORDER BY username').all() as TenantRow[]) {
    tenants.set(row.username, toTenant(row));
    hashes.set(row.username, row.password_hash);
  }
  return { tenants, hashes };
}

export interface TenantRowValues {
  username: string;
  isolation: IsolationStyle;
  /** The namespace as the tenant has it: stored as NULL when it is the username. */
  namespace: string;
  enabled: boolean;
  limits: TenantLimits;
  now: number;
}

function rowValues(v: TenantRowValues) {
  return { username: v.username, isolation: v.isolation, namespace: v.namespace === v.username ? null : v.namespace, enabled: v.enabled ? 1 : 0, now: v.now, ...limitsToRow(v.limits) };
}

export function insertTenantRow(db: Database, values: TenantRowValues, hash: string): TenantRow {
  return db
    .prepare(
      `INSERT INTO tenants (username, password_hash, namespace, isolation, enabled, created_at, updated_at, ${LIMIT_COLUMNS.join(', ')})
       VALUES (@username, @hash, @namespace, @isolation, @enabled, @now, @now, ${LIMIT_COLUMNS.map((c) => '@' + c).join(', ')}) RETURNING *`,
    )
    .get({ ...rowValues(values), hash }) as TenantRow;
}

/** Writes every column; the password hash only when one is given. */
export function updateTenantRow(db: Database, values: TenantRowValues, hash: string | undefined): TenantRow {
  return db
    .prepare(
      `UPDATE tenants SET isolation = @isolation, namespace = @namespace, enabled = @enabled, password_hash = COALESCE(@hash, password_hash), updated_at = @now,
         ${LIMIT_COLUMNS.map((c) => `${c} = @${c}`).join(', ')}
       WHERE username = @username RETURNING *`,
    )
    .get({ ...rowValues(values), hash: hash ?? null }) as TenantRow;
}

/** The tenant's row and every row that is its alone (webhooks, topic statistics), in one transaction. */
export function deleteTenantRows(db: Database, username: string): void {
  db.transaction(() => {
    db.prepare('DELETE FROM webhooks WHERE tenant = ?').run(username);
    db.prepare('DELETE FROM topic_stats WHERE tenant = ?').run(username);
    db.prepare('DELETE FROM topic_stats_other WHERE tenant = ?').run(username);
    db.prepare('DELETE FROM tenants WHERE username = ?').run(username);
  })();
}
