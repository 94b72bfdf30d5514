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
  /**
   * Set by a broker: what its persistence keeps for a tenant, in words, or
   * null. `leaving`: retained messages under its namespace and its sessions,
   * before the namespace changes. `taking`: sessions kept under a name a new
   * tenant is to take (an earlier tenant's, which it would resume).
   */
  holds: ((tenant: Pick<Tenant, 'username' | 'namespace'>, purpose: 'leaving' | 'taking') => string | null) | null = null;

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

  /** Refuses (409) a new tenant's name or namespace while an earlier tenant's sessions are kept under it. */
  checkTaking(username: string, namespace: string): void {
    this.checkFree(username, namespace);
    const left = this.holds?.({ username, namespace }, 'taking');
    if (left) throw conflict(`an earlier tenant named ${JSON.stringify(username)} left ${left}; start the broker once to drop them, or wait until they expire`, 'errors.name-holds-sessions', { tenant: username });
  }

  /** Refuses (409) moving a tenant whose old namespace still holds registry webhooks, retained messages or sessions. */
  checkChange(tenant: Tenant, namespace: string): void {
    if (namespace === tenant.namespace) return;
    this.checkFree(tenant.username, namespace);
    const holds = [this.registry.webhooksOf(tenant.username) > 0 ? 'registry webhooks' : null, this.holds?.(tenant, 'leaving') ?? null].filter(Boolean);
    if (holds.length > 0) throw conflict(`the namespace of ${JSON.stringify(tenant.username)} can change only while it holds no ${holds.join(', ')}`, 'errors.namespace-in-use', { tenant: tenant.username });
  }
}
