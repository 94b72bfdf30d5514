import type { Aedes, Client } from 'aedes';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { TenantBrokerError } from '../errors';
import type { EngineEvents } from '../events';
import { Registry } from '../registry/registry';
import { LoginFailures } from '../tenancy/login';
import { TenantBuckets } from '../tenancy/rate';
import { MAX_TOPIC_LEVELS } from '../tenancy/topics';
import { WebhookDispatcher } from '../webhooks/dispatcher';
import type { DeliveryResult, WebhookSpec } from '../webhooks/types';
import { disconnectedCleanly, fitWire, hasSubscriptionMatching, keepWillsStored, onBrokerError, persistenceOf, storeOnlyGranted } from '../aedes-seam';
import { Authenticator } from './authenticator';
import { clientInfo, ConnectionTracker, newSession, type ClientSession } from './connections';
import { BROKER_DEFAULTS, type LoginSettings } from '../defaults';
import { createFabric, type Fabric } from './fabric';
import { createHooks } from './hooks';
import { Holdings } from './holdings';
import { LiveClients } from './live-clients';
import { acceptAfterConnack, PendingConnections } from './pending';
import { InProcessApi, type InProcessMessage, type InProcessSubscription, type PublishOptions, type SubscribeOptions } from './in-process';
import { TcpListener, WsListener, type ConnectionInfo } from './listeners';
import { RegistryReactions } from './registry-reactions';
import { recordSecurityTrail } from './security-trail';
import { TrafficCounters } from './traffic';
import { WebhookRouting, type FlowWebhookSpec } from './webhook-routing';
import { KeptWills } from './wills';
import { HttpPublishAdapter } from './http-publish';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LifecycleEvents } from './lifecycle-events';
import { AUTH_DEFAULTS, buildProviders } from '../auth/chain-config';
import { FlowAuthProvider } from '../auth/flow-provider';

import type { BoundAddresses, BrokerHostOptions, BrokerStats } from './host-options';
export type { BoundAddresses, BrokerHostOptions, BrokerStats } from './host-options';

/**
 * The multi-tenant broker: aedes behind TCP and WebSocket listeners, its hooks
 * built from the policy core (tenancy/policy.ts), authenticating against the
 * tenant registry. This class owns the lifecycle (start, restart, close) and
 * the listeners, and hands the other jobs to their own modules: flows'
 * publish/subscribe (in-process.ts), the security trail, wills kept across
 * restarts, reactions to registry changes and webhook routing.
 */
export class BrokerHost extends EventEmitter<EngineEvents> {
  readonly registry: Registry;
  /** Delivers published messages to every webhook: the registry's and those flows add. */
  readonly webhooks: WebhookDispatcher;
  /** Messages, bytes and denials per tenant since start. */
  readonly traffic = new TrafficCounters();
  private readonly ownsRegistry: boolean;
  private readonly connections = new ConnectionTracker();
  private readonly sessions = new WeakMap<Client, ClientSession>();
  /** Live connections of a tenant: listed, and kicked by device or client id. */
  readonly live = new LiveClients(this.connections, this.sessions, this);
  private readonly inProcess: InProcessApi;
  private readonly webhookRouting: WebhookRouting;
  private readonly reactions: RegistryReactions;
  private readonly wills: KeptWills;
  private readonly lifecycle: LifecycleEvents;
  private readonly httpPublish: HttpPublishAdapter | null;
  private readonly authenticator: Authenticator;
  /** Logins decided by a flow: a `tenant-auth` node sets its handler here (asked only when the chain lists `flow`). */
  readonly flowAuth = new FlowAuthProvider();
  private aedes: Aedes | null = null;
  /** Tenant-wide rate buckets, shared by MQTT clients and HTTP publishes. */
  private readonly tenantBuckets = new TenantBuckets();
  private fabric: Fabric | null = null;
  private pending: PendingConnections | null = null;
  private servers: Array<TcpListener | WsListener> = [];
  private addresses: BoundAddresses = {};
  private rootPassword: string | undefined;
  private state: 'new' | 'starting' | 'running' | 'closing' | 'closed' = 'new';
  private closing: Promise<void> | null = null;
  private readonly onSighup = () => this.registry.reload('sighup');

