import type { EventEmitter } from 'node:events';
import type { EngineEvents } from '../events';
import type { DeviceChange, Registry, Tenant, TenantChange } from '../registry/registry';
import { connectionsAfterChange, deviceConnectionsAfterChange } from '../tenancy/policy';
import type { ConnectionTracker } from './connections';
import type { TrafficCounters } from './traffic';

/**
 * What a change in the registry does to the running broker, at once: the
 * policy core says which connections a tenant's or a device's change ends,
 * this carries it out (and forgets a removed tenant's counters, and has flows'
 * subscriptions follow a tenant's namespace). A role change needs nothing
 * here: rules are looked up again on the next packet.
 */
export class RegistryReactions {
  private readonly onTenantChanged = (change: TenantChange) => this.tenantChanged(change);
  private readonly onDeviceChanged = (change: DeviceChange) => this.deviceChanged(change);

  constructor(
    private readonly registry: Registry,
    private readonly connections: ConnectionTracker,
    private readonly traffic: TrafficCounters,
    private readonly events: EventEmitter<EngineEvents>,
    private readonly flowsFollow: () => Promise<void>,
    /** Drops what a removed tenant leaves in the persistence (retained messages, sessions). */
    private readonly forgetStored: (tenant: Tenant) => void,
  ) {
    registry.on('tenant-changed', this.onTenantChanged);
    registry.on('device-changed', this.onDeviceChanged);
  }

  stop(): void {
    this.registry.off('tenant-changed', this.onTenantChanged);
    this.registry.off('device-changed', this.onDeviceChanged);
  }

  private tenantChanged(change: TenantChange): void {
    const { before, after } = change;
    if (!before || !after || before.namespace !== after.namespace) this.flowsFollow().catch((err: Error) => this.events.emit('engine-error', err));
    if (!before) return;
    if (!after) this.traffic.forget(change.username);
    const reaction = connectionsAfterChange(before, after, change.passwordChanged);
    if (reaction?.kind === 'kick') {
      this.connections.kick(change.username);
      // after the kick: a tenant given this name or namespace later must find nothing of this one
      if (!after) this.forgetStored(before);
    } else if (reaction?.kind === 'trim') {
      const count = this.connections.trim(change.username, reaction.max);
      if (count > 0) this.events.emit('clients-kicked', { tenant: change.username, count, reason: 'quota' });
    }
  }

  private deviceChanged(change: DeviceChange): void {
    if (!change.before) return;
    if (deviceConnectionsAfterChange(change.before, change.after, change.passwordChanged)?.kind === 'kick') this.connections.kickDevice(change.username);
  }
}
