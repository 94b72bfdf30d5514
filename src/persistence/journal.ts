import type { PersistedPacket } from './packet-codec';

/**
 * One key for a pair, unambiguous whatever either part holds: the first part
 * is prefixed with its length. (A separator would not do: MQTT forbids U+0000
 * in client ids and topics [MQTT-1.5.3-2], but a store must not rely on its
 * callers for that, and ("a", "b\0c") and ("a\0b", "c") joined with it are one.)
 */
export function pairKey(first: string, second: string | number): string {
  return `${first.length}:${first}${second}`;
}

/** The parts of a stored entry the journal reads and marks. */
export interface JournaledEntry {
  packet: PersistedPacket;
  /** A row exists on disk: deleting an entry that never got one needs no write. */
  persisted: boolean;
}

/**
 * What the memory store tells about each change, with the value after it
 * (null: gone). A durable store writes the latest value of each key behind;
 * the memory store alone needs none of it.
 */
export interface Journal {
  retained(topic: string, packet: PersistedPacket | null): void;
  subscription(clientId: string, topic: string, record: { qos: number } | null): void;
  /** An entry of a client's outgoing queue was added or changed (`present`), or removed. */
  outgoing(clientId: string, entry: JournaledEntry & { seq: number }, present: boolean): void;
  incoming(clientId: string, messageId: number, entry: JournaledEntry, present: boolean): void;
  will(clientId: string, packet: PersistedPacket | null): void;
  seen(clientId: string, at: number | null): void;
  /** Makes everything told so far durable now (a removed tenant's data must not outlive a crash). */
  commit(): void;
}

const nothing = (): void => undefined;

export const NO_JOURNAL: Journal = {
  retained: nothing,
  subscription: nothing,
  outgoing: nothing,
  incoming: nothing,
  will: nothing,
  seen: nothing,
  commit: nothing,
};

/** What a durable store held when the broker stopped, to rebuild the memory store from. */
export interface StoredState {
  retained: Iterable<{ topic: string; packet: PersistedPacket }>;
  subscriptions: Iterable<{ clientId: string; subscription: { topic: string; qos: number; rh?: number; rap?: boolean; nl?: boolean; subscriptionIdentifier?: number } }>;
  /** In enqueue order (ascending seq), so every queue comes back in order. */
  outgoing: Iterable<{ seq: number; clientId: string; packet: PersistedPacket }>;
  incoming: Iterable<{ clientId: string; messageId: number; packet: PersistedPacket }>;
  wills: Iterable<{ clientId: string; packet: PersistedPacket }>;
  lastSeen: Iterable<{ clientId: string; at: number }>;
}
