/**
 * The shapes the whole engine shares: who acts (scope), how a tenant is
 * isolated and limited, what a connection and a published message look like,
 * and why something was refused. This module imports nothing of the engine,
 * so every other module can import it without forming a cycle.
 */

export type IsolationStyle = 'prefix' | 'mountpoint';
export const ISOLATION_STYLES: readonly IsolationStyle[] = ['prefix', 'mountpoint'];

/** What happens to a publish the policy refuses: the connection is closed, or the publish is acknowledged and dropped. */
export type DeniedPublish = 'close' | 'drop';
export const DENIED_PUBLISH_MODES: readonly DeniedPublish[] = ['close', 'drop'];

/** What a device's rules leave unmatched: allowed (a device without roles is like the tenant login) or denied. */
export type DefaultAccess = 'allow' | 'deny';
export const DEFAULT_ACCESS_MODES: readonly DefaultAccess[] = ['allow', 'deny'];

/** How a publisher reached the broker: MQTT over one of the listeners, a flow in the process, or the HTTP adapter. */
export type Transport = 'tcp' | 'tls' | 'ws' | 'wss' | 'flow' | 'http';

/** Per-tenant limits; for the numeric ones 0 means no limit. */
export interface TenantLimits {
  /** Live connections; over it CONNACK 5, lowered: the newest excess are disconnected. */
  maxConnections: number;
  /** PUBLISH packets per second per client (token bucket). */
  maxMsgsPerSec: number;
  /** PUBLISH packets per second over all of the tenant's clients. */
  maxTenantMsgsPerSec: number;
  maxPayloadBytes: number;
  /** Highest QoS granted to subscriptions (0-2); deliveries are downgraded to it. */
  maxQos: 0 | 1 | 2;
  /** Without it the retain flag of a publish is cleared. */
  allowRetain: boolean;
  /** Subscriptions per client. */
  maxSubscriptions: number;
  /** A denied publish closes the connection, or is acknowledged and dropped. */
  deniedPublish: DeniedPublish;
  /** What a device's rules leave unmatched. */
  deviceDefaultAccess: DefaultAccess;
  /** Messages queued for one persistent client, offline or unacknowledged; past it the oldest is dropped. */
  maxQueuedMessages: number;
  /** Payload and topic bytes queued for one persistent client; past it the oldest is dropped. */
  maxQueuedBytes: number;
  /** Retained messages in the tenant's namespace; past it a retained publish is delivered, not kept. */
  maxRetainedMessages: number;
  /** Payload and topic bytes of the tenant's retained messages. */
  maxRetainedBytes: number;
}

/** What the policy core needs to know of a tenant. */
export interface TenantPolicy extends TenantLimits {
  username: string;
  /** The topic prefix of the tenant's topics, one or more levels (default: its username). */
  namespace: string;
  isolation: IsolationStyle;
  enabled: boolean;
}

/**
 * Whose view of the topic tree a client or an in-process caller has:
 * - root: the whole tree, topics as they are;
 * - a tenant in `prefix` style: topics written in full, `<tenant>/...`;
 * - a tenant in `mountpoint` style: topics written without the prefix, which
 *   the broker adds on the way in and strips on the way out.
 */
export type Scope =
  | { readonly kind: 'root' }
  | {
      readonly kind: 'tenant';
      readonly tenant: string;
      /** The tenant's topic prefix, one or more levels. */
      readonly namespace: string;
      readonly isolation: IsolationStyle;
    };

export const ROOT_SCOPE: Scope = { kind: 'root' };

/** A connection as events and the admin API show it. */
export interface ClientInfo {
  /** The tenant, or null for root. */
  tenant: string | null;
  /** The login: the tenant's own, a device's, or root. */
  username: string | null;
  clientId: string;
  transport: Transport;
  remoteAddress: string | undefined;
}

/** A message published inside a tenant's namespace, by a device, a flow or root. */
export interface PublishedMessage {
  tenant: string;
  /** The full topic, `<namespace>/...`, whatever the publisher's isolation style. */
  topic: string;
  /** The topic in the tenant's own view (without its namespace), as flows see it. */
  tenantTopic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** The publisher's client identifier as it knows it; null for a flow. */
  clientId: string | null;
  /** The publisher's username; for a flow, the tenant it published into. */
  username: string | null;
}

/** Why a CONNECT was refused; the CONNACK return code follows from it. */
export type RefusalReason =
  | 'no-credentials'
  | 'bad-credentials'
  | 'root-disabled'
  | 'tenant-disabled'
  /** A disabled device. */
  | 'login-disabled'
  | 'over-quota'
  | 'identifier-rejected'
  | 'will-denied'
  /** The will's payload is over the tenant's max_payload_bytes. */
  | 'will-too-large'
  /** Too many failed logins of the username or from the address lately: refused without hashing. */
  | 'login-throttled'
  /** The username's queue for password hashing is full: try again later. */
  | 'login-busy'
  /** The broker failed while deciding (a bug, reported as engine-error). */
  | 'server-unavailable'
  /** An authentication provider answered deny. */
  | 'provider-denied'
  /** An authentication provider failed: timeout, error, malformed answer, or too many logins waiting for it. */
  | 'provider-failed'
  /** A provider allowed the login into a tenant that does not exist. */
  | 'unknown-tenant'
  /** A provider asked for root where it may not (a JWT, or the broker does not allow superusers). */
  | 'superuser-refused';

export const REFUSAL_RETURN_CODES: Record<RefusalReason, 2 | 3 | 4 | 5> = {
  'identifier-rejected': 2,
  'server-unavailable': 3,
  'bad-credentials': 4,
  'no-credentials': 5,
  'root-disabled': 5,
  'tenant-disabled': 5,
  'login-disabled': 5,
  'over-quota': 5,
  'will-denied': 5,
  'will-too-large': 5,
  'login-throttled': 5,
  'login-busy': 3,
  'provider-denied': 5,
  'provider-failed': 5,
  'unknown-tenant': 5,
  'superuser-refused': 5,
};

/** Why a PUBLISH, SUBSCRIBE or delivery was refused. */
export type DenialReason =
  | 'outside-namespace'
  | 'reserved-topic'
  | 'topic-too-long'
  | 'too-many-levels'
  | 'payload-too-large'
  | 'rate-limit'
  | 'too-many-subscriptions'
  /** A device's rules (or its tenant's default access) do not allow it. */
  | 'rule-denied'
  /** A message policy with action close or drop failed. */
  | 'policy-violation';

/** Why a connection ended, as lifecycle events say it. */
export type DisconnectReason = 'client' | 'keepalive' | 'takeover' | 'kick' | 'quota' | 'tenant-disabled' | 'tenant-removed' | 'token-expired' | 'denied' | 'error';

/** What the store dropped or did not keep because a tenant (or the broker) is at a bound. */
export type StorageLimitReason =
  /** A queued message dropped: the oldest, for a new one, or the new one when it can never fit. */
  | 'queue-overflow'
  /** A retained publish delivered but not kept: the tenant's retained quota is reached. */
  | 'retained-quota'
  /** A client disconnected for holding too many inbound QoS 2 messages unreleased (no PUBREL). */
  | 'inflight-overflow';

/** A limit that trimmed or slowed traffic without refusing it. */
export type AppliedLimit = 'rate' | 'retain' | 'qos';
