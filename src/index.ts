/**
 * The engine's public surface: what a user of the engine needs (the broker,
 * the registry, their options and events, errors) and what the Node-RED
 * adapters use. Adapters import from here and nowhere deeper.
 */
export { BrokerHost } from './broker/broker-host';
export type { BoundAddresses, BrokerHostOptions, BrokerStats } from './broker/broker-host';
export type { InProcessMessage, InProcessSubscription, PublishOptions, SubscribeOptions } from './broker/in-process';
export { REGISTRY_WEBHOOK_PREFIX } from './broker/webhook-routing';
export type { FlowWebhookSpec } from './broker/webhook-routing';
export type { TlsFiles } from './broker/listeners';
export type { TrafficFigures } from './broker/traffic';
export type { FabricOptions, PersistenceChoice } from './broker/fabric';
export { AUTH_DEFAULTS } from './auth/chain-config';
export type { AuthSettings, ProviderConfig } from './auth/chain-config';
export { FLOW_AUTH_DEFAULTS } from './auth/flow-provider';
export type { FlowAuthHandler, FlowAuthProvider, FlowLoginRequest } from './auth/flow-provider';
export { HTTP_AUTH_DEFAULTS } from './auth/http-provider';
export { MAX_JWT_CLOCK_TOLERANCE_SECONDS } from './auth/jwt-provider';
export type { LoginAttempt } from './auth/provider';

export { Registry } from './registry/registry';
export type { Device, DevicePatch, NewDevice, NewTenant, NewWebhook, Role, Tenant, TenantChange, TenantDefaults, TenantPatch, Webhook } from './registry/registry';
export type { AccessRule } from './tenancy/rules';
export { CERTIFICATE_IDENTITY_SOURCES, type CertificateIdentitySource } from './tenancy/certificate-identity';
export { LIMIT_FIELDS } from './registry/limits';
export type { AuditCategory, AuditEvent } from './audit/audit-log';
export type { TopicStat } from './registry/topic-stats';

export { ISOLATION_STYLES, REFUSAL_RETURN_CODES } from './model';
export type { ClientInfo, DeniedPublish, StorageLimitReason, IsolationStyle, PublishedMessage, RefusalReason, TenantLimits, Transport } from './model';
export type { ConnectionRefused, ConnectionShed, EngineEvents, LimitApplied, PublishDenied, StorageLimit, SubscribeDenied, WillDropped } from './events';
export { ALL_TENANTS, ROOT_USER } from './tenancy/topics';

export { TenantBrokerError } from './errors';
export type { ErrorCode } from './errors';
export { ADMIN_DEFAULTS, BROKER_DEFAULTS, portSetting, WEBHOOK_DEFAULTS, wholeSetting } from './defaults';

export { decodePayload, encodePayload } from './flows/payloads';
export type { PayloadType } from './flows/payloads';

export { WebhookDispatcher, verifySignature, WebhookConfigError } from './webhooks';
export type { DeliveryResult, DroppedMessage, RetryNotice, WebhookCounters, WebhookHealthChange, WebhookSpec } from './webhooks';

export { AdminServer } from './admin/admin-server';
export type { AdminServerOptions } from './admin/admin-server';
export { TenantService } from './admin/tenant-service';
export { DeviceService } from './admin/device-service';
export { RoleService } from './admin/role-service';
export { ClientService } from './admin/client-service';
export type { ConnectionInfoView } from './admin/client-service';
export type { TenantView } from './admin/tenant-api';
export type { ClientView, DeviceView, RoleView } from './admin/device-api';
export type { LiveClient } from './broker/live-clients';
export { errorResponse } from './admin/tenant-api';
