import type { Aedes, AedesPublishPacket, Client } from 'aedes';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { invalid, notFound, TenantBrokerError } from '../errors';
import type { EngineEvents } from '../events';
import { Registry, type TenantChange, type TenantDefaults } from '../registry/registry';
import type { WebhookCounters } from '../webhooks/types';
import { inboundFilter, inboundTopic, outboundTopic, ROOT_SCOPE, type Scope } from '../tenancy/isolation';
import { ALL_TENANTS, filterProblem, firstLevel, isInsideTenant, publishTopicProblem, ROOT_USER, tenantNameProblem, unmount } from '../tenancy/topics';
import { clientInfo, ConnectionTracker, internalClientId, splitInternalClientId, type ClientInfo, type ClientSession } from './connections';
import { createHooks, packetInterceptor, type OriginPacket } from './hooks';
import { TenantBuckets } from './rate-limits';
import { createFabric, type Fabric, type FabricOptions } from './fabric';
import { TrafficCounters, type TrafficFigures } from './traffic';
import { TcpListener, WsListener, type ConnectionInfo, type TlsFiles } from './listeners';
import { WebhookDispatcher } from '../webhooks/dispatcher';
import type { DispatcherOptions, WebhookSpec } from '../webhooks/types';
import type { PublishedMessage } from '../events';

export interface BrokerHostOptions extends FabricOptions {
  /** MQTT over TCP (or TLS); `false` disables it. Defaults: port 1883 on 0.0.0.0. */
  mqtt?: { port?: number; host?: string; tls?: TlsFiles } | false;
  /** MQTT over WebSocket; `false` disables it. Defaults: port 4035 on 0.0.0.0, path /ws. */
  ws?: { port?: number; host?: string; path?: string; tls?: TlsFiles } | false;
  /** The registry file (':memory:' for tests), or a Registry the caller owns and closes. */
  database: string | Registry;
  /** root's password; without one root cannot log in. */
  rootPassword?: string;
  /** Isolation style and limits for tenants created without them. */
  defaults?: TenantDefaults;
  statsFlushIntervalMs?: number;
  /** Options of the webhook dispatcher (backoff, TLS trust for https targets). */
  webhooks?: DispatcherOptions;
  /** Largest MQTT packet accepted from an authenticated client; a larger one closes its connection. Default 16 MiB. */
  maxPacketBytes?: number;
  /** Re-read the registry file on SIGHUP (for edits made outside). Default true. */
  reloadOnSighup?: boolean;
  /**
   * After a restart, how long a client whose will was kept has to reconnect
   * before that will is published. Default 30 s.
   */
  willGraceMs?: number;
}

/** Webhooks registered in the registry have these ids in the dispatcher; flow webhooks choose their own. */
export const REGISTRY_WEBHOOK_PREFIX = 'registry:';

export interface BoundAddresses {
  mqtt?: AddressInfo;
  ws?: AddressInfo & { path: string };
}

/** Everything `GET /internal/stats` and `/metrics` report. */
export interface BrokerStats {
  uptimeSeconds: number;
  connections: number;
  total: TrafficFigures;
  tenants: Record<string, TrafficFigures & { connections: number; offlineDropped: number }>;
  webhooks: Record<string, WebhookCounters>;
  /** The SQLite persistence's figures; null with in-memory persistence. */
  persistence: { retained: number; subscriptions: number; queued: number; offlineDropped: number; sessionsExpired: number } | null;
}

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
  readonly filter: string;
  close(): Promise<void>;
}

type DeliverFunc = (packet: AedesPublishPacket, callback: () => void) => void;

const DEFAULT_MQTT = { port: 1883, host: '0.0.0.0' };
const DEFAULT_WS = { port: 4035, host: '0.0.0.0', path: '/ws' };

/**
 * The multi-tenant broker: an aedes instance behind TCP and WebSocket
 * listeners, authenticating against the tenant registry and isolating tenants
 * through the hooks built in hooks.ts. Flows use `publish`/`subscribe` to
 * reach it in-process, under the same isolation rules as a mountpoint client.
 */
