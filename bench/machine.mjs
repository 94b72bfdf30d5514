// How busy the rest of the machine was while the bench measured: CPU time of
// every process that is not this bench (nor one of its descendants, Node-RED
// included), from /proc/stat minus /proc/<pid>/stat of our process tree.
// Linux only; elsewhere every figure is null.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

const HZ = 100; // USER_HZ: /proc/stat and /proc/<pid>/stat count in 1/100 s on every Linux ABI

function statFields(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime (ticks) of this process and all its descendants, from one pass over /proc. */
function ourTicks() {
  const parents = new Map();
  const ticks = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const f = statFields(name);
      parents.set(Number(name), Number(f[1]));
      ticks.set(Number(name), Number(f[11]) + Number(f[12]));
    } catch {
      /* gone meanwhile */
    }
  }
  let total = 0;
  for (const [pid, t] of ticks) {
    for (let at = pid, hops = 0; at > 1 && hops < 64; at = parents.get(at) ?? 0, hops++) {
      if (at === process.pid) {
        total += t;
        break;
      }
    }
  }
  return total;
}

// Process time only: irq and softirq are left out, because loopback TCP (the
// bench's own traffic) is largely handled in softirq, which no process is
// charged for; steal (a hypervisor's other guests) is reported on its own.
function machineTicks() {
  const [user, nice, system, , , , , steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { busy: user + nice + system, steal: steal ?? 0 };
}

export function snapshot() {
  try {
    const { busy, steal } = machineTicks();
    return { at: process.hrtime.bigint(), machine: busy, steal, ours: ourTicks(), load: os.loadavg()[0] };
  } catch {
    return null;
  }
}

/** CPUs (1.0 = one core) used on average by other processes between two snapshots. */
export function othersBetween(a, b) {
  if (!a || !b) return null;
  const seconds = Number(b.at - a.at) / 1e9;
  if (seconds <= 0) return null;
  return Math.max(0, (b.machine - a.machine - (b.ours - a.ours)) / HZ / seconds);
}

/** CPUs taken by the hypervisor (steal) on average between two snapshots. */
export function stealBetween(a, b) {
  if (!a || !b) return null;
  const seconds = Number(b.at - a.at) / 1e9;
  return seconds > 0 ? (b.steal - a.steal) / HZ / seconds : null;
}

/**
 * Waits until other processes use less than `threshold` CPU over `windowMs`
 * (one window after another), at most `maxMs`; resolves with the last figure.
 */
export async function waitForQuiet({ threshold = 0.15, windowMs = 2000, maxMs = 120_000 } = {}) {
  const deadline = Date.now() + maxMs;
  let others = null;
  do {
    const a = snapshot();
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    others = othersBetween(a, snapshot());
    if (others === null || others < threshold) return others;
  } while (Date.now() < deadline);
  return others;
}
