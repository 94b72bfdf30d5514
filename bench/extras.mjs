// Two comparisons of the engine with itself, run by `npm run bench` after the
// table against bare aedes (or alone: node bench/extras.mjs [--reps=N]):
//
// 1. Webhooks never slow the broker: fan-in QoS 0 (prefix tenant) with a
//    webhook on every topic to a target that answers after 2 s, as a ratio to
//    the same engine without the webhook. Target >= 0.9.
// 2. SQLite persistence against memory persistence: fan-in QoS 1 with retained
//    publishes and a persistent subscriber (clean session off), so the broker
//    stores retained messages and queues for the session. Target >= 0.7.
//
// Same processes as bench/run.mjs: brokers (bench/broker.mjs) and the mqtt.js
// load generator (bench/load.mjs) in children of their own, pinned to CPUs.
import { createServer } from 'node:http';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAll, pin, rpc, setPinning, spawnChild, stopChild, tempDirs } from './children.mjs';

const repsArg = process.argv.find((a) => a.startsWith('--reps='));
const REPS = repsArg ? Number(repsArg.slice(7)) : 3;
const PINNED = setPinning(!process.argv.includes('--no-pin'));
const FANIN0 = { qos: 0, publishers: 4, perPublisher: 50_000, payloadSize: 64, window: 1000, quietMs: 2000 };
const FANIN1 = { qos: 1, publishers: 4, perPublisher: 25_000, payloadSize: 64, window: 100, quietMs: 3000, retain: true, persistentSubscriber: true };

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function engine(name, options) {
  const dir = await mkdtemp(join(os.tmpdir(), `tenant-broker-bench-${name}-`));
  tempDirs.push(dir);
  const broker = spawnChild('broker.mjs', ['engine', dir, fileURLToPath(new URL('../dist/src/index.js', import.meta.url)), JSON.stringify(options)]);
  const ready = await broker.ready;
  pin(broker.child, '1');
  return { child: broker.child, prefix: ready.targets.find((t) => t.name === 'prefix') };
}

/** An HTTP target that holds every request for 2 s before answering 204. */
async function slowTarget() {
  const server = createServer((req, res) => {
    req.resume();
    setTimeout(() => res.writeHead(204).end(), 2000).unref();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${server.address().port}/hook` };
}

async function main() {
  console.log(`bench extras: ${REPS} repetition(s)${PINNED ? ', pinned' : ''}`);
  const load = spawnChild('load.mjs', []);
  await load.ready;
  pin(load.child, '0');
  const target = await slowTarget();
  try {
    // 1. webhook to a slow target vs none, same engine, alternating
    const e = await engine('webhook', {});
    await rpc(load.child, { task: 'fanin', params: { target: e.prefix, ...FANIN0, perPublisher: 2000 } });
    const plain = [];
    const hooked = [];
    let counters = null;
    for (let rep = 0; rep < REPS; rep++) {
      plain.push((await rpc(load.child, { task: 'fanin', params: { target: e.prefix, ...FANIN0 } })).result.rate);
      const { webhookId } = await rpc(e.child, { cmd: 'webhook', url: target.url });
      hooked.push((await rpc(load.child, { task: 'fanin', params: { target: e.prefix, ...FANIN0 } })).result.rate);
      counters = Object.values((await rpc(e.child, { cmd: 'webhook', remove: webhookId })).webhooks);
    }
    const ratios = hooked.map((h, i) => h / plain[i]);
    console.log(`fan-in QoS 0 without webhook: ${Math.round(median(plain)).toLocaleString('en-US')} msg/s; with a webhook to a 2 s target: ${Math.round(median(hooked)).toLocaleString('en-US')} msg/s`);
    console.log(`  ratio ${median(ratios).toFixed(3)} (target >= 0.9) ${median(ratios) >= 0.9 ? 'PASS' : 'BELOW'}; per run ${ratios.map((r) => r.toFixed(3)).join(' ')}`);
    if (counters?.[0]) console.log(`  webhook during the last run: ${counters[0].dropped} dropped by its bounded queue, ${counters[0].inFlight} in flight, ${counters[0].queued} queued`);
    await stopChild(e.child);

    // 2. sqlite vs memory persistence, QoS 1, retained, persistent subscriber
    const memory = await engine('memory', { persistence: 'memory' });
    const sqlite = await engine('sqlite', { persistence: 'sqlite' });
    const rates = { memory: [], sqlite: [], lost: 0 };
    for (const e2 of [memory, sqlite]) await rpc(load.child, { task: 'fanin', params: { target: e2.prefix, ...FANIN1, perPublisher: 1000 } });
    for (let rep = 0; rep < REPS; rep++) {
      for (const [name, e2] of rep % 2 ? [['sqlite', sqlite], ['memory', memory]] : [['memory', memory], ['sqlite', sqlite]]) {
        const { result } = await rpc(load.child, { task: 'fanin', params: { target: e2.prefix, ...FANIN1 } });
        rates[name].push(result.rate);
        // the subscriber also gets the previous run's retained messages on subscribing: those are not losses
        rates.lost += Math.max(0, result.lost);
      }
    }
    const pratios = rates.sqlite.map((r, i) => r / rates.memory[i]);
    console.log(`fan-in QoS 1, retained, persistent subscriber: memory ${Math.round(median(rates.memory)).toLocaleString('en-US')} msg/s, sqlite ${Math.round(median(rates.sqlite)).toLocaleString('en-US')} msg/s`);
    console.log(`  ratio sqlite/memory ${median(pratios).toFixed(3)} (target >= 0.7) ${median(pratios) >= 0.7 ? 'PASS' : 'BELOW'}; per run ${pratios.map((r) => r.toFixed(3)).join(' ')}; lost ${rates.lost}`);
    await Promise.all([stopChild(memory.child), stopChild(sqlite.child), stopChild(load.child)]);
  } finally {
    target.server.close();
    target.server.closeAllConnections();
    killAll();
  }
}

const watchdog = setTimeout(() => {
  console.error('bench extras: gave up after 8 minutes');
  killAll();
  process.exit(1);
}, 8 * 60_000);
watchdog.unref();
main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench extras failed: ${err?.stack ?? err}`);
    killAll();
    process.exit(1);
  },
);
