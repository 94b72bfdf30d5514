import type { Aedes, AedesPublishPacket } from 'aedes';
import type { EventEmitter } from 'node:events';
import { invalid, notFound, TenantBrokerError } from '../errors';
import type { EngineEvents } from '../events';
import type { Registry } from '../registry/registry';
import { ROOT_USER } from '../tenancy/topics';
import { decideFlowPublish, decideFlowSubscribe, type FlowView } from '../tenancy/flows';
import { persistenceOf, publisherIdOf, stampPublisher } from '../aedes-seam';
import { parseSessionKey, sessionKey } from './connections';
import type { OriginPacket } from './hooks';

export interface InProcessMessage {
  /** The tenant the message belongs to; null for a root subscription outside every tenant. */
  tenant: string | null;
  /** Without the tenant prefix for tenant and all-tenant scopes; in full for root. */
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** The publisher's client identifier where known. */
  clientId: string | null;
}

export interface PublishOptions {
  topic: string;
  payload: Buffer | string;
  qos?: 0 | 1 | 2;
  retain?: boolean;
  /** Who published, as webhooks (`X-MQTT-Client-Id`) and subscribers (`clientId`) see it, e.g. `node-red`. */
  clientId?: string;
}

export interface SubscribeOptions {
  qos?: 0 | 1 | 2;
  /** Deliver matching retained messages first (as a new MQTT subscription does). Default true. */
  retained?: boolean;
}

export interface InProcessSubscription {
  /** The filter as given, in the subscriber's view. */
  readonly filter: string;
  close(): Promise<void>;
}

type DeliverFunc = (packet: AedesPublishPacket, callback: () => void) => void;

/** One flow subscription: the full filters it holds on aedes, and those it wants (asked again when tenants change). */
interface Entry {
  filters: string[];
  wanted: () => string[];
  deliver: DeliverFunc;
}

/**
 * Publishing and subscribing from inside the process (flows), under the same
 * policy as MQTT clients: a flow sees a tenant as a mountpoint client does.
 * Subscriptions outlive a restart of aedes: `resubscribe` moves them over.
 */
export class InProcessApi {
  private readonly subscriptions = new Set<Entry>();

  constructor(
    private readonly registry: Registry,
    private readonly events: EventEmitter<EngineEvents>,
    private readonly broker: {
      /** The running aedes; throws when the broker is not running. */
      requireAedes(): Aedes;
      /** The aedes of now, running, restarting or closed; null before the first start. */
      currentAedes(): Aedes | null;
    },
  ) {}

  publish(tenant: string, message: PublishOptions): Promise<void> {
    const aedes = this.broker.requireAedes();
    const payload = Buffer.isBuffer(message.payload) ? message.payload : Buffer.from(message.payload);
    const record = this.registry.getTenant(tenant);
    const owner = tenant === ROOT_USER ? this.registry.tenantOfTopic(message.topic) : record;
    const set = owner && this.registry.policies.of(owner.username);
    const verdict = decideFlowPublish(tenant, record, message.topic, set && owner ? { set, namespace: owner.namespace, payload } : undefined);
    if (verdict.violations) {
      const info = { tenant: owner!.username, username: tenant, clientId: message.clientId ?? 'flow', transport: 'flow' as const, remoteAddress: undefined };
      this.events.emit('policy-violated', { ...info, topic: message.topic, action: verdict.kind === 'refuse' ? 'drop' : 'detect', violations: verdict.violations });
    }
    if (verdict.kind === 'refuse') {
      if (verdict.reason === 'policy-violation') throw invalid(`${message.topic}: message policy ${verdict.violations![0].policy} refused it (${verdict.violations![0].detail})`, 'errors.policy-violation', { topic: message.topic, policy: verdict.violations![0].policy });
      if (verdict.reason === 'unknown-tenant') throw notFound(`no tenant named ${JSON.stringify(tenant)}`, 'errors.unknown-tenant', { tenant });
      if (verdict.reason === 'tenant-disabled') throw new TenantBrokerError(`tenant ${JSON.stringify(tenant)} is disabled`, 'errors.tenant-disabled', { tenant }, 'invalid');
      if (verdict.reason === 'bad-topic') throw invalid(verdict.problem!, 'errors.bad-topic', { topic: message.topic });
      throw invalid(`cannot publish to ${message.topic}: ${verdict.reason}`, 'errors.topic-denied', { topic: message.topic });
    }
    const packet: OriginPacket = {
      cmd: 'publish',
      topic: verdict.topic,
      payload,
      qos: message.qos ?? 0,
      retain: message.retain ?? false,
      dup: false,
      origin: { username: tenant, clientId: message.clientId },
    };
    // in-process subscribers read the publisher from the packet, as for a device's publish
    if (message.clientId !== undefined) stampPublisher(packet, sessionKey(tenant, tenant, message.clientId));
    return new Promise((resolve, reject) => aedes.publish(packet, (err) => (err ? reject(err) : resolve())));
  }

