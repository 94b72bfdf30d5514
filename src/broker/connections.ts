import type { Client } from 'aedes';
import type { Duplex } from 'node:stream';
import type { ClientInfo, DisconnectReason, Transport } from '../model';
import { ROOT_USER } from '../tenancy/topics';
import { newClientPolicyState, type ClientPolicyState } from '../tenancy/policy';
import type { Access, CompiledRule } from '../tenancy/rules';
import type { PendingConnection } from './pending';
import { clientOfStream } from '../aedes-seam';
import type { ConnectionInfo } from './listeners';
import type { PublishWindow } from './publish-window';

/** What the engine knows about one MQTT connection: the policy core's state and who it is. */
export interface ClientSession extends ClientPolicyState, PublishWindow {
  /** The username the CONNECT claimed; a tenant name or `root` once authenticated. */
  username: string | null;
  /** The client identifier as the client itself knows it (or the one generated for an empty one). */
  clientId: string;
  transport: Transport;
  remoteAddress: string | undefined;
  /** Refused with CONNACK 2 once authentication runs (see identifierProblem). */
  identifierRejected: boolean;
  connectedAt: number;
  /** Set when the login is a registry device's: its name (its roles and limits apply). */
  device: string | null;
  /** On a listener that takes identities from client certificates: the login the certificate names (see ConnectionInfo). */
  certificate: { identity: string | null } | null;
  /** Who admitted the login: `registry` (root included), `certificate`, or a provider's name. */
  provider: string;
  /** For a provider's login: its name (`%u`, the session key) and its own rules, evaluated before the device's roles. */
  providerLogin: { login: string; rules: CompiledRule[] } | null;
  /** Closes the connection when a token expires. */
  expiry: NodeJS.Timeout | null;
  /** The device's rules as last compiled, and what they were compiled from (see sessionAccess in login-placement.ts). */
  access: Access | null;
  accessVersion: number;
  accessTenant: object | null;
  messagesIn: number;
  messagesOut: number;
  /** Until CONNACK: its deadline for a CONNECT and what it holds of the unauthenticated budget. */
  pending: PendingConnection | null;
}

/** A connection just accepted, before its CONNECT. */
export function newSession(info: ConnectionInfo, pending: ClientSession['pending']): ClientSession {
  // one literal, no spreads: V8 builds it from one shape (a spread copy was a tenth of a connect's CPU in profiles)
  const policy = newClientPolicyState();
  return {
    scope: policy.scope,
    filters: policy.filters,
    grants: policy.grants,
    dollarFilters: policy.dollarFilters,
    bucket: policy.bucket,
    publishesInFlight: 0,
    publishesWaiting: [],
    publishesWaitingFrom: 0,
    publishesReleasing: false,
    pending,
    username: null,
    clientId: '',
    transport: info.transport,
    remoteAddress: info.remoteAddress,
    certificate: info.certificate ?? null,
    identifierRejected: false,
    connectedAt: 0,
    device: null,
    provider: 'registry',
    providerLogin: null,
    expiry: null,
    access: null,
    accessVersion: -1,
    accessTenant: null,
    messagesIn: 0,
    messagesOut: 0,
  };
}