export class BrokerHost extends EventEmitter<EngineEvents> {
  readonly registry: Registry;
  /** Delivers published messages to every webhook: the registry's and those flows add with `setWebhook`. */
  readonly webhooks: WebhookDispatcher;
  private readonly ownsRegistry: boolean;
  private readonly connections = new ConnectionTracker();
  /** Messages, bytes and denials per tenant since start. */
  readonly traffic = new TrafficCounters();
  private readonly sessions = new WeakMap<Client, ClientSession>();
  private aedes: Aedes | null = null;
  private readonly intercept: (client: Client) => void;
  private fabric: Fabric | null = null;
  private orphanedWills: Array<{ clientId: string; brokerId: string }> = [];
  private willTimer: NodeJS.Timeout | null = null;
  private servers: Array<TcpListener | WsListener> = [];
  private rootPassword: string | undefined;
  private state: 'new' | 'starting' | 'running' | 'closing' | 'closed' = 'new';
  private closing: Promise<void> | null = null;
  private readonly onTenantChanged = (change: TenantChange) => this.applyTenantChange(change);
  private readonly onWebhooksChanged = () => this.syncRegistryWebhooks();
  private readonly onSighup = () => this.registry.reload();
  private readonly routeToWebhooks = (message: PublishedMessage) => this.webhooks.route(message);

  constructor(private readonly options: BrokerHostOptions) {
    super();
    this.setRootPassword(options.rootPassword);
    if (typeof options.database === 'string') {
      this.registry = new Registry({ path: options.database, defaults: options.defaults, statsFlushIntervalMs: options.statsFlushIntervalMs });
      this.ownsRegistry = true;
    } else {
      this.registry = options.database;
      this.ownsRegistry = false;
    }
    this.registry.on('tenant-changed', this.onTenantChanged);
    this.intercept = packetInterceptor(this.sessions, this.registry, options.maxPacketBytes ?? 16 * 1024 * 1024);
    this.webhooks = new WebhookDispatcher(options.webhooks);
    this.recordSecurityEvents();
  }

  /** Every denial is counted per tenant and reason, and the refusals go to the audit trail. */
  private recordSecurityEvents(): void {
    const audit = this.registry.audit;
    audit.on('flush-error', (err) => this.emit('engine-error', err));
    this.registry.stats.onError = (err) => this.emit('engine-error', err);
    const known = (username: string | null) => (username && this.registry.getTenant(username) ? username : null);
    this.on('connection-refused', (e) => {
      this.traffic.denied(known(e.username), e.reason);
      audit.record(known(e.username), 'security', e.reason === 'bad-credentials' ? 'login.failed' : 'connect.refused', { ...e });
    });
    this.on('publish-denied', (e) => {
      this.traffic.denied(e.tenant, e.reason);
      audit.record(e.tenant, 'security', 'publish.denied', { clientId: e.clientId, topic: e.topic, reason: e.reason, remoteAddress: e.remoteAddress });
    });
    this.on('subscribe-denied', (e) => {
      this.traffic.denied(e.tenant, e.reason);
      audit.record(e.tenant, 'security', 'subscribe.denied', { clientId: e.clientId, filter: e.filter, reason: e.reason, remoteAddress: e.remoteAddress });
    });
    this.on('limit-applied', (e) => this.traffic.denied(e.tenant, e.limit === 'rate' ? 'rate-limited' : e.limit === 'retain' ? 'retain-cleared' : 'qos-downgraded'));
    this.on('clients-kicked', (e) => {
      if (e.reason === 'quota') {
        this.traffic.denied(e.tenant, 'quota-kick');
        audit.record(e.tenant, 'security', 'quota.kick', { count: e.count });
      } else {
        audit.record(e.tenant, 'admin', 'tenant.kick', { count: e.count });
      }
    });
  }

