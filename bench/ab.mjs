// Two builds of the engine against each other, in the same run: fan-in QoS 0
// and QoS 1 (the phases of bench/run.mjs) on both tenants of each build, the
// two builds measured back to back in an order that alternates, every figure
// a ratio B / A. For a change whose cost must be shown, e.g. issue 15's fix:
//
//   git worktree add --detach /tmp/ab-before <commit before>; ln -s "$PWD/node_modules" /tmp/ab-before/
//   (cd /tmp/ab-before && node build.mjs)       likewise /tmp/ab-after at the commit after
//   node bench/ab.mjs --a=/tmp/ab-before/dist/src/index.js --b=/tmp/ab-after/dist/src/index.js [--reps=N]
//                     [--load-client=mqttjs|raw] [--names=before,after] [--phases=0,1 (QoS of the fan-in phases)]
//
// Same processes and pinning as bench/run.mjs: each build in its own broker
// process (bench/broker.mjs) on CPU 1, the load generator on CPU 0.
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { killAll, pin, rpc, setPinning, spawnChild, stopChild, tempDirs } from './children.mjs';

const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const A = arg('a');
const B = arg('b');
if (!A || !B) {
  console.error('node bench/ab.mjs --a=<index.js> --b=<index.js> [--reps=N] [--load-client=mqttjs|raw] [--names=a,b]');
  process.exit(2);
}
const REPS = Number(arg('reps', 5));
const LOAD_CLIENT = arg('load-client', 'mqttjs');
const [NAME_A, NAME_B] = arg('names', 'A,B').split(',');
const PINNED = setPinning(!process.argv.includes('--no-pin'));
const PHASES = {
  'fan-in QoS 0': { qos: 0, publishers: 4, perPublisher: 100_000, payloadSize: 64, window: 1000, quietMs: 2000, client: LOAD_CLIENT },
  'fan-in QoS 1': { qos: 1, publishers: 4, perPublisher: 60_000, payloadSize: 64, window: 100, quietMs: 3000, client: LOAD_CLIENT },
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function engine(name, index) {
  const dir = await mkdtemp(join(os.tmpdir(), `tenant-broker-ab-${name}-`));
  tempDirs.push(dir);
  const broker = spawnChild('broker.mjs', ['engine', dir, resolve(index)]);
  const ready = await broker.ready;
  pin(broker.child, '1');
  return { child: broker.child, targets: ready.targets };
}

async function main() {
  console.log(`bench ab: ${NAME_A} = ${A}, ${NAME_B} = ${B}; ${REPS} repetition(s), ${LOAD_CLIENT} load clients${PINNED ? ', pinned' : ''}`);
  const load = spawnChild('load.mjs', []);
  await load.ready;
  pin(load.child, '0');
  const a = await engine('a', A);
  const b = await engine('b', B);
  const only = arg('phases', '0,1').split(',');
  for (const [phase, params] of Object.entries(PHASES).filter(([name]) => only.includes(name.at(-1)))) {
    for (const t of a.targets.map((x) => x.name)) {
      const targetOf = (e) => e.targets.find((x) => x.name === t);
      for (const e of [a, b]) await rpc(load.child, { task: 'fanin', params: { target: targetOf(e), ...params, perPublisher: 2000 } });
      const rates = { a: [], b: [] };
      for (let rep = 0; rep < REPS; rep++) {
        for (const side of rep % 2 ? ['b', 'a'] : ['a', 'b']) {
          const { result } = await rpc(load.child, { task: 'fanin', params: { target: targetOf(side === 'a' ? a : b), ...params } });
          rates[side].push(result.rate);
        }
      }
      const ratios = rates.b.map((r, i) => r / rates.a[i]);
      const fmt = (x) => Math.round(median(x)).toLocaleString('en-US');
      console.log(`${phase} ${t.padEnd(10)} ${NAME_A} ${fmt(rates.a)} msg/s, ${NAME_B} ${fmt(rates.b)} msg/s; ${NAME_B}/${NAME_A} ${median(ratios).toFixed(3)} (per run ${ratios.map((r) => r.toFixed(3)).join(' ')})`);
    }
  }
  await Promise.all([stopChild(a.child), stopChild(b.child), stopChild(load.child)]);
}

main().then(
  () => {
    killAll();
    process.exit(0);
  },
  (err) => {
    console.error(`bench ab failed: ${err?.stack ?? err}`);
    killAll();
    process.exit(1);
  },
);
