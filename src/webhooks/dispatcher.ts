import { EventEmitter } from 'node:events';
import { topicMatches } from '../tenancy/topics';
import { WebhookHealth } from './health';
import { WebhookTarget, type TargetSettings } from './target';
import {
  WebhookEvent,
  type DeliveryResult,
  type DispatcherOptions,
  type DroppedMessage,
  type PublishedMessage,
  type WebhookCounters,
  type WebhookEventMap,
  type WebhookHealthChange,
  type WebhookSpec,
} from './types';
import { normalizeSpec } from './validate';

export { validateWebhookUrl, WebhookConfigError } from './validate';
export { verifySignature } from './signing';
export * from './types';

const DEFAULT_USER_AGENT = 'node-red-contrib-tenant-broker';

/**
 * Delivers published MQTT messages to HTTP webhooks. One per broker.
 *
 * `route()` sits on the broker's publish path and only matches and queues;
 * all HTTP work happens later, on undici keep-alive pools (one per webhook,
 * one connection per concurrent request), with a per-attempt deadline,
 * retries with backoff, and a bounded queue that drops rather than grows.
 *
 * Events: `delivered` and `failed` ({@link DeliveryResult}, once per delivery,
 * after its last attempt), `dropped` ({@link DroppedMessage}), `retrying`
 * ({@link RetryNotice}) and `health` ({@link WebhookHealthChange}, when a
 * webhook starts failing and when it recovers). Nothing is emitted for a
 * webhook after `remove()` or `close()`.
 */
export class WebhookDispatcher extends EventEmitter<WebhookEventMap> {
  private readonly targets = new Map<string, WebhookTarget>();
  // Rebuilt (never mutated) on upsert/remove, so route() may iterate while a listener edits.
  private byTenant = new Map<string, WebhookTarget[]>();
  private anyTenant: WebhookTarget[] = [];
  private readonly settings: TargetSettings;
  private readonly closeGraceMs: number;
  private readonly userAgent: string;
  private readonly toPump = new Set<WebhookTarget>();
  private drops: DroppedMessage[] = [];
  private scheduled: NodeJS.Immediate | null = null;
  private readonly stopping = new Set<Promise<void>>();
  private closing: Promise<void> | null = null;

  constructor(options: DispatcherOptions = {}) {
    super();
    this.settings = {
      backoffBaseMs: options.backoffBaseMs ?? 250,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
      retryAfterMaxMs: options.retryAfterMaxMs ?? 60_000,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 4000,
      tls: { ...options.tls },
    };
    this.closeGraceMs = options.closeGraceMs ?? 1000;
    this.userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
  }

  /**
   * Adds a webhook or replaces the one with the same id, keeping its queue
   * and counters. Throws {@link WebhookConfigError} for an unusable spec.
   */
  upsert(spec: WebhookSpec): void {
    if (this.closing !== null) throw new Error('the webhook dispatcher is closed');
    const normalized = normalizeSpec(spec, this.userAgent);
    const existing = this.targets.get(normalized.id);
    if (existing !== undefined) {
      existing.update(normalized);
    } else {
      const health = new WebhookHealth();
      const target: WebhookTarget = new WebhookTarget(normalized, this.settings, {
        result: (result, delivered) => {
          this.safeEmit(delivered ? WebhookEvent.Delivered : WebhookEvent.Failed, result);
          const transition = health.record(delivered);
          if (transition === null) return;
          const { url, tenant } = target.spec;
          const change: WebhookHealthChange = { webhookId: result.webhookId, tenant, target: url.origin + url.pathname, ...transition };
          if (transition.state === 'failing') {
            change.error = result.error;
            if (result.status !== undefined) change.status = result.status;
          }
          this.safeEmit(WebhookEvent.Health, change);
        },
        retrying: (notice) => this.safeEmit(WebhookEvent.Retrying, notice),
      });
      this.targets.set(normalized.id, target);
    }
    this.reindex();
  }

  /** Removes a webhook; its queue is abandoned, requests in flight get the close grace. */
  remove(id: string): boolean {
    const target = this.targets.get(id);
    if (target === undefined) return false;
    this.targets.delete(id);
    this.toPump.delete(target);
    this.reindex();
    this.track(target.stop('webhook removed', this.closeGraceMs));
    return true;
  }

