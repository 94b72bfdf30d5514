/** The management API document's parts: component schemas and the pieces operations are written with (openapi.ts). */
import { LIMIT_FIELDS } from '../registry/limits';

export type Schema = Record<string, unknown>;

export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
export const json = (schema: Schema) => ({ 'application/json': { schema } });
export const okWith = (properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: 'object',
  required: ['status', ...required],
  properties: { status: { type: 'string', enum: ['ok'] }, ...properties },
});
export const reply = (description: string, schema: Schema) => ({ description, content: json(schema) });
export const error = (description: string) => ({ description, content: json(ref('Error')) });

export const ERRORS = {
  '400': error('Malformed JSON, a wrong or unknown field'),
  '401': error('A token is configured and the request has no valid `Authorization: Bearer <token>`'),
  '403': error('No token is configured and the request came from a browser (an Origin header) or named a host other than localhost or an IP address'),
  '413': error('The body is larger than 64 KiB'),
};
export const NOT_FOUND = { '404': error('No such tenant or webhook') };
export const NO_TENANT = { '404': error('No such tenant') };
export const NO_DEVICE = { '404': error('No such device') };
export const NO_ROLE = { '404': error('No such tenant or role') };

export const count = { type: 'integer', minimum: 0 };
export const timestamp = { type: 'string', format: 'date-time' };
/** What a limit does, where more needs saying than "0: no limit". */
const LIMIT_DOCS: Record<string, string> = {
  max_queued_messages:
    'QoS 1/2 messages held for one persistent client, offline or sent and not yet acknowledged; past it the oldest is dropped (counted as `queue-overflow`). 0: no limit of its own (the broker\'s bound per client and totals per tenant still apply). The broker node gives new tenants 1000; tenants older than this limit have 0',
  max_queued_bytes:
    'payload and topic bytes held for one persistent client, as max_queued_messages; a message larger on its own is not queued. 0: no limit. The broker node gives new tenants 67108864 (64 MiB); tenants older than this limit have 0',
  max_retained_messages:
    'retained messages in the tenant\'s topics; past it a retained publish is delivered live with retain cleared and not kept (counted as `retained-quota`). Replacing or deleting a retained message is always allowed. 0: no limit. The broker node gives new tenants 10000; tenants older than this limit have 0',
  max_retained_bytes:
    'payload and topic bytes of the tenant\'s retained messages, as max_retained_messages; a replacement that grows past it is refused and removes the message it would have replaced. 0: no limit. The broker node gives new tenants 67108864 (64 MiB); tenants older than this limit have 0',
  max_subscriptions: 'filters one client may hold; past it SUBACK 0x80. 0: no limit. The broker node gives new tenants 1000',
};
const CHOICES: Record<string, string> = {
  denied_publish: 'what a denied publish of its logins does (rules, namespace, payload size): close the connection, or acknowledge and drop it',
  device_default_access: "what a device's rules leave unmatched: allowed (a device without roles is like the tenant's login) or denied",
};
const limitProperties: Record<string, Schema> = Object.fromEntries(
  LIMIT_FIELDS.map(({ column, kind, choices }) => [
    column,
    kind === 'boolean'
      ? { type: 'boolean' }
      : kind === 'qos'
        ? { type: 'integer', enum: [0, 1, 2] }
        : kind === 'choice'
          ? { type: 'string', enum: [...choices!], description: CHOICES[column] }
          : { ...count, description: LIMIT_DOCS[column] ?? '0: no limit' },
  ]),
);
export const username = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' };
const namespace = {
  type: 'string',
  example: 'tenants/acme',
  description: "the topic prefix of the tenant's topics, one or more levels (default: its username); never overlapping another tenant's; changes only while the tenant has no retained messages, sessions or registry webhooks (409)",
};
const tenantFields: Record<string, Schema> = {
  password: { type: 'string', minLength: 1, writeOnly: true },
  namespace,
  isolation: { type: 'string', enum: ['prefix', 'mountpoint'] },
  enabled: { type: 'boolean' },
  ...limitProperties,
};
const figures: Schema = {
  type: 'object',
  properties: {
    messages_in: count,
    bytes_in: count,
    messages_out: count,
    bytes_out: count,
    denials: { type: 'object', additionalProperties: count, description: 'count by reason: refusals (e.g. `bad-credentials`, `outside-namespace`), limits applied (`rate-limited`, `retain-cleared`, `qos-downgraded`) and what the store dropped or did not keep (`queue-overflow`, `retained-quota`, `inflight-overflow`)' },
  },
};

