// GC pauses by kind, from perf_hooks' 'gc' entries: how many and how long
// (ms) in minor (scavenge), major (mark-compact), incremental marking and
// weak-callback steps. Used in-process by bench/broker.mjs; the same source is
// evaluated inside Node-RED through its inspector (bench/node-red.mjs), so it
// must stay one self-contained function.
import { PerformanceObserver, constants } from 'node:perf_hooks';

export function gcWatcher() {
  return installGcWatcher(PerformanceObserver, constants);
}

export function installGcWatcher(PerformanceObserver, constants) {
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  const totals = { minor: { n: 0, ms: 0 }, major: { n: 0, ms: 0 }, incremental: { n: 0, ms: 0 }, weakcb: { n: 0, ms: 0 } };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = kinds[entry.detail?.kind ?? entry.kind];
      if (!kind) continue;
      totals[kind].n++;
      totals[kind].ms += entry.duration;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    stop() {
      // entries of the last moments are delivered asynchronously; take what has arrived
      for (const entry of observer.takeRecords?.() ?? []) {
        const kind = kinds[entry.detail?.kind ?? entry.kind];
        if (kind) {
          totals[kind].n++;
          totals[kind].ms += entry.duration;
        }
      }
      observer.disconnect();
      return totals;
    },
  };
}
