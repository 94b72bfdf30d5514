import type { Registry } from '../registry/registry';
import type { MessagePolicy } from '../tenancy/message-policies';
import { asObject, onlyFields } from './tenant-api';
import { invalid } from '../errors';

/** Message policies over HTTP: the admin API (and the editor) add, change and remove them per tenant. */
export class PolicyService {
  constructor(private readonly registry: Registry) {}

  list(tenant: string): MessagePolicy[] {
    this.registry.requireTenant(tenant);
    return this.registry.policies.list(tenant);
  }

  /** `{"tenant", ...policy}` */
  add(body: unknown): MessagePolicy {
    const { tenant, ...policy } = asObject(body);
    if (typeof tenant !== 'string') throw invalid('tenant is required', 'errors.bad-field', { field: 'tenant' });
    this.registry.requireTenant(tenant);
    return this.registry.policies.add(tenant, policy);
  }

  /** `{"id", ...fields to change}` */
  update(body: unknown): MessagePolicy {
    const { id, ...patch } = asObject(body);
    return this.registry.policies.update(policyId(id), patch);
  }

  remove(body: unknown): void {
    const object = asObject(body);
    onlyFields(object, ['id']);
    this.registry.policies.remove(policyId(object.id));
  }
}

function policyId(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw invalid('id must be a policy id', 'errors.bad-field', { field: 'id' });
  return value;
}
