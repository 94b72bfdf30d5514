import type { EventEmitter } from 'node:events';
import type { EngineEvents } from '../events';
import type { Registry, TenantChange } from '../registry/registry';
import { connectionsAfterChange } from '../tenancy/policy';
import type { ConnectionTracker } from './connections';
import type { TrafficCounters } from './traffic';

/**
 * What a change in the registry does to the running broker, at once: the
 * policy core says which connections a tenant's change ends, this carries it
 * out (and forgets a removed tenant's counters).
 */
export class RegistryReactions {
  private readonly onTenantChanged = (change: TenantChange) => this.apply(change);

  constructor(
    private readonly registry: Registry,
    private readonly connections: ConnectionTracker,
    private readonly traffic: TrafficCounters,
    private readonly events: EventEmitter<EngineEvents>,
  ) {
    registry.on('tenant-changed', this.onTenantChanged);
  }

  stop(): void {
    this.registry.off('tenant-changed', this.onTenantChanged);
  }

  private apply(change: TenantChange): void {
    const { before, after } = change;
    if (!before) return;
    if (!after) this.traffic.forget(change.username);
    const reaction = connectionsAfterChange(before, after, change.passwordChanged);
    if (reaction?.kind === 'kick') {
      this.connections.kick(change.username);
    } else if (reaction?.kind === 'trim') {
      const count = this.connections.trim(change.username, reaction.max);
      if (count > 0) this.events.emit('clients-kicked', { tenant: change.username, count, reason: 'quota' });
    }
  }
}
