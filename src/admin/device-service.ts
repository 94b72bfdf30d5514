import type { BrokerHost } from '../broker/broker-host';
import { invalid, notFound } from '../errors';
import type { Device } from '../registry/registry';
import { deviceView, parseDevicePatch, parseNewDevice, type DeviceView } from './device-api';
import { asObject } from './tenant-api';

/**
 * Devices as both HTTP surfaces serve them: the admin API names a device by
 * its username alone (names are unique across tenants), the editor's routes
 * also by its tenant, and a device of another tenant is then unknown (404).
 * Views carry live connection counts and never a password hash.
 */
export class DeviceService {
  constructor(private readonly host: BrokerHost) {}

  list(tenant: string): DeviceView[] {
    this.host.registry.requireTenant(tenant);
    return this.host.registry.devices.list(tenant).map((d) => this.view(d));
  }

  get(username: string, tenant?: string): DeviceView {
    return this.view(this.require(username, tenant));
  }

  async add(body: unknown, tenant?: string): Promise<DeviceView> {
    const device = await this.host.registry.devices.add(parseNewDevice(body, tenant));
    return this.view(device);
  }

  /** `body` may name the device (`username`) only when it is the same one. */
  async update(username: string, body: unknown, tenant?: string): Promise<DeviceView> {
    const named = asObject(body).username;
    if (named !== undefined && named !== username) throw invalid('username must be the device the route names', 'errors.bad-field', { field: 'username' });
    const patch = parseDevicePatch(body);
    this.require(username, tenant);
    return this.view(await this.host.registry.devices.update(username, patch));
  }

  /** Removes the device and disconnects it. */
  remove(username: string, tenant?: string): void {
    this.require(username, tenant);
    this.host.registry.devices.remove(username);
  }

  /** Disconnects every connection of the device; returns how many. */
  kick(username: string, tenant?: string): number {
    const device = this.require(username, tenant);
    return this.host.live.kickDevice(device.tenant, device.username);
  }

  private require(username: string, tenant: string | undefined): Device {
    if (tenant !== undefined) this.host.registry.requireTenant(tenant);
    const device = this.host.registry.devices.get(username);
    if (!device || (tenant !== undefined && device.tenant !== tenant)) {
      throw notFound(`no device named ${JSON.stringify(username)}${tenant === undefined ? '' : ` in tenant ${JSON.stringify(tenant)}`}`, 'errors.unknown-device', { device: username });
    }
    return device;
  }

  private view(device: Device): DeviceView {
    return deviceView(device, this.host.live.deviceConnections(device.username));
  }
}
