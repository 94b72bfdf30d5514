/**
 * Errors the engine throws carry an i18n key and parameters, so the Node-RED
 * adapters can translate them with `RED._(key, params)`; `message` is the
 * English text for everything else (logs, the admin API, tests).
 */
export class TenantBrokerError extends Error {
  constructor(
    message: string,
    readonly key: string,
    readonly params: Record<string, unknown> = {},
    readonly code: ErrorCode = 'invalid',
  ) {
    super(message);
    this.name = 'TenantBrokerError';
  }
}

/** What kind of failure: the admin API maps these to HTTP status codes. */
export type ErrorCode = 'invalid' | 'not-found' | 'conflict' | 'unavailable';

export function invalid(message: string, key = 'errors.invalid', params: Record<string, unknown> = {}): TenantBrokerError {
  return new TenantBrokerError(message, key, { ...params, reason: message }, 'invalid');
}

export function notFound(message: string, key = 'errors.not-found', params: Record<string, unknown> = {}): TenantBrokerError {
  return new TenantBrokerError(message, key, params, 'not-found');
}

export function conflict(message: string, key = 'errors.conflict', params: Record<string, unknown> = {}): TenantBrokerError {
  return new TenantBrokerError(message, key, params, 'conflict');
}
