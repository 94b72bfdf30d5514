/**
 * Every field's default, per node type: the same values as the `defaults`
 * of each editor (nodes/*.html; a browser test compares them). A field a
 * config lacks, or has as null, reads as its default at run time, so that
 * examples and flows written by earlier versions keep their meaning.
 */
import { ADMIN_DEFAULTS, ALL_TENANTS, AUTH_DEFAULTS, BROKER_DEFAULTS, FLOW_AUTH_DEFAULTS, HTTP_AUTH_DEFAULTS, MAX_JWT_CLOCK_TOLERANCE_SECONDS, WEBHOOK_DEFAULTS } from '../../src';

export const NODE_DEFAULTS = {
  'tenant-broker': {
    name: '',
    tcpPort: String(BROKER_DEFAULTS.mqtt.port),
    tcpHost: BROKER_DEFAULTS.mqtt.host,
    wsEnabled: true,
    wsPort: String(BROKER_DEFAULTS.ws.port),
    wsHost: '',
    wsPath: BROKER_DEFAULTS.ws.path,
    httpPublish: false,
    httpCorsOrigins: '',
    tls: false,
    keyFile: '',
    certFile: '',
    caFile: '',
    requireClientCert: false,
    crlFile: '',
    certificateIdentity: 'none',
    database: BROKER_DEFAULTS.database,
    defaultIsolation: 'prefix',
    defaultMaxConnections: '0',
    defaultMaxMsgsPerSec: '0',
    defaultMaxTenantMsgsPerSec: '0',
    defaultMaxPayloadBytes: '0',
    defaultMaxQos: '2',
    defaultAllowRetain: true,
    defaultMaxSubscriptions: String(BROKER_DEFAULTS.tenantLimits.maxSubscriptions),
    defaultMaxQueuedMessages: String(BROKER_DEFAULTS.tenantLimits.maxQueuedMessages),
    defaultMaxQueuedBytes: String(BROKER_DEFAULTS.tenantLimits.maxQueuedBytes),
    defaultMaxRetainedMessages: String(BROKER_DEFAULTS.tenantLimits.maxRetainedMessages),
    defaultMaxRetainedBytes: String(BROKER_DEFAULTS.tenantLimits.maxRetainedBytes),
    maxPacketBytes: String(BROKER_DEFAULTS.maxPacketBytes),
    persistence: 'sqlite',
    maxOfflinePerClient: String(BROKER_DEFAULTS.maxOfflinePerClient),
    maxOfflinePerTenant: String(BROKER_DEFAULTS.maxOfflinePerTenant),
    maxQueuedBytesPerTenant: String(BROKER_DEFAULTS.maxQueuedBytesPerTenant),
    sessionExpiry: String(BROKER_DEFAULTS.sessionExpirySeconds),
    // authentication providers, asked after the registry in this order; each only when configured (flow: always)
    authOrder: 'jwt,http,flow',
    jwtSecretEncoding: 'utf8',
    jwtPublicKey: '',
    jwtJwksFile: '',
    jwtIssuer: '',
    jwtAudience: '',
    jwtTenantClaim: 'tenant',
    jwtAclClaim: 'acl',
    jwtUsernameClaim: '',
    jwtClockTolerance: String(MAX_JWT_CLOCK_TOLERANCE_SECONDS),
    httpAuthUrl: '',
    httpAuthTimeout: String(HTTP_AUTH_DEFAULTS.timeoutMs),
    httpAuthMaxConcurrent: String(HTTP_AUTH_DEFAULTS.maxConcurrent),
    httpAuthCaFile: '',
    authCacheTtl: String(AUTH_DEFAULTS.cacheTtlMs),
    allowSuperuser: AUTH_DEFAULTS.allowSuperuser,
  },
  'tenant-in': { name: '', tenant: ALL_TENANTS, topic: '', qos: '0', datatype: 'auto', inputs: 0 },
  'tenant-out': { name: '', tenant: '', topic: '', qos: '', retain: '' },
  'tenant-webhook': { name: '', tenant: ALL_TENANTS, topic: '#', url: '', headers: '', timeout: String(WEBHOOK_DEFAULTS.timeoutMs), retries: String(WEBHOOK_DEFAULTS.retries), concurrency: String(WEBHOOK_DEFAULTS.concurrency) },
  'tenant-admin': { name: '', host: ADMIN_DEFAULTS.host, port: String(ADMIN_DEFAULTS.port) },
  'tenant-auth': { name: '', timeout: String(FLOW_AUTH_DEFAULTS.timeoutMs) },
} as const;

export type DefaultedType = keyof typeof NODE_DEFAULTS;

/** `config` with each missing (or null) field set to its default. */
export function withDefaults<T extends object>(type: DefaultedType, config: T): T {
  const defaults: Record<string, unknown> = NODE_DEFAULTS[type];
  const out: Record<string, unknown> = { ...(config as Record<string, unknown>) };
  for (const key of Object.keys(defaults)) if (out[key] === undefined || out[key] === null) out[key] = defaults[key];
  // the broker dialog of 0.1.0 showed a missing "Highest QoS" blank and a missing
  // "Allow retained messages" unticked; saving left the QoS out and wrote false.
  // A retain flag saved without a QoS was never chosen (nodes/tenant-broker.html agrees)
  const saved = config as unknown as Record<string, unknown>;
  if (type === 'tenant-broker' && saved.defaultAllowRetain === false && (saved.defaultMaxQos === undefined || saved.defaultMaxQos === null || saved.defaultMaxQos === '')) {
    out.defaultAllowRetain = true;
  }
  return out as T;
}
