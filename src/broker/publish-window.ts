/**
 * How many of one client's QoS 0 publishes may be in aedes' hands at once.
 * aedes parses all that a socket has buffered and publishes every packet of it
 * together, and its emitter is unbounded (a bound there is one queue shared by
 * every tenant, see fabric.ts): without a window, a QoS 0 flood puts thousands
 * of one client's messages in flight at once, and the garbage they keep alive
 * cost the broker about a fifth of its QoS 0 throughput (bench/ab.mjs, issue
 * 15). Past the window a publish waits for one of the same client's to
 * complete; aedes then reads that client's socket later and TCP pushes back on
 * it alone. QoS 1 and 2 are left out: measured, a window cost QoS 1 about 15 %
 * and unbounded cost it nothing; a QoS 2 publish completes only at its PUBREL,
 * which a client may send after more PUBLISHes.
 */
export const PUBLISH_WINDOW = 64;

export interface PublishWindow {
  /** QoS 0 publishes authorized and not yet completed (at most PUBLISH_WINDOW). */
  publishesInFlight: number;
  /** Authorizations held until one in flight completes. */
  publishesWaiting: Array<() => void>;
}

export const newPublishWindow = (): PublishWindow => ({ publishesInFlight: 0, publishesWaiting: [] });

const windowed = (qos: number): boolean => qos === 0;

/** Runs `go` (aedes' authorization callback) now, or once the client's window has room; true when it waits. */
export function enterWindow(window: PublishWindow, qos: number, go: () => void): boolean {
  if (!windowed(qos)) {
    go();
    return false;
  }
  if (window.publishesInFlight < PUBLISH_WINDOW) {
    window.publishesInFlight++;
    go();
    return false;
  }
  window.publishesWaiting.push(go);
  return true;
}

/** One of the client's publishes completed: its place goes to the next waiting one. */
export function leaveWindow(window: PublishWindow, qos: number): void {
  if (!windowed(qos)) return;
  const next = window.publishesWaiting.shift();
  if (next) next();
  else if (window.publishesInFlight > 0) window.publishesInFlight--;
}
