import type { Client } from 'aedes';
import type { Duplex } from 'node:stream';
import type { ClientInfo, Transport } from '../model';
import { ROOT_USER } from '../tenancy/topics';
import type { ClientPolicyState } from '../tenancy/policy';
import type { PendingConnection } from './pending';
import { clientOfStream } from '../aedes-seam';

/** What the engine knows about one MQTT connection: the policy core's state and who it is. */
export interface ClientSession extends ClientPolicyState {
  /** The username the CONNECT claimed; a tenant name or `root` once authenticated. */
  username: string | null;
  /** The client identifier as the client itself knows it (or the one generated for an empty one). */
  clientId: string;
  transport: Transport;
  remoteAddress: string | undefined;
  /** Refused with CONNACK 2 once authentication runs (see identifierProblem). */
  identifierRejected: boolean;
  connectedAt: number;
  /** Until CONNACK: its deadline for a CONNECT and what it holds of the unauthenticated budget. */
  pending: PendingConnection | null;
}

export function clientInfo(session: ClientSession): ClientInfo {
  return {
    tenant: session.scope?.kind === 'tenant' ? session.scope.tenant : null,
    username: session.username,
    clientId: session.clientId,
    transport: session.transport,
    remoteAddress: session.remoteAddress,
  };
}

/**
 * aedes keys clients and persistent sessions by client identifier alone, so
 * the engine hands it `<username>:<client id>`: two tenants' clients with the
 * same identifier are two different clients to aedes, and a session can only
 * be resumed by the user who created it. Tenant names cannot contain `:`.
 */
export function internalClientId(username: string, clientId: string): string {
  return username + ':' + clientId;
}

export function splitInternalClientId(id: string): { username: string; clientId: string } | null {
  const colon = id.indexOf(':');
  return colon <= 0 ? null : { username: id.slice(0, colon), clientId: id.slice(colon + 1) };
}

/** Live connections per owner (a tenant name, or `root`), oldest first. */
export class ConnectionTracker {
  private readonly byOwner = new Map<string, Set<Client>>();
  private readonly ownerOf = new Map<Client, string>();
  private readonly closeHandler: (this: Duplex) => void;

  constructor() {
    // one handler for every connection (`this` is the stream): no closure each
    const remove = (client: Client) => this.remove(client);
    this.closeHandler = function (this: Duplex) {
      remove(clientOfStream(this));
    };
  }

  add(owner: string, client: Client): void {
    let set = this.byOwner.get(owner);
    if (!set) this.byOwner.set(owner, (set = new Set()));
    set.add(client);
    this.ownerOf.set(client, owner);
    client.conn.once('close', this.closeHandler);
  }

  private remove(client: Client): void {
    const owner = this.ownerOf.get(client);
    if (owner === undefined) return;
    this.ownerOf.delete(client);
    const set = this.byOwner.get(owner);
    set?.delete(client);
    if (set?.size === 0) this.byOwner.delete(owner);
  }

  count(owner: string): number {
    return this.byOwner.get(owner)?.size ?? 0;
  }

  /** Connections of an owner other than one with the given aedes id (a reconnect takes that one over). */
  countExcept(owner: string, internalId: string): number {
    let n = 0;
    for (const client of this.byOwner.get(owner) ?? []) if (client.id !== internalId && !client.closed) n++;
    return n;
  }

  clients(owner: string): Client[] {
    return [...(this.byOwner.get(owner) ?? [])];
  }

  counts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [owner, set] of this.byOwner) if (owner !== ROOT_USER) counts.set(owner, set.size);
    return counts;
  }

  total(): number {
    let n = 0;
    for (const set of this.byOwner.values()) n += set.size;
    return n;
  }

  /** Disconnects every connection of the owner; returns how many. */
  kick(owner: string): number {
    const clients = this.clients(owner).filter((client) => !client.closed);
    for (const client of clients) client.close();
    return clients.length;
  }

  /** Disconnects the newest connections beyond `max`; returns how many. */
  trim(owner: string, max: number): number {
    const clients = this.clients(owner).filter((client) => !client.closed);
    const excess = clients.slice(max);
    for (const client of excess) client.close();
    return excess.length;
  }
}
