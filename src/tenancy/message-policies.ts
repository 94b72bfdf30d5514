/**
 * Message policies: per tenant and topic filter (in the tenant's own view),
 * checks on a publish's payload — a JSON schema (draft 2020-12), built-in
 * inspection sets, patterns, a size — with an action when one fails: `drop`
 * (the discard verdict), `close` (the connection goes) or `detect` (delivered
 * and recorded). Compiled once per change. Patterns run on RE2's linear-time
 * engine (re2js), so no pattern can make a payload cost more than its length.
 */
import Ajv2020 from 'ajv/dist/2020';
import { RE2JS } from 're2js';
import { filterProblem, topicMatches } from './topics';

export type PolicyAction = 'drop' | 'close' | 'detect';
export const POLICY_ACTIONS: readonly PolicyAction[] = ['drop', 'close', 'detect'];

/** The built-in inspection sets: see README "Message policies" for what each catches and misses. */
export const INSPECTION_SETS = {
  'sql-injection': String.raw`(?i)(\bunion\s+(all\s+)?select\b|\bselect\b[^;]{0,200}\bfrom\b|\b(drop|truncate|alter)\s+table\b|\binsert\s+into\b|\bdelete\s+from\b|'\s*(or|and)\s+'?[\w']+\s*=\s*'?[\w']|'\s*;\s*--|/\*.*\*/|\bxp_cmdshell\b|\bsleep\s*\(\s*\d+\s*\)|\bbenchmark\s*\()`,
  'command-injection': String.raw`([;&|]\s*(rm|cat|wget|curl|nc|ncat|bash|sh|zsh|python\d?|perl|php|chmod|chown|kill|shutdown|reboot)\b|\$\([^)]*\)|` + '`' + String.raw`[^` + '`' + String.raw`]*` + '`' + String.raw`|\|\|\s*\w|&&\s*\w)`,
  xss: String.raw`(?i)(<\s*script\b|<\s*/\s*script\s*>|javascript\s*:|vbscript\s*:|\bon(load|error|click|mouse\w+|focus|blur|submit|key\w+)\s*=|<\s*(iframe|object|embed|svg|img)\b[^>]*>|srcdoc\s*=|expression\s*\()`,
  'path-traversal': String.raw`(?i)(\.\.[/\\]|[/\\]\.\.|%2e%2e(%2f|%5c|/|\\)|\.\.%2f|\.\.%5c|%252e%252e|/etc/(passwd|shadow)|\\windows\\|\bc:\\)`,
} as const;
export type InspectionSet = keyof typeof INSPECTION_SETS;

/** A policy as stored and written over HTTP (snake_case, as the admin API). */
export interface MessagePolicy {
  id: number;
  tenant: string;
  topic_filter: string;
  json_schema?: object;
  inspect?: InspectionSet[];
  patterns?: string[];
  max_payload_bytes?: number;
  action: PolicyAction;
}

/** One failed check: what the audit and the counters record (never the payload). */
export interface Violation {
  policy: number;
  reason: 'schema' | 'not-json' | 'pattern' | 'too-large' | InspectionSet;
  /** The first failure, e.g. a schema error's path and message or the pattern's index. */
  detail: string;
}

export interface PolicyOutcome {
  /** The strongest action of the policies that failed (close > drop > detect). */
  action: PolicyAction;
  /** Each failed policy's first violation. */
  violations: Violation[];
}

interface Compiled {
  policy: MessagePolicy;
  validate: ((data: unknown) => boolean) & { errors?: Array<{ instancePath: string; message?: string }> | null } | null;
  patterns: RE2JS[];
  inspect: Array<[InspectionSet, RE2JS]>;
}

/** The policies of one tenant, compiled. */
export interface PolicySet {
  readonly compiled: readonly Compiled[];
}

const STRENGTH: Record<PolicyAction, number> = { detect: 0, drop: 1, close: 2 };
const builtIn = new Map<InspectionSet, RE2JS>();
function inspection(set: InspectionSet): RE2JS {
  let re = builtIn.get(set);
  if (!re) builtIn.set(set, (re = RE2JS.compile(INSPECTION_SETS[set])));
  return re;
}

let ajv: Ajv2020 | null = null;