  constructor(private readonly options: BrokerHostOptions) {
    super();
    this.setRootPassword(options.rootPassword);
    const login: LoginSettings = { ...BROKER_DEFAULTS.login, ...stripUndefined(options.login ?? {}) };
    if (typeof options.database === 'string') {
      const hashing = { concurrency: login.hashConcurrency, queuePerUsername: login.hashQueuePerUsername };
      this.registry = new Registry({ path: options.database, defaults: options.defaults, statsFlushIntervalMs: options.statsFlushIntervalMs, watchRegistry: options.watchRegistry, hashing });
      this.ownsRegistry = true;
    } else {
      this.registry = options.database;
      this.ownsRegistry = false;
    }
    const auth = options.auth ?? {};
    this.authenticator = new Authenticator(this.registry, new LoginFailures(login), () => this.rootPassword, {
      providers: buildProviders(auth.providers ?? [], this.flowAuth),
      cacheTtlMs: auth.cacheTtlMs ?? AUTH_DEFAULTS.cacheTtlMs,
    });
    this.webhooks = new WebhookDispatcher(options.webhooks);
    this.inProcess = new InProcessApi(this.registry, this, { requireAedes: () => this.requireAedes(), currentAedes: () => this.aedes });
    this.webhookRouting = new WebhookRouting(this.registry, this.webhooks, this);
    this.reactions = new RegistryReactions(this.registry, this.connections, this.traffic, this, () => this.inProcess.tenantsChanged());
    this.wills = new KeptWills(options.willGraceMs ?? BROKER_DEFAULTS.willGraceMs, (err) => this.emit('engine-error', err));
    recordSecurityTrail(this, this.registry, this.traffic);
    const http = options.httpPublish;
    this.httpPublish = http
      ? new HttpPublishAdapter(this.registry, this, this.tenantBuckets, () => (this.state === 'running' ? this.aedes : null), this.authenticator, {
          corsOrigins: typeof http === 'object' ? http.corsOrigins : undefined,
          maxBodyBytes: options.maxPacketBytes ?? BROKER_DEFAULTS.maxPacketBytes,
        })
      : null;
    this.lifecycle = new LifecycleEvents(
      this,
      this.registry,
      (topic, payload) => {
        if (this.state === 'running') this.aedes?.publish({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }, () => undefined);
      },
      // a subscriber, or a webhook (they hear every published message)
      (topic) => this.state === 'running' && this.aedes !== null && (this.listenerCount('message') > 0 || hasSubscriptionMatching(this.aedes, topic)),
    );
    const holdings = new Holdings(this.registry.db, options.persistence ?? 'sqlite', () => (this.state === 'running' ? (this.fabric?.store ?? null) : null));
    this.registry.namespaces.holds = (tenant, purpose) => holdings.holds(tenant, purpose);
  }

