import type { Node, NodeAPI, NodeMessageInFlow } from 'node-red';
import { encodePayload } from '../src';
import { withDefaults } from './shared/defaults';
import { FLOW_CLIENT_ID, useBroker } from './shared/broker-user';
import { describeError } from './shared/i18n';
import type { TenantOutNodeDef } from './shared/node-types';

type OutMessage = NodeMessageInFlow & { tenant?: unknown; qos?: unknown; retain?: unknown };

export default function (RED: NodeAPI): void {
  function TenantOut(this: Node, saved: TenantOutNodeDef) {
    RED.nodes.createNode(this, saved);
    const config = withDefaults('tenant-out', saved);
    const node = this;
    const broker = useBroker(RED, node, config.broker, 'tenant-out', config.tenant);
    if (!broker) return;

    node.on('input', (msg: OutMessage, _send, done) => {
      const tenant = config.tenant || (typeof msg.tenant === 'string' ? msg.tenant : '');
      const topic = config.topic || (typeof msg.topic === 'string' ? msg.topic : '');
      const qos = Number(config.qos !== '' && config.qos !== undefined ? config.qos : msg.qos ?? 0);
      const retain = config.retain === 'true' ? true : config.retain === 'false' ? false : msg.retain === true || msg.retain === 'true';
      if (!tenant) return done(new Error(RED._('tenant-out.errors.no-tenant')));
      if (!topic) return done(new Error(RED._('tenant-out.errors.no-topic')));
      if (![0, 1, 2].includes(qos)) return done(new Error(RED._('tenant-out.errors.bad-qos', { qos: String(msg.qos) })));
      broker.ready
        .then((host) => host.publish(tenant, { topic, payload: encodePayload(msg.payload), qos: qos as 0 | 1 | 2, retain, clientId: FLOW_CLIENT_ID }))
        .then(() => done(), (err: unknown) => done(new Error(describeError(RED, err))));
    });

    node.on('close', () => broker.deregister(node));
  }

  RED.nodes.registerType('tenant-out', TenantOut as never);
}
