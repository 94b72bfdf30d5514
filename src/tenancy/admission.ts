/**
 * What a connection may hold before it is accepted (before CONNACK), when
 * nobody knows yet which tenant it is: a per-connection estimate of its fixed
 * cost plus every byte it has sent, against one budget for all such
 * connections. Pure: the broker's listeners carry the decisions out.
 */
import type { Transport } from '../model';

/**
 * What one connection holds before it sends a byte, measured on Node 20 with
 * 1,000 idle connections (socket, aedes client and parser; for WebSocket also
 * the HTTP parser and the ws objects; for TLS the session), rounded up.
 */
export const UNAUTHENTICATED_BASE_BYTES: Readonly<Record<Exclude<Transport, 'flow' | 'http'>, number>> = { tcp: 16 * 1024, tls: 32 * 1024, ws: 32 * 1024, wss: 48 * 1024 };

/** Why a connection was closed or refused before it was accepted. */
export type ShedReason = 'unauthenticated-memory' | 'connect-timeout' | 'tls-rejected';

/**
 * The memory held by connections not yet accepted, against `limit` (0: no
 * limit). A new connection is refused when its base cost would pass the limit,
 * and one whose bytes would pass it is closed: the total never exceeds the
 * limit, so a flood of idle or slow unauthenticated connections cannot take
 * the memory of the tenants' accepted ones.
 */
export class UnauthenticatedMemory {
  private heldBytes = 0;
  private count = 0;

  constructor(readonly limit: number) {}

  /** A new connection charged `bytes`; false: refuse it. */
  admit(bytes: number): boolean {
    if (!this.fits(bytes)) return false;
    this.heldBytes += bytes;
    this.count++;
    return true;
  }

  /** An admitted connection sent `bytes` more; false: close it (nothing is charged). */
  grow(bytes: number): boolean {
    if (!this.fits(bytes)) return false;
    this.heldBytes += bytes;
    return true;
  }

  /** An admitted connection was accepted or closed: everything it was charged is free again. */
  release(bytes: number): void {
    this.heldBytes -= bytes;
    this.count--;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  get connections(): number {
    return this.count;
  }

  private fits(bytes: number): boolean {
    return this.limit <= 0 || this.heldBytes + bytes <= this.limit;
  }
}
