import type { BrokerHost } from '../broker/broker-host';
import { notFound, TenantBrokerError } from '../errors';
import { kickTarget } from '../tenancy/policy';
import { clientView, parseClientKick, type ClientView } from './device-api';

/** Where devices connect, as the editor's connection-info block shows it. */
export interface ConnectionInfoView {
  /** The bound address, or for a wildcard bind the host the request reached. */
  host: string;
  mqtt_port: number | null;
  ws_port: number | null;
  ws_path: string | null;
  tls: boolean;
}

const WILDCARD_ADDRESSES = new Set(['0.0.0.0', '::', '::0']);

/**
 * Live connections of a tenant (or of root): listed as operators see them,
 * and kicked by client id, all connections with it in that tenant (its own
 * login's and its devices'), never another tenant's with the same id.
 */
export class ClientService {
  constructor(private readonly host: BrokerHost) {}

  list(tenant: string): ClientView[] {
    return this.host.live.list(this.owner(tenant)).map(clientView);
  }

  /** `{"tenant","client_id"}` (the editor's routes name the tenant in the path); returns how many were disconnected. */
  kick(body: unknown, routeTenant?: string): number {
    const { tenant, clientId } = parseClientKick(body, routeTenant);
    return this.host.live.kickClientId(this.owner(tenant), clientId);
  }

  /** The running broker's listeners; `requestHost` stands in for an address bound to every interface. */
  connectionInfo(requestHost: string): ConnectionInfoView {
    const { mqtt, ws } = this.host.bound;
    const address = mqtt?.address ?? ws?.address;
    if (address === undefined) throw new TenantBrokerError('the broker is not running', 'errors.not-running', {}, 'unavailable');
    return {
      host: WILDCARD_ADDRESSES.has(address) ? requestHost : address,
      mqtt_port: mqtt?.port ?? null,
      ws_port: ws?.port ?? null,
      ws_path: ws?.path ?? null,
      tls: Boolean(mqtt?.tls ?? ws?.tls),
    };
  }

  private owner(tenant: string): string {
    const owner = kickTarget(tenant, (name) => this.host.registry.getTenant(name) !== undefined);
    if (owner === null) throw notFound(`no tenant named ${JSON.stringify(tenant)}`, 'errors.unknown-tenant', { tenant });
    return owner;
  }
}
