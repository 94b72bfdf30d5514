import type { EventEmitter } from 'node:events';
import { invalid } from '../errors';
import type { EngineEvents } from '../events';
import type { PublishedMessage } from '../model';
import type { Registry } from '../registry/registry';
import { decideWebhookFilter, flowScope } from '../tenancy/flows';
import { ALL_TENANTS } from '../tenancy/topics';
import { mountTopic } from '../tenancy/views';
import type { WebhookDispatcher } from '../webhooks/dispatcher';
import type { DeliveryResult, WebhookSpec } from '../webhooks/types';

/** Webhooks registered in the registry have these ids in the dispatcher; flow webhooks choose their own. */
export const REGISTRY_WEBHOOK_PREFIX = 'registry:';

/** A flow's webhook: like a WebhookSpec, but its tenant may be `*` and its filter is written in the tenant's view. */
export type FlowWebhookSpec = Omit<WebhookSpec, 'tenant'> & { tenant: string };

/**
 * Published messages to webhooks of both kinds: the registry's (mirrored into
 * the dispatcher at every change) and the flows' (their filters mounted by the
 * policy core). The broker's `message` event, which the published hook builds
 * only while someone listens, is routed to the dispatcher only while a webhook
 * exists: no webhook, no cost.
 */
export class WebhookRouting {
  private readonly route = (message: PublishedMessage) => this.webhooks.route(message);
  private readonly onRegistryChange = () => this.mirrorRegistry();

  constructor(
    private readonly registry: Registry,
    private readonly webhooks: WebhookDispatcher,
    private readonly events: EventEmitter<EngineEvents>,
  ) {}

  start(): void {
    this.registry.on('webhooks-changed', this.onRegistryChange);
    this.mirrorRegistry();
  }

  stop(): void {
    this.registry.off('webhooks-changed', this.onRegistryChange);
  }

  /** Adds or replaces a webhook with a full filter (its tenant's namespace included, or `+/...` for every tenant). */
  set(spec: WebhookSpec): void {
    this.webhooks.upsert(spec);
    this.updateRouting();
  }

  /** Adds or replaces a flow's webhook, its filter in the tenant's view (or below every tenant for `*`). */
  setForFlow(spec: FlowWebhookSpec): void {
    const verdict = decideWebhookFilter('flow', spec.tenant, spec.topicFilter);
    if (verdict.kind === 'refuse') throw invalid(verdict.problem, 'errors.bad-filter', { filter: spec.topicFilter });
    this.set({ ...spec, tenant: flowTenant(spec.tenant), topicFilter: verdict.filter, inView: verdict.inView });
  }

  remove(id: string): void {
    this.webhooks.remove(id);
    this.updateRouting();
  }

  /** Delivers a flow's message (topic in the tenant's view) to one webhook now, whatever its filter. */
  deliverForFlow(id: string, tenant: string, topic: string, payload: Buffer, clientId: string | null): Promise<DeliveryResult> {
    const target = mountTopic(flowScope(tenant, this.registry.getTenant(tenant)), topic);
    if (!target.ok) throw invalid(`cannot deliver ${topic}: ${target.reason}`, 'errors.topic-denied', { topic });
    return this.webhooks.deliver(id, { tenant, topic: target.topic, tenantTopic: topic, payload, qos: 0, retain: false, clientId, username: tenant });
  }

  private mirrorRegistry(): void {
    const stored = this.registry.listWebhooks();
    const wanted = new Set(stored.map((w) => REGISTRY_WEBHOOK_PREFIX + w.id));
    for (const id of this.webhooks.ids()) if (id.startsWith(REGISTRY_WEBHOOK_PREFIX) && !wanted.has(id)) this.webhooks.remove(id);
    for (const w of stored) {
      this.webhooks.upsert({ id: REGISTRY_WEBHOOK_PREFIX + w.id, tenant: w.tenant, topicFilter: w.topicFilter, url: w.url, secret: w.secret ?? undefined, enabled: w.enabled });
      // a registry webhook's filter is written in full: with the tenant's namespace
    }
    this.updateRouting();
  }

  private updateRouting(): void {
    const routing = this.events.listeners('message').includes(this.route);
    const wanted = this.webhooks.ids().length > 0;
    if (wanted && !routing) this.events.on('message', this.route);
    else if (!wanted && routing) this.events.off('message', this.route);
  }
}

function flowTenant(tenant: string): string | null {
  return tenant === ALL_TENANTS ? null : tenant;
}
