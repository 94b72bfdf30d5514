import { LIMIT_FIELDS } from '../registry/limits';
import type { RouteKey } from './route-keys';

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema) => ({ 'application/json': { schema } });
const okWith = (properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: 'object',
  required: ['status', ...required],
  properties: { status: { type: 'string', enum: ['ok'] }, ...properties },
});
const reply = (description: string, schema: Schema) => ({ description, content: json(schema) });
const error = (description: string) => ({ description, content: json(ref('Error')) });

const ERRORS = {
  '400': error('Malformed JSON, a wrong or unknown field'),
  '401': error('A token is configured and the request has no valid `Authorization: Bearer <token>`'),
  '403': error('No token is configured and the request came from a browser (an Origin header) or named a host other than localhost or an IP address'),
  '413': error('The body is larger than 64 KiB'),
};
const NOT_FOUND = { '404': error('No such tenant or webhook') };
const NO_TENANT = { '404': error('No such tenant') };
const NO_DEVICE = { '404': error('No such device') };
const NO_ROLE = { '404': error('No such tenant or role') };

const count = { type: 'integer', minimum: 0 };
const timestamp = { type: 'string', format: 'date-time' };
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
const username = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' };
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

const schemas: Record<string, Schema> = {
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

interface Operation {
  summary: string;
  description?: string;
  parameters?: Schema[];
  requestBody?: Schema;
  responses: Record<string, unknown>;
}

const body = (name: string) => ({ required: true, content: json(ref(name)) });
const usernameParam = (required: boolean): Schema => ({ name: 'username', in: 'query', required, schema: username });
const tenantParam: Schema = { name: 'tenant', in: 'query', required: true, schema: username };
const kicked = (description: string) => reply(description, okWith({ kicked: count }, ['kicked']));
const limitParam = (max: number, fallback: number): Schema => ({ name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: max, default: fallback } });

