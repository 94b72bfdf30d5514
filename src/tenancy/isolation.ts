import type { IsolationStyle } from '../registry/registry';
import { filterIsInsideTenant, isInsideTenant, mount, MAX_TOPIC_BYTES, unmount } from './topics';

/**
 * Whose view of the topic tree a client or an in-process caller has:
 * - root: the whole tree, topics as they are;
 * - a tenant in `prefix` style: topics written in full, `<tenant>/...`;
 * - a tenant in `mountpoint` style: topics written without the prefix, which
 *   the broker adds on the way in and strips on the way out.
 */
export type Scope =
  | { readonly kind: 'root' }
  | { readonly kind: 'tenant'; readonly tenant: string; readonly isolation: IsolationStyle };

export const ROOT_SCOPE: Scope = { kind: 'root' };

/** Why a PUBLISH or SUBSCRIBE was refused: the namespace rules here, the tenant's limits in hooks.ts. */
export type DenialReason = 'outside-namespace' | 'reserved-topic' | 'topic-too-long' | 'payload-too-large' | 'rate-limit' | 'too-many-subscriptions';

export type Inbound = { ok: true; topic: string } | { ok: false; reason: DenialReason };

const SYS_PREFIX = '$SYS/';

function denied(reason: DenialReason): Inbound {
  return { ok: false, reason };
}

function mounted(tenant: string, topic: string): Inbound {
  const full = mount(tenant, topic);
  // a UTF-16 unit is at most 3 UTF-8 bytes: only long topics need counting
  return full.length * 3 > MAX_TOPIC_BYTES && Buffer.byteLength(full) > MAX_TOPIC_BYTES ? denied('topic-too-long') : { ok: true, topic: full };
}

/**
 * The full topic a PUBLISH (or will) of this scope goes to, or why it may not.
 * A tenant's first level below its prefix may not start with `$`: those names
 * are the broker's [MQTT-4.7.2], and a mountpoint client must not be able to
 * fake `$SYS` inside its own view either.
 */
export function inboundTopic(scope: Scope, topic: string): Inbound {
  if (scope.kind === 'root') {
    return topic.startsWith(SYS_PREFIX) ? denied('reserved-topic') : { ok: true, topic };
  }
  if (scope.isolation === 'mountpoint') {
    return topic.charCodeAt(0) === 36 ? denied('reserved-topic') : mounted(scope.tenant, topic);
  }
  if (!isInsideTenant(topic, scope.tenant)) return denied('outside-namespace');
  return topic.charCodeAt(scope.tenant.length + 1) === 36 ? denied('reserved-topic') : { ok: true, topic };
}

/**
 * The full topic filter a SUBSCRIBE (or UNSUBSCRIBE) of this scope stands for.
 * `$`-filters (`$SYS/#`, `$share/...`) are root's alone: aedes has no shared
 * subscriptions, so `$share/g/x` would be a literal filter anyway.
 */
export function inboundFilter(scope: Scope, filter: string): Inbound {
  if (scope.kind === 'root') return { ok: true, topic: filter };
  if (scope.isolation === 'mountpoint') {
    return filter.charCodeAt(0) === 36 ? denied('reserved-topic') : mounted(scope.tenant, filter);
  }
  return filterIsInsideTenant(filter, scope.tenant) ? { ok: true, topic: filter } : denied('outside-namespace');
}

/** The topic a message on `fullTopic` is delivered under to this scope, or null: not for it. */
export function outboundTopic(scope: Scope, fullTopic: string): string | null {
  if (scope.kind === 'root') return fullTopic;
  if (!isInsideTenant(fullTopic, scope.tenant)) return null;
  return scope.isolation === 'mountpoint' ? unmount(scope.tenant, fullTopic) : fullTopic;
}
