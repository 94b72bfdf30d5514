import { TenantBrokerError } from '../errors';
import type { FlowAuthProvider } from './flow-provider';
import { HttpAuthProvider, type HttpAuthOptions } from './http-provider';
import { JwtProvider, type JwtProviderOptions } from './jwt-provider';
import type { AuthProvider } from './provider';

export type ProviderConfig = ({ kind: 'jwt' } & JwtProviderOptions) | ({ kind: 'http' } & HttpAuthOptions) | { kind: 'flow' };

export interface AuthSettings {
  /** Asked after the registry, in this order; each kind at most once. Default none. */
  providers?: ProviderConfig[];
  /** How long a provider's allow is reused for the same credentials, client id and peer address; 0: never. Default 5000 ms. */
  cacheTtlMs?: number;
  /** Let the HTTP and flow providers make a login root (`is_superuser`). Default false; a JWT never can. */
  allowSuperuser?: boolean;
}

export const AUTH_DEFAULTS = { cacheTtlMs: 5000, allowSuperuser: false };

/** The providers of a chain, built once; the flow provider is the broker's own (a `tenant-auth` node attaches to it). */
export function buildProviders(configs: readonly ProviderConfig[], flow: FlowAuthProvider): AuthProvider[] {
  const seen = new Set<string>();
  return configs.map((config) => {
    if (seen.has(config.kind)) throw new TenantBrokerError(`the ${config.kind} provider is configured twice`, 'errors.provider-twice', { kind: config.kind });
    seen.add(config.kind);
    switch (config.kind) {
      case 'jwt':
        return new JwtProvider(config);
      case 'http':
        return new HttpAuthProvider(config);
      case 'flow':
        return flow;
      default:
        throw new TenantBrokerError(`unknown authentication provider ${JSON.stringify((config as { kind: unknown }).kind)}`, 'errors.provider-unknown', {});
    }
  });
}
