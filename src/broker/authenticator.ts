import type { Registry } from '../registry/registry';
import { secretsEqual } from '../registry/passwords';
import type { LoginFailures } from '../tenancy/login';
import type { AllowAnswer } from '../tenancy/providers';
import { ROOT_USER } from '../tenancy/topics';
import { AllowCache } from '../auth/answer-cache';
import { looksLikeJwt } from '../auth/jwt-provider';
import { ProviderFailure, type AuthProvider, type LoginAttempt, type ProviderName } from '../auth/provider';

/** What the chain of providers found for a login, before the policy core admits it. */
export type LoginResult =
  /**
   * The registry's (or root's) own check. `passwordOk` false: no provider
   * allowed or denied either (CONNACK 4, or 5 while throttled).
   */
  | { kind: 'registry'; passwordOk: boolean; throttled: boolean; via?: 'certificate' }
  | { kind: 'provider'; provider: ProviderName; answer: AllowAnswer; mayGrantSuperuser: boolean; cached: boolean }
  | { kind: 'refused'; provider: ProviderName; reason: 'provider-denied' | 'provider-failed'; detail?: string };


export type AuthResult = 'allow' | 'deny' | 'ignore' | 'failure' | 'cached';

export interface AuthOptions {
  /** Asked in this order after the registry. */
  providers: AuthProvider[];
  /** How long a provider's allow is reused for the same credentials, client id and peer; 0: never. Default 5000. */
  cacheTtlMs: number;
}

/**
 * The provider chain every way in (MQTT, the HTTP publish adapter) asks: the
 * failure throttle, root, the registry (hashing turns), then the configured
 * providers in order, each answering allow, deny or "not mine". Nothing
 * passes without an explicit allow. Rejects with HashingBusy when the
 * username's hashing queue is full.
 *
 * A password shaped as a JWT, with a JWT provider configured, is a token: the
 * registry does not hash it. A throttled login is asked of the registry (a
 * password verified before) and of providers that cost no I/O; not of an HTTP
 * service or a flow, unless an allow for it is cached.
 */
export class Authenticator {
  readonly cache: AllowCache;
  private readonly counts = new Map<string, number>();
  private readonly jwtConfigured: boolean;
  private readonly onTenantChanged = (change: { username: string }) => this.cache.forget(change.username);

  constructor(
    private readonly registry: Registry,
    private readonly failures: LoginFailures,
    private readonly rootPassword: () => string | undefined,
    private readonly options: AuthOptions = { providers: [], cacheTtlMs: 0 },
  ) {
    this.cache = new AllowCache(options.cacheTtlMs);
    this.jwtConfigured = options.providers.some((p) => p.name === 'jwt');
    if (options.providers.length > 0) {
      registry.on('tenant-changed', this.onTenantChanged);
      registry.on('device-changed', this.onTenantChanged);
    }
  }

  get providers(): readonly AuthProvider[] {
    return this.options.providers;
  }

  async check(attempt: LoginAttempt): Promise<LoginResult> {
    if (attempt.certificate) return this.checkCertificate(attempt.certificate.identity);
    const { username } = attempt;
    const now = Date.now();
    const throttled = this.failures.locked(username, attempt.peerhost, now);
    if (username === ROOT_USER) {
      const root = this.rootPassword();
      return { kind: 'registry', passwordOk: root !== undefined && secretsEqual(attempt.password, root), throttled };
    }
    const cached = this.cache.get(attempt, now);
    if (cached) {
      this.count(cached.provider, 'cached');
      const mayGrantSuperuser = this.options.providers.find((p) => p.name === cached.provider)?.mayGrantSuperuser ?? false;
      return { kind: 'provider', provider: cached.provider, answer: cached.answer, mayGrantSuperuser, cached: true };
    }
    if (!(this.jwtConfigured && looksLikeJwt(attempt.password))) {
      const secret = attempt.password.toString('utf8');
      const passwordOk = throttled ? this.registry.passwordVerifiedBefore(username, secret) : await this.registry.verifyPassword(username, secret);
      this.count('registry', passwordOk ? 'allow' : 'ignore');
      if (passwordOk) return { kind: 'registry', passwordOk, throttled };
    }
    for (const provider of this.options.providers) {
      if (throttled && provider.remote) continue;
      let answer;
      try {
        answer = await provider.authenticate(attempt);
      } catch (err) {
        this.count(provider.name, 'failure');
        return { kind: 'refused', provider: provider.name, reason: 'provider-failed', detail: err instanceof ProviderFailure ? err.reason : (err as Error).message };
      }
      this.count(provider.name, answer.result);
      if (answer.result === 'ignore') continue;
      if (answer.result === 'deny') return { kind: 'refused', provider: provider.name, reason: 'provider-denied' };
      if (answer.expiresAt === undefined || answer.expiresAt > Date.now()) this.cache.put(attempt, provider.name, answer, Date.now());
      return { kind: 'provider', provider: provider.name, answer, mayGrantSuperuser: provider.mayGrantSuperuser, cached: false };
    }
    return { kind: 'registry', passwordOk: false, throttled };
  }

  /**
   * The certificate step: on a listener that takes identities from client
   * certificates, the verified certificate is the only credential. The login
   * it names is admitted as a registry login whose password verified (its
   * enabled flag, quotas and client id binding still apply); an identity that
   * is no registry login (root never is) ends the chain with CONNACK 4. No
   * provider is asked, nothing is cached, and there is nothing to throttle:
   * a certificate cannot be guessed.
   */
  private checkCertificate(identity: string | null): LoginResult {
    const passwordOk = identity !== null && identity !== ROOT_USER && this.registry.login(identity) !== undefined;
    this.count('certificate', passwordOk ? 'allow' : 'ignore');
    return { kind: 'registry', passwordOk, throttled: false, via: 'certificate' };
  }

  /** Resolves once every provider can answer; rejects with the first that cannot (a bad key file). */
  async ready(): Promise<void> {
    await Promise.all(this.options.providers.map(async (p) => p.ready?.()));
  }

  /** Counts a refused login (wrong password, unknown username, a provider's deny) towards the throttle. */
  failed(username: string, address: string | undefined): void {
    this.failures.failed(username, address, Date.now());
  }

  /** Logins answered per provider and result since start (`tenant_broker_auth_total`). */
  counters(): Array<{ provider: string; result: AuthResult; count: number }> {
    return [...this.counts].map(([key, count]) => {
      const [provider, result] = key.split('|');
      return { provider, result: result as AuthResult, count };
    });
  }

  private count(provider: string, result: AuthResult): void {
    const key = provider + '|' + result;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  async close(): Promise<void> {
    this.registry.off('tenant-changed', this.onTenantChanged);
    this.registry.off('device-changed', this.onTenantChanged);
    await Promise.all(this.options.providers.map(async (p) => p.close?.()));
  }
}
