import type net from 'node:net';
import type { WebSocket } from 'ws';
import { BROKER_DEFAULTS } from '../defaults';
import type { Transport } from '../model';
import { UNAUTHENTICATED_BASE_BYTES, UnauthenticatedMemory, type ShedReason } from '../tenancy/admission';
import { capWebSocketMessages } from '../aedes-seam';

/** The engine options (BrokerHostOptions) for connections before CONNACK; defaults in BROKER_DEFAULTS. */
export interface ConnectionLimitOptions {
  /** Largest MQTT packet accepted from an authenticated client; a larger one closes its connection. Default 16 MiB. */
  maxPacketBytes?: number;
  /** Largest MQTT packet (and WebSocket message) before CONNACK. Default 256 KiB. */
  maxUnauthenticatedPacketBytes?: number;
  /** A connection that has sent no complete CONNECT this long after it opened is closed. Default 10 s. */
  connectTimeoutMs?: number;
  /**
   * Memory all connections not yet accepted may hold together (estimated per
   * connection, plus every byte they sent); past it new connections are
   * refused and counted (`unauthenticated-memory`). Default 64 MiB; 0: no limit.
   */
  maxUnauthenticatedBytes?: number;
}

export type PendingOptions = Required<ConnectionLimitOptions>;

// a WebSocket message carries one packet: its length plus the fixed header of at most 5 bytes
const WS_HEADER_BYTES = 5;

/** A connection closed or refused before it was accepted. */
export interface ShedConnection {
  transport: Transport;
  remoteAddress: string | undefined;
  reason: ShedReason;
  /** For `tls-rejected`: why the certificate was not verified (Node's code, e.g. CERT_REVOKED). */
  detail?: string;
}

const pendingOf = new WeakMap<net.Socket, PendingConnection>();

// one handler of each kind for every socket (`this` is the socket): no closure per connection
function meter(this: net.Socket, chunk: Buffer | string): void {
  pendingOf.get(this)?.received(chunk.length);
}

function closed(this: net.Socket): void {
  pendingOf.get(this)?.settle();
}

/**
 * One connection from its arrival (TCP: accept; TLS: handshake done) until
 * CONNACK: its deadline for a complete CONNECT, what it is charged against the
 * memory budget, and, for WebSocket, its lower message cap.
 */
export class PendingConnection {
  private charged: number;
  private timer: NodeJS.Timeout | null;
  private websocket: WebSocket | null = null;
  private done = false;

  constructor(
    private readonly owner: PendingConnections,
    readonly socket: net.Socket,
    readonly transport: Transport,
    base: number,
  ) {
    this.charged = base;
    this.timer = setTimeout(() => owner.shed(this, 'connect-timeout'), owner.options.connectTimeoutMs);
    this.timer.unref();
  }

  /** The WebSocket of this connection, upgraded: its messages are capped as the packets before CONNACK are. */
  upgraded(websocket: WebSocket): boolean {
    this.websocket = websocket;
    return capWebSocketMessages(websocket, this.owner.options.maxUnauthenticatedPacketBytes + WS_HEADER_BYTES);
  }

  /** Bytes arrived: charged, or the connection is closed when they would pass the budget. */
  received(bytes: number): void {
    if (this.done) return;
    if (this.owner.memory.grow(bytes)) this.charged += bytes;
    else this.owner.shed(this, 'unauthenticated-memory');
  }

  /** A complete CONNECT arrived: the deadline is off (authentication may take its time). */
  connectArrived(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** CONNACK accepted the connection: it is no longer charged, and a WebSocket may send packets of full size. */
  accepted(): void {
    if (this.done) return;
    if (this.websocket) capWebSocketMessages(this.websocket, this.owner.options.maxPacketBytes + WS_HEADER_BYTES);
    this.settle();
  }

  /** Accepted or closed: everything it was charged is free, its timer and meter gone. */
  settle(): void {
    if (this.done) return;
    this.done = true;
    this.connectArrived();
    this.owner.memory.release(this.charged);
    this.socket.off('data', meter);
    this.socket.off('close', closed);
    pendingOf.delete(this.socket);
  }
}

/**
 * Every connection not yet accepted, for the listeners: refused at arrival
 * past the memory budget, closed when it sends past it or sends no complete
 * CONNECT in time. The rules are the policy core's (tenancy/admission.ts).
 */
export class PendingConnections {
  readonly memory: UnauthenticatedMemory;
  readonly options: PendingOptions;

  constructor(
    options: ConnectionLimitOptions,
    private readonly onShed: (shed: ShedConnection) => void,
  ) {
    const d = BROKER_DEFAULTS;
    this.options = {
      maxPacketBytes: options.maxPacketBytes ?? d.maxPacketBytes,
      maxUnauthenticatedPacketBytes: options.maxUnauthenticatedPacketBytes ?? d.maxUnauthenticatedPacketBytes,
      connectTimeoutMs: options.connectTimeoutMs ?? d.connectTimeoutMs,
      maxUnauthenticatedBytes: options.maxUnauthenticatedBytes ?? d.maxUnauthenticatedBytes,
    };
    this.memory = new UnauthenticatedMemory(this.options.maxUnauthenticatedBytes);
  }

  /** The largest WebSocket message after CONNACK (ws' maxPayload of the server). */
  get maxMessageBytes(): number {
    return this.options.maxPacketBytes + WS_HEADER_BYTES;
  }

  /** A socket arrived: false when it must be refused (the caller destroys it). */
  open(socket: net.Socket, transport: keyof typeof UNAUTHENTICATED_BASE_BYTES): boolean {
    const base = UNAUTHENTICATED_BASE_BYTES[transport];
    if (!this.memory.admit(base)) {
      this.onShed({ transport, remoteAddress: socket.remoteAddress, reason: 'unauthenticated-memory' });
      return false;
    }
    pendingOf.set(socket, new PendingConnection(this, socket, transport, base));
    socket.once('close', closed);
    return true;
  }

  /** A socket refused before it was opened (a client certificate not verified): counted and closed. */
  refuse(socket: net.Socket, transport: Transport, reason: ShedReason, detail?: string): void {
    this.onShed({ transport, remoteAddress: socket.remoteAddress, reason, ...(detail ? { detail } : {}) });
    socket.destroy();
  }

  /**
   * Counts the bytes the socket delivers from now on. A TCP or TLS socket is
   * read by aedes (`readable` and `read()`), so this is attached after aedes
   * took it: a `data` listener on a stream nobody reads yet would start it
   * flowing. An HTTP server's sockets flow already.
   */
  meter(socket: net.Socket): void {
    if (pendingOf.has(socket)) socket.on('data', meter);
  }

  /** The pending connection of a socket, until it is accepted or closed. */
  of(socket: net.Socket): PendingConnection | null {
    return pendingOf.get(socket) ?? null;
  }

  shed(pending: PendingConnection, reason: ShedReason): void {
    pending.settle();
    this.onShed({ transport: pending.transport, remoteAddress: pending.socket.remoteAddress, reason });
    pending.socket.destroy();
  }
}

/** CONNACK accepted the session's connection: it is no longer pending. */
export function acceptAfterConnack(session: { pending: PendingConnection | null } | undefined): void {
  if (!session?.pending) return;
  session.pending.accepted();
  session.pending = null;
}