  /** Counters since start, per tenant and in total, with live connections and webhook counters. */
  stats(): BrokerStats {
    const persisted = this.fabric?.sqlite?.stats() ?? null;
    const tenants: BrokerStats['tenants'] = {};
    for (const tenant of this.registry.listTenants()) {
      tenants[tenant.username] = {
        ...this.traffic.tenant(tenant.username),
        connections: this.connections.count(tenant.username),
        offlineDropped: persisted?.offlineDroppedByTenant[tenant.username] ?? 0,
      };
    }
    return {
      uptimeSeconds: Math.round((Date.now() - this.traffic.startedAt) / 1000),
      connections: this.connections.total(),
      total: this.traffic.total(),
      tenants,
      webhooks: this.webhooks.allCounters(),
      persistence: persisted && {
        retained: persisted.retained,
        subscriptions: persisted.subscriptions,
        queued: persisted.queued,
        offlineDropped: persisted.offlineDropped,
        sessionsExpired: persisted.sessionsExpired,
      },
    };
  }

  /** Adds or replaces a webhook defined outside the registry (a flow's tenant-webhook node). */
  setWebhook(spec: WebhookSpec): void {
    this.webhooks.upsert(spec);
    this.updateWebhookRouting();
  }

  removeWebhook(id: string): void {
    this.webhooks.remove(id);
    this.updateWebhookRouting();
  }

  private syncRegistryWebhooks(): void {
    const stored = this.registry.listWebhooks();
    const wanted = new Set(stored.map((w) => REGISTRY_WEBHOOK_PREFIX + w.id));
    for (const id of this.webhooks.ids()) if (id.startsWith(REGISTRY_WEBHOOK_PREFIX) && !wanted.has(id)) this.webhooks.remove(id);
    for (const w of stored) {
      this.webhooks.upsert({ id: REGISTRY_WEBHOOK_PREFIX + w.id, tenant: w.tenant, topicFilter: w.topicFilter, url: w.url, secret: w.secret ?? undefined, enabled: w.enabled });
    }
    this.updateWebhookRouting();
  }

  // The published hook builds a message object only while someone listens: no webhook, no cost.
  private updateWebhookRouting(): void {
    const routing = this.listeners('message').includes(this.routeToWebhooks);
    const wanted = this.webhooks.ids().length > 0;
    if (wanted && !routing) this.on('message', this.routeToWebhooks);
    else if (!wanted && routing) this.off('message', this.routeToWebhooks);
  }

