import type { NodeAPI } from 'node-red';
import type { Request, RequestHandler, Response } from 'express';
import { ClientService, DeviceService, errorResponse, RoleService, TenantBrokerError, TenantService, type BrokerHost } from '../../src';
import type { TenantBrokerNode } from './node-types';

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
  RED.httpAdmin.get(tenants, read, handle((s) => ({ tenants: s.tenants.list() })));
  RED.httpAdmin.post(tenants, write, handle(async (s, req) => ({ tenant: await s.tenants.add(body(req)) }), 201));
  RED.httpAdmin.put(tenant, write, handle(async (s, req) => ({ tenant: await s.tenants.update(param(req, 'tenant'), body(req)) })));
  RED.httpAdmin.delete(tenant, write, handle((s, req) => {
    s.tenants.remove(param(req, 'tenant'));
    return {};
  }));

  const devices = `${tenant}/devices`;
  const device = `${devices}/:username`;
  RED.httpAdmin.get(devices, read, handle((s, req) => ({ devices: s.devices.list(param(req, 'tenant')) })));
  RED.httpAdmin.post(devices, write, handle(async (s, req) => ({ device: await s.devices.add(body(req), param(req, 'tenant')) }), 201));
  RED.httpAdmin.put(device, write, handle(async (s, req) => ({ device: await s.devices.update(param(req, 'username'), body(req), param(req, 'tenant')) })));
  RED.httpAdmin.delete(device, write, handle((s, req) => {
    s.devices.remove(param(req, 'username'), param(req, 'tenant'));
    return {};
  }));
  RED.httpAdmin.post(`${device}/kick`, write, handle((s, req) => ({ kicked: s.devices.kick(param(req, 'username'), param(req, 'tenant')) })));

  const roles = `${tenant}/roles`;
  const role = `${roles}/:name`;
  RED.httpAdmin.get(roles, read, handle((s, req) => ({ roles: s.roles.list(param(req, 'tenant')) })));
  RED.httpAdmin.post(roles, write, handle((s, req) => ({ role: s.roles.set(body(req), 'add', { tenant: param(req, 'tenant') }) }), 201));
  RED.httpAdmin.put(role, write, handle((s, req) => ({ role: s.roles.set(body(req), 'update', { tenant: param(req, 'tenant'), name: param(req, 'name') }) })));
  RED.httpAdmin.delete(role, write, handle((s, req) => {
    s.roles.remove(param(req, 'tenant'), param(req, 'name'));
    return {};
  }));

  const clients = `${tenant}/clients`;
  RED.httpAdmin.get(clients, read, handle((s, req) => ({ clients: s.clients.list(param(req, 'tenant')) })));
  RED.httpAdmin.post(`${clients}/kick`, write, handle((s, req) => ({ kicked: s.clients.kick(body(req), param(req, 'tenant')) })));

  // the host the editor was reached at stands in for a listener bound to every interface
  RED.httpAdmin.get('/tenant-broker/:id/connection-info', read, handle((s, req) => s.clients.connectionInfo(req.hostname)));
}

