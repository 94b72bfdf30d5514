/**
 * The QoS a client was granted per filter, and the highest granted QoS among
 * the filters matching a topic, found without looking at every filter: a
 * lookup walks a tree of filter levels, visiting only branches the topic's
 * levels can follow (an exact level, `+`, `#`). Its cost depends on the
 * topic's depth and on the filters that match, never on how many filters the
 * client holds. The tree is built on the first lookup that needs it (a client
 * holding only exact filters never has one) and kept in step from then on.
 */

interface Level {
  children: Map<string, Level> | null;
  /** QoS of the filter ending at this level, or -1. */
  qos: number;
  /** QoS of the filter `<this level>/#`, or -1. */
  rest: number;
}

const level = (): Level => ({ children: null, qos: -1, rest: -1 });

const isWildcardFilter = (filter: string) => filter.includes('+') || filter.includes('#');

export class GrantIndex {
  /** Every filter held, with its granted QoS (made on the first: most connections of a fleet hold few or none). */
  private exact: Map<string, 0 | 1 | 2> | null = null;
  private wildcards = 0;
  private tree: Level | null = null;
  /** Tree levels visited by the last lookup: the work it did (tests compare it, never a duration). */
  lastVisits = 0;

  get size(): number {
    return this.exact?.size ?? 0;
  }

  has(filter: string): boolean {
    return this.exact?.has(filter) ?? false;
  }

  hold(filter: string, qos: 0 | 1 | 2): void {
    this.exact ??= new Map();
    const before = this.exact.get(filter);
    if (before === qos) return;
    this.exact.set(filter, qos);
    if (!isWildcardFilter(filter)) return;
    if (before === undefined) this.wildcards++;
    if (this.tree) place(this.tree, filter, qos);
  }

  release(filter: string): void {
    if (!this.exact?.delete(filter) || !isWildcardFilter(filter)) return;
    this.wildcards--;
    if (this.wildcards === 0) this.tree = null;
    else if (this.tree) unplace(this.tree, filter);
  }

  /**
   * The highest QoS granted to a filter matching `topic`, or -1 when none
   * does. A filter starting with a wildcard does not match a `$` topic
   * [MQTT-4.7.2-1].
   */
  highest(topic: string): -1 | 0 | 1 | 2 {
    this.lastVisits = 0;
    if (this.exact === null) return -1;
    const exact = this.exact.get(topic);
    if (exact === 2 || this.wildcards === 0) return exact ?? -1;
    if (!this.tree) {
      this.tree = level();
      for (const [filter, qos] of this.exact) if (isWildcardFilter(filter)) place(this.tree, filter, qos);
    }
    const levels = topic.split('/');
    const dollar = topic.charCodeAt(0) === 36;
    let best: number = exact ?? -1;
    // depth-first over (tree level, topic level): only branches the topic can follow
    const stack: Array<[Level, number]> = [[this.tree, 0]];
    while (stack.length > 0 && best < 2) {
      const [node, depth] = stack.pop()!;
      this.lastVisits++;
      const wild = !(dollar && depth === 0);
      if (wild && node.rest > best) best = node.rest; // `#` matches this level and below, `a/#` matches `a` too
      if (depth === levels.length) {
        if (node.qos > best) best = node.qos;
        continue;
      }
      const children = node.children;
      if (!children) continue;
      const same = children.get(levels[depth]);
      if (same) stack.push([same, depth + 1]);
      const plus = wild ? children.get('+') : undefined;
      if (plus && plus !== same) stack.push([plus, depth + 1]);
    }
    return best as -1 | 0 | 1 | 2;
  }
}

function place(root: Level, filter: string, qos: number): void {
  const parts = filter.split('/');
  let node = root;
  const last = parts[parts.length - 1] === '#' ? parts.length - 1 : parts.length;
  for (let i = 0; i < last; i++) {
    node.children ??= new Map();
    let next = node.children.get(parts[i]);
    if (!next) node.children.set(parts[i], (next = level()));
    node = next;
  }
  if (last < parts.length) node.rest = qos;
  else node.qos = qos;
}

/** Removes a filter and every level it alone kept, so subscribe/unsubscribe churn does not grow the tree. */
function unplace(root: Level, filter: string): void {
  const parts = filter.split('/');
  const last = parts[parts.length - 1] === '#' ? parts.length - 1 : parts.length;
  const path: Level[] = [root];
  for (let i = 0; i < last; i++) {
    const next = path[i].children?.get(parts[i]);
    if (!next) return;
    path.push(next);
  }
  const end = path[last];
  if (last < parts.length) end.rest = -1;
  else end.qos = -1;
  for (let i = last; i > 0; i--) {
    const node = path[i];
    if (node.qos !== -1 || node.rest !== -1 || (node.children && node.children.size > 0)) break;
    const parent = path[i - 1];
    parent.children!.delete(parts[i - 1]);
    if (parent.children!.size === 0) parent.children = null;
  }
}
