import type { Node, NodeDef } from 'node-red';
import type { BrokerHost, CertificateIdentitySource } from '../../src';
import type { BrokerState } from './status';

export interface TenantBrokerNodeDef extends NodeDef {
  tcpPort: string;
  tcpHost: string;
  wsEnabled: boolean;
  wsPort: string;
  wsHost: string;
  wsPath: string;
  httpPublish: boolean;
  httpCorsOrigins: string;
  tls: boolean;
  keyFile: string;
  certFile: string;
  caFile: string;
  requireClientCert: boolean;
  /** A certificate revocation list (PEM); empty: none. */
  crlFile: string;
  /** Where a client certificate names the login: none, cn, san-dns, san-email, san-uri. */
  certificateIdentity: CertificateIdentitySource;
  database: string;
  defaultIsolation: 'prefix' | 'mountpoint';
  defaultMaxConnections: string;
  defaultMaxMsgsPerSec: string;
  defaultMaxTenantMsgsPerSec: string;
  defaultMaxPayloadBytes: string;
  defaultMaxQos: string;
  defaultAllowRetain: boolean;
  defaultMaxSubscriptions: string;
  defaultMaxQueuedMessages: string;
  defaultMaxQueuedBytes: string;
  defaultMaxRetainedMessages: string;
  defaultMaxRetainedBytes: string;
  maxPacketBytes: string;
  persistence: 'memory' | 'sqlite';
  maxOfflinePerClient: string;
  maxOfflinePerTenant: string;
  maxQueuedBytesPerTenant: string;
  sessionExpiry: string;
  authOrder: string;
  jwtSecretEncoding: 'utf8' | 'base64';
  jwtPublicKey: string;
  jwtJwksFile: string;
  jwtIssuer: string;
  jwtAudience: string;
  jwtTenantClaim: string;
  jwtAclClaim: string;
  jwtUsernameClaim: string;
  jwtClockTolerance: string;
  httpAuthUrl: string;
  httpAuthTimeout: string;
  httpAuthMaxConcurrent: string;
  httpAuthCaFile: string;
  authCacheTtl: string;
  allowSuperuser: boolean;
}

export interface TenantBrokerCredentials {
  rootPassword?: string;
  /** The JWT provider's HMAC secret. */
  jwtSecret?: string;
  /** The HTTP auth service's extra request headers, a JSON object (often a token). */
  httpAuthHeaders?: string;
}

/**
 * A node that uses a tenant-broker: it shows the broker's state for its
 * tenant (`tenantScope`; unset or `*` for every tenant), or handles the state
 * in `onBrokerState`.
 */
export type BrokerUser = Node & { onBrokerState?(state: BrokerState): void; tenantScope?: string };

export interface TenantBrokerNode extends Node<TenantBrokerCredentials> {
  /** Resolves with the running engine, or rejects with the reason it could not start. */
  ready: Promise<BrokerHost>;
  state: BrokerState;
  register(user: BrokerUser): void;
  deregister(user: BrokerUser): void;
}

export interface TenantInNodeDef extends NodeDef {
  broker: string;
  tenant: string;
  topic: string;
  qos: string;
  datatype: 'auto' | 'auto-detect' | 'utf8' | 'buffer' | 'json' | 'base64';
  inputs: number;
}

export interface TenantOutNodeDef extends NodeDef {
  broker: string;
  tenant: string;
  topic: string;
  qos: string;
  retain: string;
}

export interface TenantAuthNodeDef extends NodeDef {
  broker: string;
  timeout: string;
}

export interface TenantWebhookNodeDef extends NodeDef {
  broker: string;
  tenant: string;
  topic: string;
  url: string;
  headers: string;
  timeout: string;
  retries: string;
  concurrency: string;
}
