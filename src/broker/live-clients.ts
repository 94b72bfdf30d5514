import type { Client } from 'aedes';
import type { EventEmitter } from 'node:events';
import type { EngineEvents } from '../events';
import type { Transport } from '../model';
import type { ClientSession, ConnectionTracker } from './connections';

/** A live connection as an operator sees it. */
export interface LiveClient {
  /** As the client sent it (or the one assigned to an empty one). */
  clientId: string;
  /** Who logged in: the tenant's own login, a device, or root. */
  login: string;
  /** The device's name when the login is a device's. */
  device: string | null;
  /** Who admitted it: `registry`, `jwt`, `http` or `flow`. */
  provider: string;
  transport: Transport;
  remoteAddress: string | undefined;
  connectedAt: number;
  /** The filters it holds, as the client wrote them. */
  subscriptions: string[];
  messagesIn: number;
  messagesOut: number;
}

/**
 * The live connections of a tenant, listed and kicked by device or by client
 * id. Only connections of the tenant named are ever looked at: the same
 * client id in another tenant is another tenant's.
 */
export class LiveClients {
  constructor(
    private readonly connections: ConnectionTracker,
    private readonly sessions: WeakMap<Client, ClientSession>,
    private readonly events: EventEmitter<EngineEvents>,
  ) {}

  /** Connections of a tenant (or of root), oldest first. */
  list(owner: string): LiveClient[] {
    return this.of(owner).map(([, s]) => ({
      clientId: s.clientId,
      login: s.providerLogin?.login ?? s.username ?? owner,
      device: s.device,
      provider: s.provider,
      transport: s.transport,
      remoteAddress: s.remoteAddress,
      connectedAt: s.connectedAt,
      subscriptions: [...s.filters.values()],
      messagesIn: s.messagesIn,
      messagesOut: s.messagesOut,
    }));
  }

  /** Disconnects every connection of a device of the tenant; returns how many (audited as device.kick). */
  kickDevice(tenant: string, device: string): number {
    const count = this.connections.kickDevice(device);
    this.events.emit('clients-kicked', { tenant, count, reason: 'kick', device });
    return count;
  }

  /** Disconnects every connection with this client id in one tenant, whichever login; returns how many (audited as client.kick). */
  kickClientId(owner: string, clientId: string): number {
    const matching = this.of(owner).filter(([, s]) => s.clientId === clientId);
    const logins = [...new Set(matching.map(([, s]) => s.username ?? owner))];
    const count = this.connections.kickClients(matching.map(([client]) => client));
    this.events.emit('clients-kicked', { tenant: owner, count, reason: 'kick', clientId, logins });
    return count;
  }

  deviceConnections(device: string): number {
    return this.connections.countDevice(device);
  }

  private of(owner: string): Array<[Client, ClientSession]> {
    const found: Array<[Client, ClientSession]> = [];
    for (const client of this.connections.clients(owner)) {
      const session = this.sessions.get(client);
      if (session?.scope && !client.closed) found.push([client, session]);
    }
    return found;
  }
}
