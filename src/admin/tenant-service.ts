import type { BrokerHost } from '../broker/broker-host';
import { invalid, notFound } from '../errors';
import { kickTarget } from '../tenancy/policy';
import { asObject, parseNewTenant, parseTenantPatch, tenantView, type TenantView } from './tenant-api';

/**
 * Tenants as both HTTP surfaces serve them, the editor's Tenants tab and the
 * tenant-admin API: JSON bodies in (checked, unknown fields refused), tenant
 * views out, never a password hash. Concurrent changes of one tenant are
 * ordered by the Registry itself.
 */
export class TenantService {
  constructor(private readonly host: BrokerHost) {}

  list(): TenantView[] {
    return this.host.registry.listTenants().map((t) => tenantView(t, this.host.connectionCount(t.username)));
  }

  get(username: string): TenantView {
    return tenantView(this.host.registry.requireTenant(username), this.host.connectionCount(username));
  }

  async add(body: unknown): Promise<TenantView> {
    const tenant = await this.host.registry.addTenant(parseNewTenant(body));
    return this.get(tenant.username);
  }

  /** `body` may name the tenant (`username`) only when it is the same one. */
  async update(username: string, body: unknown): Promise<TenantView> {
    const named = asObject(body).username;
    if (named !== undefined && named !== username) throw invalid('username must be the tenant the route names', 'errors.bad-field', { field: 'username' });
    await this.host.registry.updateTenant(username, parseTenantPatch(body));
    return this.get(username);
  }

  remove(username: string): void {
    this.host.registry.removeTenant(username);
  }

  /** Disconnects every client of a tenant, or of root; returns how many. */
  kick(username: string): number {
    const target = kickTarget(username, (name) => this.host.registry.getTenant(name) !== undefined);
    if (target === null) throw notFound(`no tenant named ${JSON.stringify(username)}`, 'errors.unknown-tenant', { tenant: username });
    return this.host.kick(target);
  }
}
