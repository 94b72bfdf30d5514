import type { AedesOptions, AedesPublishPacket, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { REFUSAL_RETURN_CODES, type EngineEvents, type PublishedMessage, type RefusalReason } from '../events';
import type { Registry, Tenant } from '../registry/registry';
import { secretsEqual } from '../registry/passwords';
import { inboundFilter, inboundTopic, outboundTopic, ROOT_SCOPE, type DenialReason, type Scope } from '../tenancy/isolation';
import { filterIsInsideTenant, firstLevel, isInsideTenant, ROOT_USER, topicMatches } from '../tenancy/topics';
import { MAX_THROTTLE_MS, TokenBucket, type TenantBuckets } from './rate-limits';
import type { TrafficCounters } from './traffic';
import { clientInfo, internalClientId, splitInternalClientId, type ClientSession, type ConnectionTracker } from './connections';

export interface HookContext {
  registry: Registry;
  sessions: WeakMap<Client, ClientSession>;
  connections: ConnectionTracker;
  rootPassword: () => string | undefined;
  events: EventEmitter<EngineEvents>;
  traffic: TrafficCounters;
  tenantBuckets: TenantBuckets;
}

/** Who published a message through the in-process API; aedes hands the packet back to `published`. */
export interface InProcessOrigin {
  username: string;
  clientId?: string;
}
export type OriginPacket = PublishPacket & { origin?: InProcessOrigin };

type ClientWithSubscriptions = Client & { subscriptions: Record<string, { qos: number }>; connackSent: boolean; _will: PublishPacket | null; will: PublishPacket | null };

// [MQTT-3.1.3-5] MQTT 3.1 capped identifiers at 23 bytes; 3.1.1 lets servers accept more.
const MQTT31_MAX_CLIENT_ID = 23;

/** The highest QoS among the client's subscriptions matching a topic (2 when none is found). */
function grantedQos(client: ClientWithSubscriptions, topic: string): 0 | 1 | 2 {
  const exact = client.subscriptions[topic];
  if (exact) return exact.qos as 0 | 1 | 2;
  let best = -1;
  for (const filter in client.subscriptions) {
    const qos = client.subscriptions[filter].qos;
    if (qos > best && topicMatches(filter, topic)) best = qos;
    if (best === 2) break;
  }
  return best < 0 ? 2 : (best as 0 | 1 | 2);
}

function refusal(reason: RefusalReason): AuthenticateError {
  const error = new Error(`connection refused: ${reason}`) as AuthenticateError;
  (error as { returnCode: number }).returnCode = REFUSAL_RETURN_CODES[reason];
  return error;
}

/**
 * Builds aedes' hooks from the tenant registry. Every path by which a client
 * reaches the topic tree goes through one of these: CONNECT (identity, will),
 * PUBLISH and wills (authorizePublish), SUBSCRIBE and restored sessions
 * (authorizeSubscribe), every delivery including retained and queued
 * messages (authorizeForward). UNSUBSCRIBE has no hook: see `mountUnsubscribe`.
 */
export function createHooks(ctx: HookContext): Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward' | 'published'>> {
  const { registry, sessions, connections, events, traffic, tenantBuckets } = ctx;

  /** How long this publish must wait for the client's and the tenant's rate (0: none; Infinity: disconnect). */
  function throttle(session: ClientSession, tenant: Tenant): number {
    let wait = 0;
    if (tenant.maxMsgsPerSec > 0) {
      if (!session.bucket || session.bucket.rate !== tenant.maxMsgsPerSec) session.bucket = new TokenBucket(tenant.maxMsgsPerSec);
      wait = session.bucket.take();
    }
    wait = Math.max(wait, tenantBuckets.take(tenant.username, tenant.maxTenantMsgsPerSec));
    return wait > MAX_THROTTLE_MS ? Infinity : wait;
  }

  function denyPublish(session: ClientSession, topic: string, reason: DenialReason, callback: (error?: Error | null) => void): void {
    events.emit('publish-denied', { ...clientInfo(session), topic, reason });
    // [MQTT-3.3.5-2] we close the connection rather than acknowledge and discard
    callback(new Error(`publish to ${topic} denied: ${reason}`));
  }

  function scopeOfUser(username: string): Scope | null {
    if (username === ROOT_USER) return ROOT_SCOPE;
    const tenant = registry.getTenant(username);
    return tenant ? { kind: 'tenant', tenant: tenant.username, isolation: tenant.isolation } : null;
  }

  function refuse(session: ClientSession, reason: RefusalReason, done: (err: AuthenticateError, ok: null) => void): void {
    events.emit('connection-refused', {
      username: session.username,
      clientId: session.clientId,
      transport: session.transport,
      remoteAddress: session.remoteAddress,
      reason,
      returnCode: REFUSAL_RETURN_CODES[reason],
    });
    done(refusal(reason), null);
  }

  /** A will already mounted at CONNECT only needs to be inside its owner's namespace. */
  function willAllowed(scope: Scope | null, topic: string): boolean {
    if (!scope) return false;
    if (scope.kind === 'root') return !topic.startsWith('$SYS/');
    return isInsideTenant(topic, scope.tenant);
  }

  return {
    preConnect(client, packet, callback) {
      const session = sessions.get(client);
      if (!session) return callback(new Error('connection not accepted through a listener'), false);
      session.username = packet.username ?? null;
      if (packet.clientId === '' && !packet.clean) {
        session.identifierRejected = true;
      } else if (packet.protocolVersion === 3 && Buffer.byteLength(packet.clientId) > MQTT31_MAX_CLIENT_ID) {
        session.identifierRejected = true;
      }
      // [MQTT-3.1.3-6] an empty identifier with clean session gets one assigned
      session.clientId = packet.clientId || 'auto-' + randomUUID();
      if (!session.identifierRejected) packet.clientId = internalClientId(session.username ?? '', session.clientId);
      callback(null, true);
    },

    authenticate(client, username, password, done) {
      const session = sessions.get(client)!;
      if (session.identifierRejected) return refuse(session, 'identifier-rejected', done);
      if (!username) return refuse(session, 'no-credentials', done);
      const secret = password ? password.toString('utf8') : '';
      const checked: Promise<RefusalReason | null> =
        username === ROOT_USER
          ? Promise.resolve(ctx.rootPassword() === undefined ? 'root-disabled' : secretsEqual(secret, ctx.rootPassword()!) ? null : 'bad-credentials')
          : registry.verifyPassword(username, secret).then((ok) => {
              if (!ok) return 'bad-credentials';
              const tenant = registry.getTenant(username);
              if (!tenant || !tenant.enabled) return 'tenant-disabled';
              if (tenant.maxConnections > 0 && connections.countExcept(username, client.id) >= tenant.maxConnections) return 'over-quota';
              return null;
            });
      checked.then(
        (reason) => {
          if (reason) return refuse(session, reason, done);
          const scope = scopeOfUser(username);
          if (!scope) return refuse(session, 'bad-credentials', done);
          const will = (client as ClientWithSubscriptions)._will;
          if (will) {
            // mounted once, here: the will is stored (and may be persisted) under its full topic
            const target = inboundTopic(scope, will.topic);
            if (!target.ok) return refuse(session, 'will-denied', done);
            will.topic = target.topic;
          }
          if (client.closed) return done(refusal('bad-credentials'), null);
          session.scope = scope;
          session.connectedAt = Date.now();
          connections.add(scope.kind === 'root' ? ROOT_USER : scope.tenant, client);
          done(null, true);
        },
        (err: Error) => {
          events.emit('engine-error', err);
          refuse(session, 'bad-credentials', done);
        },
      );
    },

    authorizePublish(client, packet, callback) {
      // A will (stale, from persistence: no client; or this client's own) was
      // mounted at CONNECT; persistence marks it with the owner's internal id.
      const stored = (packet as PublishPacket & { clientId?: string }).clientId;
      if (client === null || packet === (client as ClientWithSubscriptions).will || stored !== undefined) {
        const owner = client ? sessions.get(client)?.scope ?? null : stored ? scopeOfUser(splitInternalClientId(stored)?.username ?? '') : null;
        return callback(willAllowed(owner, packet.topic) ? null : new Error('will outside its owner namespace'));
      }
      const session = sessions.get(client);
      if (!session?.scope) return callback(new Error('not authenticated'));
      const target = inboundTopic(session.scope, packet.topic);
      if (!target.ok) return denyPublish(session, packet.topic, target.reason, callback);
      packet.topic = target.topic;
      if (session.scope.kind === 'root') return callback(null);
      const tenant = registry.getTenant(session.scope.tenant);
      if (!tenant) return callback(new Error('tenant removed'));
      if (tenant.maxPayloadBytes > 0 && packet.payload.length > tenant.maxPayloadBytes) return denyPublish(session, packet.topic, 'payload-too-large', callback);
      if (packet.retain && !tenant.allowRetain) {
        packet.retain = false;
        events.emit('limit-applied', { ...clientInfo(session), limit: 'retain' });
      }
      const wait = throttle(session, tenant);
      if (wait === 0) return callback(null);
      if (wait === Infinity) return denyPublish(session, packet.topic, 'rate-limit', callback);
      events.emit('limit-applied', { ...clientInfo(session), limit: 'rate' });
      // answering later holds this packet's batch, so aedes reads the client's socket later: TCP pushes back
      setTimeout(callback, wait, null);
    },

    authorizeSubscribe(client, sub, callback) {
      const session = sessions.get(client);
      if (!session?.scope) return callback(null, null);
      if (!(client as ClientWithSubscriptions).connackSent) {
        // restoring a persistent session during CONNECT: aedes stored the filters already mounted
        const scope = session.scope;
        const inside = scope.kind === 'root' || filterIsInsideTenant(sub.topic, scope.tenant);
        if (inside) session.filters.add(sub.topic);
        return callback(null, inside ? sub : null);
      }
      const target = inboundFilter(session.scope, sub.topic);
      const deny = (reason: DenialReason) => {
        events.emit('subscribe-denied', { ...clientInfo(session), filter: sub.topic, reason });
        callback(null, null); // SUBACK 0x80
      };
      if (!target.ok) return deny(target.reason);
      if (session.scope.kind === 'tenant') {
        const tenant = registry.getTenant(session.scope.tenant);
        if (!tenant) return deny('outside-namespace');
        if (tenant.maxSubscriptions > 0 && !session.filters.has(target.topic) && session.filters.size >= tenant.maxSubscriptions) return deny('too-many-subscriptions');
        if (sub.qos > tenant.maxQos) sub.qos = tenant.maxQos;
      }
      session.filters.add(target.topic);
      // in place: aedes persists packet.subscriptions, which holds this very object
      (sub as Subscription).topic = target.topic;
      callback(null, sub);
    },

    authorizeForward(client, packet) {
      const session = sessions.get(client);
      if (!session?.scope) return null;
      const scope = session.scope;
      // aedes downgrades to the subscription's QoS only for a subscription equal to the topic
      // (QoS 0 subscriptions aside); a wildcard one at QoS 1 would get QoS 2 [MQTT-3.8.4-6]
      if (packet.qos === 2) packet.qos = grantedQos(client as ClientWithSubscriptions, packet.topic);
      if (scope.kind === 'root') {
        traffic.delivered(null, packet.payload.length);
        return packet;
      }
      const topic = outboundTopic(scope, packet.topic);
      if (topic === null) return null;
      traffic.delivered(scope.tenant, packet.payload.length);
      if (packet.qos > 0) {
        const maxQos = registry.getTenant(scope.tenant)?.maxQos ?? 2;
        if (packet.qos > maxQos) packet.qos = maxQos;
      }
      if (topic !== packet.topic) {
        // In place, never a shared object: aedes 1.x hands each subscription,
        // each retained delivery and each queued message its own packet copy,
        // and the offline-queue path writes the packet it passed here, ignoring
        // a returned copy (lib/handlers/connect.js emptyQueueFilter).
        packet.topic = topic;
      }
      return packet;
    },

    published(packet, client, callback) {
      const topic = packet.topic;
      if (topic.charCodeAt(0) !== 36) {
        const session = client ? sessions.get(client) : undefined;
        // a tenant's client publishes inside its own namespace (authorizePublish saw to it)
        const scope = session?.scope;
        let tenant: string | null = scope?.kind === 'tenant' ? scope.tenant : firstLevel(topic);
        if (scope?.kind !== 'tenant' && (tenant === topic || registry.getTenant(tenant) === undefined)) tenant = null;
        traffic.published(tenant, packet.payload.length);
        if (tenant !== null) {
          registry.stats.record(tenant, topic, packet.payload.length);
          if (events.listenerCount('message') > 0) {
            const origin = (packet as OriginPacket).origin;
            const message: PublishedMessage = {
              tenant,
              topic,
              payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
              qos: packet.qos,
              retain: packet.retain,
              clientId: session?.clientId ?? origin?.clientId ?? null,
              username: session?.username ?? origin?.username ?? null,
            };
            events.emit('message', message);
          }
        }
      }
      callback(null);
    },
  };
}

