import type { RouteKey } from './route-keys';
import { count, error, ERRORS, json, NO_DEVICE, NO_ROLE, NO_TENANT, NOT_FOUND, okWith, ref, reply, schemas, timestamp, username, type Schema } from './openapi-schemas';

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
