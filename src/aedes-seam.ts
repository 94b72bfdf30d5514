/**
 * Every touch of aedes', mqtt-packet's and ws' private state, in one place. aedes'
 * public face (hooks, `handle`, `publish`, `subscribe`, events) does not reach
 * far enough for tenancy: a will before CONNACK, the parser's length and
 * strings, the stored subscriptions of a SUBSCRIBE, the persistence behind the
 * broker. Each function here names what it assumes, and
 * test/engine/aedes-seam.spec.ts holds one test per assumption, so an aedes or
 * mqtt-packet upgrade that breaks one fails there by name rather than quietly.
 * Nothing else in the engine reads a private field of either.
 */
import type { Aedes, AedesPublishPacket, Client, PublishPacket, Subscription } from 'aedes';
import { isUtf8 } from 'node:buffer';
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { DISCARD_TOPIC } from './tenancy/views';

// ------------------------------------------------------------------ client

type PrivateClient = Client & {
  /** The will of a CONNECT while it authenticates; `will` once connected. */
  _will: PublishPacket | null;
  will: PublishPacket | null;
  _parser: WireParser;
};

/** The will a client gave in its CONNECT, while `authenticate` runs (aedes moves it to `client.will` afterwards). */
export function pendingWillOf(client: Client): PublishPacket | null {
  return (client as PrivateClient)._will;
}

/** aedes publishes a client's own will as the very packet object it keeps in `client.will`. */
export function isOwnWill(client: Client, packet: PublishPacket): boolean {
  return packet === (client as PrivateClient).will;
}

/**
 * Forgets the wills of connected clients, so closing the broker does not
 * publish them: they stay stored in the persistence for after the restart.
 */
export function keepWillsStored(aedes: Aedes): void {
  for (const client of Object.values(connectedClients(aedes))) (client as PrivateClient).will = null;
}

/**
 * Sets the id aedes keys the client and its session by. Set in
 * `authenticate`: aedes registers the client (taking over an earlier one of
 * the same id), restores its session and stores its will under `client.id`
 * only after authentication.
 */
export function setSessionKey(client: Client, id: string): void {
  (client as { id: string }).id = id;
}

/** The client ended its connection with a DISCONNECT packet (aedes marks it before closing). */
export function disconnectedCleanly(client: Client): boolean {
  return (client as { _disconnected?: boolean })._disconnected === true;
}

/** Forgets one connected client's will, so closing it does not publish it. */
export function dropWill(client: Client): void {
  (client as PrivateClient).will = null;
}

/**
 * Whether any subscription in aedes' emitter (a connected client's, or an
 * in-process one) could match a topic: mqemitter keeps them in a Qlobber,
 * `mq._matcher`. Conservative: it knows nothing of MQTT's `$` rule, and
 * mqemitter removes a listener a tick after it is asked to. Another emitter
 * (a shared fabric's) is assumed to have a match.
 */
export function hasSubscriptionMatching(aedes: Aedes, topic: string): boolean {
  const matcher = (aedes as unknown as { mq: { _matcher?: { match?(topic: string): unknown[]; _trie?: unknown } } }).mq._matcher;
  // another emitter (a shared fabric's): assume someone listens
  if (typeof matcher?.match !== 'function') return true;
  // Qlobber's trie is a Map keyed by first levels (wildcards as `+`, `#`): a first level nobody subscribes to needs no
  // match, which splits the topic first (a lifecycle event's cost at every connect and disconnect)
  const root = matcher._trie;
  if (root instanceof Map && !root.has('#') && !root.has('+')) {
    const slash = topic.indexOf('/');
    if (!root.has(slash === -1 ? topic : topic.slice(0, slash))) return false;
  }
  return matcher.match(topic).length > 0;
}

/** The connected clients, by aedes id. */
export function connectedClients(aedes: Aedes): Readonly<Record<string, Client>> {
  return (aedes as unknown as { clients: Record<string, Client> }).clients;
}

/** aedes links a connection's stream to its client (`conn.client`); one close handler can serve every stream. */
export function clientOfStream(stream: Duplex): Client {
  return (stream as Duplex & { client: Client }).client;
}

/**
 * The aedes id of whoever published a packet: aedes stamps `clientId` on the
 * packets it emits from a client, and the persistence keeps it on stored wills.
 */
export function publisherIdOf(packet: PublishPacket | AedesPublishPacket): string | undefined {
  const id = (packet as { clientId?: unknown }).clientId;
  return typeof id === 'string' ? id : undefined;
}

/**
 * aedes closes a client past `maxInflightInbound` (inbound QoS 2 messages
 * awaiting PUBREL) with an error it names only in its message.
 */
export function isInflightOverflow(error: Error): boolean {
  return /^maxInflightInbound exceeded/.test(error.message);
}

