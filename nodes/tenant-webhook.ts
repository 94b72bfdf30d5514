import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from 'node-red';
import { ALL_TENANTS, encodePayload, WEBHOOK_DEFAULTS, wholeSetting, type BrokerHost, type DeliveryResult, type FlowWebhookSpec, type WebhookHealthChange } from '../src';
import { withDefaults } from './shared/defaults';
import { FLOW_CLIENT_ID, useBroker } from './shared/broker-user';
import { describeError } from './shared/i18n';
import type { BrokerUser, TenantWebhookNodeDef } from './shared/node-types';
import { resolveOwnUrl } from './shared/node-red-url';
import { brokerStatus } from './shared/status';

type Credentials = { secret?: string };

/** One output message per delivery: [success, failure]. */
function outputs(result: DeliveryResult, base: Record<string, unknown> = {}): Array<NodeMessage | null> {
  const msg = { ...base, payload: { status: result.status, latency: result.latencyMs, attempts: result.attempts, error: result.error }, topic: result.topic, tenant: result.tenant, webhookId: result.deliveryId } as NodeMessage;
  return result.error ? [null, msg] : [msg, null];
}

export default function (RED: NodeAPI): void {
  function TenantWebhook(this: Node<Credentials> & BrokerUser, saved: TenantWebhookNodeDef) {
    RED.nodes.createNode(this, saved);
    const config = withDefaults('tenant-webhook', saved);
    const node = this;
    // the status shows deliveries; of the broker's state only a failure matters here
    node.onBrokerState = (state) => {
      if (state.kind === 'error') node.status(brokerStatus(RED, state));
    };
    const broker = useBroker(RED, node, config.broker, 'tenant-webhook');
    if (!broker) return;
    const id = `node:${node.id}`;
    const tenant = config.tenant || ALL_TENANTS;
    let host: BrokerHost | null = null;
    let closed = false;
    // the error that started the current failure, while the endpoint keeps failing
    let failing: string | null = null;

    const showStatus = () => {
      const counters = host?.webhooks.counters(id);
      if (!counters) return;
      const queued = String(counters.queued + counters.inFlight);
      const shape = counters.queued + counters.inFlight > 0 ? 'ring' : 'dot';
      if (failing !== null) return node.status({ fill: 'red', shape, text: RED._('tenant-webhook.status.failing', { queued, error: counters.lastError ?? failing }) });
      const last = counters.lastStatus ? `${counters.lastStatus} ${counters.lastLatencyMs ?? 0} ms` : counters.lastError ?? '';
      node.status({ fill: 'green', shape, text: RED._('tenant-webhook.status.summary', { queued, last }) });
    };
    // once when the endpoint starts failing and once when it recovers, however many deliveries fail
    const onHealth = (change: WebhookHealthChange) => {
      if (change.webhookId !== id) return;
      failing = change.state === 'failing' ? change.error ?? '' : null;
      node.warn(RED._(`tenant-webhook.warn.${change.state}`, { target: change.target, error: change.error ?? '', failed: String(change.failed) }));
      showStatus();
    };
    const onResult = (result: DeliveryResult) => {
      // results of input messages are sent by the input handler, with the message
      if (result.webhookId !== id || result.requested) return;
      node.send(outputs(result));
      showStatus();
    };
    const onDropped = (dropped: { webhookId: string; queueLimit: number }) => {
      if (dropped.webhookId === id) node.warn(RED._('tenant-webhook.errors.dropped', { limit: String(dropped.queueLimit) }));
    };

    const ready = broker.ready.then((running) => {
      // closed before the broker was ready: attach nothing that close() could no longer detach
      if (closed) return running;
      let headers: Record<string, string> | undefined;
      try {
        headers = config.headers ? JSON.parse(config.headers) : undefined;
      } catch {
        throw new Error(RED._('tenant-webhook.errors.bad-headers'));
      }
      const spec: FlowWebhookSpec = {
        id,
        tenant,
        topicFilter: config.topic || '#',
        url: resolveOwnUrl(RED, config.url),
        headers,
        secret: node.credentials?.secret || undefined,
        timeoutMs: wholeSetting(config.timeout, WEBHOOK_DEFAULTS.timeoutMs, 'timeout'),
        retries: wholeSetting(config.retries, WEBHOOK_DEFAULTS.retries, 'retry count'),
        concurrency: wholeSetting(config.concurrency, WEBHOOK_DEFAULTS.concurrency, 'concurrency'),
      };
      running.setFlowWebhook(spec);
      running.webhooks.on('delivered', onResult);
      running.webhooks.on('failed', onResult);
      running.webhooks.on('dropped', onDropped);
      running.webhooks.on('health', onHealth);
      host = running;
      node.status({ fill: 'green', shape: 'dot', text: RED._('tenant-webhook.status.ready') });
      return running;
    });
    ready.catch((err: unknown) => {
      const reason = describeError(RED, err);
      node.error(RED._('tenant-webhook.errors.setup-failed', { reason }));
      node.status({ fill: 'red', shape: 'ring', text: reason });
    });

    node.on('input', (msg: NodeMessageInFlow & { tenant?: unknown }, send, done) => {
      const msgTenant = typeof msg.tenant === 'string' && msg.tenant ? msg.tenant : tenant;
      if (msgTenant === ALL_TENANTS) return done(new Error(RED._('tenant-webhook.errors.no-tenant')));
      ready
        .then((running) => {
          return running.deliverToWebhook(id, msgTenant, typeof msg.topic === 'string' ? msg.topic : '', encodePayload(msg.payload), FLOW_CLIENT_ID);
        })
        .then((result) => {
          send(outputs(result, msg));
          showStatus();
          done();
        }, (err: unknown) => done(new Error(describeError(RED, err))));
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      broker.deregister(node);
      if (host) {
        host.webhooks.off('delivered', onResult);
        host.webhooks.off('failed', onResult);
        host.webhooks.off('dropped', onDropped);
        host.webhooks.off('health', onHealth);
        host.removeWebhook(id);
      }
      done();
    });
  }

  RED.nodes.registerType('tenant-webhook', TenantWebhook as never, { credentials: { secret: { type: 'password' } } });
}