  /** Counters since start, per tenant and in total, with live connections and webhook counters. */
  stats(): BrokerStats {
    const persisted = this.fabric?.store?.stats() ?? null;
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
      unauthenticated: { connections: this.pending?.memory.connections ?? 0, bytes: this.pending?.memory.bytes ?? 0 },
      audit: this.registry.audit.counters(),
      auth: this.authenticator.counters(),
      persistence: persisted && {
        store: this.fabric!.durable ? 'sqlite' : 'memory',
        retained: persisted.retained,
        subscriptions: persisted.subscriptions,
        queued: persisted.queued,
        offlineDropped: persisted.offlineDropped,
        sessionsExpired: persisted.sessionsExpired,
      },
    };
  }

  /** Adds or replaces a webhook with a full filter, defined outside the registry. */
  setWebhook(spec: WebhookSpec): void {
    this.webhookRouting.set(spec);
  }

  /** Adds or replaces a flow's webhook (a tenant-webhook node): its tenant may be `*`, its filter is in the tenant's view. */
  setFlowWebhook(spec: FlowWebhookSpec): void {
    this.webhookRouting.setForFlow(spec);
  }

  removeWebhook(id: string): void {
    this.webhookRouting.remove(id);
  }

  /** Delivers a flow's message (topic in the tenant's view) to one webhook now, whatever its filter. */
  deliverToWebhook(id: string, tenant: string, topic: string, payload: Buffer, clientId: string | null = null): Promise<DeliveryResult> {
    return this.webhookRouting.deliverForFlow(id, tenant, topic, payload, clientId);
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
      await this.authenticator.ready();
      const addresses = await this.open(this.options.mqtt, this.options.ws);
      this.webhookRouting.start();
      if (this.options.reloadOnSighup !== false) process.on('SIGHUP', this.onSighup);
      this.state = 'running';
      return addresses;
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /**
   * Replaces aedes and the listeners with new ones on the same ports, for when
   * the broker's state is unknown (`engine-failed`). The registry, webhooks and
   * in-process subscriptions stay; persisted sessions, retained messages and
   * wills are taken over as after a restart; connected clients must reconnect.
   */
  async restart(): Promise<BoundAddresses> {
    if (this.state !== 'running') throw new TenantBrokerError('the broker is not running', 'errors.not-running', {}, 'unavailable');
    this.state = 'starting';
    const bound = this.addresses;
    await this.shut(false);
    const keep = <T extends { port?: number }>(configured: T | false | undefined, address: AddressInfo | undefined) =>
      configured === false ? false : { ...(configured ?? {}), port: address?.port ?? configured?.port };
    const addresses = await this.open(keep(this.options.mqtt, bound.mqtt), keep(this.options.ws, bound.ws));
    await this.inProcess.resubscribe(this.aedes!);
    this.state = 'running';
    return addresses;
  }

  private async open(mqtt: BrokerHostOptions['mqtt'], ws: BrokerHostOptions['ws']): Promise<BoundAddresses> {
    const { Aedes } = await import('aedes');
    const pending = (this.pending = new PendingConnections(this.options, (shed) => this.emit('connection-shed', shed)));
    const { hooks, wire, refused } = createHooks({
      registry: this.registry,
      sessions: this.sessions,
      connections: this.connections,
      rootPassword: () => this.rootPassword,
      events: this,
      traffic: this.traffic,
      tenantBuckets: this.tenantBuckets,
      authenticator: this.authenticator,
      maxPacketBytes: pending.options.maxPacketBytes,
      maxUnauthenticatedPacketBytes: pending.options.maxUnauthenticatedPacketBytes,
      allowSuperuser: this.options.auth?.allowSuperuser ?? AUTH_DEFAULTS.allowSuperuser,
    });
    this.fabric = createFabric(this.options, this.registry, this);
    const aedes = await Aedes.createBroker({
      ...hooks,
      persistence: this.fabric.persistence,
      id: this.registry.brokerId(),
      // internal identifiers are `<username>:<id>`; the 23-byte MQTT 3.1 cap is checked on the client's own id
      maxClientsIdLength: 65535,
      // a slow consumer is dropped instead of holding messages for everyone
      drainTimeout: 30_000,
      maxTopicLevels: MAX_TOPIC_LEVELS,
      // each unreleased inbound QoS 2 message is kept whole until its PUBREL
      maxInflightInbound: this.options.maxInflightInbound ?? BROKER_DEFAULTS.maxInflightInbound,
      concurrency: this.fabric.concurrency,
    });
    this.aedes = aedes;
    storeOnlyGranted(aedes, refused);
    this.reactions.attach(this.fabric.store);
    this.accepting = (stream, info) => {
      const client = aedes.handle(stream, info.req);
      this.sessions.set(client, newSession(info, pending.of(info.socket)));
      fitWire(client, wire);
    };
    // aedes emits these from socket callbacks: a listener that throws (a bug) is reported, never uncaught
    const guard = (run: () => void) => {
      try {
        run();
      } catch (err) {
        this.emit('engine-error', err as Error);
      }
    };
    aedes.on('clientReady', (client) =>
      guard(() => {
        acceptAfterConnack(this.sessions.get(client));
        this.emitClient('client-connected', client);
      }),
    );
    aedes.on('clientDisconnect', (client) => guard(() => this.emitClient('client-disconnected', client)));
    aedes.on('clientError', (client, error) => guard(() => this.emitFailure(client, error)));
    aedes.on('connectionError', (client, error) => guard(() => this.emitFailure(client, error)));
    // aedes emits 'error' when persistence fails under a publish, which then never completes: its state is unknown
    onBrokerError(aedes, (error) => {
      this.emit('engine-error', error);
      if (this.aedes === aedes && this.state === 'running') this.emit('engine-failed', error);
    });

    await this.wills.collect(aedes);
    const addresses: BoundAddresses = {};
    const accept = (stream: Duplex, info: ConnectionInfo) => this.accept(stream, info);
    if (mqtt !== false) {
      const listener = new TcpListener({ ...BROKER_DEFAULTS.mqtt, ...stripUndefined(mqtt ?? {}), pending }, accept);
      this.servers.push(listener);
      addresses.mqtt = { ...(await listener.start()), tls: Boolean(mqtt?.tls) };
    }
    if (ws !== false) {
      const adapter = this.httpPublish;
      const options = { ...BROKER_DEFAULTS.ws, ...stripUndefined(ws ?? {}), pending, onRequest: adapter ? (req: IncomingMessage, res: ServerResponse, path: string) => adapter.handles(req, res, path) : undefined };
      const listener = new WsListener(options, accept);
      this.servers.push(listener);
      addresses.ws = { ...(await listener.start()), path: options.path, tls: Boolean(options.tls) };
    }
    this.addresses = addresses;
    return addresses;
  }

  private accepting: ((stream: Duplex, info: ConnectionInfo) => void) | null = null;

  private accept(stream: Duplex, info: ConnectionInfo): void {
    if (!this.accepting || this.state !== 'running') {
      stream.destroy();
      return;
    }
    this.accepting(stream, info);
  }

  /** Closes the listeners and aedes, keeping the clients' wills for the next start. */
  private async shut(final: boolean): Promise<void> {
    this.wills.reset();
    this.accepting = null;
    this.reactions.attach(null);
    this.addresses = {};
    const aedes = this.aedes;
    const closingListeners = this.servers.splice(0).map((listener) => listener.close());
    if (aedes) {
      // closing is not the clients' failure: their wills stay stored for after the restart
      keepWillsStored(aedes);
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    }
    await Promise.all(closingListeners);
    const persistence = aedes ? persistenceOf(aedes) : null;
    if (persistence?.destroy && (final || this.fabric?.ownsPersistence)) await persistence.destroy().catch((err: Error) => this.emit('engine-error', err));
  }

  /** Publishes now the kept wills of clients that have not reconnected since the restart. */
  flushOrphanedWills(): Promise<void> {
    return this.wills.publish(this.aedes);
  }

  private emitClient(event: 'client-connected' | 'client-disconnected', client: Client): void {
    const session = this.sessions.get(client);
    if (!session?.scope) return;
    if (event === 'client-connected') return void this.emit(event, { ...clientInfo(session), provider: session.provider });
    const reason = this.connections.reasonOf(client) ?? (disconnectedCleanly(client) ? 'client' : 'error');
    this.emit(event, { ...clientInfo(session), reason });
  }

  private emitFailure(client: Client, error: Error): void {
    const session = client ? this.sessions.get(client) : undefined;
    if (client && /keep ?alive/i.test(error.message)) this.connections.closing(client, 'keepalive');
    this.emit('client-error', { client: session ? clientInfo(session) : null, error });
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

  /** The addresses the listeners are bound to now (empty while not running). */
  get bound(): BoundAddresses {
    return this.addresses;
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
    return this.inProcess.publish(tenant, message);
  }

  /**
   * Subscribes inside the process. `tenant` is a tenant (filter without its
   * prefix), `*` for every tenant at once (the filter applies below each
   * tenant's prefix; messages say which tenant), or `root` (full filters).
   */
  subscribe(tenant: string, filter: string, handler: (message: InProcessMessage) => void, options: SubscribeOptions = {}): Promise<InProcessSubscription> {
    return this.inProcess.subscribe(tenant, filter, handler, options);
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
    this.reactions.stop();
    this.lifecycle.stop();
    this.webhookRouting.stop();
    process.off('SIGHUP', this.onSighup);
    await Promise.all([this.shut(true), this.webhooks.close(), this.authenticator.close()]);
    this.inProcess.clear();
    if (this.ownsRegistry) this.registry.close();
    else this.registry.stats.flush();
    this.state = 'closed';
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
