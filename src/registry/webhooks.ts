import type { Database } from 'better-sqlite3';
import type { AuditLog } from '../audit/audit-log';
import { invalid, notFound } from '../errors';
import { decideWebhookFilter } from '../tenancy/flows';
import { checkWebhookTarget, toWebhook, type NewWebhook, type Tenant, type Webhook, type WebhookRow } from './records';

/**
 * Webhooks registered at run time (the admin API), in SQLite; the broker
 * mirrors them into its dispatcher on every change. Remembers the rows as last
 * read or written here, so a reload can tell an outside change.
 */
export class WebhookStore {
  private lastRows = '';

  constructor(
    private readonly db: Database,
    private readonly audit: AuditLog,
    private readonly host: { requireTenant(username: string): Tenant; catchUp(): void; changed(): void },
  ) {}

  rows(): string {
    return JSON.stringify(this.db.prepare('SELECT * FROM webhooks ORDER BY id').all());
  }

  /** Takes rows read from the file as the current ones; whether they differ from the last. */
  seen(rows: string): boolean {
    const changed = rows !== this.lastRows;
    this.lastRows = rows;
    return changed;
  }

  /** After a write here: remembered, so a reload does not count it as an outside change. */
  written(): void {
    this.lastRows = this.rows();
    this.host.changed();
  }

  add(input: NewWebhook): Webhook {
    this.host.catchUp();
    this.host.requireTenant(input.tenant);
    this.checkWebhookFilter(input.tenant, input.topicFilter);
    checkWebhookTarget(input.url, input.secret);
    const now = Date.now();
    const row = this.db
      .prepare('INSERT INTO webhooks (tenant, topic_filter, url, enabled, secret, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *')
      .get(input.tenant, input.topicFilter, input.url, input.enabled === false ? 0 : 1, input.secret || null, now, now) as WebhookRow;
    this.audit.record(input.tenant, 'admin', 'webhook.add', { id: row.id, topicFilter: input.topicFilter, host: new URL(input.url).host });
    this.written();
    return toWebhook(row);
  }

  private checkWebhookFilter(tenant: string, filter: string): void {
    const verdict = decideWebhookFilter('registry', tenant, filter, this.host.requireTenant(tenant).namespace);
    if (verdict.kind === 'allow') return;
    throw verdict.outside ? invalid(verdict.problem, 'errors.filter-outside-tenant', { tenant }) : invalid(verdict.problem, 'errors.bad-filter');
  }


  list(tenant?: string): Webhook[] {
    const rows = (tenant === undefined
      ? this.db.prepare('SELECT * FROM webhooks ORDER BY id').all()
      : this.db.prepare('SELECT * FROM webhooks WHERE tenant = ? ORDER BY id').all(tenant)) as WebhookRow[];
    return rows.map(toWebhook);
  }

  get(id: number): Webhook {
    const row = this.db.prepare('SELECT * FROM webhooks WHERE id = ?').get(id) as WebhookRow | undefined;
    if (!row) throw notFound(`no webhook with id ${id}`, 'errors.unknown-webhook', { id });
    return toWebhook(row);
  }

  update(id: number, patch: Partial<Omit<NewWebhook, 'tenant'>>): Webhook {
    this.host.catchUp();
    const before = this.get(id);
    const topicFilter = patch.topicFilter ?? before.topicFilter;
    const url = patch.url ?? before.url;
    this.checkWebhookFilter(before.tenant, topicFilter);
    const secret = patch.secret === undefined ? before.secret : patch.secret || null;
    checkWebhookTarget(url, secret);
    const enabled = patch.enabled === undefined ? before.enabled : Boolean(patch.enabled);
    const row = this.db
      .prepare('UPDATE webhooks SET topic_filter = ?, url = ?, enabled = ?, secret = ?, updated_at = ? WHERE id = ? RETURNING *')
      .get(topicFilter, url, enabled ? 1 : 0, secret, Date.now(), id) as WebhookRow;
    this.audit.record(before.tenant, 'admin', 'webhook.update', { id, changed: Object.keys(patch).filter((k) => (patch as Record<string, unknown>)[k] !== undefined) });
    this.written();
    return toWebhook(row);
  }

  remove(id: number): void {
    this.host.catchUp();
    const before = this.get(id);
    this.db.prepare('DELETE FROM webhooks WHERE id = ?').run(id);
    this.audit.record(before.tenant, 'admin', 'webhook.remove', { id });
    this.written();
  }

}
