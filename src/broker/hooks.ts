import type { AedesOptions, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { EngineEvents } from '../events';
import { REFUSAL_RETURN_CODES, type AppliedLimit, type DenialReason, type RefusalReason, type Scope, type TenantPolicy } from '../model';
import type { Registry } from '../registry/registry';
import { secretsEqual } from '../registry/passwords';
import {
  admit,
  deviceAccess,
  tenantScope,
  decideDelivery,
  decidePublish,
  decideRestore,
  decideSubscribe,
  decideUnsubscribe,
  decideWill,
  holdFilter,
  holdRestored,
  identifierProblem,
  messageOwner,
  ownerOf,
  releaseFilter,
  storedWillAllowed,
} from '../tenancy/policy';
import type { TenantBuckets } from '../tenancy/rate';
import type { Access } from '../tenancy/rules';
import { ROOT_USER, topicMatches } from '../tenancy/topics';
import { tenantViewOf } from '../tenancy/views';
import { discard, isOwnWill, pendingWillOf, publisherIdOf, setSessionKey, subscriptionsOf, type ParsedPacket, type Wire } from '../aedes-seam';
import { clientInfo, parseSessionKey, sessionKey, type ClientSession, type ConnectionTracker } from './connections';
import type { TrafficCounters } from './traffic';

export interface HookContext {
  registry: Registry;
  sessions: WeakMap<Client, ClientSession>;
  connections: ConnectionTracker;
  rootPassword: () => string | undefined;
  events: EventEmitter<EngineEvents>;
  traffic: TrafficCounters;
  tenantBuckets: TenantBuckets;
  /** Largest packet an authenticated client may send. */
  maxPacketBytes: number;
}

/** Who published a message through the in-process API; aedes hands the packet back to `published`. */
export interface InProcessOrigin {
  username: string;
  /** The client id a flow publishes under (`node-red` for tenant-out), as webhooks and subscribers see it. */
  clientId?: string;
}
export type OriginPacket = PublishPacket & { origin?: InProcessOrigin };

/** A device whose record is gone mid-connection may do nothing. */
const DENY_ALL: Access = { layers: [], defaultAllow: false, subject: { username: '', clientId: '' } };

/** CONNECT with credentials and a will fits in this; anything larger before authentication is refused. */
export const MAX_UNAUTHENTICATED_PACKET_BYTES = 256 * 1024;

type Hooks = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward' | 'published'>>;

function refusal(reason: RefusalReason): AuthenticateError {
  const error = new Error(`connection refused: ${reason}`) as AuthenticateError;
  (error as { returnCode: number }).returnCode = REFUSAL_RETURN_CODES[reason];
  return error;
}

/**
 * aedes' hooks and the wire decisions, built from the policy core: every path
 * by which a client reaches the topic tree asks `tenancy/policy.ts` and
 * carries out its verdict here. CONNECT (identity, will), PUBLISH and wills,
 * SUBSCRIBE and UNSUBSCRIBE (decided as dispatched: see `wire`), restored
 * sessions, and every delivery (live, retained, queued).
 */
export function createHooks(ctx: HookContext): { hooks: Hooks; wire: Omit<Wire, 'maxPacketBytes'> & Pick<Wire, 'maxPacketBytes'>; refused: (sub: Subscription) => boolean } {
  const built = buildHooks(ctx);
  return { hooks: guardHooks(built.hooks, ctx.events), wire: built.wire, refused: built.refused };
}

/**
 * aedes calls the hooks from socket and timer callbacks: an exception thrown
 * there is uncaught, and Node-RED exits on one. A hook that throws (a bug) is
 * reported as `engine-error` and answered with the safest outcome for that one
 * client: its connection refused or closed, the delivery dropped.
 */
function guardHooks(hooks: Hooks, events: EventEmitter<EngineEvents>): Hooks {
  const failed = (err: unknown) => {
    const error = err instanceof Error ? err : new Error(String(err));
    events.emit('engine-error', error);
    return error;
  };
  return {
    preConnect(client, packet, callback) {
      try {
        hooks.preConnect(client, packet, callback);
      } catch (err) {
        callback(failed(err), false);
      }
    },
    authenticate(client, username, password, done) {
      try {
        hooks.authenticate(client, username, password, done);
      } catch (err) {
        failed(err);
        done(refusal('server-unavailable'), null);
      }
    },
    authorizePublish(client, packet, callback) {
      try {
        hooks.authorizePublish(client, packet, callback);
      } catch (err) {
        callback(failed(err));
      }
    },
    authorizeSubscribe(client, sub, callback) {
      try {
        hooks.authorizeSubscribe(client, sub, callback);
      } catch (err) {
        callback(failed(err), null);
      }
    },
    authorizeForward(client, packet) {
      try {
        return hooks.authorizeForward(client, packet);
      } catch (err) {
        failed(err);
        return null;
      }
    },
    published(packet, client, callback) {
      try {
        hooks.published(packet, client, callback);
      } catch (err) {
        failed(err);
        callback(null);
      }
    },
  };
}

/** The highest QoS among the client's subscriptions matching a topic (2 when none is found). */
function grantedQos(client: Client, topic: string): 0 | 1 | 2 {
  const subscriptions = subscriptionsOf(client);
  const exact = subscriptions[topic];
  if (exact) return exact.qos as 0 | 1 | 2;
  let best = -1;
  for (const filter in subscriptions) {
    const qos = subscriptions[filter].qos;
    if (qos > best && topicMatches(filter, topic)) best = qos;
    if (best === 2) break;
  }
  return best < 0 ? 2 : (best as 0 | 1 | 2);
}

function buildHooks(ctx: HookContext) {
  const { registry, sessions, connections, events, traffic, tenantBuckets } = ctx;
  // SUBSCRIBE filters decided as the packet was dispatched; authorizeSubscribe carries the verdict out
  const decided = new WeakMap<Subscription, { granted: boolean; reason?: DenialReason; view: string }>();

  const tenantOf = (scope: Scope): TenantPolicy | undefined => (scope.kind === 'tenant' ? registry.getTenant(scope.tenant) : undefined);

  function applied(session: ClientSession, limits: AppliedLimit[]): void {
    for (const limit of limits) events.emit('limit-applied', { ...clientInfo(session), limit });
  }

  function refuse(session: ClientSession, reason: RefusalReason, done: (err: AuthenticateError, ok: null) => void): void {
    events.emit('connection-refused', { username: session.username, clientId: session.clientId, transport: session.transport, remoteAddress: session.remoteAddress, reason, returnCode: REFUSAL_RETURN_CODES[reason] });
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

  /**
   * The rules a device's connection is held to, compiled once per change of
   * its device, roles or tenant (a new version or tenant object), so a
   * changed rule applies to the next packet and no packet parses rules.
   */
  function accessOf(session: ClientSession): Access | null {
    if (session.device === null) return null;
    const tenant = session.scope?.kind === 'tenant' ? registry.getTenant(session.scope.tenant) : undefined;
    const device = registry.devices.get(session.device);
    if (!tenant || !device) return DENY_ALL;
    if (session.access && session.accessVersion === registry.devices.version && session.accessTenant === tenant) return session.access;
    session.access = deviceAccess(registry.devices.layersOf(device), tenant, { username: device.username, clientId: session.clientId });
    session.accessVersion = registry.devices.version;
    session.accessTenant = tenant;
    return session.access;
  }

  async function checkPassword(username: string, secret: string): Promise<boolean> {
    if (username !== ROOT_USER) return registry.verifyPassword(username, secret);
    const root = ctx.rootPassword();
    return root !== undefined && secretsEqual(secret, root);
  }

  function decideSubscribePacket(client: Client, session: ClientSession, subscriptions: Subscription[]): void {
    const scope = session.scope!;
    const tenant = tenantOf(scope);
    // later filters of one packet count the earlier ones granted
    const held = new Set(session.filters.keys());
    const access = accessOf(session);
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
    }
    void client;
  }

  const wire = {
    maxPacketBytes: (client: Client) => (sessions.get(client)?.scope ? ctx.maxPacketBytes : MAX_UNAUTHENTICATED_PACKET_BYTES),
    isAccepted: (client: Client) => Boolean(sessions.get(client)?.scope),
    decide(client: Client, packet: ParsedPacket): void {
      const session = sessions.get(client);
      if (!session?.scope) return;
      if (packet.subscriptions) return decideSubscribePacket(client, session, packet.subscriptions);
      if (packet.unsubscriptions) {
        packet.unsubscriptions = packet.unsubscriptions.map((filter) => decideUnsubscribe(session.scope!, filter));
        for (const filter of packet.unsubscriptions) releaseFilter(session, filter);
      }
    },
  };

  const hooks: Hooks = {
    preConnect(client, packet, callback) {
      const session = sessions.get(client);
      if (!session) return callback(new Error('connection not accepted through a listener'), false);
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
      if (!username) return refuse(session, 'no-credentials', done);
      checkPassword(username, password ? password.toString('utf8') : '')
        .then(
          (passwordOk) => {
            const login = username === ROOT_USER ? undefined : registry.login(username);
            const device = login?.device;
            const tenantName = login?.tenant.username ?? username;
            // the key aedes will know this connection by: a takeover happens only within one login
            const key = sessionKey(tenantName, username, session.clientId);
            const verdict = admit({
              username,
              clientId: session.clientId,
              passwordOk,
              rootEnabled: ctx.rootPassword() !== undefined,
              tenant: login?.tenant,
              device,
              liveConnections: connections.countExcept(tenantName, key),
              liveLoginConnections: device ? connections.countDeviceExcept(device.username, key) : 0,
            });
            if (verdict.kind === 'refuse') return refuse(session, verdict.reason, done);
            session.scope = verdict.scope;
            session.device = device?.username ?? null;
            const will = pendingWillOf(client);
            if (will) {
              // mounted once, here: the will is stored (and may be persisted) under its full topic
              const target = decideWill(verdict.scope, will.topic, accessOf(session));
              if (target.kind === 'refuse') {
                session.scope = null;
                return refuse(session, target.reason, done);
              }
              will.topic = target.topic;
            }
            if (client.closed) {
              session.scope = null;
              return done(refusal('bad-credentials'), null);
            }
            session.connectedAt = Date.now();
            setSessionKey(client, key);
            connections.add(ownerOf(verdict.scope), session.device, client);
            if (device) registry.devices.seen(device.username);
            done(null, true);
          },
          (err: Error) => {
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
      if (client === null || stored !== undefined || isOwnWill(client, packet)) {
        // the owner as the registry has it now, not as at login: a will of a client kicked by a namespace
        // change or a removal must not land (retained) where another tenant may later live
        const owner = client ? (sessions.get(client)?.scope ? scopeOfKey(client.id) : null) : stored ? scopeOfKey(stored) : null;
        return callback(storedWillAllowed(owner, packet.topic) ? null : new Error('will outside its owner namespace'));
      }
      const session = sessions.get(client);
      if (!session?.scope) return callback(new Error('not authenticated'));
      const view = packet.topic;
      session.messagesIn++;
      const verdict = decidePublish(session.scope, { topic: view, payloadBytes: packet.payload.length, retain: packet.retain }, tenantOf(session.scope), { client: session, tenants: tenantBuckets }, accessOf(session));
      if (verdict.kind !== 'allow') {
        events.emit('publish-denied', { ...clientInfo(session), topic: view, reason: verdict.reason });
        if (verdict.kind === 'refuse') return callback(new Error(`publish to ${view} denied: ${verdict.reason}`));
        discard(packet);
        return callback(null);
      }
      packet.topic = verdict.topic;
      packet.retain = verdict.retain;
      applied(session, verdict.applied);
      if (verdict.wait === 0) return callback(null);
      // answering later holds this packet's batch, so aedes reads the client's socket later: TCP pushes back
      setTimeout(callback, verdict.wait, null);
    },

    authorizeSubscribe(client, sub, callback) {
      const session = sessions.get(client);
      if (!session?.scope) return callback(null, null);
      const verdict = decided.get(sub);
      if (!verdict) {
        // a persistent session restored during CONNECT: its filters were stored mounted
        const inside = decideRestore(session.scope, sub.topic, accessOf(session));
        if (inside) holdRestored(session, sub.topic);
        return callback(null, inside ? sub : null);
      }
      if (!verdict.granted) {
        events.emit('subscribe-denied', { ...clientInfo(session), filter: verdict.view, reason: verdict.reason! });
        return callback(null, null); // SUBACK 0x80
      }
      holdFilter(session, sub.topic, verdict.view);
      callback(null, sub);
    },

    authorizeForward(client, packet) {
      const session = sessions.get(client);
      if (!session?.scope) return null;
      const scope = session.scope;
      const qos = packet.qos as 0 | 1 | 2;
      const verdict = decideDelivery(session, packet.topic, qos, qos === 2 ? grantedQos(client, packet.topic) : 2, tenantOf(scope), accessOf(session));
      if (!verdict) return null;
      session.messagesOut++;
      traffic.delivered(scope.kind === 'tenant' ? scope.tenant : null, packet.payload.length);
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
      const topic = packet.topic;
      if (topic.charCodeAt(0) !== 36) {
        const tenant = messageOwner(session?.scope ?? null, topic, registry.directory);
        traffic.published(tenant, packet.payload.length);
        if (tenant !== null) {
          registry.stats.record(tenant, topic, packet.payload.length);
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
