/**
 * The login rules that remember earlier logins: the failure throttle, and the
 * fair order in which logins get the password-hashing threads. Pure: no
 * crypto, no timers; the caller passes the time and runs the hashing.
 */

export interface LoginThrottleLimits {
  /** Failed logins of one username within `windowMs` that lock it (0: never). */
  failuresPerUsername: number;
  /** Failed logins from one source address within `windowMs` that lock it (0: never). */
  failuresPerAddress: number;
  windowMs: number;
  /** How long a locked username or address is answered without hashing. */
  lockMs: number;
  /** Usernames and addresses remembered, each (the oldest is forgotten first): a flood of names cannot grow this. */
  maxTracked: number;
}

interface FailureLog {
  /** Times of the failures inside the window, oldest first (at most the limit). */
  at: number[];
  lockedUntil: number;
}

/**
 * Failed logins per username and per source address. After too many in the
 * window, that username (or everything from that address) is locked: logins
 * are refused without hashing (see `admit`), so a flood of wrong passwords
 * costs no scrypt and tells nothing about which usernames exist.
 */
export class LoginFailures {
  private readonly byUsername = new Map<string, FailureLog>();
  private readonly byAddress = new Map<string, FailureLog>();

  constructor(private readonly limits: LoginThrottleLimits) {}

  /** Whether a login of this username from this address is refused without hashing now. */
  locked(username: string, address: string | undefined, now: number): boolean {
    // an empty username (a bearer token) is no one's: only its address is throttled
    return (username !== '' && isLocked(this.byUsername, username, now)) || (address !== undefined && isLocked(this.byAddress, address, now));
  }

  /** Records a failed login (a wrong password, or an unknown username). */
  failed(username: string, address: string | undefined, now: number): void {
    if (username !== '') this.record(this.byUsername, username, this.limits.failuresPerUsername, now);
    if (address !== undefined) this.record(this.byAddress, address, this.limits.failuresPerAddress, now);
  }

  /** Usernames and addresses remembered now. */
  get tracked(): number {
    return this.byUsername.size + this.byAddress.size;
  }

  private record(logs: Map<string, FailureLog>, key: string, limit: number, now: number): void {
    if (limit <= 0) return;
    let log = logs.get(key);
    if (log) logs.delete(key);
    else {
      log = { at: [], lockedUntil: 0 };
      // Map order is insertion order, and every failure re-inserts its key: the first is the stalest
      if (logs.size >= this.limits.maxTracked) logs.delete(logs.keys().next().value!);
    }
    const since = now - this.limits.windowMs;
    while (log.at.length > 0 && log.at[0] <= since) log.at.shift();
    log.at.push(now);
    if (log.at.length >= limit) {
      log.lockedUntil = now + this.limits.lockMs;
      log.at = [];
    }
    logs.set(key, log);
  }
}

function isLocked(logs: Map<string, FailureLog>, key: string, now: number): boolean {
  const log = logs.get(key);
  return log !== undefined && log.lockedUntil > now;
}

/**
 * Turns for the password-hashing threads, fair between usernames (a tenant is
 * a username): each has its own queue of at most `perKey` waiting logins, and
 * the queues are served in turn, one login each. Failed logins of one tenant
 * then delay another tenant's by at most one hash per turn, and a flood of
 * one tenant's logins beyond its queue is refused instead of queued.
 */
export class FairTurns<T> {
  private readonly queues = new Map<string, T[]>();
  private count = 0;

  constructor(private readonly perKey: number) {}

  /** Queues an item for its key; false when that key's queue is full. */
  offer(key: string, item: T): boolean {
    const queue = this.queues.get(key);
    if (queue && queue.length >= this.perKey) return false;
    if (queue) queue.push(item);
    else this.queues.set(key, [item]);
    this.count++;
    return true;
  }

  /** The next item: the first of the key whose turn it is; that key goes to the back of the line. */
  next(): T | undefined {
    const first = this.queues.entries().next();
    if (first.done) return undefined;
    const [key, queue] = first.value;
    const item = queue.shift()!;
    this.queues.delete(key);
    if (queue.length > 0) this.queues.set(key, queue);
    this.count--;
    return item;
  }

  get waiting(): number {
    return this.count;
  }
}
