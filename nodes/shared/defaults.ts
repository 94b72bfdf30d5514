/**
 * Every field's default, per node type: the same values as the `defaults`
 * of each editor (nodes/*.html; a browser test compares them). A field a
 * config lacks, or has as null, reads as its default at run time, so that
 * examples and flows written by earlier versions keep their meaning.
 */
export const NODE_DEFAULTS = {
  'tenant-broker': {
    name: '',
    tcpPort: '1883',
    tcpHost: '0.0.0.0',
    wsEnabled: true,
    wsPort: '4035',
    wsHost: '',
    wsPath: '/ws',
    tls: false,
    keyFile: '',
    certFile: '',
    caFile: '',
    requireClientCert: false,
    database: 'tenant-broker.db',
    defaultIsolation: 'prefix',
    defaultMaxConnections: '0',
    defaultMaxMsgsPerSec: '0',
    defaultMaxTenantMsgsPerSec: '0',
    defaultMaxPayloadBytes: '0',
    defaultMaxQos: '2',
    defaultAllowRetain: true,
    defaultMaxSubscriptions: '0',
    maxPacketBytes: '16777216',
    persistence: 'sqlite',
    maxOfflinePerClient: '1000',
    maxOfflinePerTenant: '0',
    sessionExpiry: '604800',
  },
  'tenant-in': { name: '', tenant: '*', topic: '', qos: '0', datatype: 'auto', inputs: 0 },
  'tenant-out': { name: '', tenant: '', topic: '', qos: '', retain: '' },
  'tenant-webhook': { name: '', tenant: '*', topic: '#', url: '', headers: '', timeout: '5000', retries: '3', concurrency: '4' },
  'tenant-admin': { name: '', host: '127.0.0.1', port: '4036' },
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
