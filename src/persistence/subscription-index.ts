import QlobberSub from 'qlobber/aedes/qlobber-sub';
import type { Journal } from './journal';
import { QLOBBER_OPTIONS } from './retained-index';

export interface Subscription {
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  subscriptionIdentifier?: number;
}

export interface TopicSubscription {
  clientId: string;
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
}

export type SubscriptionRecord = Omit<Subscription, 'topic'>;

/** The subscriptions of persistent sessions, by client, and a trie of the QoS 1/2 ones for matching. */
export class SubscriptionIndex {
  readonly #byClient = new Map<string, Map<string, SubscriptionRecord>>();
  readonly #trie = new QlobberSub(QLOBBER_OPTIONS);
  count = 0;

  constructor(private readonly journal: Journal) {}

  clients(): IterableIterator<string> {
    return this.#byClient.keys();
  }

  get clientCount(): number {
    return this.#byClient.size;
  }

  get matchable(): number {
    return this.#trie.subscriptionsCount;
  }

  of(clientId: string): Subscription[] {
    const stored = this.#byClient.get(clientId);
    return stored ? Array.from(stored, ([topic, record]) => ({ topic, ...record })) : [];
  }

  match(topic: string): TopicSubscription[] {
    return this.#trie.match(topic);
  }

  *clientsWith(topic: string): Generator<string> {
    for (const [clientId, stored] of this.#byClient) if (stored.has(topic)) yield clientId;
  }

  put(clientId: string, sub: Subscription, journal = true): void {
    let stored = this.#byClient.get(clientId);
    if (!stored) this.#byClient.set(clientId, (stored = new Map()));
    const previous = stored.get(sub.topic);
    const topic = sub.topic;
    const record: SubscriptionRecord = { qos: sub.qos, rh: sub.rh, rap: sub.rap, nl: sub.nl };
    if (sub.subscriptionIdentifier !== undefined) record.subscriptionIdentifier = sub.subscriptionIdentifier;
    // QoS 0 subscriptions are restored on reconnect but never queue offline
    // messages, so only QoS > 0 ones go into the matching trie.
    if (sub.qos > 0) {
      this.#trie.add(topic, { clientId, topic, qos: sub.qos, rh: sub.rh, rap: sub.rap, nl: sub.nl });
    } else if (previous && previous.qos > 0) {
      this.#trie.remove(topic, { clientId, topic });
    }
    if (!previous) this.count++;
    stored.set(topic, record);
    if (journal) this.journal.subscription(clientId, topic, record);
  }

  delete(clientId: string, topic: string): void {
    const stored = this.#byClient.get(clientId);
    const record = stored?.get(topic);
    if (!stored || !record) return;
    if (record.qos > 0) this.#trie.remove(topic, { clientId, topic });
    stored.delete(topic);
    this.count--;
    if (stored.size === 0) this.#byClient.delete(clientId);
    this.journal.subscription(clientId, topic, null);
  }

  drop(clientId: string): void {
    const stored = this.#byClient.get(clientId);
    if (!stored) return;
    for (const topic of Array.from(stored.keys())) this.delete(clientId, topic);
  }

  clear(): void {
    this.#byClient.clear();
  }
}
