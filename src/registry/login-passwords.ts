import { CredentialCache, decoyHash, HashingQueue, verifyPasswordHash } from './passwords';

/**
 * The password check of every login, a tenant's or a device's: scrypt on the
 * first login, a cached keyed digest afterwards (see CredentialCache), each
 * username's hashing in its turn. An unknown username is checked against a
 * decoy hash, with the same scrypt work, and fails.
 */
export class LoginPasswords {
  private readonly credentials = new CredentialCache();
  private readonly hashing: HashingQueue;
  private readonly decoy = decoyHash();
  /** Full scrypt comparisons run (the cache's misses). */
  scryptChecks = 0;

  constructor(
    private readonly storedHash: (username: string) => string | undefined,
    hashing: { concurrency: number; queuePerUsername: number },
  ) {
    this.hashing = new HashingQueue(Math.max(1, hashing.concurrency), hashing.queuePerUsername);
  }

  /** Whether the password is the login's; rejects with HashingBusy when too many logins of that username wait already. */
  verify(username: string, password: string): Promise<boolean> {
    const hash = this.storedHash(username) ?? this.decoy;
    return this.credentials.verify(
      username,
      password,
      hash,
      () =>
        this.hashing.run(username, () => {
          this.scryptChecks++;
          return verifyPasswordHash(password, hash);
        }),
      () => this.storedHash(username) === hash,
    );
  }

  /** Whether the password is the one last verified for this login, without hashing (for a throttled login). */
  verifiedBefore(username: string, password: string): boolean {
    return this.storedHash(username) !== undefined && this.credentials.matches(username, password);
  }

  /** The login's password changed or it is gone: its next login runs scrypt. */
  forget(username: string): void {
    this.credentials.forget(username);
  }

  /** Every login's next check runs scrypt (a benchmark's cold start). */
  clear(): void {
    this.credentials.clear();
  }
}