export const schemas: Record<string, Schema> = {
  Error: { type: 'object', required: ['status', 'error'], properties: { status: { type: 'string', enum: ['error'] }, error: { type: 'string' } } },
  Tenant: {
    type: 'object',
    properties: { username, namespace, isolation: tenantFields.isolation, enabled: { type: 'boolean' }, ...limitProperties, connections: count, created_at: timestamp, updated_at: timestamp },
  },
  ...accessSchemas(),
  NewTenant: { type: 'object', required: ['username', 'password'], additionalProperties: false, properties: { username, ...tenantFields } },
  TenantPatch: { type: 'object', required: ['username'], additionalProperties: false, properties: { username, ...tenantFields } },
  Username: { type: 'object', required: ['username'], additionalProperties: false, properties: { username } },
  Traffic: figures,
  WebhookCounters: {
    type: 'object',
    properties: {
      delivered: count,
      failed: count,
      retried: count,
      dropped: count,
      queued: count,
      in_flight: count,
      last_status: { type: 'integer', nullable: true },
      last_error: { type: 'string', nullable: true },
      last_latency_ms: { type: 'number', nullable: true },
    },
  },
  Webhook: {
    type: 'object',
    properties: {
      id: { type: 'integer' },
      username,
      topic_filter: { type: 'string' },
      webhook_url: { type: 'string', format: 'uri' },
      enabled: { type: 'boolean' },
      has_secret: { type: 'boolean' },
      created_at: timestamp,
      updated_at: timestamp,
      counters: ref('WebhookCounters'),
    },
  },
  NewWebhook: {
    type: 'object',
    required: ['username', 'topic_filter', 'webhook_url'],
    additionalProperties: false,
    properties: {
      username,
      topic_filter: { type: 'string', description: 'inside the tenant: starts with `<username>/`' },
      webhook_url: { type: 'string', format: 'uri' },
      secret: { type: 'string', writeOnly: true, description: 'Standard Webhooks signing secret (whsec_...); never returned' },
      enabled: { type: 'boolean' },
    },
  },
  WebhookPatch: {
    type: 'object',
    required: ['id'],
    additionalProperties: false,
    properties: {
      id: { type: 'integer', minimum: 1 },
      topic_filter: { type: 'string' },
      webhook_url: { type: 'string', format: 'uri' },
      secret: { type: 'string', nullable: true, writeOnly: true, description: 'null or "" removes the secret' },
      enabled: { type: 'boolean' },
    },
  },
  WebhookId: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'integer', minimum: 1 } } },
  PolicyFields: {
    type: 'object',
    properties: {
      topic_filter: { type: 'string', description: "in the tenant's own view (without its namespace), as tenant-in topics" },
      json_schema: { type: 'object', description: 'JSON schema, draft 2020-12; a payload that is not JSON violates it' },
      inspect: { type: 'array', items: { type: 'string', enum: ['sql-injection', 'command-injection', 'xss', 'path-traversal'] } },
      patterns: { type: 'array', items: { type: 'string' }, description: 'RE2 syntax (linear time): no backreferences or lookaround' },
      max_payload_bytes: { type: 'integer', minimum: 1 },
      action: { type: 'string', enum: ['drop', 'close', 'detect'], description: 'drop: acknowledged and discarded; close: the connection is closed; detect: delivered and recorded. The strongest of the failed policies wins.' },
    },
  },
  Policy: { allOf: [ref('PolicyFields'), { type: 'object', properties: { id: { type: 'integer' }, tenant: username } }] },
  NewPolicy: { allOf: [ref('PolicyFields'), { type: 'object', required: ['tenant', 'topic_filter', 'action'], properties: { tenant: username } }] },
  PolicyPatch: { allOf: [ref('PolicyFields'), { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } }] },
  PolicyId: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'integer', minimum: 1 } } },
  AuditEvent: {
    type: 'object',
    properties: {
      id: { type: 'integer' },
      at: timestamp,
      tenant: { type: 'string', nullable: true },
      category: { type: 'string', enum: ['admin', 'security'] },
      action: { type: 'string', example: 'login.failed' },
      detail: { type: 'object', additionalProperties: true, description: 'strings cut to 256 bytes; for an entry standing for several occurrences, the first one\'s' },
      count: { type: 'integer', minimum: 1, description: 'occurrences: a security event repeated within a minute (same tenant, action and detail but the client id) is one entry' },
      first_at: timestamp,
      last_at: timestamp,
    },
  },
};

