import { QlobberTrue } from 'qlobber';
import { plainCopy, type PersistedPacket } from './packet-codec';
import type { Journal } from './journal';
import { decideRetained, type Usage } from '../tenancy/quotas';
import type { TenantLimits } from '../model';

/** A tenant's retained quota, or undefined: none (root's topics, a name that is no tenant). */
export type RetainedQuota = (owner: string) => Pick<TenantLimits, 'maxRetainedMessages' | 'maxRetainedBytes'> | undefined;

/** A retained publish not kept: the owner's quota is reached. */
export interface RetainedRefused {
  owner: string;
  topic: string;
}

/** Whose namespace a topic is in, by default: its first level (the broker passes the tenant of a multi-level namespace). */
export function firstLevelOwner(topic: string): string {
  const slash = topic.indexOf('/');
  return slash < 0 ? topic : topic.slice(0, slash);
}

function sizeOf(packet: PersistedPacket): number {
  return (packet.payload?.length ?? 0) + (packet.topic?.length ?? 0);
}

export const QLOBBER_OPTIONS = { wildcard_one: '+', wildcard_some: '#', separator: '/' };

function hasWildcard(pattern: string): boolean {
  return pattern.includes('+') || pattern.includes('#');
}

/**
 * Retained messages by topic, with what each owner (a topic's first level)
 * keeps, held to its tenant's quota by the policy core's decideRetained.
 */
export class RetainedIndex {
  readonly #byTopic = new Map<string, PersistedPacket>();
  /** Each topic's owner as counted when it was stored: a namespace may be gone by the time it is purged. */
  readonly #ownerOf = new Map<string, string>();
  readonly #usage = new Map<string, Usage>();

  constructor(
    private readonly journal: Journal,
    private readonly quota: RetainedQuota,
    private readonly refused: (event: RetainedRefused) => void,
    private readonly ownerOfTopic: (topic: string) => string = firstLevelOwner,
  ) {}

  get size(): number {
    return this.#byTopic.size;
  }

  /** The retained messages and bytes in an owner's namespace. */
  usage(owner: string): Usage {
    const usage = this.#usage.get(owner);
    return { messages: usage?.messages ?? 0, bytes: usage?.bytes ?? 0 };
  }

  store(packet: PersistedPacket): void {
    const topic = packet.topic as string;
    const stored = this.#byTopic.get(topic);
    // [MQTT-3.3.1-10] an empty retained payload deletes the retained message
    if (!packet.payload || packet.payload.length === 0) {
      if (stored) this.#delete(topic, stored);
      return;
    }
    const owner = this.ownerOfTopic(topic);
    const verdict = decideRetained(this.usage(owner), sizeOf(packet), stored ? sizeOf(stored) : null, this.quota(owner));
    if (verdict.kind === 'refuse') {
      // delivered live as a plain message
      packet.retain = false;
      if (verdict.dropStale && stored) this.#delete(topic, stored);
      this.refused({ owner, topic });
      return;
    }
    const copy = plainCopy(packet);
    if (stored) this.#count(topic, stored, -1);
    this.#byTopic.set(topic, copy);
    this.#count(topic, copy, 1);
    this.journal.retained(topic, copy);
  }

  /** A message read back from a durable store: not journaled again, and not held to a quota (it was kept before). */
  restore(topic: string, packet: PersistedPacket): void {
    const stored = this.#byTopic.get(topic);
    if (stored) this.#count(topic, stored, -1);
    this.#byTopic.set(topic, packet);
    this.#count(topic, packet, 1);
  }

  /** Deletes every retained message of an owner's namespace. */
  purge(owner: string): void {
    if (!this.#usage.has(owner)) return;
    for (const [topic, packet] of this.#byTopic) if (this.#ownerOf.get(topic) === owner) this.#delete(topic, packet);
  }

  #delete(topic: string, stored: PersistedPacket): void {
    this.#byTopic.delete(topic);
    this.#count(topic, stored, -1);
    this.journal.retained(topic, null);
  }

  #count(topic: string, packet: PersistedPacket, sign: 1 | -1): void {
    const owner = sign === 1 ? this.ownerOfTopic(topic) : (this.#ownerOf.get(topic) ?? this.ownerOfTopic(topic));
    if (sign === 1) this.#ownerOf.set(topic, owner);
    else this.#ownerOf.delete(topic);
    let usage = this.#usage.get(owner);
    if (!usage) this.#usage.set(owner, (usage = { messages: 0, bytes: 0 }));
    usage.messages += sign;
    usage.bytes += sign * sizeOf(packet);
    if (usage.messages === 0) this.#usage.delete(owner);
  }

  packets(): IterableIterator<PersistedPacket> {
    return this.#byTopic.values();
  }

  clear(): void {
    this.#byTopic.clear();
    this.#ownerOf.clear();
    this.#usage.clear();
  }

  *matching(patterns: string[]): Generator<PersistedPacket> {
    // Exact topics are direct lookups; all wildcard patterns share one pass
    // over the retained set. Each message is yielded once even when several
    // patterns match it.
    const exact = new Set<string>();
    let anchored: QlobberTrue | null = null;
    let leading: QlobberTrue | null = null;
    for (const pattern of patterns) {
      if (!hasWildcard(pattern)) {
        exact.add(pattern);
      } else if (pattern[0] === '+' || pattern[0] === '#') {
        leading ??= new QlobberTrue(QLOBBER_OPTIONS);
        leading.add(pattern);
      } else {
        anchored ??= new QlobberTrue(QLOBBER_OPTIONS);
        anchored.add(pattern);
      }
    }
    for (const topic of exact) {
      const packet = this.#byTopic.get(topic);
      if (packet) yield packet;
    }
    if (!anchored && !leading) return;
    for (const [topic, packet] of this.#byTopic) {
      if (exact.has(topic)) continue;
      // [MQTT-4.7.2-1] a filter starting with a wildcard does not match a topic starting with '$'
      const matched =
        (anchored !== null && anchored.test(topic)) ||
        (leading !== null && topic[0] !== '$' && leading.test(topic));
      if (matched) yield packet;
    }
  }
}