  has(id: string): boolean {
    return this.targets.has(id);
  }

  ids(): string[] {
    return [...this.targets.keys()];
  }

  /**
   * Queues `msg` for every enabled webhook whose tenant and filter match.
   * Synchronous and I/O-free: safe on the broker's publish path.
   */
  route(msg: PublishedMessage): void {
    if (this.closing !== null) return;
    const scoped = this.byTenant.get(msg.tenant);
    if (scoped !== undefined) this.offer(scoped, msg);
    if (this.anyTenant.length > 0) this.offer(this.anyTenant, msg);
  }

  /**
   * Delivers `msg` to one webhook whatever its filter, tenant or `enabled`
   * flag. Resolves with the result (check `error`), including a full queue;
   * rejects only for an unknown id or a closed dispatcher.
   */
  deliver(id: string, msg: PublishedMessage): Promise<DeliveryResult> {
    if (this.closing !== null) return Promise.reject(new Error('the webhook dispatcher is closed'));
    const target = this.targets.get(id);
    if (target === undefined) return Promise.reject(new Error(`no webhook with id ${JSON.stringify(id)}`));
    return new Promise((resolve) => {
      this.accept(target, target.enqueue(msg, resolve));
    });
  }

  counters(id: string): WebhookCounters | undefined {
    return this.targets.get(id)?.counters();
  }

  allCounters(): Record<string, WebhookCounters> {
    const all: Record<string, WebhookCounters> = {};
    for (const [id, target] of this.targets) all[id] = target.counters();
    return all;
  }

  /**
   * Stops routing, abandons queued messages, lets requests in flight finish
   * for up to `closeGraceMs`, then aborts them and closes every connection.
   */
  close(): Promise<void> {
    if (this.closing === null) this.closing = this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.scheduled !== null) clearImmediate(this.scheduled);
    this.scheduled = null;
    this.toPump.clear();
    this.drops = [];
    for (const target of this.targets.values()) this.track(target.stop('webhook dispatcher closed', this.closeGraceMs));
    this.targets.clear();
    this.reindex();
    await Promise.all([...this.stopping]);
  }

  private offer(targets: WebhookTarget[], msg: PublishedMessage): void {
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i];
      if (target.spec.enabled && topicMatches(target.spec.topicFilter, target.spec.inView ? msg.tenantTopic : msg.topic)) {
        this.accept(target, target.enqueue(msg, null));
      }
    }
  }

  private accept(target: WebhookTarget, dropped: DroppedMessage | null): void {
    if (dropped === null) this.toPump.add(target);
    else this.drops.push(dropped);
    // One setImmediate per burst: the broker finishes its tick before any HTTP work starts.
    if (this.scheduled === null) this.scheduled = setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = null;
    const drops = this.drops;
    this.drops = [];
    for (const target of this.toPump) target.pump();
    this.toPump.clear();
    for (const dropped of drops) this.safeEmit(WebhookEvent.Dropped, dropped);
  };

  /**
   * A throwing listener must not leave a worker or a flush half done: it is
   * rethrown on its own, like an exception from any other I/O callback.
   */
  private safeEmit<K extends WebhookEvent>(event: K, ...args: WebhookEventMap[K]): void {
    try {
      (this.emit as (event: K, ...args: WebhookEventMap[K]) => boolean)(event, ...args);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  private reindex(): void {
    const byTenant = new Map<string, WebhookTarget[]>();
    const anyTenant: WebhookTarget[] = [];
    for (const target of this.targets.values()) {
      const tenant = target.spec.tenant;
      if (tenant === null) anyTenant.push(target);
      else {
        const list = byTenant.get(tenant);
        if (list === undefined) byTenant.set(tenant, [target]);
        else list.push(target);
      }
    }
    this.byTenant = byTenant;
    this.anyTenant = anyTenant;
  }

  private track(stop: Promise<void>): void {
    this.stopping.add(stop);
    void stop.finally(() => this.stopping.delete(stop));
  }
}
