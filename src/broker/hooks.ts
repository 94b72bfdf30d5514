import type { AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { EngineEvents } from '../events';
import { REFUSAL_RETURN_CODES, type AppliedLimit, type DenialReason, type RefusalReason, type Scope, type TenantPolicy } from '../model';
import type { Registry } from '../registry/registry';
import { HashingBusy } from '../registry/passwords';
import {
  decideDelivery,
  decidePublish,
  decideRestore,
  decideSubscribe,
  decideUnsubscribe,
  decideWill,
  decideWillPublish,
  holdFilter,
  holdRestored,
  identifierProblem,
  newClientPolicyState,
  ownerOf,
  releaseFilter,
  tenantScope,
} from '../tenancy/policy';
import { isEventTopic, messageOwner } from '../tenancy/flows';
import type { TenantBuckets } from '../tenancy/rate';
import type { Access } from '../tenancy/rules';
import { ROOT_USER } from '../tenancy/topics';
import { tenantViewOf } from '../tenancy/views';
import { enterWindow, leaveWindow } from './publish-window';
import { discard, isOwnWill, pendingWillOf, publisherIdOf, setSessionKey, type ParsedPacket, type Wire } from '../aedes-seam';
import { clientInfo, closeAtExpiry, parseSessionKey, type ClientSession, type ConnectionTracker } from './connections';
import { guardHooks, refusal, type Hooks } from './hook-guard';
import type { Authenticator } from './authenticator';
import type { LoginAttempt } from '../auth/provider';
import { placeLogin, sessionAccess } from './login-placement';
import type { TrafficCounters } from './traffic';

export interface HookContext {
  registry: Registry;
  sessions: WeakMap<Client, ClientSession>;
  connections: ConnectionTracker;
  rootPassword: () => string | undefined;
  events: EventEmitter<EngineEvents>;
  traffic: TrafficCounters;
  tenantBuckets: TenantBuckets;
  /** Credentials of a login: throttle, hashing turns, root. */
  authenticator: Authenticator;
  /** Largest packet an authenticated client may send. */
  maxPacketBytes: number;
  /** Largest packet before authentication. */
  maxUnauthenticatedPacketBytes: number;
  /** Whether an HTTP or flow provider may make a login root. */
  allowSuperuser: boolean;
}

/** Who published a message through the in-process API; aedes hands the packet back to `published`. */
export interface InProcessOrigin {
  username: string;
  /** The client id a flow publishes under (`node-red` for tenant-out), as webhooks and subscribers see it. */
  clientId?: string;
}
export type OriginPacket = PublishPacket & { origin?: InProcessOrigin };

/**
 * aedes' hooks and the wire decisions, built from the policy core: every path
 * by which a client reaches the topic tree asks `tenancy/policy.ts` and
 * carries out its verdict here. CONNECT (identity, will), PUBLISH and wills,
 * SUBSCRIBE and UNSUBSCRIBE (decided as dispatched: see `wire`), restored
 * sessions, and every delivery (live, retained, queued).
 */
export function createHooks(ctx: HookContext): { hooks: Hooks; wire: Wire; refused: (sub: Subscription) => boolean } {
  const built = buildHooks(ctx);
  return { hooks: guardHooks(built.hooks, ctx.events), wire: built.wire, refused: built.refused };
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function byteLength(payload: Buffer | string): number {
  return typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
}

function buildHooks(ctx: HookContext) {
  const { registry, sessions, connections, events, traffic, tenantBuckets } = ctx;
  // SUBSCRIBE filters decided as the packet was dispatched; authorizeSubscribe carries the verdict out
  const decided = new WeakMap<Subscription, { granted: boolean; reason?: DenialReason; view: string }>();

  const tenantOf = (scope: Scope): TenantPolicy | undefined => (scope.kind === 'tenant' ? registry.getTenant(scope.tenant) : undefined);

  function applied(session: ClientSession, limits: readonly AppliedLimit[]): void {
    if (limits.length === 0) return;
    for (const limit of limits) events.emit('limit-applied', { ...clientInfo(session), limit });
  }

  function refuse(session: ClientSession, reason: RefusalReason, done: (err: AuthenticateError, ok: null) => void, by: { provider?: string; detail?: string } = {}): void {
    events.emit('connection-refused', { username: session.username, clientId: session.clientId, transport: session.transport, remoteAddress: session.remoteAddress, reason, returnCode: REFUSAL_RETURN_CODES[reason], ...stripUndefined(by) });
    done(refusal(reason), null);
  }

  /** The scope of a stored will's owner, from its session key. */
  function scopeOfKey(key: string): Scope | null {
    const owner = parseSessionKey(key);
    if (!owner) return null;
    if (owner.tenant === ROOT_USER) return { kind: 'root' };
    const tenant = registry.getTenant(owner.tenant);
    return tenant ? tenantScope(tenant) : null;
  }

  const accessOf = (session: ClientSession): Access | null => sessionAccess(registry, session);

  function decideSubscribePacket(session: ClientSession, subscriptions: Subscription[]): void {
    const scope = session.scope!;
    const tenant = tenantOf(scope);
    // later filters of one packet count the earlier ones granted
    const held = new Set(session.filters.keys());
    const access = accessOf(session);
    const granted: string[] = [];
    for (const sub of subscriptions) {
      const view = sub.topic;
      const verdict = decideSubscribe(scope, view, sub.qos, tenant, held, access);
      if (verdict.kind === 'refuse') {
        decided.set(sub, { granted: false, reason: verdict.reason, view });
        continue;
      }
      held.add(verdict.filter);
      applied(session, verdict.applied);
      // in place, before aedes reads it: it stores and reports packet.subscriptions
      sub.topic = verdict.filter;
      sub.qos = verdict.qos;
      decided.set(sub, { granted: true, view });
      granted.push(view);
    }
    if (granted.length > 0) events.emit('client-subscribed', { ...clientInfo(session), filters: granted });
  }

  /**
   * A will about to be published: its client's own (the client holds its rate
   * state), or one kept across a restart (no client: persistence marks it with
   * the owner's internal id). Mounted at CONNECT; the core decides it again
   * with the limits of now. A will dropped for a limit goes nowhere.
   */
  function authorizeWill(client: Client | null, stored: string | undefined, packet: PublishPacket, callback: (error?: Error | null) => void): void {
    const session = client ? sessions.get(client) : undefined;
    const storedOwner = stored ? parseSessionKey(stored) : null;
    // the owner as the registry has it now, not as at login: a will of a client kicked by a namespace
    // change or a removal must not land (retained) where another tenant may later live
    const owner = client ? (session?.scope ? scopeOfKey(client.id) : null) : stored ? scopeOfKey(stored) : null;
    const will = { topic: packet.topic, payloadBytes: byteLength(packet.payload), retain: packet.retain };
    const verdict = decideWillPublish(owner, will, owner ? tenantOf(owner) : undefined, { client: session ?? newClientPolicyState(), tenants: tenantBuckets });
    if (verdict.kind === 'allow') {
      packet.retain = verdict.retain;
      if (session) applied(session, verdict.applied);
      return callback(null);
    }
    if (verdict.reason === 'outside-namespace') return callback(new Error('will outside its owner namespace'));
    const tenant = owner?.kind === 'tenant' ? owner.tenant : null;
    events.emit('will-dropped', { tenant, clientId: session?.clientId ?? storedOwner?.clientId ?? '', topic: packet.topic, reason: verdict.reason });
    discard(packet);
    callback(null);
  }

  const wire = {
    maxPacketBytes: (client: Client) => (sessions.get(client)?.scope ? ctx.maxPacketBytes : ctx.maxUnauthenticatedPacketBytes),
    packetBytesAlwaysAllowed: Math.min(ctx.maxPacketBytes, ctx.maxUnauthenticatedPacketBytes),
    isAccepted: (client: Client) => Boolean(sessions.get(client)?.scope),
    decide(client: Client, packet: ParsedPacket): void {
      const session = sessions.get(client);
      if (!session?.scope) return;
      if (packet.subscriptions) return decideSubscribePacket(session, packet.subscriptions);
      if (packet.unsubscriptions) {
        const asSent = packet.unsubscriptions;
        packet.unsubscriptions = asSent.map((filter) => decideUnsubscribe(session.scope!, filter));
        for (const filter of packet.unsubscriptions) releaseFilter(session, filter);
        events.emit('client-unsubscribed', { ...clientInfo(session), filters: asSent });
      }
    },
  };

  const hooks: Hooks = {
    preConnect(client, packet, callback) {
      const session = sessions.get(client);
      if (!session) return callback(new Error('connection not accepted through a listener'), false);
      session.pending?.connectArrived();
      session.username = packet.username ?? null;
      session.identifierRejected = identifierProblem({ clientId: packet.clientId, clean: packet.clean !== false, protocolVersion: packet.protocolVersion ?? 4 }) !== null;
      // [MQTT-3.1.3-6] an empty identifier with clean session gets one assigned
      session.clientId = packet.clientId || 'auto-' + randomUUID();
      // aedes would invent its own id for an empty one; the session key replaces it once authenticated
      if (!session.identifierRejected) packet.clientId = session.clientId;
      callback(null, true);
    },

    authenticate(client, username, password, answer) {
      let answered = false;
      const done: typeof answer = (err, ok) => {
        if (answered) return;
        answered = true;
        answer(err, ok);
      };
      const session = sessions.get(client)!;
      if (session.identifierRejected) return refuse(session, 'identifier-rejected', done);
      // on a listener that takes identities from client certificates, the certificate's replaces the CONNECT's username
      const certificate = session.certificate;
      if (certificate) {
        session.username = certificate.identity;
        if (certificate.identity === null) return refuse(session, 'bad-credentials', done, { provider: 'certificate', detail: 'the certificate names no login' });
        username = certificate.identity;
      }
      if (!username) return refuse(session, 'no-credentials', done);
      const login = username;
      const attempt: LoginAttempt = {
        username: login,
        password: certificate ? Buffer.alloc(0) : (password ?? Buffer.alloc(0)),
        clientId: session.clientId,
        peerhost: session.remoteAddress,
        protocol: 'mqtt',
        transport: session.transport,
        ...(certificate ? { certificate } : {}),
      };
      ctx.authenticator
        .check(attempt)
        .then(
          (result) => {
            if (result.kind === 'refused') {
              if (result.reason === 'provider-denied') ctx.authenticator.failed(login, session.remoteAddress);
              return refuse(session, result.reason, done, { provider: result.provider, detail: result.detail });
            }
            // from here to connections.add is one synchronous step: the quota counts every login admitted before
            const placed = placeLogin(registry, result, {
              username: login,
              clientId: session.clientId,
              rootEnabled: ctx.rootPassword() !== undefined,
              allowSuperuser: ctx.allowSuperuser,
              liveConnections: (tenant, key) => connections.countExcept(tenant, key),
              liveLoginConnections: (device, key) => connections.countDeviceExcept(device, key),
            });
            if (placed.verdict.kind === 'refuse') {
              if (placed.verdict.reason === 'bad-credentials' && !certificate) ctx.authenticator.failed(login, session.remoteAddress);
              return refuse(session, placed.verdict.reason, done, result.kind === 'provider' ? { provider: result.provider } : certificate ? { provider: 'certificate' } : {});
            }
            const scope = placed.verdict.scope;
            session.scope = scope;
            session.device = placed.device;
            session.provider = result.kind === 'provider' ? result.provider : (result.via ?? 'registry');
            session.providerLogin = placed.providerLogin;
            const will = pendingWillOf(client);
            let willLimits: AppliedLimit[] = [];
            if (will) {
              // mounted and limited once, here: the will is stored (and may be persisted) as it will be published
              const target = decideWill(scope, { topic: will.topic, payloadBytes: byteLength(will.payload), retain: will.retain }, tenantOf(scope), accessOf(session));
              if (target.kind === 'refuse') {
                session.scope = null;
                return refuse(session, target.reason, done);
              }
              will.topic = target.topic;
              will.retain = target.retain;
              willLimits = target.applied;
            }
            if (client.closed) {
              session.scope = null;
              return done(refusal('bad-credentials'), null);
            }
            session.connectedAt = Date.now();
            const key = placed.key;
            // [MQTT-3.1.4-2] aedes closes an earlier connection of the same key: say why
            for (const earlier of connections.withKey(key)) if (earlier !== client) connections.closing(earlier, 'takeover');
            setSessionKey(client, key);
            connections.add(ownerOf(scope), session.device, client);
            if (session.device !== null) registry.devices.seen(session.device);
            if (result.kind === 'provider' && result.answer.expiresAt !== undefined) closeAtExpiry(client, session, result.answer.expiresAt, connections);
            applied(session, willLimits);
            done(null, true);
          },
          (err: Error) => {
            if (err instanceof HashingBusy) return refuse(session, 'login-busy', done);
            events.emit('engine-error', err);
            refuse(session, 'server-unavailable', done);
          },
        )
        .catch((err: Error) => {
          // a throw after the verdict (a bug): a rejection nobody handles would end the process
          events.emit('engine-error', err);
          done(refusal('server-unavailable'), null);
        });
    },

    authorizePublish(client, packet, callback) {
      // A will (stale, from persistence: no client; or this client's own) was
      // mounted at CONNECT; persistence marks it with the owner's internal id.
      const stored = publisherIdOf(packet);
      if (client === null || stored !== undefined || isOwnWill(client, packet)) return authorizeWill(client, stored, packet, callback);
      const session = sessions.get(client);
      if (!session?.scope) return callback(new Error('not authenticated'));
      const view = packet.topic;
      session.messagesIn++;
      const scope = session.scope;
      const tenant = tenantOf(scope);
      const owner = scope.kind === 'tenant' ? tenant : registry.tenantOfTopic(view);
      const set = owner && registry.policies.of(owner.username);
      const policies = set && owner ? { set, namespace: owner.namespace, payload: packet.payload as Buffer } : undefined;
      const verdict = decidePublish(scope, { topic: view, payloadBytes: packet.payload.length, retain: packet.retain }, tenant, { client: session, tenants: tenantBuckets }, accessOf(session), policies);
      if (verdict.violations) {
        const action = verdict.kind === 'refuse' ? 'close' : verdict.kind === 'discard' ? 'drop' : 'detect';
        events.emit('policy-violated', { ...clientInfo(session), tenant: owner!.username, topic: verdict.kind === 'allow' ? verdict.topic : view, action, violations: verdict.violations });
      }
      if (verdict.kind !== 'allow') {
        events.emit('publish-denied', { ...clientInfo(session), topic: view, reason: verdict.reason });
        if (verdict.kind === 'refuse') {
          connections.closing(client, 'denied');
          return callback(new Error(`publish to ${view} denied: ${verdict.reason}`));
        }
        discard(packet);
        // a discarded publish still goes through aedes (onto the sink), to `published`
        if (enterWindow(session, packet.qos, callback, 0)) traffic.held(scope.kind === 'tenant' ? scope.tenant : null);
        return;
      }
      packet.topic = verdict.topic;
      packet.retain = verdict.retain;
      applied(session, verdict.applied);
      // answering later holds this packet's batch, so aedes reads the client's socket later: TCP pushes back
      if (enterWindow(session, packet.qos, callback, verdict.wait)) traffic.held(scope.kind === 'tenant' ? scope.tenant : null);
    },

    authorizeSubscribe(client, sub, callback) {
      const session = sessions.get(client);
      if (!session?.scope) return callback(null, null);
      const verdict = decided.get(sub);
      if (!verdict) {
        // a persistent session restored during CONNECT: its filters were stored mounted
        const inside = decideRestore(session.scope, sub.topic, accessOf(session));
        if (inside) holdRestored(session, sub.topic, sub.qos);
        return callback(null, inside ? sub : null);
      }
      if (!verdict.granted) {
        events.emit('subscribe-denied', { ...clientInfo(session), filter: verdict.view, reason: verdict.reason! });
        return callback(null, null); // SUBACK 0x80
      }
      holdFilter(session, sub.topic, verdict.view, sub.qos);
      callback(null, sub);
    },

    authorizeForward(client, packet) {
      const session = sessions.get(client);
      if (!session?.scope) return null;
      const scope = session.scope;
      const qos = packet.qos as 0 | 1 | 2;
      const verdict = decideDelivery(session, packet.topic, qos, tenantOf(scope), accessOf(session));
      if (!verdict) return null;
      // lifecycle events are the broker's, not the tenant's traffic
      if (packet.topic.charCodeAt(0) !== 36 || !isEventTopic(packet.topic)) {
        session.messagesOut++;
        traffic.delivered(scope.kind === 'tenant' ? scope.tenant : null, packet.payload.length);
      }
      // In place, never a shared object: aedes 1.x hands each subscription,
      // each retained delivery and each queued message its own packet copy,
      // and the offline-queue path writes the packet it passed here, ignoring
      // a returned copy (lib/handlers/connect.js emptyQueueFilter).
      packet.qos = verdict.qos;
      packet.topic = verdict.topic;
      return packet;
    },

    published(packet, client, callback) {
      const session = client ? sessions.get(client) : undefined;
      if (session) leaveWindow(session, packet.qos);
      const topic = packet.topic;
      // lifecycle events are the broker's: never counted as traffic, but webhooks may want them
      const event = topic.charCodeAt(0) === 36 && isEventTopic(topic);
      if (topic.charCodeAt(0) !== 36 || event) {
        const tenant = messageOwner(session?.scope ?? null, topic, registry.directory);
        if (!event) traffic.published(tenant, packet.payload.length);
        if (tenant !== null) {
          if (!event) registry.stats.record(tenant, topic, packet.payload.length);
          if (events.listenerCount('message') > 0) {
            const origin = (packet as OriginPacket).origin;
            events.emit('message', {
              tenant,
              topic,
              tenantTopic: tenantViewOf(registry.getTenant(tenant)?.namespace ?? tenant, topic) ?? topic,
              payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
              qos: packet.qos,
              retain: packet.retain,
              clientId: session?.clientId ?? origin?.clientId ?? null,
              username: session?.username ?? origin?.username ?? null,
            });
          }
        }
      }
      callback(null);
    },
  };

  return { hooks, wire, refused: (sub: Subscription) => decided.get(sub)?.granted === false };
}
