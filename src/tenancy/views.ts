import type { DenialReason, Scope } from '../model';
import { isInsideTenant, levelCount, MAX_TOPIC_BYTES, MAX_TOPIC_LEVELS, mount, topicMatches, unmount } from './topics';

/**
 * How a scope sees the topic tree: the full topic or filter that a topic or
 * filter written in a scope's own view stands for, and back. Root sees full
 * topics; a prefix tenant writes `<namespace>/...` itself; a mountpoint tenant
 * (and every flow) writes topics without the namespace.
 *
 * First levels starting with `$` are the broker's in every view: `$SYS` and
 * `$events` cannot be published into (root neither may publish `$events`),
 * and `$SYS` and `$share` cannot be subscribed to by a tenant; other
 * `$`-topics are a tenant's own, mounted like any other, and kept from its
 * wildcards (see `hiddenFromWildcards`). A tenant's lifecycle events live at
 * `$events/<namespace>/...`: a mountpoint view writes and sees them as
 * `$events/...`, a prefix view as `$events/<namespace>/...`.
 */

export type Mounted = { ok: true; topic: string } | { ok: false; reason: DenialReason };

/** Where the broker puts a publish it acknowledges and drops: no filter a client may hold reaches it. */
export const DISCARD_TOPIC = '$tenant-broker/discarded';

/** The first level of every tenant's lifecycle events. */
export const EVENTS_LEVEL = '$events';
const EVENTS_PREFIX = EVENTS_LEVEL + '/';

/** The full topic of a tenant's lifecycle event, `$events/<namespace>/<what>`. */
export function eventTopic(namespace: string, what: string): string {
  return EVENTS_PREFIX + namespace + '/' + what;
}

const RESERVED_FOR_PUBLISH = ['$SYS', EVENTS_LEVEL];
const RESERVED_FOR_SUBSCRIBE = ['$SYS', '$share'];

const denied = (reason: DenialReason): Mounted => ({ ok: false, reason });

/** The first level of `text` from `start` on, when it starts with `$` and is one of `names`. */
function reservedLevel(text: string, start: number, names: readonly string[]): boolean {
  if (text.charCodeAt(start) !== 36) return false;
  const slash = text.indexOf('/', start);
  const level = slash === -1 ? text.slice(start) : text.slice(start, slash);
  return names.includes(level);
}

/** Checks what mounting may break: [MQTT-1.5.3] length, and the levels aedes and qlobber accept. */
function checked(full: string): Mounted {
  // a UTF-16 unit is at most 3 UTF-8 bytes: only long topics need counting
  if (full.length * 3 > MAX_TOPIC_BYTES && Buffer.byteLength(full) > MAX_TOPIC_BYTES) return denied('topic-too-long');
  // n characters hold at most n + 1 levels: only long topics need counting
  if (full.length >= MAX_TOPIC_LEVELS && levelCount(full) > MAX_TOPIC_LEVELS) return denied('too-many-levels');
  return { ok: true, topic: full };
}

/** The full topic a PUBLISH (or will) written in this scope's view goes to. */
export function mountTopic(scope: Scope, topic: string): Mounted {
  if (scope.kind === 'root') {
    return topic.startsWith('$SYS/') || topic.startsWith(EVENTS_PREFIX) || topic === EVENTS_LEVEL ? denied('reserved-topic') : { ok: true, topic };
  }
  if (scope.isolation === 'mountpoint') {
    return reservedLevel(topic, 0, RESERVED_FOR_PUBLISH) ? denied('reserved-topic') : checked(mount(scope.namespace, topic));
  }
  if (!isInsideTenant(topic, scope.namespace)) return denied('outside-namespace');
  return reservedLevel(topic, scope.namespace.length + 1, RESERVED_FOR_PUBLISH) ? denied('reserved-topic') : checked(topic);
}

/** The full filter a SUBSCRIBE or UNSUBSCRIBE written in this scope's view stands for. */
export function mountFilter(scope: Scope, filter: string): Mounted {
  if (scope.kind === 'root') {
    return topicMatches(filter, DISCARD_TOPIC) ? denied('reserved-topic') : { ok: true, topic: filter };
  }
  if (scope.isolation === 'mountpoint') {
    if (filter.startsWith(EVENTS_PREFIX)) return checked(eventTopic(scope.namespace, filter.slice(EVENTS_PREFIX.length)));
    if (filter === EVENTS_LEVEL) return denied('reserved-topic');
    return reservedLevel(filter, 0, RESERVED_FOR_SUBSCRIBE) ? denied('reserved-topic') : checked(mount(scope.namespace, filter));
  }
  if (filter.startsWith(EVENTS_PREFIX)) return isInsideTenant(filter.slice(EVENTS_PREFIX.length), scope.namespace) ? checked(filter) : denied('outside-namespace');
  // `<tenant>/#` also matches the parent `<tenant>` [MQTT-4.7.1-2], a topic nobody but root can publish and that delivery drops
  return isInsideTenant(filter, scope.namespace) ? checked(filter) : denied('outside-namespace');
}

/** The topic a message on `fullTopic` shows under in this scope's view, or null: not for it. */
export function viewOf(scope: Scope, fullTopic: string): string | null {
  if (scope.kind === 'root') return fullTopic;
  if (fullTopic.startsWith(EVENTS_PREFIX)) {
    if (!isInsideTenant(fullTopic.slice(EVENTS_PREFIX.length), scope.namespace)) return null;
    return scope.isolation === 'mountpoint' ? EVENTS_PREFIX + unmount(scope.namespace, fullTopic.slice(EVENTS_PREFIX.length)) : fullTopic;
  }
  if (!isInsideTenant(fullTopic, scope.namespace)) return null;
  return scope.isolation === 'mountpoint' ? unmount(scope.namespace, fullTopic) : fullTopic;
}

/** A full topic or filter in the tenant's own view (without the namespace), as rules and flows write it; null when outside. */
export function tenantViewOf(namespace: string, full: string): string | null {
  if (full.startsWith(EVENTS_PREFIX)) {
    const rest = full.slice(EVENTS_PREFIX.length);
    return isInsideTenant(rest, namespace) ? EVENTS_PREFIX + unmount(namespace, rest) : null;
  }
  return isInsideTenant(full, namespace) ? unmount(namespace, full) : null;
}

/** The namespace-holding part of a full topic: an event topic's is after `$events/`. */
export function namespacedPart(fullTopic: string): string {
  return fullTopic.startsWith(EVENTS_PREFIX) ? fullTopic.slice(EVENTS_PREFIX.length) : fullTopic;
}

/**
 * [MQTT-4.7.2-1] in the scope's own view: a mountpoint view's topic whose first
 * level starts with `$` is matched by no filter starting with a wildcard, only
 * by an explicit `$...` filter, although mounted both start with the namespace.
 */
export function hiddenFromWildcards(scope: Scope, viewTopic: string): boolean {
  return scope.kind === 'tenant' && scope.isolation === 'mountpoint' && viewTopic.charCodeAt(0) === 36;
}

/** True when a view filter may match `$`-topics of its view: it names a `$` first level itself. */
export function namesDollarLevel(viewFilter: string): boolean {
  return viewFilter.charCodeAt(0) === 36;
}
