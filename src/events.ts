import type { ClientInfo } from './broker/connections';
import type { Transport } from './broker/listeners';
import type { DenialReason } from './tenancy/isolation';

/** Why a CONNECT was refused; the CONNACK return code follows from it. */
export type RefusalReason =
  | 'no-credentials'
  | 'bad-credentials'
  | 'root-disabled'
  | 'tenant-disabled'
  | 'over-quota'
  | 'identifier-rejected'
  | 'will-denied';

export const REFUSAL_RETURN_CODES: Record<RefusalReason, 2 | 4 | 5> = {
  'identifier-rejected': 2,
  'bad-credentials': 4,
  'no-credentials': 5,
  'root-disabled': 5,
  'tenant-disabled': 5,
  'over-quota': 5,
  'will-denied': 5,
};

export interface ConnectionRefused {
  username: string | null;
  clientId: string;
  transport: Transport;
  remoteAddress: string | undefined;
  reason: RefusalReason;
  returnCode: 2 | 4 | 5;
}

export interface PublishDenied extends ClientInfo {
  topic: string;
  reason: DenialReason;
}

export interface SubscribeDenied extends ClientInfo {
  filter: string;
  reason: DenialReason;
}

/** A message published inside a tenant's namespace, by a device, a flow or root. */
export interface PublishedMessage {
  tenant: string;
  /** The full topic, `<tenant>/...`, whatever the publisher's isolation style. */
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** The publisher's client identifier as it knows it; for the in-process API, the `clientId` it was given, else null. */
  clientId: string | null;
  /** The publisher's username; for a flow, the tenant it published into. */
  username: string | null;
}

/** A limit that slowed or trimmed a client's traffic without refusing it. */
export interface LimitApplied extends ClientInfo {
  limit: 'rate' | 'retain' | 'qos';
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
  /** Clients disconnected by an operator or because a tenant's quota was lowered. */
  'clients-kicked': [{ tenant: string; count: number; reason: 'kick' | 'quota' }];
  /** Emitted for every message published into a tenant's namespace. */
  message: [PublishedMessage];
  /** A connection closed on a protocol error (malformed packet, timeout, ...). */
  'client-error': [ClientFailure];
  /** Something inside the broker failed (persistence, a listener); the broker keeps running. */
  'engine-error': [Error];
}