  setRootPassword(password: string | undefined): void {
    this.rootPassword = password ? password : undefined;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /** Starts aedes and the listeners; resolves with the addresses actually bound (port 0 is resolved). */
  async start(): Promise<BoundAddresses> {
    if (this.state !== 'new') throw new TenantBrokerError('a broker host starts once', 'errors.already-started');
    this.state = 'starting';
    try {
      const { Aedes } = await import('aedes');
      const hooks = createHooks({
        registry: this.registry,
        sessions: this.sessions,
        connections: this.connections,
        rootPassword: () => this.rootPassword,
        events: this,
        traffic: this.traffic,
        tenantBuckets: new TenantBuckets(),
      });
      this.fabric = createFabric(this.options, this.registry);
      this.aedes = await Aedes.createBroker({
        ...hooks,
        persistence: this.fabric.persistence,
        id: this.registry.brokerId(),
        // internal identifiers are `<username>:<id>`; the 23-byte MQTT 3.1 cap is checked on the client's own id
        maxClientsIdLength: 65535,
        // a slow consumer is dropped instead of holding messages for everyone
        drainTimeout: 30_000,
        maxTopicLevels: 100,
      });
      this.aedes.on('clientReady', (client) => this.emitClient('client-connected', client));
      this.aedes.on('clientDisconnect', (client) => this.emitClient('client-disconnected', client));
      this.aedes.on('clientError', (client, error) => this.emitFailure(client, error));
      this.aedes.on('connectionError', (client, error) => this.emitFailure(client, error));
      // aedes emits 'error' on persistence failures; unhandled, it would crash Node-RED
      (this.aedes as unknown as EventEmitter).on('error', (error: Error) => this.emit('engine-error', error));

      await this.collectOrphanedWills(this.aedes);
      const addresses: BoundAddresses = {};
      const accept = (stream: Duplex, info: ConnectionInfo) => this.accept(stream, info);
      if (this.options.mqtt !== false) {
        const listener = new TcpListener({ ...DEFAULT_MQTT, ...stripUndefined(this.options.mqtt ?? {}) }, accept);
        this.servers.push(listener);
        addresses.mqtt = await listener.start();
      }
      if (this.options.ws !== false) {
        const ws = { ...DEFAULT_WS, ...stripUndefined(this.options.ws ?? {}) };
        const listener = new WsListener(ws, accept);
        this.servers.push(listener);
        addresses.ws = { ...(await listener.start()), path: ws.path };
      }
      this.registry.on('webhooks-changed', this.onWebhooksChanged);
      this.syncRegistryWebhooks();
      if (this.options.reloadOnSighup !== false) process.on('SIGHUP', this.onSighup);
      this.state = 'running';
      return addresses;
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /**
   * Wills kept from before a restart (a graceful close keeps them; a crash
   * leaves them). Their connections ended without DISCONNECT, so each is
   * published unless its client reconnects within `willGraceMs` (a reconnect
   * replaces the stored will under the same broker id and client id).
   */
  private async collectOrphanedWills(aedes: Aedes): Promise<void> {
    const persistence = (aedes as unknown as { persistence: { streamWill(brokers: object): AsyncIterable<{ clientId: string; brokerId: string }> } }).persistence;
    for await (const will of persistence.streamWill({})) this.orphanedWills.push({ clientId: will.clientId, brokerId: will.brokerId });
    if (this.orphanedWills.length === 0) return;
    this.willTimer = setTimeout(() => void this.flushOrphanedWills(), this.options.willGraceMs ?? 30_000);
    this.willTimer.unref();
  }

  /** Publishes now the kept wills of clients that have not reconnected since the restart. */
  async flushOrphanedWills(): Promise<void> {
    if (this.willTimer) clearTimeout(this.willTimer);
    this.willTimer = null;
    const aedes = this.aedes;
    const orphans = this.orphanedWills.splice(0);
    if (!aedes) return;
    type Will = AedesPublishPacket & { clientId: string; brokerId: string };
    const persistence = (aedes as unknown as { persistence: { getWill(client: { id: string; brokerId: string }): Promise<Will | undefined>; delWill(client: { id: string; brokerId: string }): Promise<unknown> } }).persistence;
    for (const { clientId, brokerId } of orphans) {
      if ((aedes as unknown as { clients: Record<string, Client> }).clients[clientId]) continue;
      const will = await persistence.getWill({ id: clientId, brokerId });
      if (!will) continue;
      const allowed = await new Promise<boolean>((resolve) => aedes.authorizePublish(null, will, (err) => resolve(!err)));
      if (allowed) await new Promise<void>((resolve) => aedes.publish(will, () => resolve()));
      await persistence.delWill({ id: clientId, brokerId });
    }
  }

  private accept(stream: Duplex, info: ConnectionInfo): void {
    if (!this.aedes || this.state !== 'running') {
      stream.destroy();
      return;
    }
    const client = this.aedes.handle(stream, info.req);
    this.sessions.set(client, {
      username: null,
      clientId: '',
      transport: info.transport,
      remoteAddress: info.remoteAddress,
      scope: null,
      identifierRejected: false,
      connectedAt: 0,
      filters: new Set(),
      bucket: null,
    });
    this.intercept(client);
  }

  private emitClient(event: 'client-connected' | 'client-disconnected', client: Client): void {
    const session = this.sessions.get(client);
    if (session?.scope) this.emit(event, clientInfo(session));
  }

  private emitFailure(client: Client, error: Error): void {
    const session = client ? this.sessions.get(client) : undefined;
    this.emit('client-error', { client: session ? clientInfo(session) : null, error });
  }

  private applyTenantChange(change: TenantChange): void {
    const { before, after } = change;
    if (!before) return;
    if (!after) this.traffic.forget(change.username);
    if (!after || !after.enabled || change.passwordChanged || after.isolation !== before.isolation) {
      this.connections.kick(change.username);
    } else if (after.maxConnections > 0 && (before.maxConnections === 0 || after.maxConnections < before.maxConnections)) {
      const count = this.connections.trim(change.username, after.maxConnections);
      if (count > 0) this.emit('clients-kicked', { tenant: change.username, count, reason: 'quota' });
    }
  }

  /** Disconnects every client of a tenant (or of root); returns how many. */
  kick(tenant: string): number {
    const count = this.connections.kick(tenant);
    this.emit('clients-kicked', { tenant, count, reason: 'kick' });
    return count;
  }

  /** Live connection count of one tenant, or of everyone. */
  connectionCount(tenant?: string): number {
    return tenant === undefined ? this.connections.total() : this.connections.count(tenant);
  }

  /** Live connections per tenant (tenants without connections are absent). */
  connectionCounts(): Map<string, number> {
    return this.connections.counts();
  }

  clients(tenant: string): ClientInfo[] {
    return this.connections
      .clients(tenant)
      .map((client) => this.sessions.get(client))
      .filter((session): session is ClientSession => Boolean(session?.scope))
      .map(clientInfo);
  }

  /** Resolves a scope name for the in-process API: a tenant, `root`, or an error for anything else. */
  private scopeFor(tenant: string, purpose: 'publish' | 'subscribe'): Scope {
    if (tenant === ROOT_USER) return ROOT_SCOPE;
    const record = this.registry.getTenant(tenant);
    if (!record) {
      // a flow may listen before its tenant is created: the namespace is empty until then
      if (purpose === 'subscribe' && tenantNameProblem(tenant) === null) return { kind: 'tenant', tenant, isolation: 'mountpoint' };
      throw notFound(`no tenant named ${JSON.stringify(tenant)}`, 'errors.unknown-tenant', { tenant });
    }
    if (purpose === 'publish' && !record.enabled) {
      throw new TenantBrokerError(`tenant ${JSON.stringify(tenant)} is disabled`, 'errors.tenant-disabled', { tenant }, 'invalid');
    }
    // flows always see a tenant mountpoint-style, whatever its devices use
    return { kind: 'tenant', tenant: record.username, isolation: 'mountpoint' };
  }

  private requireAedes(): Aedes {
    if (!this.aedes || this.state !== 'running') throw new TenantBrokerError('the broker is not running', 'errors.not-running', {}, 'unavailable');
    return this.aedes;
  }

  /**
   * Publishes into a tenant's namespace (topic without the prefix) or, as
   * `root`, anywhere but `$SYS`. Resolves once aedes has taken the message
   * (for QoS 1/2: stored for offline persistent subscribers).
   */
  publish(tenant: string, message: PublishOptions): Promise<void> {
    const aedes = this.requireAedes();
    const scope = this.scopeFor(tenant, 'publish');
    const problem = publishTopicProblem(message.topic);
    if (problem) throw invalid(problem, 'errors.bad-topic', { topic: message.topic });
    const target = inboundTopic(scope, message.topic);
    if (!target.ok) throw invalid(`cannot publish to ${message.topic}: ${target.reason}`, 'errors.topic-denied', { topic: message.topic });
    const packet: OriginPacket = {
      cmd: 'publish',
      topic: target.topic,
      payload: Buffer.isBuffer(message.payload) ? message.payload : Buffer.from(message.payload),
      qos: message.qos ?? 0,
      retain: message.retain ?? false,
      dup: false,
      origin: { username: tenant, clientId: message.clientId },
    };
    // in-process subscribers read the publisher from the packet, as for a device's publish
    if (message.clientId !== undefined) (packet as OriginPacket & { clientId?: string }).clientId = internalClientId(tenant, message.clientId);
    return new Promise((resolve, reject) => aedes.publish(packet, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * Subscribes inside the process. `tenant` is a tenant (filter without its
   * prefix), `*` for every tenant at once (the filter applies below each
   * tenant's prefix; messages say which tenant), or `root` (full filters).
   */
  async subscribe(
    tenant: string,
    filter: string,
    handler: (message: InProcessMessage) => void,
    options: SubscribeOptions = {},
  ): Promise<InProcessSubscription> {
    const aedes = this.requireAedes();
    const problem = filterProblem(filter);
    if (problem) throw invalid(problem, 'errors.bad-filter', { filter });
    let fullFilter: string;
    let view: (topic: string) => { tenant: string | null; topic: string } | null;
    if (tenant === ALL_TENANTS) {
      if (filter.charCodeAt(0) === 36) throw invalid('a filter must not start with $', 'errors.bad-filter', { filter });
      fullFilter = '+/' + filter;
      view = (topic) => {
        const owner = firstLevel(topic);
        return this.registry.getTenant(owner) && isInsideTenant(topic, owner) ? { tenant: owner, topic: unmount(owner, topic) } : null;
      };
    } else {
      const scope = this.scopeFor(tenant, 'subscribe');
      const target = inboundFilter(scope, filter);
      if (!target.ok) throw invalid(`cannot subscribe to ${filter}: ${target.reason}`, 'errors.filter-denied', { filter });
      fullFilter = target.topic;
      view = (topic) => {
        const shown = outboundTopic(scope, topic);
        if (shown === null) return null;
        const owner = firstLevel(topic);
        return { tenant: scope.kind === 'tenant' ? scope.tenant : this.registry.getTenant(owner) ? owner : null, topic: shown };
      };
    }
    // [MQTT-4.7.2-1] a filter starting with a wildcard does not match $-topics
    const blocksDollar = fullFilter.charCodeAt(0) === 43 || fullFilter.charCodeAt(0) === 35;
    const maxQos = options.qos ?? 2;
    const deliver = (packet: AedesPublishPacket, retained: boolean) => {
      if (blocksDollar && packet.topic.charCodeAt(0) === 36) return;
      const shown = view(packet.topic);
      if (!shown) return;
      const publisherId = (packet as AedesPublishPacket & { clientId?: string }).clientId;
      const publisher = typeof publisherId === 'string' ? splitInternalClientId(publisherId) : null;
      handler({
        tenant: shown.tenant,
        topic: shown.topic,
        payload: packet.payload as Buffer,
        qos: Math.min(packet.qos, maxQos) as 0 | 1 | 2,
        retain: retained,
        clientId: publisher?.clientId ?? null,
      });
    };
    const onMessage: DeliverFunc = (packet, callback) => {
      try {
        deliver(packet, false);
      } catch (err) {
        this.emit('engine-error', err as Error);
      }
      callback();
    };
    await new Promise<void>((resolve, reject) => {
      aedes.subscribe(fullFilter, onMessage, () => resolve());
      void reject;
    });
    if (options.retained !== false) await this.deliverRetained(aedes, fullFilter, (packet) => deliver(packet, true));
    let closed = false;
    return {
      filter: fullFilter,
      close: () => {
        if (closed || !this.aedes) return Promise.resolve();
        closed = true;
        return new Promise<void>((resolve) => aedes.unsubscribe(fullFilter, onMessage, () => resolve()));
      },
    };
  }

  private async deliverRetained(aedes: Aedes, filter: string, deliver: (packet: AedesPublishPacket) => void): Promise<void> {
    const persistence = (aedes as unknown as { persistence: { createRetainedStreamCombi(patterns: string[]): AsyncIterable<AedesPublishPacket> } }).persistence;
    for await (const packet of persistence.createRetainedStreamCombi([filter])) {
      try {
        deliver(packet);
      } catch (err) {
        this.emit('engine-error', err as Error);
      }
    }
  }

  /**
   * Closes listeners, clients and (when it owns it) the registry. Resolves
   * once every port is released. Safe to call more than once.
   */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.state = 'closing';
    this.registry.off('tenant-changed', this.onTenantChanged);
    this.registry.off('webhooks-changed', this.onWebhooksChanged);
    process.off('SIGHUP', this.onSighup);
    if (this.willTimer) clearTimeout(this.willTimer);
    const aedes = this.aedes;
    const closingListeners = this.servers.map((listener) => listener.close());
    if (aedes) {
      // closing is not the clients' failure: their wills stay stored for after the restart
      for (const client of Object.values((aedes as unknown as { clients: Record<string, { will: unknown }> }).clients)) client.will = null;
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    }
    await Promise.all([...closingListeners, this.webhooks.close()]);
    const persistence = (aedes as unknown as { persistence?: { destroy?: () => Promise<void> } } | null)?.persistence;
    if (persistence?.destroy) await persistence.destroy().catch((err: Error) => this.emit('engine-error', err));
    if (this.ownsRegistry) this.registry.close();
    else this.registry.stats.flush();
    this.state = 'closed';
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
