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
  /** Authorizations held until the window has room, the next at `publishesWaitingFrom`. */
  publishesWaiting: Array<(() => void) | undefined>;
  /** A queue's head moves by index: Array#shift copies long arrays (quadratic for a batch of 100,000). */
  publishesWaitingFrom: number;
  /** A release of waiting publishes is scheduled. */
  publishesReleasing: boolean;
}

export const newPublishWindow = (): PublishWindow => ({ publishesInFlight: 0, publishesWaiting: [], publishesWaitingFrom: 0, publishesReleasing: false });

const windowed = (qos: number): boolean => qos === 0;

/** aedes' authorization callback. */
type Authorized = (error: null) => void;

/**
 * Answers `authorized` now, or once the client's window has room, and after
 * `waitMs` (a rate limit) either way; true when it waits for room.
 */
export function enterWindow(window: PublishWindow, qos: number, authorized: Authorized, waitMs: number): boolean {
  if (!windowed(qos)) {
    answer(authorized, waitMs);
    return false;
  }
  if (window.publishesInFlight < PUBLISH_WINDOW && waitingCount(window) === 0) {
    window.publishesInFlight++;
    answer(authorized, waitMs);
    return false;
  }
  window.publishesWaiting.push(() => answer(authorized, waitMs));
  return true;
}

function answer(authorized: Authorized, waitMs: number): void {
  if (waitMs === 0) authorized(null);
  else setTimeout(authorized, waitMs, null);
}

/**
 * One of the client's publishes completed. Its place is given on in a batch,
 * from an immediate: aedes completes each QoS 0 publish from an immediate of
 * its own, and a publish released from each of those would be written to its
 * subscribers alone, one system call per message (measured: writev's cost per
 * message up by 60 % in a QoS 0 fan-in). Released together, the deliveries of
 * one batch leave in one write; and a release never recurses, even when the
 * publishes it releases complete at once (no subscriber).
 */
export function leaveWindow(window: PublishWindow, qos: number): void {
  if (!windowed(qos)) return;
  if (window.publishesInFlight > 0) window.publishesInFlight--;
  if (waitingCount(window) > 0 && !window.publishesReleasing) {
    window.publishesReleasing = true;
    setImmediate(releaseWaiting, window);
  }
}

/** Publishes held until the window has room. */
export const waitingCount = (window: PublishWindow): number => window.publishesWaiting.length - window.publishesWaitingFrom;

function releaseWaiting(window: PublishWindow): void {
  try {
    while (waitingCount(window) > 0 && window.publishesInFlight < PUBLISH_WINDOW) {
      const waiting = window.publishesWaiting;
      const go = waiting[window.publishesWaitingFrom]!;
      waiting[window.publishesWaitingFrom++] = undefined;
      if (window.publishesWaitingFrom === waiting.length) {
        window.publishesWaiting = [];
        window.publishesWaitingFrom = 0;
      }
      window.publishesInFlight++;
      go();
    }
  } finally {
    window.publishesReleasing = false;
  }
}
