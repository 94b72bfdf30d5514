import type { NodeAPI } from 'node-red';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ClientService, DeviceService, errorResponse, RoleService, TenantBrokerError, TenantService, type BrokerHost } from '../../src';
import { describeError } from './i18n';
import type { TenantBrokerNode } from './node-types';

/** The scheme and host (name and port) an `Origin` header names, or null when it names none (`null`, garbage). */
function originOf(origin: string): URL | null {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}

/** A `Host` header as an Origin of that scheme writes it (the default port left out). */
function hostAs(protocol: string, host: string): string | null {
  try {
    return new URL(`${protocol}//${host.trim()}`).host;
  } catch {
    return null;
  }
}

/**
 * Cross-site requests from a web page: Node-RED without adminAuth (the demo)
 * answers any page the browser has open, and a form may POST there with no
 * preflight. A browser names the page's origin in `Origin` on every such
 * request and can only send forms as urlencoded, multipart or text, never as
 * JSON without a preflight the route would not pass. So: an Origin naming
 * another host than the request's own (`Host`, or `X-Forwarded-Host` behind a
 * proxy, which a page cannot set) is refused with 403, and a body (or a
 * Content-Type) that is not JSON with 415. Requests without Origin (curl, scripts) are not a browser's.
 */
export function refuseCrossSite(RED: NodeAPI) {
  const refuse = (res: Response, status: number, error: TenantBrokerError) => res.status(status).json({ status: 'error', error: describeError(RED, error) });
  return (req: Request, res: Response, next: NextFunction): void => {
    const origin = req.headers.origin;
    if (origin !== undefined) {
      const from = originOf(origin);
      const forwarded = String(req.headers['x-forwarded-host'] ?? '').split(',')[0];
      const own = from ? [req.headers.host ?? '', forwarded].filter(Boolean).map((host) => hostAs(from.protocol, host)) : [];
      if (from === null || !own.includes(from.host)) {
        refuse(res, 403, new TenantBrokerError(`a request from the web page ${origin} is refused: open the editor itself`, 'errors.cross-origin', { origin }));
        return;
      }
    }
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    // a form always names its type, even empty; a bare POST (a kick from curl) names none and carries nothing
    const contentType = req.headers['content-type'];
    const namesType = req.method !== 'GET' && req.method !== 'HEAD' && contentType !== undefined;
    // req.is() answers null for a bodiless request, so a DELETE that names JSON is judged by its header
    const isJson = contentType !== undefined && /^application\/json\s*(;|$)/i.test(contentType);
    if ((hasBody || namesType) && !isJson) {
      refuse(res, 415, new TenantBrokerError('the request body must be JSON (Content-Type: application/json)', 'errors.json-required', {}));
      return;
    }
    next();
  };
}

/** The engine's services for one running broker, as both HTTP surfaces use them. */
interface Services {
  tenants: TenantService;
  devices: DeviceService;
  roles: RoleService;
  clients: ClientService;
}

type Action = (services: Services, req: Request) => Promise<object> | object;

/**
 * The editor's tenant management: permission-checked routes on Node-RED's
 * admin API that change the deployed broker's registry at once, through the
 * same services as the tenant-admin API. Thin: parameters in, a service
 * called, its view or error out.
 */
export function registerTenantRoutes(RED: NodeAPI): void {
  const guard = refuseCrossSite(RED);
  const read = RED.auth.needsPermission('tenant-broker.read');
  const write = RED.auth.needsPermission('tenant-broker.write');

  async function servicesOf(req: Request): Promise<Services> {
    const node = RED.nodes.getNode(String(req.params.id)) as TenantBrokerNode | null;
    if (!node || node.type !== 'tenant-broker') {
      throw new TenantBrokerError('deploy this broker first: it is not running yet', 'errors.not-deployed', {}, 'not-found');
    }
    const host: BrokerHost = await node.ready;
    return { tenants: new TenantService(host), devices: new DeviceService(host), roles: new RoleService(host), clients: new ClientService(host) };
  }

  const handle =
    (action: Action, okStatus = 200): RequestHandler =>
    async (req: Request, res: Response) => {
      try {
        const result = await action(await servicesOf(req), req);
        res.status(okStatus).json({ status: 'ok', ...result });
      } catch (err) {
        const { status, body } = errorResponse(err);
        res.status(status).json(body);
      }
    };
  const param = (req: Request, name: string) => String(req.params[name]);
  const body = (req: Request): unknown => req.body ?? {};

  const tenants = '/tenant-broker/:id/tenants';
  const tenant = `${tenants}/:tenant`;
  RED.httpAdmin.get(tenants, guard, read, handle((s) => ({ tenants: s.tenants.list() })));
  RED.httpAdmin.post(tenants, guard, write, handle(async (s, req) => ({ tenant: await s.tenants.add(body(req)) }), 201));
  RED.httpAdmin.put(tenant, guard, write, handle(async (s, req) => ({ tenant: await s.tenants.update(param(req, 'tenant'), body(req)) })));
  RED.httpAdmin.delete(tenant, guard, write, handle((s, req) => {
    s.tenants.remove(param(req, 'tenant'));
    return {};
  }));

  const devices = `${tenant}/devices`;
  const device = `${devices}/:username`;
  RED.httpAdmin.get(devices, guard, read, handle((s, req) => ({ devices: s.devices.list(param(req, 'tenant')) })));
  RED.httpAdmin.post(devices, guard, write, handle(async (s, req) => ({ device: await s.devices.add(body(req), param(req, 'tenant')) }), 201));
  RED.httpAdmin.put(device, guard, write, handle(async (s, req) => ({ device: await s.devices.update(param(req, 'username'), body(req), param(req, 'tenant')) })));
  RED.httpAdmin.delete(device, guard, write, handle((s, req) => {
    s.devices.remove(param(req, 'username'), param(req, 'tenant'));
    return {};
  }));
  RED.httpAdmin.post(`${device}/kick`, guard, write, handle((s, req) => ({ kicked: s.devices.kick(param(req, 'username'), param(req, 'tenant')) })));

  const roles = `${tenant}/roles`;
  const role = `${roles}/:name`;
  RED.httpAdmin.get(roles, guard, read, handle((s, req) => ({ roles: s.roles.list(param(req, 'tenant')) })));
  RED.httpAdmin.post(roles, guard, write, handle((s, req) => ({ role: s.roles.set(body(req), 'add', { tenant: param(req, 'tenant') }) }), 201));
  RED.httpAdmin.put(role, guard, write, handle((s, req) => ({ role: s.roles.set(body(req), 'update', { tenant: param(req, 'tenant'), name: param(req, 'name') }) })));
  RED.httpAdmin.delete(role, guard, write, handle((s, req) => {
    s.roles.remove(param(req, 'tenant'), param(req, 'name'));
    return {};
  }));

  const clients = `${tenant}/clients`;
  RED.httpAdmin.get(clients, guard, read, handle((s, req) => ({ clients: s.clients.list(param(req, 'tenant')) })));
  RED.httpAdmin.post(`${clients}/kick`, guard, write, handle((s, req) => ({ kicked: s.clients.kick(body(req), param(req, 'tenant')) })));

  // the host the editor was reached at stands in for a listener bound to every interface
  RED.httpAdmin.get('/tenant-broker/:id/connection-info', guard, read, handle((s, req) => s.clients.connectionInfo(req.hostname)));
}