/** Why a policy (its fields other than id and tenant) is unusable, or null; compiles the schema and patterns to find out. */
export function policyProblem(policy: Omit<MessagePolicy, 'id' | 'tenant'>): string | null {
  try {
    compile({ ...policy, id: 0, tenant: '' });
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

function compile(policy: MessagePolicy): Compiled {
  const problem = filterProblem(policy.topic_filter);
  if (problem) throw new Error(`topic_filter: ${problem}`);
  if (!POLICY_ACTIONS.includes(policy.action)) throw new Error('action must be "drop", "close" or "detect"');
  if (policy.max_payload_bytes !== undefined && (!Number.isInteger(policy.max_payload_bytes) || policy.max_payload_bytes < 1)) throw new Error('max_payload_bytes must be a whole number, 1 or more');
  let validate: Compiled['validate'] = null;
  if (policy.json_schema !== undefined) {
    if (typeof policy.json_schema !== 'object' || policy.json_schema === null || Array.isArray(policy.json_schema)) throw new Error('json_schema must be a JSON schema object');
    ajv ??= new Ajv2020({ allErrors: false, strict: false });
    try {
      validate = ajv.compile(policy.json_schema);
    } catch (err) {
      throw new Error(`json_schema: ${(err as Error).message}`);
    }
  }
  const inspect = (policy.inspect ?? []).map((set): [InspectionSet, RE2JS] => {
    if (!(set in INSPECTION_SETS)) throw new Error(`inspect: unknown set ${JSON.stringify(set)} (${Object.keys(INSPECTION_SETS).join(', ')})`);
    return [set, inspection(set)];
  });
  const patterns = (policy.patterns ?? []).map((pattern, i) => {
    if (typeof pattern !== 'string' || pattern.length > 1000) throw new Error(`patterns[${i}]: a pattern is a string of at most 1000 characters`);
    try {
      return RE2JS.compile(pattern);
    } catch (err) {
      // RE2 has no backreferences or lookaround: what needs them cannot run in linear time
      throw new Error(`patterns[${i}]: ${(err as Error).message}`);
    }
  });
  if (!validate && inspect.length === 0 && patterns.length === 0 && policy.max_payload_bytes === undefined) throw new Error('a policy needs json_schema, inspect, patterns or max_payload_bytes');
  return { policy, validate, patterns, inspect };
}

export function compilePolicies(policies: readonly MessagePolicy[]): PolicySet {
  return { compiled: policies.map(compile) };
}

/** Every policy of the set whose filter matches the topic (in the tenant's view) checks the payload; null when all pass. */
export function checkMessage(set: PolicySet | undefined, viewTopic: string, payload: Buffer): PolicyOutcome | null {
  if (!set || set.compiled.length === 0) return null;
  let outcome: PolicyOutcome | null = null;
  let text: string | null = null;
  for (const c of set.compiled) {
    if (!topicMatches(c.policy.topic_filter, viewTopic)) continue;
    text ??= payload.toString('utf8');
    const violation = firstViolation(c, payload, text);
    if (!violation) continue;
    if (!outcome) outcome = { action: c.policy.action, violations: [violation] };
    else {
      outcome.violations.push(violation);
      if (STRENGTH[c.policy.action] > STRENGTH[outcome.action]) outcome.action = c.policy.action;
    }
  }
  return outcome;
}

function firstViolation(c: Compiled, payload: Buffer, text: string): Violation | null {
  const id = c.policy.id;
  const max = c.policy.max_payload_bytes;
  if (max !== undefined && payload.length > max) return { policy: id, reason: 'too-large', detail: `${payload.length} bytes > ${max}` };
  if (c.validate) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      return { policy: id, reason: 'not-json', detail: 'the payload is not JSON' };
    }
    if (!c.validate(data)) {
      const error = c.validate.errors?.[0];
      return { policy: id, reason: 'schema', detail: `${error?.instancePath || '/'} ${error?.message ?? 'does not match'}`.slice(0, 200) };
    }
  }
  for (const [set, re] of c.inspect) if (re.matcher(text).find()) return { policy: id, reason: set, detail: set };
  for (let i = 0; i < c.patterns.length; i++) if (c.patterns[i].matcher(text).find()) return { policy: id, reason: 'pattern', detail: `patterns[${i}]` };
  return null;
}
