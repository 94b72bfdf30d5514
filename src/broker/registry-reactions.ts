import type { EventEmitter } from 'node:events';
import type { EngineEvents } from '../events';
import type { MemoryPersistence } from '../persistence/memory-store';
import type { DeviceChange, Registry, TenantChange } from '../registry/registry';
import { connectionsAfterChange, deviceConnectionsAfterChange, deviceSessionsAfterChange, sessionOwnerExists } from '../tenancy/policy';
import { dropWill } from '../aedes-seam';
import { loginKey, parseSessionKey, type ConnectionTracker } from './connections';
import type { TrafficCounters } from './traffic';

/**
 * What a change in the registry does to the running broker, at once: the
 * policy core says which connections a tenant's or a device's change ends,
 * this carries it out, forgets a removed tenant's counters, removes from the
 * store everything it owned (a new tenant of the same name inherits nothing),
 * and has flows' subscriptions follow a tenant's namespace. A role change
 * needs nothing here: rules are looked up again on the next packet.
 */
export class RegistryReactions {
  private readonly onTenantChanged = (change: TenantChange) => this.tenantChanged(change);
  private readonly onDeviceChanged = (change: DeviceChange) => this.deviceChanged(change);
  private store: MemoryPersistence | null = null;

  constructor(
    private readonly registry: Registry,
    private readonly connections: ConnectionTracker,
    private readonly traffic: TrafficCounters,
    private readonly events: EventEmitter<EngineEvents>,
    private readonly flowsFollow: () => Promise<void>,
  ) {
    registry.on('tenant-changed', this.onTenantChanged);
    registry.on('device-changed', this.onDeviceChanged);
  }

  /**
   * The store of the broker now running (null: a persistence the engine was
   * given, which it cannot search). Sessions of logins that are no longer
   * tenants or devices (removed while the broker was down) are dropped at once.
   */
  attach(store: MemoryPersistence | null): void {
    this.store = store;
    const isTenant = (name: string) => this.registry.getTenant(name) !== undefined;
    const tenantOfDevice = (login: string) => this.registry.devices.get(login)?.tenant;
    store?.dropSessions((clientId) => {
      const owner = parseSessionKey(clientId);
      return owner !== null && !sessionOwnerExists(owner, isTenant, tenantOfDevice);
    });
  }

  stop(): void {
    this.registry.off('tenant-changed', this.onTenantChanged);
    this.registry.off('device-changed', this.onDeviceChanged);
  }

  private tenantChanged(change: TenantChange): void {
    const { before, after } = change;
    if (!before || !after || before.namespace !== after.namespace) this.flowsFollow().catch((err: Error) => this.events.emit('engine-error', err));
    if (!before) {
      // whatever a crash or an outside edit left under this name is not the new tenant's
      if (after) this.withStore((store) => store.openTenant(change.username));
      return;
    }
    if (!after) {
      this.traffic.forget(change.username);
      // its clients' wills would land in a namespace that no longer belongs to anyone
      for (const client of this.connections.clients(change.username)) dropWill(client);
    }
    const reaction = connectionsAfterChange(before, after, change.passwordChanged);
    if (reaction?.kind === 'kick') {
      this.connections.kick(change.username, !after ? 'tenant-removed' : !after.enabled ? 'tenant-disabled' : 'kick');
    } else if (reaction?.kind === 'trim') {
      const count = this.connections.trim(change.username, reaction.max);
      if (count > 0) this.events.emit('clients-kicked', { tenant: change.username, count, reason: 'quota' });
    }
    if (!after) this.withStore((store) => store.removeTenant(change.username));
  }

  private deviceChanged(change: DeviceChange): void {
    const sessions = deviceSessionsAfterChange(change.before, change.after);
    const login = loginKey(change.tenant, change.username);
    // whatever a crash or an outside edit left under this name is not the new device's
    if (sessions === 'open') this.withStore((store) => store.openLogin(login));
    if (!change.before) return;
    if (deviceConnectionsAfterChange(change.before, change.after, change.passwordChanged)?.kind === 'kick') this.connections.kickDevice(change.username);
    // its sessions go with it: a new device of the same name inherits nothing (with its tenant, they went already)
    if (sessions === 'purge' && this.registry.getTenant(change.tenant)) this.withStore((store) => store.removeLogin(login));
  }

  private withStore(task: (store: MemoryPersistence) => void): void {
    if (!this.store) return;
    try {
      task(this.store);
    } catch (err) {
      // a failed commit (disk): reported; what is in memory is gone already
      this.events.emit('engine-error', err as Error);
    }
  }
}
