import type { BrokerHost } from '../broker/broker-host';
import type { Role } from '../registry/registry';
import { parseRole, roleView, type RoleView } from './device-api';

/**
 * Roles of a tenant as both HTTP surfaces serve them: ordered rules checked
 * by the registry (400 naming the first bad rule), 409 for adding a name that
 * exists or removing a role a device holds, each view with the devices
 * holding it.
 */
export class RoleService {
  constructor(private readonly host: BrokerHost) {}

  list(tenant: string): RoleView[] {
    this.host.registry.requireTenant(tenant);
    return this.host.registry.devices.listRoles(tenant).map((r) => this.view(r));
  }

  /** `route` names the tenant (and, to update, the role) where the editor's routes do. */
  set(body: unknown, mode: 'add' | 'update', route: { tenant?: string; name?: string } = {}): RoleView {
    const { tenant, name, rules } = parseRole(body, route);
    this.host.registry.requireTenant(tenant);
    return this.view(this.host.registry.devices.setRole(tenant, name, rules, mode));
  }

  remove(tenant: string, name: string): void {
    this.host.registry.requireTenant(tenant);
    this.host.registry.devices.removeRole(tenant, name);
  }

  private view(role: Role): RoleView {
    const holders = this.host.registry.devices.list(role.tenant).filter((d) => d.roles.includes(role.name));
    return roleView(role, holders.map((d) => d.username));
  }
}
