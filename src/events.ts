import type { AppliedLimit, ClientInfo, DenialReason, PublishedMessage, RefusalReason, Transport } from './model';

export { REFUSAL_RETURN_CODES } from './model';
export type { PublishedMessage, RefusalReason } from './model';

export interface ConnectionRefused {
  username: string | null;
  clientId: string;
  transport: Transport;
  remoteAddress: string | undefined;
  reason: RefusalReason;
  returnCode: 2 | 3 | 4 | 5;
}

export interface PublishDenied extends ClientInfo {
  topic: string;
  reason: DenialReason;
}

export interface SubscribeDenied extends ClientInfo {
  filter: string;
  reason: DenialReason;
}

/** A limit that slowed or trimmed a client's traffic without refusing it. */
export interface LimitApplied extends ClientInfo {
  limit: AppliedLimit;
}

export interface ClientFailure {
  client: ClientInfo | null;
  error: Error;
}

/** Events of BrokerHost; the names are what `on()` takes. */
export interface EngineEvents {
  'client-connected': [ClientInfo];
  'client-disconnected': [ClientInfo];
  'connection-refused': [ConnectionRefused];
  'publish-denied': [PublishDenied];
  'subscribe-denied': [SubscribeDenied];
  'limit-applied': [LimitApplied];
  /**
   * Clients disconnected by an operator (all of a tenant's, one device's, or
   * every connection of a client id in the tenant, with the logins it had) or
   * because a tenant's quota was lowered.
   */
  'clients-kicked': [{ tenant: string; count: number; reason: 'kick' | 'quota'; device?: string; clientId?: string; logins?: string[] }];
  /** Emitted for every message published into a tenant's namespace. */
  message: [PublishedMessage];
  /** A connection closed on a protocol error (malformed packet, timeout, ...). */
  'client-error': [ClientFailure];
  /** Something inside the broker failed (persistence, a listener, a bug in a hook); the broker keeps running. */
  'engine-error': [Error];
  /** The broker's state is unknown after this error: `restart()` it (the tenant-broker node does). */
  'engine-failed': [Error];
}
