import { conflict } from '../errors';
import { namespacesOverlap } from '../tenancy/topics';
import type { Tenant } from './records';

/**
 * Tenants by namespace: finds the tenant of a full topic with one map lookup
 * per level, and keeps namespaces apart: two may never overlap at a level
 * boundary, and one may change only while nothing is stored under it.
 */
export class NamespaceIndex {
  private byNamespace = new Map<string, Tenant>();
  /** Set by a broker: what its persistence still holds under a tenant's namespace (retained messages, sessions), or null. */
  holds: ((tenant: Tenant) => string | null) | null = null;

  constructor(private readonly registry: { webhooksOf(tenant: string): number }) {}

  index(tenants: Iterable<Tenant>): void {
    this.byNamespace = new Map([...tenants].map((t) => [t.namespace, t]));
  }

  tenantOfTopic(fullTopic: string): Tenant | undefined {
    for (let slash = fullTopic.indexOf('/'); slash !== -1; slash = fullTopic.indexOf('/', slash + 1)) {
      const tenant = this.byNamespace.get(fullTopic.slice(0, slash));
      if (tenant) return tenant;
    }
    return undefined;
  }

  /** Refuses (409) a namespace that overlaps another tenant's. */
  checkFree(username: string, namespace: string): void {
    for (const other of this.byNamespace.values()) {
      if (other.username !== username && namespacesOverlap(other.namespace, namespace)) {
        throw conflict(`namespace ${JSON.stringify(namespace)} overlaps tenant ${JSON.stringify(other.username)}'s ${JSON.stringify(other.namespace)}`, 'errors.namespace-overlap', { namespace });
      }
    }
  }

  /** Refuses (409) moving a tenant whose old namespace still holds registry webhooks, retained messages or sessions. */
  checkChange(tenant: Tenant, namespace: string): void {
    if (namespace === tenant.namespace) return;
    this.checkFree(tenant.username, namespace);
    const holds = [this.registry.webhooksOf(tenant.username) > 0 ? 'registry webhooks' : null, this.holds?.(tenant) ?? null].filter(Boolean);
    if (holds.length > 0) throw conflict(`the namespace of ${JSON.stringify(tenant.username)} can change only while it holds no ${holds.join(', ')}`, 'errors.namespace-in-use', { tenant: tenant.username });
  }
}