  async subscribe(tenant: string, filter: string, handler: (message: InProcessMessage) => void, options: SubscribeOptions = {}): Promise<InProcessSubscription> {
    const aedes = this.broker.requireAedes();
    const verdict = decideFlowSubscribe(tenant, filter, this.registry.directory);
    if (verdict.kind === 'refuse') {
      if (verdict.reason === 'bad-filter') throw invalid(verdict.problem!, 'errors.bad-filter', { filter });
      if (verdict.reason === 'unknown-tenant') throw notFound(`no tenant named ${JSON.stringify(tenant)}`, 'errors.unknown-tenant', { tenant });
      throw invalid(`cannot subscribe to ${filter}: ${verdict.reason}`, 'errors.filter-denied', { filter });
    }
    const view: FlowView = verdict.view;
    const maxQos = options.qos ?? 2;
    const deliver = (packet: AedesPublishPacket, retained: boolean) => {
      const shown = view(packet.topic);
      if (!shown) return;
      const publisherId = publisherIdOf(packet);
      handler({
        tenant: shown.tenant,
        topic: shown.topic,
        payload: packet.payload as Buffer,
        qos: Math.min(packet.qos, maxQos) as 0 | 1 | 2,
        retain: retained,
        clientId: publisherId === undefined ? null : (parseSessionKey(publisherId)?.clientId ?? null),
      });
    };
    const onMessage: DeliverFunc = (packet, callback) => {
      try {
        deliver(packet, false);
      } catch (err) {
        this.events.emit('engine-error', err as Error);
      }
      callback();
    };
    const entry: Entry = { filters: [], wanted: verdict.filters, deliver: onMessage };
    this.subscriptions.add(entry);
    await this.sync(aedes, entry);
    if (options.retained !== false) await this.deliverRetained(aedes, entry.filters, (packet) => deliver(packet, true));
    return {
      filter,
      close: () => {
        const current = this.broker.currentAedes();
        if (!this.subscriptions.delete(entry) || !current) return Promise.resolve();
        return Promise.all(entry.filters.map((f) => new Promise<void>((resolve) => current.unsubscribe(f, onMessage, () => resolve())))).then(() => undefined);
      },
    };
  }

  /**
   * Holds on aedes the full filters a subscription wants now: a tenant's
   * namespace may change, and a `*` subscription holds one filter per tenant,
   * so the set is asked again whenever a tenant changes.
   */
  private async sync(aedes: Aedes, entry: Entry): Promise<void> {
    const wanted = new Set(entry.wanted());
    const held = new Set(entry.filters);
    entry.filters = [...wanted];
    await Promise.all([
      ...[...held].filter((f) => !wanted.has(f)).map((f) => new Promise<void>((resolve) => aedes.unsubscribe(f, entry.deliver, () => resolve()))),
      ...[...wanted].filter((f) => !held.has(f)).map((f) => new Promise<void>((resolve) => aedes.subscribe(f, entry.deliver, () => resolve()))),
    ]);
  }

  /** After a tenant changed: every subscription holds the filters it wants now. */
  async tenantsChanged(): Promise<void> {
    const aedes = this.broker.currentAedes();
    if (!aedes) return;
    for (const entry of this.subscriptions) await this.sync(aedes, entry);
  }

  /** Subscribes every in-process subscription again, on a new aedes after a restart. */
  async resubscribe(aedes: Aedes): Promise<void> {
    for (const entry of this.subscriptions) {
      entry.filters = [];
      await this.sync(aedes, entry);
    }
  }

  clear(): void {
    this.subscriptions.clear();
  }

  private async deliverRetained(aedes: Aedes, filters: string[], deliver: (packet: AedesPublishPacket) => void): Promise<void> {
    if (filters.length === 0) return;
    for await (const packet of persistenceOf(aedes).createRetainedStreamCombi(filters)) {
      try {
        deliver(packet);
      } catch (err) {
        this.events.emit('engine-error', err as Error);
      }
    }
  }
}