/** CONNECT with credentials and a will fits in this; anything larger before authentication is refused. */
export const MAX_UNAUTHENTICATED_PACKET_BYTES = 256 * 1024;

/** The parts of mqtt-packet's parser the guards below use. */
type WireParser = EventEmitter & { client: Client; packet: { length: number }; _parseLength(): boolean; _emitError(err: Error): void };

/**
 * Work that must happen as packets are parsed, before aedes handles them:
 * - UNSUBSCRIBE has no hook, and a mountpoint client's filters are stored
 *   mounted, so its topics are mounted here (and dropped from the client's
 *   filter count);
 * - SUBACK reports the QoS requested before any hook runs, so a tenant's
 *   max_qos is applied to SUBSCRIBE here, where the SUBACK can still tell.
 * The listener is prepended, so it runs before aedes'. Packets that arrive
 * before authentication are held by aedes until CONNACK and discarded if it
 * fails, so the claimed username is the authenticated one whenever a packet
 * changed here is ever handled.
 */
export function packetInterceptor(sessions: WeakMap<Client, ClientSession>, registry: Registry, maxPacketBytes: number): (client: Client) => void {
  // mqtt-packet buffers a packet as long as its header claims (up to 256 MB) before
  // anyone sees it: refuse a claim over the limit as soon as the length is read.
  // Before authentication only a CONNECT can come, and it needs little room.
  // taken from the first parser aedes makes: mqtt-packet is aedes' dependency, not ours
  let parseLength: (() => boolean) | null = null;
  function guardedParseLength(this: WireParser): boolean {
    if (!parseLength!.call(this)) return false;
    const limit = sessions.get(this.client)?.scope ? maxPacketBytes : MAX_UNAUTHENTICATED_PACKET_BYTES;
    if (this.packet.length <= limit) return true;
    this._emitError(new Error(`packet of ${this.packet.length} bytes exceeds ${limit}`));
    return false;
  }

  // one listener for every connection: `this` is the client's parser, which aedes links back to the client
  function intercept(this: { client: Client }, packet: { cmd: string; unsubscriptions?: string[]; subscriptions?: Subscription[] }): void {
    if (packet.cmd !== 'subscribe' && packet.cmd !== 'unsubscribe') return;
    const session = sessions.get(this.client);
    // preConnect recorded the CONNECT's username when it handled the CONNECT, before any later packet was parsed
    const tenant = session?.username ? registry.getTenant(session.username) : undefined;
    if (!session || !tenant) return;
    if (packet.subscriptions) {
      for (const sub of packet.subscriptions) if (sub.qos > tenant.maxQos) sub.qos = tenant.maxQos;
    } else if (packet.unsubscriptions) {
      if (tenant.isolation === 'mountpoint') {
        const scope: Scope = { kind: 'tenant', tenant: tenant.username, isolation: 'mountpoint' };
        packet.unsubscriptions = packet.unsubscriptions.map((filter) => {
          const target = inboundFilter(scope, filter);
          return target.ok ? target.topic : filter;
        });
      }
      for (const filter of packet.unsubscriptions) session.filters.delete(filter);
    }
  }
  return (client) => {
    const parser = (client as unknown as { _parser: WireParser })._parser;
    parseLength ??= (Object.getPrototypeOf(parser) as WireParser)._parseLength;
    parser._parseLength = guardedParseLength;
    parser.prependListener('packet', intercept);
  };
}

export type { AedesPublishPacket };
