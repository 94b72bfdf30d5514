import type { EventEmitter } from 'node:events';
import type { PublishedMessage, WebhookDispatcher, WebhookEventMap } from '../../src/webhooks';

/** A message on a full topic; the tenant is its first level. */
export function message(topic: string, payload: Buffer | string = 'x', extra: Partial<PublishedMessage> = {}): PublishedMessage {
  return {
    tenant: topic.split('/')[0],
    topic,
    tenantTopic: topic.split('/').slice(1).join('/'),
    payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
    qos: 1,
    retain: false,
    clientId: 'client-1',
    username: 'alice',
    ...extra,
  };
}

// The typed overloads do not resolve for a generic event name; the map above still types the callers.
function untyped(dispatcher: WebhookDispatcher): EventEmitter {
  return dispatcher as unknown as EventEmitter;
}

type EventName = keyof WebhookEventMap;
type EventArg<K extends EventName> = WebhookEventMap[K][0];

/** Resolves with the next `event` that passes `accept`. */
export function next<K extends EventName>(
  dispatcher: WebhookDispatcher,
  event: K,
  accept: (arg: EventArg<K>) => boolean = () => true,
): Promise<EventArg<K>> {
  return new Promise((resolve) => {
    const listener = (arg: EventArg<K>): void => {
      if (!accept(arg)) return;
      untyped(dispatcher).off(event, listener);
      resolve(arg);
    };
    untyped(dispatcher).on(event, listener);
  });
}

/** Resolves with the first `count` events of a kind, in order. */
export function collect<K extends EventName>(dispatcher: WebhookDispatcher, event: K, count: number): Promise<EventArg<K>[]> {
  const seen: EventArg<K>[] = [];
  return new Promise((resolve) => {
    const listener = (arg: EventArg<K>): void => {
      seen.push(arg);
      if (seen.length < count) return;
      untyped(dispatcher).off(event, listener);
      resolve(seen);
    };
    untyped(dispatcher).on(event, listener);
  });
}