/** Devices, roles and live clients. */
function accessSchemas(): Record<string, Schema> {
  const roleName = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' };
  const deviceFields: Record<string, Schema> = {
    password: { type: 'string', minLength: 1, writeOnly: true },
    roles: { type: 'array', items: roleName, description: 'role names, evaluated in this order (first matching rule wins); each must exist in the tenant (400 naming it)' },
    enabled: { type: 'boolean' },
    client_id: { type: 'string', nullable: true, description: 'when set, the only client id the device may connect with (CONNACK 2 otherwise); null or "" for any' },
    max_connections: { ...count, description: "the device's own connection limit (0: none); the tenant's applies too" },
  };
  return {
    Device: {
      type: 'object',
      properties: {
        tenant: username,
        username,
        enabled: { type: 'boolean' },
        roles: deviceFields.roles,
        client_id: { type: 'string', nullable: true },
        max_connections: count,
        connections: { ...count, description: 'live connections now' },
        last_seen: { ...timestamp, nullable: true, description: 'when it last connected' },
        created_at: timestamp,
        updated_at: timestamp,
      },
    },
    NewDevice: { type: 'object', required: ['tenant', 'username', 'password'], additionalProperties: false, properties: { tenant: username, username: { ...username, description: 'unique across tenants and devices; root is reserved' }, ...deviceFields } },
    DevicePatch: { type: 'object', required: ['username'], additionalProperties: false, properties: { username, ...deviceFields } },
    Rule: {
      type: 'object',
      required: ['permission', 'action', 'topic'],
      additionalProperties: false,
      properties: {
        permission: { type: 'string', enum: ['allow', 'deny'] },
        action: { type: 'string', enum: ['publish', 'subscribe', 'all'], description: 'subscribe governs reading: subscribing and receiving (retained and queued messages too)' },
        topic: { type: 'string', example: 'sensors/%u/#', description: "a topic filter in the tenant's own view (without the namespace); %u (the device's username) and %c (its client id) stand for whole levels" },
        max_qos: { type: 'integer', enum: [0, 1, 2], description: 'allow rules only: caps the granted and delivered QoS' },
      },
    },
    Role: { type: 'object', properties: { tenant: username, name: roleName, rules: { type: 'array', items: ref('Rule') }, devices: { type: 'array', items: username, description: 'the devices holding it' } } },
    RoleBody: { type: 'object', required: ['tenant', 'name', 'rules'], additionalProperties: false, properties: { tenant: username, name: roleName, rules: { type: 'array', maxItems: 1000, items: ref('Rule'), description: 'in order; a bad rule is refused (400) naming its position' } } },
    RoleName: { type: 'object', required: ['tenant', 'name'], additionalProperties: false, properties: { tenant: username, name: roleName } },
    Client: {
      type: 'object',
      properties: {
        client_id: { type: 'string', description: 'as the client sent it (assigned for an empty one)' },
        login: { type: 'string', description: "the tenant's own login, a device's username, or the login an authentication provider named" },
        provider: { type: 'string', enum: ['registry', 'certificate', 'jwt', 'http', 'flow'], description: 'who admitted the connection' },
        transport: { type: 'string', enum: ['tcp', 'tls', 'ws', 'wss'] },
        address: { type: 'string', nullable: true, description: 'remote address' },
        connected_since: timestamp,
        subscriptions: { type: 'array', items: { type: 'string' }, description: 'filters as the client wrote them' },
        messages_in: count,
        messages_out: count,
      },
    },
    ClientKick: { type: 'object', required: ['tenant', 'client_id'], additionalProperties: false, properties: { tenant: username, client_id: { type: 'string' } } },
  };
}