/** Listens to aedes' own 'error' (its type does not declare it): persistence failing under a publish. */
export function onBrokerError(aedes: Aedes, listener: (error: Error) => void): void {
  (aedes as unknown as EventEmitter).on('error', listener);
}

// ------------------------------------------------------------------ persistence's view of the broker

/** What aedes passes a persistence's setup(), as the SQLite persistence uses it (the abstract suite passes a bare object). */
export interface PersistenceBroker {
  id: string;
  on?: (event: string, listener: (client: { id: string }) => void) => unknown;
  removeListener?: (event: string, listener: (client: { id: string }) => void) => unknown;
}

/** aedes keeps its connected clients in `clients`, by id. */
export function hasConnectedClient(broker: PersistenceBroker, clientId: string): boolean {
  const clients = (broker as { clients?: Record<string, unknown> }).clients;
  return clients !== undefined && Object.prototype.hasOwnProperty.call(clients, clientId);
}

/**
 * aedes numbers the packets it stores with `counter` (a packet is found again
 * by brokerId and brokerCounter); a restarted broker must go on after the
 * highest number restored. Undefined when the broker has no counter.
 */
export function brokerCounter(broker: PersistenceBroker): number | undefined {
  const counter = (broker as { counter?: unknown }).counter;
  return typeof counter === 'number' ? counter : undefined;
}

export function setBrokerCounter(broker: PersistenceBroker, counter: number): void {
  (broker as { counter?: number }).counter = counter;
}

/** Marks an in-process publish with the aedes id of its publisher, as aedes does for a client's publish. */
export function stampPublisher(packet: PublishPacket, internalId: string): void {
  (packet as PublishPacket & { clientId?: string }).clientId = internalId;
}

// ------------------------------------------------------------------ discard

/**
 * Turns an authorized publish into one that goes nowhere: aedes acknowledges
 * it (PUBACK, PUBREC) as usual, and the publish lands on a topic no client may
 * subscribe to, not retained. The `published` hook skips `$`-topics, so it is
 * neither counted nor sent to webhooks.
 */
export function discard(packet: PublishPacket): void {
  packet.topic = DISCARD_TOPIC;
  packet.retain = false;
}

// ------------------------------------------------------------------ persistence

export interface StoredWill extends AedesPublishPacket {
  clientId: string;
  brokerId: string;
}

/** The parts of aedes' persistence the engine uses beyond what aedes does with it. */
export interface BrokerPersistence {
  streamWill(brokers: object): AsyncIterable<StoredWill>;
  getWill(client: { id: string; brokerId: string }): Promise<StoredWill | undefined>;
  delWill(client: { id: string; brokerId: string }): Promise<unknown>;
  createRetainedStreamCombi(patterns: string[]): AsyncIterable<AedesPublishPacket>;
  /** An empty payload removes the retained message of the topic [MQTT-3.3.1-10]. */
  storeRetained(packet: { topic: string; payload: Buffer; qos: number; retain: boolean; cmd: 'publish' }): Promise<void>;
  addSubscriptions(client: Client, subscriptions: Subscription[]): Promise<unknown>;
  destroy?(): Promise<void>;
}

export function persistenceOf(aedes: Aedes): BrokerPersistence {
  return (aedes as unknown as { persistence: BrokerPersistence }).persistence;
}

/**
 * aedes stores the whole `packet.subscriptions` of a SUBSCRIBE as soon as one
 * of its filters is granted, the refused ones included (a refused filter would
 * then be matched, queued for and restored). Wraps the persistence so that the
 * filters the hook refused are never stored.
 */
export function storeOnlyGranted(aedes: Aedes, refused: (subscription: Subscription) => boolean): void {
  const persistence = persistenceOf(aedes);
  const addSubscriptions = persistence.addSubscriptions.bind(persistence);
  persistence.addSubscriptions = (client, subscriptions) => {
    const granted = subscriptions.filter((sub) => !refused(sub));
    return granted.length === subscriptions.length ? addSubscriptions(client, subscriptions) : addSubscriptions(client, granted);
  };
}

// ------------------------------------------------------------------ wire

/** The parts of mqtt-packet's parser used here. */
type WireParser = EventEmitter & {
  client: Client;
  packet: { length: number };
  _list: { slice(start: number, end: number): Buffer };
  _pos: number;
  _parseLength(): boolean;
  _parseString(): string | null;
  _emitError(err: Error): void;
};

/** What the broker decides as packets arrive, one object for every connection of a broker. */
export interface Wire {
  /** The largest packet this client may send now (its length header is checked before the body is buffered). */
  maxPacketBytes(client: Client): number;
  /** A length every client may send, whatever its state: shorter packets are not asked about. */
  readonly packetBytesAlwaysAllowed: number;
  /** The client's connection is accepted: its identity is known. */
  isAccepted(client: Client): boolean;
  /**
   * Decides a SUBSCRIBE or UNSUBSCRIBE before aedes handles it. aedes computes
   * the SUBACK from the packet's QoS before any hook runs, so a decision must
   * change the packet here.
   */
  decide(client: Client, packet: ParsedPacket): void;
}