/** A provider's credentials stop at `expiresAt` (a JWT's exp plus the tolerance): the connection goes then, audited. */
export function closeAtExpiry(client: Client, session: ClientSession, expiresAt: number, connections: ConnectionTracker): void {
  const arm = () => {
    const left = expiresAt - Date.now();
    if (left <= 0) {
      session.expiry = null;
      if (client.closed) return;
      connections.closing(client, 'token-expired');
      client.close();
      return;
    }
    // timers hold at most 2^31-1 ms: a far expiry is reached in steps
    session.expiry = setTimeout(arm, Math.min(left, 0x7fffffff));
    session.expiry.unref?.();
  };
  arm();
  client.conn.once('close', () => {
    if (session.expiry) clearTimeout(session.expiry);
    session.expiry = null;
  });
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
 * the engine hands it a key of its own, set once the login is authenticated:
 * `<tenant>:<client id>` for a tenant's own login (and `root:<client id>`),
 * `<tenant>/<device>:<client id>` for a device. Two logins' clients with the
 * same identifier are two clients to aedes, and a session can only be resumed
 * or taken over by the login that created it. Names cannot contain `:` or `/`.
 */
export function sessionKey(tenant: string, login: string, clientId: string): string {
  return loginKey(tenant, login) + ':' + clientId;
}

/** The part of a session key before the client id: whose sessions they are (a tenant's own login, or one device). */
export function loginKey(tenant: string, login: string): string {
  return login === tenant ? tenant : tenant + '/' + login;
}

export function parseSessionKey(id: string): { tenant: string; login: string; clientId: string } | null {
  const colon = id.indexOf(':');
  if (colon <= 0) return null;
  const owner = id.slice(0, colon);
  const slash = owner.indexOf('/');
  return slash === -1 ? { tenant: owner, login: owner, clientId: id.slice(colon + 1) } : { tenant: owner.slice(0, slash), login: owner.slice(slash + 1), clientId: id.slice(colon + 1) };
}

/** Live connections per owner (a tenant name, or `root`) and per device login, oldest first. */
export class ConnectionTracker {
  private readonly byOwner = new Map<string, Set<Client>>();
  private readonly byLogin = new Map<string, Set<Client>>();
  private readonly ownerOf = new Map<Client, { owner: string; login: string | null; key: string }>();
  /** By session key (aedes' id): a takeover finds its earlier connection without a scan of the tenant's. */
  private readonly byKey = new Map<string, Set<Client>>();
  /** Why the broker closed a connection, for its disconnect event. */
  private readonly closedFor = new WeakMap<Client, DisconnectReason>();
  private readonly closeHandler: (this: Duplex) => void;

  constructor() {
    // one handler for every connection (`this` is the stream): no closure each
    const remove = (client: Client) => this.remove(client);
    this.closeHandler = function (this: Duplex) {
      remove(clientOfStream(this));
    };
  }

  /** `device` names the device login, null for the tenant's own login and root. */
  add(owner: string, device: string | null, client: Client): void {
    addTo(this.byOwner, owner, client);
    if (device !== null) addTo(this.byLogin, device, client);
    addTo(this.byKey, client.id, client);
    this.ownerOf.set(client, { owner, login: device, key: client.id });
    client.conn.once('close', this.closeHandler);
  }

  private remove(client: Client): void {
    const entry = this.ownerOf.get(client);
    if (entry === undefined) return;
    this.ownerOf.delete(client);
    removeFrom(this.byOwner, entry.owner, client);
    removeFrom(this.byKey, entry.key, client);
    if (entry.login !== null) removeFrom(this.byLogin, entry.login, client);
  }

  /** Live connections of a device other than one with the given aedes id. */
  countDeviceExcept(device: string, internalId: string): number {
    let n = 0;
    for (const client of this.byLogin.get(device) ?? []) if (client.id !== internalId && !client.closed) n++;
    return n;
  }

  countDevice(device: string): number {
    return this.byLogin.get(device)?.size ?? 0;
  }

  /** Disconnects every connection of a device; returns how many. */
  kickDevice(device: string, reason: DisconnectReason = 'kick'): number {
    return this.closeAll([...(this.byLogin.get(device) ?? [])], reason);
  }

  /** Disconnects the given connections; returns how many were open. */
  kickClients(clients: Client[], reason: DisconnectReason = 'kick'): number {
    return this.closeAll(clients, reason);
  }

  /** Why the broker closed this connection, if it did. */
  reasonOf(client: Client): DisconnectReason | undefined {
    return this.closedFor.get(client);
  }

  /** Remembers why a connection is about to be closed (a denied publish, a takeover). */
  closing(client: Client, reason: DisconnectReason): void {
    if (!this.closedFor.has(client)) this.closedFor.set(client, reason);
  }

  private closeAll(clients: Client[], reason: DisconnectReason): number {
    const open = clients.filter((client) => !client.closed);
    for (const client of open) {
      this.closing(client, reason);
      client.close();
    }
    return open.length;
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

  /** Live connections known by this session key (more than one only during a takeover). */
  withKey(key: string): Client[] {
    return [...(this.byKey.get(key) ?? [])];
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
  kick(owner: string, reason: DisconnectReason = 'kick'): number {
    return this.closeAll(this.clients(owner), reason);
  }

  /** Disconnects the newest connections beyond `max`; returns how many. */
  trim(owner: string, max: number): number {
    const clients = this.clients(owner).filter((client) => !client.closed);
    return this.closeAll(clients.slice(max), 'quota');
  }
}

function addTo(map: Map<string, Set<Client>>, key: string, client: Client): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(client);
}

function removeFrom(map: Map<string, Set<Client>>, key: string, client: Client): void {
  const set = map.get(key);
  set?.delete(client);
  if (set?.size === 0) map.delete(key);
}
