import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { errorResponse, parseNewTenant, parseTenantPatch, TenantBrokerError, tenantView, type BrokerHost } from '../../src';
import type { TenantBrokerNode } from './node-types';

/**
 * The editor's Tenants tab and tenant pickers: permission-checked routes on
 * Node-RED's admin API that change the deployed broker's registry at once.
 */
export function registerTenantRoutes(RED: NodeAPI): void {
  const read = RED.auth.needsPermission('tenant-broker.read');
  const write = RED.auth.needsPermission('tenant-broker.write');

  async function hostOf(req: Request): Promise<BrokerHost> {
    const node = RED.nodes.getNode(String(req.params.id)) as TenantBrokerNode | null;
    if (!node || node.type !== 'tenant-broker') {
      throw new TenantBrokerError('deploy this broker first: it is not running yet', 'errors.not-deployed', {}, 'not-found');
    }
    return node.ready;
  }

  const handle = (action: (host: BrokerHost, req: Request) => Promise<unknown> | unknown, okStatus = 200) => async (req: Request, res: Response) => {
    try {
      const host = await hostOf(req);
      res.status(okStatus).json(await action(host, req));
    } catch (err) {
      const { status, body } = errorResponse(err);
      res.status(status).json(body);
    }
  };

  const view = (host: BrokerHost, username: string) => tenantView(host.registry.requireTenant(username), host.connectionCount(username));

  RED.httpAdmin.get('/tenant-broker/:id/tenants', read, handle((host) => ({
    status: 'ok',
    tenants: host.registry.listTenants().map((t) => tenantView(t, host.connectionCount(t.username))),
  })));
  RED.httpAdmin.post('/tenant-broker/:id/tenants', write, handle(async (host, req) => {
    const tenant = await host.registry.addTenant(parseNewTenant(req.body));
    return { status: 'ok', tenant: view(host, tenant.username) };
  }, 201));
  RED.httpAdmin.put('/tenant-broker/:id/tenants/:username', write, handle(async (host, req) => {
    await host.registry.updateTenant(String(req.params.username), parseTenantPatch(req.body));
    return { status: 'ok', tenant: view(host, String(req.params.username)) };
  }));
  RED.httpAdmin.delete('/tenant-broker/:id/tenants/:username', write, handle((host, req) => {
    host.registry.removeTenant(String(req.params.username));
    return { status: 'ok' };
  }));
}
