import type { EventEmitter } from 'node:events';
import type { EngineEvents } from '../events';
import type { ClientInfo } from '../model';
import type { Registry } from '../registry/registry';
import { eventTopic } from '../tenancy/views';

/**
 * Per-tenant lifecycle events: the broker publishes what happens to a
 * tenant's clients on `$events/<namespace>/client/connected`,
 * `…/client/disconnected` (with a reason), `…/client/subscribed`,
 * `…/client/unsubscribed` and `…/auth/failed`, as JSON, QoS 0, never
 * retained. The first level starts with `$`, so no `#` or `+` subscription of
 * anyone matches them [MQTT-4.7.2-1]; the policy core mounts and shows them in
 * each view like any topic, and refuses every client's publish to them.
 */
export class LifecycleEvents {
  private readonly handlers: { [E in keyof EngineEvents]?: (...args: EngineEvents[E]) => void } = {
    'client-connected': (c) => this.send(c, 'client/connected', {}),
    'client-disconnected': (c) => this.send(c, 'client/disconnected', { reason: c.reason }),
    'client-subscribed': (c) => this.send(c, 'client/subscribed', { filters: c.filters }),
    'client-unsubscribed': (c) => this.send(c, 'client/unsubscribed', { filters: c.filters }),
    'connection-refused': (e) => {
      // a failed login of a known login (tenant or device) is its tenant's to see; unknown names belong to no one
      const login = e.username ? this.registry.login(e.username) : undefined;
      if (login) this.send({ tenant: login.tenant.username, username: e.username, clientId: e.clientId, transport: e.transport, remoteAddress: e.remoteAddress }, 'auth/failed', { reason: e.reason });
    },
  };

  private readonly guarded = new Map<string, (...args: unknown[]) => void>();

  constructor(
    private readonly events: EventEmitter<EngineEvents>,
    private readonly registry: Registry,
    private readonly publish: (topic: string, payload: Buffer) => void,
    /** Whether anyone may receive a topic: an event no one can receive is not built (a tenth of a connect's CPU). */
    private readonly wanted: (topic: string) => boolean,
  ) {
    for (const [name, handler] of Object.entries(this.handlers)) {
      // emitted from aedes' socket callbacks: a throw here would be uncaught
      const guarded = (...args: unknown[]) => {
        try {
          (handler as (...a: unknown[]) => void)(...args);
        } catch (err) {
          events.emit('engine-error', err as Error);
        }
      };
      this.guarded.set(name, guarded);
      events.on(name as keyof EngineEvents, guarded as never);
    }
  }

  stop(): void {
    for (const [name, guarded] of this.guarded) this.events.off(name as keyof EngineEvents, guarded as never);
  }

  private send(client: ClientInfo, what: string, extra: Record<string, unknown>): void {
    if (client.tenant === null) return;
    const tenant = this.registry.getTenant(client.tenant);
    if (!tenant) return;
    const topic = eventTopic(tenant.namespace, what);
    if (!this.wanted(topic)) return;
    const event = what.replace('/', '.');
    const payload = { event, tenant: tenant.username, login: client.username, client_id: client.clientId, transport: client.transport, address: client.remoteAddress ?? null, time: new Date().toISOString(), ...extra };
    this.publish(topic, Buffer.from(JSON.stringify(payload)));
  }
}
