import type { Registry } from '../registry/registry';
import { secretsEqual } from '../registry/passwords';
import type { LoginFailures } from '../tenancy/login';
import { ROOT_USER } from '../tenancy/topics';

/** What checking a login's credentials found, before the policy core admits it. */
export interface CredentialCheck {
  passwordOk: boolean;
  /** The username or address is locked by the failure throttle: only a password known without hashing counted. */
  throttled: boolean;
}

/**
 * Checks the credentials of every way in (MQTT, the HTTP publish adapter)
 * the same way: throttle, hashing turns, root. Rejects with HashingBusy when
 * the username's hashing queue is full.
 */
export class Authenticator {
  constructor(
    private readonly registry: Registry,
    private readonly failures: LoginFailures,
    private readonly rootPassword: () => string | undefined,
  ) {}

  async check(username: string, secret: string, address: string | undefined): Promise<CredentialCheck> {
    const throttled = this.failures.locked(username, address, Date.now());
    if (username === ROOT_USER) {
      const root = this.rootPassword();
      return { passwordOk: root !== undefined && secretsEqual(secret, root), throttled };
    }
    const passwordOk = throttled ? this.registry.passwordVerifiedBefore(username, secret) : await this.registry.verifyPassword(username, secret);
    return { passwordOk, throttled };
  }

  /** Counts a refused login (wrong password, unknown username) towards the throttle. */
  failed(username: string, address: string | undefined): void {
    this.failures.failed(username, address, Date.now());
  }
}
