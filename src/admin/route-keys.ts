/** Every route of the admin API, as `METHOD /path`; openapi.ts must describe each (its type says so). */
export const ROUTE_KEYS = [
  'GET /internal/stats',
  'GET /internal/tenants',
  'POST /internal/tenant/add',
  'POST /internal/tenant/update',
  'POST /internal/tenant/remove',
  'POST /internal/tenant/kick',
  'GET /internal/webhooks',
  'POST /internal/webhook/add',
  'POST /internal/webhook/update',
  'POST /internal/webhook/remove',
  'GET /internal/policies',
  'POST /internal/policy/add',
  'POST /internal/policy/update',
  'POST /internal/policy/remove',
  'GET /internal/topics',
  'POST /internal/reload',
  'GET /internal/audit',
  'GET /metrics',
  'GET /internal/openapi.json',
] as const;

export type RouteKey = (typeof ROUTE_KEYS)[number];
