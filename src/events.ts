import type { AppliedLimit, ClientInfo, DenialReason, DisconnectReason, PublishedMessage, RefusalReason, StorageLimitReason, Transport } from './model';
import type { ShedReason } from './tenancy/admission';
import type { Violation } from './tenancy/message-policies';

export { REFUSAL_RETURN_CODES } from './model';
export type { PublishedMessage, RefusalReason } from './model';

export interface ConnectionRefused {
  username: string | null;
  clientId: string;
  transport: Transport;
  remoteAddress: string | undefined;
  reason: RefusalReason;
  returnCode: 2 | 3 | 4 | 5;
  /** The provider that denied or failed (never the password). */
  provider?: string;
  /** Why a provider failed. */
  detail?: string;
}

export interface PublishDenied extends ClientInfo {
  topic: string;
  reason: DenialReason;
}

export interface SubscribeDenied extends ClientInfo {
  filter: string;
  reason: DenialReason;
}

/** A publish that failed a message policy (with action close, drop or detect). */
export interface PolicyViolated extends ClientInfo {
  /** The full topic. */
  topic: string;
  action: 'close' | 'drop' | 'detect';
  violations: Violation[];
}

/** A limit that slowed or trimmed a client's traffic without refusing it. */
export interface LimitApplied extends ClientInfo {
  limit: AppliedLimit;
}

/** Something the store dropped or did not keep because a bound was reached. */
export interface StorageLimit {
  /** The tenant whose bound it was; null for root's clients. */
  tenant: string | null;
  /** The client (its own identifier) whose queue or publish it was, when one. */
  clientId: string | null;
  reason: StorageLimitReason;
}

/** A will not published: over a limit of its tenant when its client was gone. */
export interface WillDropped {
  tenant: string | null;
  /** The will's client identifier as its client knew it. */
  clientId: string;
  /** The will's full topic. */
  topic: string;
  reason: DenialReason;
}

/**
 * A connection closed or refused before CONNACK: over the unauthenticated
 * memory budget, no CONNECT in time, or (`tls-rejected`) a client certificate
 * required and not verified: missing, revoked, or signed by another CA.
 */
export interface ConnectionShed {
  transport: Transport;
  remoteAddress: string | undefined;
  reason: ShedReason;
  /** For `tls-rejected`: Node's verification code (CERT_REVOKED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, ...). */
  detail?: string;
}

export interface ClientFailure {
  client: ClientInfo | null;
  error: Error;
}

/** Events of BrokerHost; the names are what `on()` takes. */
export interface EngineEvents {
  /** `provider`: who admitted the login (`registry`, `certificate`, `jwt`, `http`, `flow`). */
  'client-connected': [ClientInfo & { provider: string }];
  'client-disconnected': [ClientInfo & { reason: DisconnectReason }];
  /** Filters a client was granted, as it wrote them. */
  'client-subscribed': [ClientInfo & { filters: string[] }];
  'client-unsubscribed': [ClientInfo & { filters: string[] }];
  'connection-refused': [ConnectionRefused];
  'connection-shed': [ConnectionShed];
  'publish-denied': [PublishDenied];
  'subscribe-denied': [SubscribeDenied];
  'limit-applied': [LimitApplied];
  'policy-violated': [PolicyViolated];
  /** A queued message dropped, or a retained message not kept, at a bound: counted per tenant and reason. */
  'storage-limit': [StorageLimit];
  'will-dropped': [WillDropped];
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
