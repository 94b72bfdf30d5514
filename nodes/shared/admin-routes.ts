import type { NodeAPI } from 'node-red';
import type { NextFunction, Request, Response } from 'express';
import { errorResponse, TenantBrokerError, TenantService } from '../../src';
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
 * proxy, which a page cannot set) is refused with 403, and a body that is not
 * JSON with 415. Requests without Origin (curl, scripts) are not a browser's.
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
    if ((hasBody || req.method === 'POST' || req.method === 'PUT') && !req.is('application/json')) {
      refuse(res, 415, new TenantBrokerError('the request body must be JSON (Content-Type: application/json)', 'errors.json-required', {}));
      return;
    }
    next();
  };
}

/**
 * The editor's Tenants tab and tenant pickers: permission-checked routes on
 * Node-RED's admin API that change the deployed broker's registry at once,
 * through the same tenant service as the tenant-admin API.
 */
export function registerTenantRoutes(RED: NodeAPI): void {
  const guard = refuseCrossSite(RED);
  const read = RED.auth.needsPermission('tenant-broker.read');
  const write = RED.auth.needsPermission('tenant-broker.write');

  async function tenantsOf(req: Request): Promise<TenantService> {
    const node = RED.nodes.getNode(String(req.params.id)) as TenantBrokerNode | null;
    if (!node || node.type !== 'tenant-broker') {
      throw new TenantBrokerError('deploy this broker first: it is not running yet', 'errors.not-deployed', {}, 'not-found');
    }
    return new TenantService(await node.ready);
  }

  const handle = (action: (tenants: TenantService, req: Request) => Promise<unknown> | unknown, okStatus = 200) => async (req: Request, res: Response) => {
    try {
      const tenants = await tenantsOf(req);
      res.status(okStatus).json({ status: 'ok', ...((await action(tenants, req)) as object) });
    } catch (err) {
      const { status, body } = errorResponse(err);
      res.status(status).json(body);
    }
  };

  RED.httpAdmin.get('/tenant-broker/:id/tenants', guard, read, handle((tenants) => ({ tenants: tenants.list() })));
  RED.httpAdmin.post('/tenant-broker/:id/tenants', guard, write, handle(async (tenants, req) => ({ tenant: await tenants.add(req.body) }), 201));
  RED.httpAdmin.put('/tenant-broker/:id/tenants/:username', guard, write, handle(async (tenants, req) => ({ tenant: await tenants.update(String(req.params.username), req.body) })));
  RED.httpAdmin.delete('/tenant-broker/:id/tenants/:username', guard, write, handle((tenants, req) => {
    tenants.remove(String(req.params.username));
    return {};
  }));
}
