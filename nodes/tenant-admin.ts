import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { AddressInfo } from 'node:net';
import { AdminServer, ADMIN_DEFAULTS, portSetting, TenantBrokerError, type AuditEvent, type BrokerHost } from '../src';
import { withDefaults } from './shared/defaults';
import { describeError } from './shared/i18n';
import type { TenantBrokerNode } from './shared/node-types';

interface TenantAdminNodeDef extends NodeDef {
  broker: string;
  host: string;
  port: string;
}

interface TenantAdminNode extends Node<{ token?: string }> {
  /** Resolves with the address served, or rejects with the reason it is not served. */
  ready: Promise<AddressInfo>;
}

// Node-RED gives a node 15 s to close; the port must be free well before.
const CLOSE_TIMEOUT_MS = 10_000;

export default function (RED: NodeAPI): void {
  const reason = (err: unknown) =>
    err instanceof TenantBrokerError && (err.key === 'errors.admin-token-required' || err.key === 'errors.bad-port')
      ? RED._(`tenant-admin.${err.key}`, err.params as Record<string, string>)
      : describeError(RED, err);

  function TenantAdmin(this: TenantAdminNode, saved: TenantAdminNodeDef) {
    RED.nodes.createNode(this, saved);
    const config = withDefaults('tenant-admin', saved);
    const node = this;
    const broker = RED.nodes.getNode(config.broker) as TenantBrokerNode | null;
    let server: AdminServer | null = null;
    let host: BrokerHost | null = null;
    let closed = false;
    // a flow can alert on any administrative change or security denial
    const onAudit = (event: AuditEvent) => node.send({ payload: event, topic: event.action, tenant: event.tenant } as never);

    node.ready = (async () => {
      if (!broker) throw new Error(RED._('tenant-admin.errors.missing-broker'));
      node.status({ fill: 'yellow', shape: 'ring', text: RED._('tenant-admin.status.starting') });
      const running = await broker.ready;
      if (closed) throw new Error('closed while the broker started');
      server = new AdminServer(running, { host: config.host, port: portSetting(config.port, ADMIN_DEFAULTS.port), token: node.credentials?.token });
      const address = await server.start();
      // closed while binding: the close handler releases the port, nothing may be attached now
      if (closed) return address;
      host = running;
      host.registry.audit.on('event', onAudit);
      const where = address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
      node.status({ fill: 'green', shape: 'dot', text: RED._('tenant-admin.status.serving', { address: where }) });
      node.log(RED._('tenant-admin.log.serving', { address: where }));
      return address;
    })();
    node.ready.catch((err: unknown) => {
      if (closed) return;
      const text = reason(err);
      node.error(RED._('tenant-admin.errors.start-failed', { reason: text }));
      node.status({ fill: 'red', shape: 'ring', text });
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      host?.registry.audit.off('event', onAudit);
      const closing = node.ready.then(
        () => server?.close(),
        () => server?.close(),
      );
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref());
      Promise.race([closing, timeout])
        .catch((err: unknown) => node.warn(describeError(RED, err)))
        .finally(() => {
          node.status({});
          done();
        });
    });
  }

  RED.nodes.registerType('tenant-admin', TenantAdmin as never, { credentials: { token: { type: 'password' } } });
}
