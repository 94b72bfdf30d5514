import { createHmac, randomBytes } from 'node:crypto';
import type { AllowAnswer } from '../tenancy/providers';
import type { LoginAttempt, ProviderName } from './provider';

export interface CachedAllow {
  provider: ProviderName;
  username: string;
  answer: AllowAnswer;
  until: number;
}

/**
 * Providers' allow answers for a short time (default 5 s), keyed by a keyed
 * digest of username, password, client id and peer address, so a reconnect
 * storm asks a service once per device. Deny answers are never kept. An
 * entry goes at once when its login or tenant changes in the registry. At
 * most `maxEntries`, the oldest forgotten first.
 */
export class AllowCache {
  private readonly key = randomBytes(32);
  private readonly entries = new Map<string, CachedAllow>();
  hits = 0;
  evicted = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  private keyOf(attempt: LoginAttempt): string {
    const mac = createHmac('sha256', this.key);
    for (const part of [attempt.username, attempt.clientId, attempt.peerhost ?? '', attempt.protocol]) mac.update(part).update('\0');
    return mac.update(attempt.password).digest('base64');
  }

  get(attempt: LoginAttempt, now: number): CachedAllow | undefined {
    if (this.ttlMs <= 0 || this.entries.size === 0) return undefined;
    const key = this.keyOf(attempt);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.until <= now || (entry.answer.expiresAt !== undefined && entry.answer.expiresAt <= now)) {
      this.entries.delete(key);
      return undefined;
    }
    this.hits++;
    return entry;
  }

  put(attempt: LoginAttempt, provider: ProviderName, answer: AllowAnswer, now: number): void {
    if (this.ttlMs <= 0) return;
    const key = this.keyOf(attempt);
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value!);
      this.evicted++;
    }
    this.entries.set(key, { provider, username: attempt.username, answer, until: now + this.ttlMs });
  }

  /** Drops every answer that placed a login in this tenant, or was given to or named this login. */
  forget(name: string): void {
    for (const [key, entry] of this.entries) if (entry.answer.tenant === name || entry.answer.device === name || entry.username === name) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
