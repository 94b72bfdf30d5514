import type { BrokerHost } from '../broker/broker-host';
import type { TrafficFigures } from '../broker/traffic';
import { REGISTRY_WEBHOOK_PREFIX } from '../broker/webhook-routing';
import { invalid } from '../errors';
import { MAX_TOPICS_PER_TENANT } from '../registry/topic-stats';
import { renderMetrics, METRICS_CONTENT_TYPE } from './metrics';
import { openApiDocument } from './openapi';
import { ROUTE_KEYS, type RouteKey } from './route-keys';
import { ClientService } from './client-service';
import { requireString } from './device-api';
import { DeviceService } from './device-service';
import { RoleService } from './role-service';
import { asObject, errorResponse, onlyFields, requireUsername } from './tenant-api';
import { TenantService } from './tenant-service';
import { PolicyService } from './policy-service';
import { countersView, parseNewWebhook, parseWebhookId, parseWebhookPatch, webhookView } from './webhook-api';

export { ROUTE_KEYS, type RouteKey };

export interface AdminRequest {
  method: string;
  /** Path and query, as in the request line. */
  url: string;
  /** The raw body; parsed as JSON whatever the Content-Type said. */
  body?: string | Buffer;
}

export type AdminResponse = {
  status: number;
  headers?: Record<string, string>;
} & ({ json: unknown } | { text: string; contentType: string });

interface Context {
  query: URLSearchParams;
  body: unknown;
}

type Handler = (context: Context) => AdminResponse | Promise<AdminResponse>;

const ok = (fields: Record<string, unknown> = {}, status = 200): AdminResponse => ({ status, json: { status: 'ok', ...fields } });

function figuresView(f: TrafficFigures) {
  return { messages_in: f.messagesIn, bytes_in: f.bytesIn, messages_out: f.messagesOut, bytes_out: f.bytesOut, denials: f.denials };
}

/** A query parameter that must be there and not empty (400 naming it otherwise). */
function requiredQuery(query: URLSearchParams, name: string): string {
  const value = query.get(name);
  if (!value) throw invalid(`the query parameter ${name} is required`, 'errors.bad-field', { field: name });
  return value;
}

function parseJson(body: string | Buffer | undefined): unknown {
  const text = body === undefined ? '' : body.toString();
  // `curl -X POST .../reload` sends nothing: an empty body is an empty object
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw invalid(`the request body is not valid JSON: ${(err as Error).message}`, 'errors.bad-json');
  }
}

/**
 * The management API as plain functions: a request in, a status and a JSON
 * (or text) body out. admin-server.ts puts it on a socket; tests can call
 * `handle` directly.
 */
export class AdminRoutes {
  private readonly handlers: Record<RouteKey, Handler>;

