import { QlobberTrue } from 'qlobber';
import { plainCopy, type PersistedPacket } from './packet-codec';
import type { Journal } from './journal';

export const QLOBBER_OPTIONS = { wildcard_one: '+', wildcard_some: '#', separator: '/' };

function hasWildcard(pattern: string): boolean {
  return pattern.includes('+') || pattern.includes('#');
}

/** Retained messages by topic. */
export class RetainedIndex {
  readonly #byTopic = new Map<string, PersistedPacket>();

  constructor(private readonly journal: Journal) {}

  get size(): number {
    return this.#byTopic.size;
  }

  store(packet: PersistedPacket): void {
    const topic = packet.topic as string;
    // [MQTT-3.3.1-10] an empty retained payload deletes the retained message
    if (!packet.payload || packet.payload.length === 0) {
      if (this.#byTopic.delete(topic)) this.journal.retained(topic, null);
      return;
    }
    const copy = plainCopy(packet);
    this.#byTopic.set(topic, copy);
    this.journal.retained(topic, copy);
  }

  /** A message read back from a durable store: not journaled again. */
  restore(topic: string, packet: PersistedPacket): void {
    this.#byTopic.set(topic, packet);
  }

  packets(): IterableIterator<PersistedPacket> {
    return this.#byTopic.values();
  }

  clear(): void {
    this.#byTopic.clear();
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
