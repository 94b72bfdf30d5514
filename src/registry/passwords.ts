import crypto, { createHash, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { FairTurns } from '../tenancy/login';

// N=2^14, r=8, p=1: Node's and Django's scrypt defaults, about 40 ms and 16 MiB
// per check here. The parameters are stored with each hash, so raising them
// later leaves existing hashes verifiable; the credential cache keeps repeated
// logins off this path.
const SCRYPT = { N: 1 << 14, r: 8, p: 1, keyLength: 32, maxmem: 64 * 1024 * 1024 };

function scryptAsync(password: string, salt: Buffer, N: number, r: number, p: number, keyLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyLength, { N, r, p, maxmem: SCRYPT.maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** `scrypt$N$r$p$salt$hash` (base64): parameters travel with the hash so they can be raised later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p, SCRYPT.keyLength);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), key.toString('base64')].join('$');
}

/**
 * A hash with the parameters of real ones that no password matches (its key
 * is random bytes, not a scrypt output): an unknown username is checked
 * against it, so it costs the same scrypt as a known one and cannot be told
 * apart by the time its refusal takes.
 */
export function decoyHash(): string {
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, randomBytes(16).toString('base64'), randomBytes(SCRYPT.keyLength).toString('base64')].join('$');
}

export async function verifyPasswordHash(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, salt, hash] = parts;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64'), Number(n), Number(r), Number(p), expected.length);
  return timingSafeEqual(actual, expected);
}

// crypto.hash (Node 20.12, 21.7) skips the Hash object's setup; createHash where it is missing
const hashOnce = (crypto as { hash?: (algorithm: string, data: string, encoding: 'buffer') => Buffer }).hash;
const oneShotSha256 = hashOnce ? (data: string): Buffer => hashOnce('sha256', data, 'buffer') : (data: string): Buffer => createHash('sha256').update(data).digest();

/** Constant-time comparison of two secrets of any length. */
export function secretsEqual(a: string | Buffer, b: string | Buffer): boolean {
  const key = randomBytes(32);
  return timingSafeEqual(createHmac('sha256', key).update(a).digest(), createHmac('sha256', key).update(b).digest());
}

/**
 * Remembers, per username, a keyed digest of the last password that passed the
 * full scrypt check, so a reconnect storm costs one hash per login instead of
 * one scrypt; and shares one scrypt among simultaneous first logins with the
 * same credentials (a fleet reconnecting after a restart would otherwise queue
 * one 30 MiB scrypt per device on libuv's four threads). The key is random per
 * process, so the cache never holds anything that could be replayed or cracked
 * offline. Entries are dropped whenever the tenant changes.
 */
export class CredentialCache {
  private readonly key = randomBytes(32).toString('hex');
  private readonly verified = new Map<string, Buffer>();
  private readonly inFlight = new Map<string, Promise<boolean>>();

  /**
   * SHA-256 of the process's random key and the password: what an HMAC gives
   * here (no digest is ever sent, so length extension buys nothing) at a
   * fraction of its cost, whose setup was a tenth of a cached login's CPU.
   */
  private digest(password: string): Buffer {
    return oneShotSha256(this.key + password);
  }

  /**
   * Whether `password` matches `storedHash`: at once when it is the password
   * verified last for this username, else through `slowCheck` (the scrypt
   * comparison), at most one at a time per username, hash and password. A
   * wrong password costs the scrypt even when the username has a verified one,
   * so the time a refusal takes never tells whether a username exists or is
   * in use. `isCurrent` says whether the stored hash is still the tenant's
   * after the wait; a stale verdict is not cached.
   */
  verify(username: string, password: string, storedHash: string, slowCheck: () => Promise<boolean>, isCurrent: () => boolean): Promise<boolean> {
    const digest = this.digest(password);
    const known = this.verified.get(username);
    if (known && timingSafeEqual(known, digest)) return Promise.resolve(true);
    const key = `${username}\u0000${storedHash}\u0000${digest.toString('base64')}`;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = slowCheck()
        .then((ok) => {
          if (!isCurrent()) return false;
          if (ok) this.verified.set(username, digest);
          return ok;
        })
        .finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  /** Whether `password` is the one verified last for this username (no hashing): a throttled login may still pass with it. */
  matches(username: string, password: string): boolean {
    const known = this.verified.get(username);
    return known !== undefined && timingSafeEqual(known, this.digest(password));
  }

  forget(username: string): void {
    this.verified.delete(username);
  }

  clear(): void {
    this.verified.clear();
  }
}

/** The username's queue for password hashing is full. */
export class HashingBusy extends Error {
  constructor(username: string) {
    super(`too many logins of ${username} waiting for password hashing`);
    this.name = 'HashingBusy';
  }
}

/**
 * Runs password hashing (scrypt, on libuv's threads, 4 by default and shared
 * with DNS lookups and file I/O) at most `concurrency` at a time, in the fair
 * order of the policy core's FairTurns: each username has its own bounded
 * queue, served in turn. Without it every scrypt joined one FIFO, and 300
 * wrong passwords of one tenant made another tenant's first login wait for
 * all of them.
 */
export class HashingQueue {
  private running = 0;
  private readonly turns: FairTurns<() => void>;

  constructor(
    private readonly concurrency: number,
    perUsername: number,
  ) {
    this.turns = new FairTurns(perUsername);
  }

  /** Runs `job` when it is this username's turn; rejects with HashingBusy when its queue is full. */
  run<T>(username: string, job: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running++;
        job()
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            this.turns.next()?.();
          });
      };
      if (this.running < this.concurrency) start();
      else if (!this.turns.offer(username, start)) reject(new HashingBusy(username));
    });
  }

  /** Hashes running and waiting now. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.turns.waiting };
  }
}
