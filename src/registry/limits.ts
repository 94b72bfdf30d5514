import { invalid } from '../errors';
import { DEFAULT_ACCESS_MODES, DENIED_PUBLISH_MODES, type TenantLimits } from '../model';

export type { TenantLimits } from '../model';

type Kind = 'count' | 'qos' | 'boolean' | 'choice';

/** Each limit once: its field, its column (also its JSON name over HTTP), its kind and default. */
export const LIMIT_FIELDS: ReadonlyArray<{ key: keyof TenantLimits; column: string; kind: Kind; fallback: number | boolean | string; choices?: readonly string[] }> = [
  { key: 'maxConnections', column: 'max_connections', kind: 'count', fallback: 0 },
  { key: 'maxMsgsPerSec', column: 'max_msgs_per_sec', kind: 'count', fallback: 0 },
  { key: 'maxTenantMsgsPerSec', column: 'max_tenant_msgs_per_sec', kind: 'count', fallback: 0 },
  { key: 'maxPayloadBytes', column: 'max_payload_bytes', kind: 'count', fallback: 0 },
  { key: 'maxQos', column: 'max_qos', kind: 'qos', fallback: 2 },
  { key: 'allowRetain', column: 'allow_retain', kind: 'boolean', fallback: true },
  { key: 'maxSubscriptions', column: 'max_subscriptions', kind: 'count', fallback: 0 },
  { key: 'deniedPublish', column: 'denied_publish', kind: 'choice', fallback: 'close', choices: DENIED_PUBLISH_MODES },
  { key: 'deviceDefaultAccess', column: 'device_default_access', kind: 'choice', fallback: 'allow', choices: DEFAULT_ACCESS_MODES },
  { key: 'maxQueuedMessages', column: 'max_queued_messages', kind: 'count', fallback: 0 },
  { key: 'maxQueuedBytes', column: 'max_queued_bytes', kind: 'count', fallback: 0 },
  { key: 'maxRetainedMessages', column: 'max_retained_messages', kind: 'count', fallback: 0 },
  { key: 'maxRetainedBytes', column: 'max_retained_bytes', kind: 'count', fallback: 0 },
];

export const NO_LIMITS: TenantLimits = Object.fromEntries(LIMIT_FIELDS.map((f) => [f.key, f.fallback])) as unknown as TenantLimits;

/** Checks one limit value, named as the caller knows it (`field`). */
export function checkLimit(key: keyof TenantLimits, value: unknown, field: string = key): number | boolean | string {
  const spec = LIMIT_FIELDS.find((f) => f.key === key)!;
  if (spec.kind === 'choice') {
    if (typeof value !== 'string' || !spec.choices!.includes(value)) throw invalid(`${field} must be ${spec.choices!.map((c) => JSON.stringify(c)).join(' or ')}`, 'errors.bad-field', { field });
    return value;
  }
  if (spec.kind === 'boolean') {
    if (typeof value !== 'boolean') throw invalid(`${field} must be true or false`, 'errors.bad-field', { field });
    return value;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || (spec.kind === 'qos' && value > 2)) {
    const what = spec.kind === 'qos' ? '0, 1 or 2' : 'a whole number, 0 or more (0: no limit)';
    throw invalid(`${field} must be ${what}`, 'errors.bad-number', { field });
  }
  return value;
}

/** Limits from a partial set, checked, with the rest from `base`. */
export function mergeLimits(base: TenantLimits, patch: Partial<TenantLimits>): TenantLimits {
  const merged = { ...base } as Record<keyof TenantLimits, number | boolean | string>;
  for (const { key } of LIMIT_FIELDS) if (patch[key] !== undefined) merged[key] = checkLimit(key, patch[key]);
  return merged as unknown as TenantLimits;
}

export function limitsFromRow(row: Record<string, unknown>): TenantLimits {
  const limits = {} as Record<keyof TenantLimits, number | boolean | string>;
  for (const { key, column, kind } of LIMIT_FIELDS) limits[key] = kind === 'boolean' ? row[column] === 1 : (row[column] as number | string);
  return limits as unknown as TenantLimits;
}

export function limitsToRow(limits: TenantLimits): Record<string, number | string> {
  const row: Record<string, number | string> = {};
  for (const { key, column, kind } of LIMIT_FIELDS) row[column] = kind === 'choice' ? String(limits[key]) : Number(limits[key]);
  return row;
}
