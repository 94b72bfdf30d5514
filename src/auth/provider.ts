import type { Transport } from '../model';
import type { ProviderAnswer } from '../tenancy/providers';

export type ProviderName = 'jwt' | 'http' | 'flow';

/** One login as every provider sees it. */
export interface LoginAttempt {
  username: string;
  password: Buffer;
  clientId: string;
  peerhost: string | undefined;
  /** `mqtt`, or `http` for the HTTP publish adapter. */
  protocol: 'mqtt' | 'http';
  transport: Transport;
  /**
   * The login a verified client certificate names, on a listener that takes
   * identities from certificates: it is the username, and the certificate is
   * the proof (no password is asked). Null: the certificate names none.
   */
  certificate?: { identity: string | null };
}

/**
 * Answers allow (tenant, optional device and rules), deny, or ignore ("not
 * mine": the next provider decides). A rejection (timeout, error, malformed
 * answer) is a provider failure: the login is refused with CONNACK 5.
 */
export interface AuthProvider {
  readonly name: ProviderName;
  /** HTTP and flow providers may grant root (when the broker allows it); a JWT never. */
  readonly mayGrantSuperuser: boolean;
  /** Whether asking costs I/O or a flow's time: such providers are not asked for a throttled login. */
  readonly remote: boolean;
  authenticate(attempt: LoginAttempt): Promise<ProviderAnswer>;
  /** Resolves once the provider can answer (a key file read); rejects with why it cannot. */
  ready?(): Promise<void>;
  close?(): Promise<void> | void;
}

/** A provider could not answer; `reason` goes to the audit trail, never the password. */
export class ProviderFailure extends Error {
  constructor(
    readonly provider: ProviderName,
    readonly reason: string,
  ) {
    super(`${provider} authentication failed: ${reason}`);
  }
}
