import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { errorResponse, TenantBrokerError, TenantService } from '../../src';
import type { TenantBrokerNode } from './node-types';

/**
 * The editor's Tenants tab and tenant pickers: permission-checked routes on
 * Node-RED's admin API that change the deployed broker's registry at once,
 * through the same tenant service as the tenant-admin API.
 */
export function registerTenantRoutes(RED: NodeAPI): void {
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

  RED.httpAdmin.get('/tenant-broker/:id/tenants', read, handle((tenants) => ({ tenants: tenants.list() })));
  RED.httpAdmin.post('/tenant-broker/:id/tenants', write, handle(async (tenants, req) => ({ tenant: await tenants.add(req.body) }), 201));
  RED.httpAdmin.put('/tenant-broker/:id/tenants/:username', write, handle(async (tenants, req) => ({ tenant: await tenants.update(String(req.params.username), req.body) })));
  RED.httpAdmin.delete('/tenant-broker/:id/tenants/:username', write, handle((tenants, req) => {
    tenants.remove(String(req.params.username));
    return {};
  }));
}
