/**
 * Logins a provider answers at once, and those waiting for a turn: a login
 * flood becomes at most `concurrency` requests to an auth service (or
 * messages in a flow); past `maxWaiting`, or after waiting `waitMs`, a login
 * is refused instead of queued.
 */
export class LoginSlots {
  private active = 0;
  private readonly waiting: Array<{ grant: () => void; timer: NodeJS.Timeout }> = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
  ) {}

  /** Resolves with a release function once a slot is free; false when none came in time or the queue is full. */
  take(waitMs: number): Promise<(() => void) | false> {
    if (this.active < this.concurrency) {
      this.active++;
      return Promise.resolve(this.release());
    }
    if (this.waiting.length >= this.maxWaiting) return Promise.resolve(false);
    return new Promise((resolve) => {
      const entry = {
        grant: () => resolve(this.release()),
        timer: setTimeout(() => {
          const i = this.waiting.indexOf(entry);
          if (i !== -1) this.waiting.splice(i, 1);
          resolve(false);
        }, waitMs),
      };
      entry.timer.unref?.();
      this.waiting.push(entry);
    });
  }

  get inUse(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  private release(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) {
        clearTimeout(next.timer);
        next.grant();
      } else this.active--;
    };
  }
}
