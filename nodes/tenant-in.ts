import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from 'node-red';
import { ALL_TENANTS, decodePayload, type InProcessMessage, type InProcessSubscription, type PayloadType } from '../src';
import { withDefaults } from './shared/defaults';
import { useBroker } from './shared/broker-user';
import { describeError } from './shared/i18n';
import type { TenantInNodeDef } from './shared/node-types';

type DynamicAction = { action?: string; topic?: unknown; qos?: unknown };

/** msg.topic of a dynamic subscribe: a filter, a list of them, or {topic, qos} objects. */
function requestedTopics(topic: unknown, qos: number): Array<{ topic: string; qos: number }> {
  const list = Array.isArray(topic) ? topic : [topic];
  return list.map((item) =>
    typeof item === 'object' && item !== null ? { topic: String((item as { topic?: unknown }).topic ?? ''), qos: Number((item as { qos?: unknown }).qos ?? qos) } : { topic: String(item ?? ''), qos },
  );
}

export default function (RED: NodeAPI): void {
  function TenantIn(this: Node, saved: TenantInNodeDef) {
    RED.nodes.createNode(this, saved);
    const config = withDefaults('tenant-in', saved);
    const node = this;
    const tenant = config.tenant || ALL_TENANTS;
    const broker = useBroker(RED, node, config.broker, 'tenant-in', tenant);
    if (!broker) return;
    const qos = Number(config.qos) || 0;
    const datatype = (config.datatype || 'auto') as PayloadType;
    const dynamic = Number(config.inputs) === 1;
    const subscriptions = new Map<string, Promise<InProcessSubscription>>();

    const deliver = (message: InProcessMessage) => {
      const msg: Record<string, unknown> = { topic: message.topic, tenant: message.tenant, qos: message.qos, retain: message.retain, clientid: message.clientId ?? undefined };
      try {
        msg.payload = decodePayload(message.payload, datatype);
      } catch (err) {
        node.error(RED._('tenant-in.errors.invalid-json', { error: (err as Error).message }), { ...msg, payload: message.payload.toString() });
        return;
      }
      node.send(msg as NodeMessage);
    };

    const subscribe = (topic: string, subQos: number): Promise<InProcessSubscription> => {
      const previous = subscriptions.get(topic);
      const next = (previous ? previous.then((sub) => sub.close()) : Promise.resolve())
        .then(() => broker.ready)
        .then((host) => host.subscribe(tenant, topic, deliver, { qos: Math.min(2, Math.max(0, subQos)) as 0 | 1 | 2 }));
      subscriptions.set(topic, next);
      next.catch(() => subscriptions.get(topic) === next && subscriptions.delete(topic));
      return next;
    };

    const unsubscribe = async (topic: string) => {
      const sub = subscriptions.get(topic);
      subscriptions.delete(topic);
      await sub?.then((s) => s.close(), () => undefined);
    };

    let actions: Promise<void> = Promise.resolve();
    if (!dynamic) {
      subscribe(config.topic, qos).catch((err) => {
        const reason = describeError(RED, err);
        node.error(RED._('tenant-in.errors.subscribe-failed', { topic: config.topic, reason }));
        node.status({ fill: 'red', shape: 'ring', text: reason });
      });
    }

    node.on('input', (msg: NodeMessageInFlow & DynamicAction, send, done) => {
      const topicFlag: unknown = msg.topic;
      const action = msg.action;
      const run = async () => {
        if (action === 'subscribe') {
          await Promise.all(requestedTopics(msg.topic, qos).map((t) => subscribe(t.topic, t.qos)));
        } else if (action === 'unsubscribe') {
          const topics = topicFlag === true || topicFlag === undefined ? [...subscriptions.keys()] : requestedTopics(msg.topic, qos).map((t) => t.topic);
          await Promise.all(topics.map(unsubscribe));
        } else if (action === 'getSubscriptions') {
          send({ ...msg, topic: 'subscriptions', payload: [...subscriptions.keys()] });
        } else {
          throw new Error(RED._('tenant-in.errors.invalid-action', { action: String(action) }));
        }
      };
      // control messages act in arrival order: getSubscriptions sees every earlier change done
      actions = actions.then(run).then(() => done(), (err) => done(new Error(describeError(RED, err))));
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      // deregister synchronously: the broker config node closes right after (node-red#2880)
      broker.deregister(node);
      Promise.all([...subscriptions.keys()].map(unsubscribe)).finally(() => done());
    });
  }

  RED.nodes.registerType('tenant-in', TenantIn as never);
}
