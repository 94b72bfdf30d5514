import { deserialize, serialize } from 'node:v8';

/**
 * The loose shape of what aedes hands a persistence: PUBLISH packets (plain,
 * aedes-packet or QoSPacket instances), PUBREL placeholders and will messages.
 */
export interface PersistedPacket {
  cmd?: string;
  topic?: string;
  payload?: Buffer | Uint8Array | string;
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  messageId?: number;
  brokerId?: string;
  brokerCounter?: number;
  clientId?: string;
  [key: string]: unknown;
}

const hasOwn = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);

/**
 * Copy made for a queued or in-flight packet. Mirrors `new Packet(original)`
 * of aedes-packet 4 (what the reference memory persistence stores), so the
 * fields aedes reads back are exactly the ones it would get from the memory
 * store: transport-only fields such as `length` are dropped.
 */
export function queuedCopy(original: PersistedPacket): PersistedPacket {
  const p: PersistedPacket = {};
  if (hasOwn(original, 'clientId')) p.clientId = original.clientId;
  if (hasOwn(original, 'nl')) p.nl = original.nl;
  if (hasOwn(original, 'properties')) p.properties = original.properties;
  if (hasOwn(original, 'messageExpiry')) p.messageExpiry = original.messageExpiry;
  p.cmd = original.cmd || 'publish';
  p.brokerId = original.brokerId;
  p.brokerCounter = original.brokerCounter || 0;
  p.topic = original.topic;
  p.payload = original.payload || Buffer.alloc(0);
  p.qos = original.qos || 0;
  p.retain = original.retain || false;
  p.dup = original.dup || false;
  // [MQTT-2.3.1-5] a packet identifier belongs to one delivery, not to the message
  if (p.qos > 0 || p.cmd !== 'publish') p.messageId = undefined;
  return p;
}

/**
 * Shallow copy without functions: aedes attaches callbacks (QoSPacket's
 * `writeCallback`) to packets it passes in, and those can neither be stored
 * nor should they be kept alive by the store.
 */
export function plainCopy(original: PersistedPacket): PersistedPacket {
  const p: PersistedPacket = {};
  for (const key of Object.keys(original)) {
    const value = original[key];
    if (typeof value !== 'function') p[key] = value;
  }
  return p;
}

/**
 * V8's structured-clone format rather than JSON: it round-trips Buffer vs
 * string payloads, `undefined` fields and MQTT 5 property objects unchanged,
 * so a packet read back after a restart is indistinguishable from the one
 * held in memory before it.
 */
export function encodePacket(packet: PersistedPacket): Buffer {
  return serialize(plainCopy(packet));
}

export function decodePacket(blob: Buffer): PersistedPacket {
  return deserialize(blob) as PersistedPacket;
}
