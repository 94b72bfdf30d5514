import type { Database } from 'better-sqlite3';
import type { AuditLog } from '../audit/audit-log';
import { invalid, notFound } from '../errors';
import { compilePolicies, policyProblem, type MessagePolicy, type PolicySet } from '../tenancy/message-policies';

interface PolicyRow {
  id: number;
  tenant: string;
  definition: string;
}

/** What a policy holds besides its id and tenant. */
export type PolicyDefinition = Omit<MessagePolicy, 'id' | 'tenant'>;

const FIELDS = ['topic_filter', 'json_schema', 'inspect', 'patterns', 'max_payload_bytes', 'action'];

/** Checks a definition (every field, the schema and the patterns compiled), naming what is wrong. */
export function checkPolicy(input: unknown): PolicyDefinition {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid('a policy is an object', 'errors.bad-policy');
  const unknown = Object.keys(input).filter((k) => !FIELDS.includes(k));
  if (unknown.length > 0) throw invalid(`unknown field ${JSON.stringify(unknown[0])}`, 'errors.unknown-field', { field: unknown[0] });
  const definition = Object.fromEntries(FIELDS.filter((f) => (input as Record<string, unknown>)[f] !== undefined).map((f) => [f, (input as Record<string, unknown>)[f]])) as PolicyDefinition;
  const problem = policyProblem(definition);
  if (problem) throw invalid(problem, 'errors.bad-policy');
  return definition;
}

/**
 * Message policies, in SQLite and compiled in memory per tenant (once per
 * change), so a publish never parses a schema or a pattern.
 */
export class PolicyStore {
  private byTenant = new Map<string, MessagePolicy[]>();
  private compiled = new Map<string, PolicySet>();

  constructor(
    private readonly db: Database,
    private readonly audit: AuditLog,
    private readonly changed: (tenant: string) => void,
  ) {}

  read(): Map<string, MessagePolicy[]> {
    const byTenant = new Map<string, MessagePolicy[]>();
    for (const row of this.db.prepare('SELECT * FROM policies ORDER BY id').all() as PolicyRow[]) {
      const list = byTenant.get(row.tenant) ?? [];
      list.push({ ...(JSON.parse(row.definition) as PolicyDefinition), id: row.id, tenant: row.tenant });
      byTenant.set(row.tenant, list);
    }
    return byTenant;
  }

  /** Takes what was read as the current state; returns the tenants whose policies changed. */
  swap(read: Map<string, MessagePolicy[]>): string[] {
    const changed = [...new Set([...read.keys(), ...this.byTenant.keys()])].filter((t) => JSON.stringify(read.get(t)) !== JSON.stringify(this.byTenant.get(t)));
    this.byTenant = read;
    for (const tenant of changed) this.compiled.delete(tenant);
    return changed;
  }

  /** A tenant's compiled policies; undefined when it has none (a publish then costs one map lookup). */
  of(tenant: string): PolicySet | undefined {
    const list = this.byTenant.get(tenant);
    if (!list || list.length === 0) return undefined;
    let set = this.compiled.get(tenant);
    if (!set) this.compiled.set(tenant, (set = compilePolicies(list)));
    return set;
  }

  list(tenant: string): MessagePolicy[] {
    return [...(this.byTenant.get(tenant) ?? [])];
  }

  get(id: number): MessagePolicy {
    for (const list of this.byTenant.values()) for (const p of list) if (p.id === id) return p;
    throw notFound(`no policy with id ${id}`, 'errors.unknown-policy', { id });
  }

  add(tenant: string, input: unknown): MessagePolicy {
    const definition = checkPolicy(input);
    const row = this.db.prepare('INSERT INTO policies (tenant, definition, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id').get(tenant, JSON.stringify(definition), Date.now(), Date.now()) as { id: number };
    const policy = { ...definition, id: row.id, tenant };
    this.byTenant.set(tenant, [...(this.byTenant.get(tenant) ?? []), policy]);
    this.afterChange(tenant, 'policy.add', { id: row.id, topic_filter: policy.topic_filter, action: policy.action });
    return policy;
  }

  update(id: number, input: unknown): MessagePolicy {
    const before = this.get(id);
    const definition = checkPolicy({ ...stripIds(before), ...(input as object) });
    this.db.prepare('UPDATE policies SET definition = ?, updated_at = ? WHERE id = ?').run(JSON.stringify(definition), Date.now(), id);
    const policy = { ...definition, id, tenant: before.tenant };
    this.byTenant.set(before.tenant, this.list(before.tenant).map((p) => (p.id === id ? policy : p)));
    this.afterChange(before.tenant, 'policy.update', { id });
    return policy;
  }

  remove(id: number): void {
    const before = this.get(id);
    this.db.prepare('DELETE FROM policies WHERE id = ?').run(id);
    this.byTenant.set(before.tenant, this.list(before.tenant).filter((p) => p.id !== id));
    this.afterChange(before.tenant, 'policy.remove', { id });
  }

  /** Forgets a removed tenant's policies (SQLite removed them with the tenant). */
  forgetTenant(tenant: string): void {
    this.byTenant.delete(tenant);
    this.compiled.delete(tenant);
  }

  private afterChange(tenant: string, action: string, detail: Record<string, unknown>): void {
    this.compiled.delete(tenant);
    this.audit.record(tenant, 'admin', action, detail);
    this.changed(tenant);
  }
}

function stripIds(policy: MessagePolicy): PolicyDefinition {
  const { id: _id, tenant: _tenant, ...definition } = policy;
  return definition;
}
