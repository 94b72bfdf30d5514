/**
 * Pure MQTT topic helpers: tenant names, mounting a tenant prefix onto a topic
 * or filter and stripping it again, and MQTT 3.1.1 wildcard matching.
 * No I/O, no state: every isolation decision in the engine is built on these.
 */

export const TENANT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const ROOT_USER = 'root';
/** Scope of an in-process subscription that spans every tenant. */
export const ALL_TENANTS = '*';
/** [MQTT-1.5.3] strings are at most 65,535 bytes. */
export const MAX_TOPIC_BYTES = 65535;
/** Levels of a full topic or filter: the broker sets aedes' `maxTopicLevels` to this (qlobber's matching cost grows with them). */
export const MAX_TOPIC_LEVELS = 100;

export function levelCount(topic: string): number {
  let levels = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 47) levels++;
  return levels;
}

/** Why a tenant name is unusable, or null when it is a valid tenant name. */
export function tenantNameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'a tenant name is required';
  if (name === ROOT_USER) return `"${ROOT_USER}" is reserved`;
  if (!TENANT_NAME_PATTERN.test(name)) {
    return 'a tenant name is 1 to 64 characters: letters, digits, "_", "." and "-", starting with a letter or digit';
  }
  return null;
}

/** Why a namespace (a tenant's topic prefix of one or more levels) is unusable, or null. */
export function namespaceProblem(namespace: unknown): string | null {
  if (typeof namespace !== 'string' || namespace.length === 0) return 'a namespace is a topic prefix of one or more levels';
  if (Buffer.byteLength(namespace) > 1024) return 'a namespace is at most 1024 bytes';
  if (namespace.charCodeAt(0) === 36) return 'a namespace must not start with $';
  for (const level of namespace.split('/')) {
    if (level === '') return 'a namespace has no empty level';
    if (/[+#\u0000]/.test(level)) return 'a namespace holds no +, # or null character';
  }
  return null;
}

/** Two namespaces overlap when one equals the other or lies inside it at a level boundary. */
export function namespacesOverlap(a: string, b: string): boolean {
  return a === b || isInsideTenant(a, b) || isInsideTenant(b, a);
}

export function hasWildcard(topic: string): boolean {
  return topic.includes('+') || topic.includes('#');
}

/** The first level of a topic: the tenant, for a full topic. */
export function firstLevel(topic: string): string {
  const slash = topic.indexOf('/');
  return slash === -1 ? topic : topic.slice(0, slash);
}

/** True when a concrete topic lies inside the tenant's namespace (`<tenant>/...`). */
export function isInsideTenant(topic: string, tenant: string): boolean {
  return topic.length > tenant.length + 1 && topic.charCodeAt(tenant.length) === 47 && topic.startsWith(tenant);
}

/**
 * True when every topic a filter can match lies inside the tenant's namespace:
 * the first level is the tenant itself, never a wildcard, and a later level
 * exists (`<tenant>/#` also matches the parent `<tenant>` [MQTT-4.7.1-2], a
 * topic nobody but root can publish and that delivery drops anyway).
 */
export function filterIsInsideTenant(filter: string, tenant: string): boolean {
  return isInsideTenant(filter, tenant);
}

export function mount(tenant: string, topic: string): string {
  return tenant + '/' + topic;
}

/** Strips `<tenant>/`; the caller has checked `isInsideTenant`. */
export function unmount(tenant: string, topic: string): string {
  return topic.slice(tenant.length + 1);
}

/** Problem with a topic name for PUBLISH, or null. */
export function publishTopicProblem(topic: unknown): string | null {
  if (typeof topic !== 'string' || topic.length === 0) return 'a topic is required';
  if (hasWildcard(topic)) return 'a topic to publish to must not contain + or #';
  if (topic.includes('\u0000')) return 'a topic must not contain the null character';
  if (Buffer.byteLength(topic) > MAX_TOPIC_BYTES) return 'a topic is at most 65535 bytes';
  return null;
}

/** Problem with a topic filter for SUBSCRIBE, or null ([MQTT-4.7.1]). */
export function filterProblem(filter: unknown): string | null {
  if (typeof filter !== 'string' || filter.length === 0) return 'a topic filter is required';
  if (filter.includes('\u0000')) return 'a topic filter must not contain the null character';
  if (Buffer.byteLength(filter) > MAX_TOPIC_BYTES) return 'a topic filter is at most 65535 bytes';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) {
      return '# must be a whole level and the last one';
    }
    if (level.includes('+') && level !== '+') return '+ must be a whole level';
  }
  return null;
}

/**
 * MQTT 3.1.1 topic matching [MQTT-4.7]: `+` matches one level, a trailing `#`
 * matches the parent level and any below it, and a filter starting with a
 * wildcard never matches a topic starting with `$` [MQTT-4.7.2-1].
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.charCodeAt(0) === 36 && (filter.charCodeAt(0) === 43 || filter.charCodeAt(0) === 35)) {
    return false;
  }
  let f = 0;
  let t = 0;
  const fl = filter.length;
  const tl = topic.length;
  while (f < fl) {
    const fc = filter.charCodeAt(f);
    if (fc === 35) return true; // '#'
    if (fc === 43) {
      // '+': consume one level of the topic
      while (t < tl && topic.charCodeAt(t) !== 47) t++;
      f++;
    } else {
      if (t >= tl) {
        // `a/#` matches `a`: the filter's remainder is exactly "/#"
        return f === fl - 2 && fc === 47 && filter.charCodeAt(f + 1) === 35;
      }
      if (fc !== topic.charCodeAt(t)) return false;
      f++;
      t++;
    }
  }
  return t === tl;
}
