/**
 * Access rules inside a tenant: ordered allow/deny rules on topics written in
 * the tenant's own view, compiled once per change and evaluated first match
 * wins. `%u` stands for the login's name and `%c` for its client id, each for
 * one whole level; a placeholder never matches across a level and never stands
 * for a wildcard.
 */
import { filterProblem } from './topics';

export type RuleAction = 'publish' | 'subscribe' | 'all';

/** A rule as stored and written over HTTP. */
export interface AccessRule {
  permission: 'allow' | 'deny';
  action: RuleAction;
  /** A topic filter in the tenant's own view, `%u` and `%c` as whole levels. */
  topic: string;
  /** On an allow rule: the highest QoS granted and delivered. */
  max_qos?: 0 | 1 | 2;
}

type Level = { kind: 'literal'; value: string } | { kind: 'plus' } | { kind: 'hash' } | { kind: 'user' } | { kind: 'client' };

export interface CompiledRule {
  allow: boolean;
  publish: boolean;
  subscribe: boolean;
  levels: Level[];
  maxQos: 0 | 1 | 2;
}

/** Who the placeholders stand for. */
export interface RuleSubject {
  username: string;
  clientId: string;
}

/** The rules of one login, in evaluation order, and what applies when none matches. */
export interface Access {
  layers: ReadonlyArray<readonly CompiledRule[]>;
  defaultAllow: boolean;
  subject: RuleSubject;
}

export type AccessVerdict = { allow: true; maxQos: 0 | 1 | 2 } | { allow: false };

const FULL: AccessVerdict = { allow: true, maxQos: 2 };

/** Why a rule is unusable, or null. */
export function ruleProblem(rule: unknown): string | null {
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) return 'a rule is an object';
  const r = rule as Record<string, unknown>;
  const unknown = Object.keys(r).filter((k) => !['permission', 'action', 'topic', 'max_qos'].includes(k));
  if (unknown.length > 0) return `unknown field ${JSON.stringify(unknown[0])}`;
  if (r.permission !== 'allow' && r.permission !== 'deny') return 'permission must be "allow" or "deny"';
  if (r.action !== 'publish' && r.action !== 'subscribe' && r.action !== 'all') return 'action must be "publish", "subscribe" or "all"';
  if (typeof r.topic !== 'string') return 'topic must be a topic filter';
  const problem = filterProblem(r.topic);
  if (problem) return problem;
  for (const level of r.topic.split('/')) if (level.includes('%') && level !== '%u' && level !== '%c') return '%u and %c stand for whole levels only';
  if (r.max_qos !== undefined && r.max_qos !== 0 && r.max_qos !== 1 && r.max_qos !== 2) return 'max_qos must be 0, 1 or 2';
  if (r.max_qos !== undefined && r.permission === 'deny') return 'max_qos belongs on an allow rule';
  return null;
}

export function compileRule(rule: AccessRule): CompiledRule {
  return {
    allow: rule.permission === 'allow',
    publish: rule.action !== 'subscribe',
    subscribe: rule.action !== 'publish',
    maxQos: rule.max_qos ?? 2,
    levels: rule.topic.split('/').map((level): Level => {
      if (level === '+') return { kind: 'plus' };
      if (level === '#') return { kind: 'hash' };
      if (level === '%u') return { kind: 'user' };
      if (level === '%c') return { kind: 'client' };
      return { kind: 'literal', value: level };
    }),
  };
}

export function compileRules(rules: readonly AccessRule[]): CompiledRule[] {
  return rules.map(compileRule);
}

/** The value a placeholder level stands for; a value with `/` can never be one level, so it matches nothing. */
function placeholder(level: Level, subject: RuleSubject): string | null {
  const value = level.kind === 'user' ? subject.username : subject.clientId;
  return value.includes('/') ? null : value;
}

/**
 * A rule's filter against a topic or a requested filter, both as level lists.
 * For a topic this is MQTT matching. For a requested filter it is mosquitto's
 * rule: a wildcard in the request is covered only by the same or a broader
 * wildcard in the rule (`+` by `+` or `#`, `#` by `#`); a placeholder covers
 * only its own literal value.
 */
function covers(rule: Level[], asked: string[], subject: RuleSubject): boolean {
  for (let i = 0; i < rule.length; i++) {
    const level = rule[i];
    if (level.kind === 'hash') return true;
    if (i >= asked.length) return false;
    const part = asked[i];
    if (part === '#') return false;
    if (level.kind === 'plus') continue;
    if (part === '+') return false;
    const expected = level.kind === 'literal' ? level.value : placeholder(level, subject);
    if (expected === null || expected !== part) return false;
  }
  // `a/#` matches `a` too [MQTT-4.7.1-2]; anything else must end together
  return rule.length === asked.length;
}

/** [MQTT-4.7.2-1] a rule starting with a wildcard covers no `$`-topic of the view. */
function dollarBlocked(rule: Level[], first: string): boolean {
  return first.charCodeAt(0) === 36 && (rule[0].kind === 'plus' || rule[0].kind === 'hash');
}

function evaluate(access: Access, action: 'publish' | 'subscribe', asked: string[]): AccessVerdict {
  for (const layer of access.layers) {
    for (const rule of layer) {
      if (!(action === 'publish' ? rule.publish : rule.subscribe)) continue;
      if (dollarBlocked(rule.levels, asked[0]) || !covers(rule.levels, asked, access.subject)) continue;
      return rule.allow ? { allow: true, maxQos: rule.maxQos } : { allow: false };
    }
  }
  return access.defaultAllow ? FULL : { allow: false };
}

/** May the login publish to this topic (in the tenant's view)? */
export function mayPublish(access: Access | null, viewTopic: string): AccessVerdict {
  return access ? evaluate(access, 'publish', viewTopic.split('/')) : FULL;
}

/** May the login subscribe to this filter (in the tenant's view), and at most at which QoS? */
export function maySubscribe(access: Access | null, viewFilter: string): AccessVerdict {
  return access ? evaluate(access, 'subscribe', viewFilter.split('/')) : FULL;
}

/** May the login receive a message on this topic (in the tenant's view)? Checked on every delivery. */
export function mayReceive(access: Access | null, viewTopic: string): AccessVerdict {
  return access ? evaluate(access, 'subscribe', viewTopic.split('/')) : FULL;
}