export type ParsedPacket = { cmd: string; subscriptions?: Subscription[]; unsubscriptions?: string[] };

// taken from the first parser aedes makes: mqtt-packet is aedes' dependency, not ours
let parseLength: WireParser['_parseLength'] | null = null;
let parseString: WireParser['_parseString'] | null = null;
// one function of each kind for every connection (`this` is the parser, which aedes links to its client): no closure each;
// the parser carries its wire under a symbol of ours (a WeakMap lookup per packet cost more)
const WIRE = Symbol('tenant-broker wire');
type FittedParser = WireParser & { [WIRE]: Wire };
const wireOf = (parser: WireParser): Wire => (parser as FittedParser)[WIRE];
const heldUntilAccepted = new WeakMap<Client, ParsedPacket[]>();

function guardedParseLength(this: WireParser): boolean {
  if (!parseLength!.call(this)) return false;
  const wire = wireOf(this);
  if (this.packet.length <= wire.packetBytesAlwaysAllowed) return true;
  const limit = wire.maxPacketBytes(this.client);
  if (this.packet.length <= limit) return true;
  this._emitError(new Error(`packet of ${this.packet.length} bytes exceeds ${limit}`));
  return false;
}

/**
 * [MQTT-1.5.3-1, 1.5.3-2] every UTF-8 field (topic, filter, client id,
 * username, will topic) must be well-formed UTF-8 without U+0000; mqtt-packet
 * decodes bytes as they come, invalid ones as U+FFFD. The string is checked
 * first, the bytes only when it holds a U+FFFD (which may be genuine).
 */
function guardedParseString(this: WireParser): string | null {
  const start = this._pos + 2;
  const result = parseString!.call(this);
  if (result === null) return null;
  const nul = result.includes('\u0000');
  if (nul || (result.includes('\uFFFD') && !isUtf8(this._list.slice(start, this._pos)))) {
    this._emitError(new Error(nul ? 'a UTF-8 string holds U+0000' : 'a UTF-8 string is not well-formed'));
    return null;
  }
  return result;
}

/**
 * Packets a client pipelined behind its CONNECT are held by aedes until the
 * connection is accepted, and dispatched on 'connected': they are decided
 * then, and not before (only then is the client's identity known).
 */
function decideOnParse(this: WireParser, packet: ParsedPacket): void {
  if (packet.cmd !== 'subscribe' && packet.cmd !== 'unsubscribe') return;
  const wire = wireOf(this);
  const client = this.client;
  if (wire.isAccepted(client)) return wire.decide(client, packet);
  const held = heldUntilAccepted.get(client);
  if (held) return void held.push(packet);
  heldUntilAccepted.set(client, [packet]);
  client.prependOnceListener('connected', decideHeld);
}

function decideHeld(this: Client): void {
  const held = heldUntilAccepted.get(this) ?? [];
  heldUntilAccepted.delete(this);
  const wire = wireOf((this as PrivateClient)._parser);
  for (const packet of held) wire.decide(this, packet);
}

/**
 * Fits a new client's parser: a length header over the client's limit or a
 * malformed UTF-8 string closes the connection as soon as it is read, before
 * the packet is buffered or handled; SUBSCRIBE and UNSUBSCRIBE are decided
 * before aedes handles them (the listener is prepended, so it runs before
 * aedes' own).
 */
export function fitWire(client: Client, wire: Wire): void {
  const parser = (client as PrivateClient)._parser;
  const proto = Object.getPrototypeOf(parser) as WireParser;
  parseLength ??= proto._parseLength;
  parseString ??= proto._parseString;
  (parser as FittedParser)[WIRE] = wire;
  parser._parseLength = guardedParseLength;
  parser._parseString = guardedParseString;
  parser.prependListener('packet', decideOnParse);
}

// ------------------------------------------------------------------ ws

/**
 * Caps the messages one WebSocket connection may send from now on (ws takes
 * `maxPayload` once per server, and a connection needs a lower cap before
 * CONNACK than after). ws 8 keeps it in the receiver's `_maxPayload` and checks
 * each frame's length against it as the frame header is read, before the
 * payload is buffered, closing with 1009. Our servers turn permessage-deflate
 * off, so no inflated size needs a cap of its own. False when ws no longer
 * looks like that: the caller must then not trust the connection.
 */
export function capWebSocketMessages(socket: WebSocket, bytes: number): boolean {
  const receiver = (socket as unknown as { _receiver?: { _maxPayload?: unknown } | null })._receiver;
  if (!receiver || typeof receiver._maxPayload !== 'number') return false;
  receiver._maxPayload = bytes;
  return true;
}
