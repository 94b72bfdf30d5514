/**
 * The engine's public surface: Node-RED adapters, tests and benchmarks import
 * from here and nowhere deeper.
 */
export { BrokerHost, REGISTRY_WEBHOOK_PREFIX } from './broker/broker-host';
export type { BoundAddresses, BrokerHostOptions, BrokerStats, InProcessMessage, InProcessSubscription, PublishOptions, SubscribeOptions } from './broker/broker-host';
export type { ClientInfo } from './broker/connections';
export type { TlsFiles, Transport } from './broker/listeners';
export { TenantBrokerError } from './errors';
export type { ErrorCode } from './errors';
export type { ConnectionRefused, EngineEvents, LimitApplied, PublishDenied, PublishedMessage, RefusalReason, SubscribeDenied } from './events';
export { REFUSAL_RETURN_CODES } from './events';
export { ISOLATION_STYLES, Registry } from './registry/registry';
export type { IsolationStyle, NewTenant, NewWebhook, Tenant, TenantChange, TenantDefaults, TenantPatch, Webhook } from './registry/registry';
export { LIMIT_FIELDS } from './registry/limits';
export type { TenantLimits } from './registry/limits';
export type { AuditCategory, AuditEvent } from './audit/audit-log';
export type { TrafficFigures } from './broker/traffic';
export type { TopicStat } from './registry/topic-stats';
export { ALL_TENANTS, filterProblem, publishTopicProblem, ROOT_USER, tenantNameProblem, topicMatches } from './tenancy/topics';
export { errorResponse, parseNewTenant, parseTenantPatch, requireUsername, tenantView } from './admin/tenant-api';
export type { TenantView } from './admin/tenant-api';
export { decodePayload, encodePayload } from './flows/payloads';
export type { PayloadType } from './flows/payloads';
export { WebhookDispatcher, WebhookEvent, validateWebhookUrl, verifySignature, WebhookConfigError } from './webhooks';
export type { DeliveryResult, DroppedMessage, RetryNotice, WebhookCounters, WebhookHealthChange, WebhookSpec } from './webhooks';
export type { FabricOptions, PersistenceChoice } from './broker/fabric';
export { AdminServer, ADMIN_DEFAULTS, isLoopbackHost } from './admin/admin-server';
export type { AdminServerOptions } from './admin/admin-server';
export { AdminRoutes, ROUTE_KEYS } from './admin/routes';
export type { AdminRequest, AdminResponse, RouteKey } from './admin/routes';
export { escapeLabelValue, renderMetrics, METRICS_CONTENT_TYPE } from './admin/metrics';
export { openApiDocument } from './admin/openapi';
export type { WebhookView } from './admin/webhook-api';