const operations: Record<RouteKey, Operation> = {
  'GET /internal/stats': {
    summary: 'Uptime, connections, traffic per tenant and in total, webhook counters',
    responses: {
      '200': reply('Counters since the broker started', okWith({
        uptime_seconds: count,
        connections: count,
        unauthenticated: {
          type: 'object',
          description: 'connections before CONNACK and the memory charged to them (estimated per connection plus the bytes they sent), against maxUnauthenticatedBytes',
          properties: { connections: count, bytes: count },
        },
        total: ref('Traffic'),
        tenants: { type: 'object', additionalProperties: { allOf: [ref('Traffic'), { type: 'object', properties: { connections: count, offline_dropped: count } }] } },
        webhooks: { type: 'object', additionalProperties: ref('WebhookCounters'), description: 'by dispatcher id: `registry:<id>` or `node:<node id>`' },
        persistence: {
          type: 'object',
          nullable: true,
          description: 'figures of the store (SQLite or memory); null for a persistence the engine was given',
          properties: { store: { type: 'string', enum: ['sqlite', 'memory'] }, retained: count, subscriptions: count, queued: count, offline_dropped: count, sessions_expired: count },
        },
        audit: {
          type: 'object',
          description: 'What the audit trail did not keep: entries dropped (too many waiting), pruned (to a bound) or aggregated (counted in an earlier entry)',
          properties: { dropped: count, pruned: count, aggregated: count },
        },
      })),
      ...ERRORS,
    },
  },
  'GET /internal/tenants': {
    summary: 'Every tenant with its style, limits and live connections (never a password hash)',
    responses: { '200': reply('The tenants', okWith({ tenants: { type: 'array', items: ref('Tenant') } }, ['tenants'])), ...ERRORS },
  },
  'POST /internal/tenant/add': {
    summary: 'Adds a tenant; fields left out take the broker node\'s defaults',
    requestBody: body('NewTenant'),
    responses: { '201': reply('Added', okWith({ tenant: ref('Tenant') }, ['tenant'])), ...ERRORS, '409': error('A tenant or device with this username exists, or the namespace overlaps another tenant\'s') },
  },
  'POST /internal/tenant/update': {
    summary: 'Changes a tenant; a new password, style or namespace, or disabling it, disconnects its clients',
    requestBody: body('TenantPatch'),
    responses: {
      '200': reply('Updated', okWith({ tenant: ref('Tenant') }, ['tenant'])),
      ...ERRORS,
      ...NOT_FOUND,
      '409': error("The namespace overlaps another tenant's, or the tenant holds retained messages, sessions or registry webhooks under its namespace"),
    },
  },
  'POST /internal/tenant/remove': {
    summary: 'Removes a tenant with its webhooks and topic statistics and disconnects its clients',
    requestBody: body('Username'),
    responses: { '200': reply('Removed', okWith({})), ...ERRORS, ...NOT_FOUND },
  },
  'POST /internal/tenant/kick': {
    summary: 'Disconnects every client of a tenant, its devices included (or of root)',
    requestBody: body('Username'),
    responses: { '200': reply('How many were disconnected', okWith({ kicked: count }, ['kicked'])), ...ERRORS, ...NOT_FOUND },
  },
  'GET /internal/devices': {
    summary: "A tenant's devices with live connection counts and last_seen (never a password hash)",
    parameters: [tenantParam],
    responses: { '200': reply('The devices', okWith({ devices: { type: 'array', items: ref('Device') } }, ['devices'])), ...ERRORS, ...NO_TENANT },
  },
  'POST /internal/device/add': {
    summary: 'Adds a device: a login of its own inside the tenant, held to its roles',
    requestBody: body('NewDevice'),
    responses: { '201': reply('Added', okWith({ device: ref('Device') }, ['device'])), ...ERRORS, ...NO_TENANT, '409': error('The name is taken by a tenant or a device') },
  },
  'POST /internal/device/update': {
    summary: 'Changes a device; disabling it, a new password or client id disconnects it; new roles apply to its next packet',
    requestBody: body('DevicePatch'),
    responses: { '200': reply('Updated', okWith({ device: ref('Device') }, ['device'])), ...ERRORS, ...NO_DEVICE },
  },
  'POST /internal/device/remove': {
    summary: 'Removes a device and disconnects it',
    requestBody: body('Username'),
    responses: { '200': reply('Removed', okWith({})), ...ERRORS, ...NO_DEVICE },
  },
  'POST /internal/device/kick': {
    summary: 'Disconnects every connection of a device',
    requestBody: body('Username'),
    responses: { '200': kicked('How many were disconnected'), ...ERRORS, ...NO_DEVICE },
  },
  'GET /internal/roles': {
    summary: "A tenant's roles with their rules and the devices holding them",
    parameters: [tenantParam],
    responses: { '200': reply('The roles', okWith({ roles: { type: 'array', items: ref('Role') } }, ['roles'])), ...ERRORS, ...NO_TENANT },
  },
  'POST /internal/role/add': {
    summary: 'Adds a role: an ordered list of rules',
    requestBody: body('RoleBody'),
    responses: { '201': reply('Added', okWith({ role: ref('Role') }, ['role'])), ...ERRORS, ...NO_TENANT, '409': error('A role with this name exists in the tenant') },
  },
  'POST /internal/role/update': {
    summary: "Replaces a role's rules; they apply to the next packet of every device holding it, and a revoked read right stops delivery at once",
    requestBody: body('RoleBody'),
    responses: { '200': reply('Updated', okWith({ role: ref('Role') }, ['role'])), ...ERRORS, ...NO_ROLE },
  },
  'POST /internal/role/remove': {
    summary: 'Removes a role no device holds',
    requestBody: body('RoleName'),
    responses: { '200': reply('Removed', okWith({})), ...ERRORS, ...NO_ROLE, '409': error('A device holds the role') },
  },
  'GET /internal/clients': {
    summary: "A tenant's live connections (`root` for root's): client id, login, transport, address, subscriptions and messages as the client knows them",
    parameters: [tenantParam],
    responses: { '200': reply('The connections, oldest first', okWith({ clients: { type: 'array', items: ref('Client') } }, ['clients'])), ...ERRORS, ...NO_TENANT },
  },
  'POST /internal/client/kick': {
    summary: 'Disconnects every connection with this client id in the tenant, whichever login (the same id in another tenant is left alone)',
    requestBody: body('ClientKick'),
    responses: { '200': kicked('How many were disconnected'), ...ERRORS, ...NO_TENANT },
  },
  'GET /internal/webhooks': {
    summary: 'Registry webhooks with their delivery counters',
    parameters: [usernameParam(false)],
    responses: { '200': reply('The webhooks', okWith({ webhooks: { type: 'array', items: ref('Webhook') } }, ['webhooks'])), ...ERRORS, ...NOT_FOUND },
  },
  'POST /internal/webhook/add': {
    summary: 'POSTs every message of the tenant matching the filter to the URL',
    requestBody: body('NewWebhook'),
    responses: { '201': reply('Added', okWith({ id: { type: 'integer' }, webhook: ref('Webhook') }, ['id'])), ...ERRORS, ...NOT_FOUND },
  },
  'POST /internal/webhook/update': {
    summary: 'Changes a webhook',
    requestBody: body('WebhookPatch'),
    responses: { '200': reply('Updated', okWith({ webhook: ref('Webhook') }, ['webhook'])), ...ERRORS, ...NOT_FOUND },
  },
  'POST /internal/webhook/remove': {
    summary: 'Removes a webhook; messages still queued for it are dropped',
    requestBody: body('WebhookId'),
    responses: { '200': reply('Removed', okWith({})), ...ERRORS, ...NOT_FOUND },
  },
  'GET /internal/policies': {
    summary: "A tenant's message policies",
    parameters: [{ name: 'tenant', in: 'query', required: true, schema: username }],
    responses: { '200': reply('The policies', okWith({ policies: { type: 'array', items: ref('Policy') } }, ['policies'])), ...ERRORS, ...NOT_FOUND },
  },
  'POST /internal/policy/add': {
    summary: 'Adds a message policy to a tenant: its schema and patterns are compiled now, and refused (400) when they cannot be',
    requestBody: body('NewPolicy'),
    responses: { '201': reply('Added', okWith({ id: { type: 'integer' }, policy: ref('Policy') }, ['id'])), ...ERRORS, ...NOT_FOUND },
  },
  'POST /internal/policy/update': {
    summary: 'Changes a message policy',
    requestBody: body('PolicyPatch'),
    responses: { '200': reply('Updated', okWith({ policy: ref('Policy') }, ['policy'])), ...ERRORS, ...NOT_FOUND },
  },
  'POST /internal/policy/remove': {
    summary: 'Removes a message policy',
    requestBody: body('PolicyId'),
    responses: { '200': reply('Removed', okWith({})), ...ERRORS, ...NOT_FOUND },
  },
  'GET /internal/topics': {
    summary: 'Messages and bytes per topic of a tenant, busiest first',
    description: 'The 1,000 busiest topics of the tenant are kept; the others are added up in `other`. A topic longer than 256 bytes is stored cut, ending in "…".',
    parameters: [usernameParam(true), limitParam(10_000, 1000)],
    responses: {
      '200': reply('Topic statistics', okWith({
        username,
        topics: { type: 'array', maxItems: 1000, items: { type: 'object', properties: { topic: { type: 'string', description: 'at most 256 bytes of UTF-8' }, messages: count, bytes: count, last_seen: timestamp } } },
        other: {
          type: 'object',
          description: 'The topics beyond the 1,000 busiest, added up (a topic folded in twice counts twice)',
          properties: { topics: count, messages: count, bytes: count },
          required: ['topics', 'messages', 'bytes'],
        },
      }, ['topics', 'other'])),
      ...ERRORS,
      ...NOT_FOUND,
    },
  },
  'POST /internal/reload': {
    summary: 'Re-reads the registry file now, for changes made outside this process',
    description:
      'The broker also notices commits other processes make to the file by itself, within about two seconds. Changed tenants are treated as if changed through the API (a new password disconnects, and so on); unchanged ones are left alone. Always audited as registry.reload. The body may be empty.',
    responses: { '200': reply('Reloaded', okWith({ tenants: count, webhooks: count })), ...ERRORS },
  },
  'GET /internal/audit': {
    summary: 'The audit trail, newest first: administrative changes and security denials',
    parameters: [usernameParam(false), limitParam(1000, 100)],
    responses: { '200': reply('Events', okWith({ events: { type: 'array', items: ref('AuditEvent') } }, ['events'])), ...ERRORS, ...NOT_FOUND },
  },
  'GET /metrics': {
    summary: 'Prometheus metrics (text exposition format 0.0.4), names prefixed tenant_broker_',
    responses: { '200': { description: 'Metrics', content: { 'text/plain; version=0.0.4': { schema: { type: 'string' } } } }, '401': ERRORS['401'], '403': ERRORS['403'] },
  },
  'GET /internal/openapi.json': {
    summary: 'This description',
    responses: { '200': { description: 'OpenAPI 3.0 document', content: json({ type: 'object' }) }, '401': ERRORS['401'], '403': ERRORS['403'] },
  },
};

/** OpenAPI 3.0 description of every route of the management API. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, Operation>> = {};
  for (const [key, operation] of Object.entries(operations) as Array<[RouteKey, Operation]>) {
    const [method, path] = key.split(' ');
    (paths[path] ??= {})[method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'tenant-broker management API',
      version: '1',
      description:
        'Served by the tenant-admin node (127.0.0.1:4036 by default). Request bodies are JSON whatever the Content-Type, at most 64 KiB. ' +
        'Every success has "status": "ok", every error is {"status": "error", "error": "..."}.',
    },
    components: {
      schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'required when the node has a token (always when it listens beyond loopback)' } },
    },
    security: [{ bearer: [] }, {}],
    paths,
  };
}