  constructor(private readonly host: BrokerHost) {
    const registry = host.registry;
    const tenants = new TenantService(host);
    const policies = new PolicyService(registry);
    const devices = new DeviceService(host);
    const roles = new RoleService(host);
    const clients = new ClientService(host);
    this.handlers = {
      'GET /internal/stats': () => {
        const stats = host.stats();
        const tenants = Object.fromEntries(Object.entries(stats.tenants).map(([name, t]) => [name, { ...figuresView(t), connections: t.connections, offline_dropped: t.offlineDropped }]));
        const webhooks = Object.fromEntries(Object.entries(stats.webhooks).map(([id, c]) => [id, countersView(c)]));
        const p = stats.persistence;
        const persistence = p && { store: p.store, retained: p.retained, subscriptions: p.subscriptions, queued: p.queued, offline_dropped: p.offlineDropped, sessions_expired: p.sessionsExpired };
        const unauthenticated = stats.unauthenticated;
        return ok({ uptime_seconds: stats.uptimeSeconds, connections: stats.connections, unauthenticated, total: figuresView(stats.total), tenants, webhooks, persistence, audit: stats.audit });
      },
      'GET /internal/tenants': () => ok({ tenants: tenants.list() }),
      'POST /internal/tenant/add': async ({ body }) => ok({ tenant: await tenants.add(body) }, 201),
      'POST /internal/tenant/update': async ({ body }) => ok({ tenant: await tenants.update(requireUsername(body), body) }),
      'POST /internal/tenant/remove': ({ body }) => {
        tenants.remove(this.usernameOnly(body));
        return ok();
      },
      'POST /internal/tenant/kick': ({ body }) => ok({ kicked: tenants.kick(this.usernameOnly(body)) }),
      'GET /internal/devices': ({ query }) => ok({ devices: devices.list(requiredQuery(query, 'tenant')) }),
      'POST /internal/device/add': async ({ body }) => ok({ device: await devices.add(body) }, 201),
      'POST /internal/device/update': async ({ body }) => ok({ device: await devices.update(requireUsername(body), body) }),
      'POST /internal/device/remove': ({ body }) => {
        devices.remove(this.usernameOnly(body));
        return ok();
      },
      'POST /internal/device/kick': ({ body }) => ok({ kicked: devices.kick(this.usernameOnly(body)) }),
      'GET /internal/roles': ({ query }) => ok({ roles: roles.list(requiredQuery(query, 'tenant')) }),
      'POST /internal/role/add': ({ body }) => ok({ role: roles.set(body, 'add') }, 201),
      'POST /internal/role/update': ({ body }) => ok({ role: roles.set(body, 'update') }),
      'POST /internal/role/remove': ({ body }) => {
        const object = asObject(body);
        onlyFields(object, ['tenant', 'name']);
        roles.remove(requireString(object, 'tenant'), requireString(object, 'name'));
        return ok();
      },
      'GET /internal/clients': ({ query }) => ok({ clients: clients.list(requiredQuery(query, 'tenant')) }),
      'POST /internal/client/kick': ({ body }) => ok({ kicked: clients.kick(body) }),
      'GET /internal/webhooks': ({ query }) => {
        const username = this.queryTenant(query, false);
        return ok({ webhooks: registry.listWebhooks(username).map((w) => webhookView(w, host.webhooks.counters(REGISTRY_WEBHOOK_PREFIX + w.id))) });
      },
      'POST /internal/webhook/add': ({ body }) => {
        const webhook = registry.addWebhook(parseNewWebhook(body));
        return ok({ id: webhook.id, webhook: this.webhook(webhook.id) }, 201);
      },
      'POST /internal/webhook/update': ({ body }) => {
        const { id, patch } = parseWebhookPatch(body);
        registry.updateWebhook(id, patch);
        return ok({ webhook: this.webhook(id) });
      },
      'POST /internal/webhook/remove': ({ body }) => {
        const object = asObject(body);
        onlyFields(object, ['id']);
        registry.removeWebhook(parseWebhookId(object.id));
        return ok();
      },
      'GET /internal/policies': ({ query }) => ok({ policies: policies.list(this.queryTenant(query, true, 'tenant')!) }),
      'POST /internal/policy/add': ({ body }) => {
        const policy = policies.add(body);
        return ok({ id: policy.id, policy }, 201);
      },
      'POST /internal/policy/update': ({ body }) => ok({ policy: policies.update(body) }),
      'POST /internal/policy/remove': ({ body }) => {
        policies.remove(body);
        return ok();
      },
      'GET /internal/topics': ({ query }) => {
        const username = this.queryTenant(query, true)!;
        const topics = registry.stats.forTenant(username, this.queryLimit(query, MAX_TOPICS_PER_TENANT, 10_000));
        const other = registry.stats.other(username);
        return ok({ username, topics: topics.map((t) => ({ topic: t.topic, messages: t.messages, bytes: t.bytes, last_seen: new Date(t.lastSeen).toISOString() })), other });
      },
      'POST /internal/reload': ({ body }) => {
        onlyFields(asObject(body), []);
        registry.reload();
        return ok({ tenants: registry.listTenants().length, webhooks: registry.listWebhooks().length });
      },
      'GET /internal/audit': ({ query }) => {
        const tenant = this.queryTenant(query, false);
        const events = registry.audit.list({ tenant, limit: this.queryLimit(query, 100, 1000) });
        return ok({ events: events.map(({ firstAt, lastAt, ...e }) => ({ ...e, at: new Date(e.at).toISOString(), first_at: new Date(firstAt).toISOString(), last_at: new Date(lastAt).toISOString() })) });
      },
      'GET /metrics': () => ({ status: 200, text: renderMetrics(host), contentType: METRICS_CONTENT_TYPE }),
      'GET /internal/openapi.json': () => ({ status: 200, json: openApiDocument() }),
    };
  }

  /** Never throws: every failure becomes a JSON error with its status. */
  async handle(request: AdminRequest): Promise<AdminResponse> {
    let url: URL;
    try {
      url = new URL(request.url, 'http://admin.invalid');
    } catch {
      return { status: 400, json: { status: 'error', error: 'the request URL is not valid' } };
    }
    const methods = ROUTE_KEYS.filter((key) => key.endsWith(' ' + url.pathname)).map((key) => key.slice(0, key.indexOf(' ')));
    if (methods.length === 0) return { status: 404, json: { status: 'error', error: `no route ${url.pathname}` } };
    const key = `${request.method} ${url.pathname}` as RouteKey;
    if (!methods.includes(request.method)) {
      return { status: 405, headers: { Allow: methods.join(', ') }, json: { status: 'error', error: `${request.method} is not allowed on ${url.pathname}; use ${methods.join(' or ')}` } };
    }
    try {
      const body = request.method === 'POST' ? parseJson(request.body) : undefined;
      return await this.handlers[key]({ query: url.searchParams, body });
    } catch (err) {
      const { status, body } = errorResponse(err);
      return { status, json: body };
    }
  }

  private usernameOnly(body: unknown): string {
    onlyFields(asObject(body), ['username']);
    return requireUsername(body);
  }

  private webhook(id: number) {
    return webhookView(this.host.registry.getWebhook(id), this.host.webhooks.counters(REGISTRY_WEBHOOK_PREFIX + id));
  }

  /** `?username=`: a tenant that exists (404 otherwise); absent only where it is optional. */
  private queryTenant(query: URLSearchParams, needed: boolean, name = 'username'): string | undefined {
    const username = query.get(name);
    if (username === null && !needed) return undefined;
    if (!username) throw invalid(`the query parameter ${name} is required`, 'errors.bad-field', { field: name });
    return this.host.registry.requireTenant(username).username;
  }

  private queryLimit(query: URLSearchParams, fallback: number, max: number): number {
    const text = query.get('limit');
    if (text === null) return fallback;
    const limit = /^[0-9]{1,9}$/.test(text) ? Number(text) : NaN;
    if (!(limit >= 1 && limit <= max)) throw invalid(`limit must be a whole number from 1 to ${max}`, 'errors.bad-field', { field: 'limit' });
    return limit;
  }
}
