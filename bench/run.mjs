// `npm run bench`: bare aedes against this broker, measured in the same run,
// every figure reported as a broker / bare-aedes ratio, in two tables:
//
// 1. the engine alone: the BUILT engine (dist/src) in a plain Node process,
//    one prefix tenant and one mountpoint tenant, SQLite persistence (the
//    engine's default);
// 2. the product as `npm start` runs it: scripts/start.mjs itself, with a temp
//    DEMO_DIR and free ports, i.e. a real headless Node-RED (the devDependency)
//    with this package linked into its user directory, the getting-started flow
//    and the demo's admin node deployed, SQLite persistence, and the demo
//    tenants tenant1 (prefix) and tenant2 (mountpoint). This is what users get.
//
//   node build.mjs && node bench/run.mjs [--reps=N] [--quick] [--profile] [--no-extras] [...]
//
//   --reps=N      repetitions of every measurement (median reported); default 5
//   --quick       smaller message counts, 1 repetition: a smoke test of the bench itself
//   --product     the product table only (no engine table, no extras)
//   --no-product  the engine table only (as before the product table existed)
//   --profile     run the broker processes under --cpu-prof (Node-RED, which scripts/start.mjs
//                 starts without flags, through its inspector: its whole run, warm-up included);
//                 whole-process profiles are kept in a temp dir
//   --profile-phases  after the measured repetitions, one more round that is not
//                 counted, with V8's sampling profiler on around each phase of each
//                 broker (Node-RED's through its inspector, opened with SIGUSR1),
//                 one .cpuprofile per phase and target, then a summary by origin
//                 (our dist/src, dist/nodes, aedes, Node-RED, GC...) per message;
//                 see bench/profile.mjs to read them again
//   --phases=LIST only these phases (default fanin0,fanin1,fanout,connect,memory): for
//                 profiling work; a table then shows only their rows
//   --max-noise=X a round (one phase, the three targets back to back) during which other
//                 processes used more than X CPUs (from /proc, see bench/machine.mjs) is
//                 discarded and measured again once the machine is quiet, up to 4 times;
//                 default 0.25, `off` keeps every round
//   --no-extras   skip other bench/*.mjs scripts (e.g. webhooks.mjs) run after the tables
//   --no-pin      do not pin processes to CPUs (see below)
//   --connect-client=raw|mqttjs   client used by the connect phase (default raw, see below)
//   --load-client=mqttjs|raw      clients of the fan-in and fan-out phases (default mqttjs); raw:
//                 bare-socket publishers and subscribers (bench/load.mjs), cheap enough that the
//                 broker sets the rate: with mqtt.js the load generator is near one full core
//                 in fan-in QoS 1 and caps bare aedes first, which flatters every ratio
//   --engine=PATH         engine table: measure another build of the engine (its index.js)
//                         instead of dist/src/index.js
//   --engine-options=JSON engine table: extra BrokerHost options, e.g. '{"persistence":"memory"}'
//                         (default: none, i.e. the engine's defaults, SQLite persistence included)
//
// Processes: this one only orchestrates. Each broker runs in its own process
// (bench/broker.mjs: bare aedes in one, the BUILT engine from dist/ in the
// other; for the product table bare aedes again and Node-RED under
// scripts/start.mjs, see bench/node-red.mjs), so CPU time and memory are per
// broker; the mqtt.js load generator (bench/load.mjs) is a process of its own.
// Node-RED's CPU time is read from /proc, its credential cache emptied through
// the demo's admin API (POST /internal/reload). Nothing is written inside the
// repository: registries and the demo's user directory live in temp dirs
// removed at the end, and the JSON results go to a file under os.tmpdir()
// whose path is printed.
//
// CPU pinning (Linux, `taskset`): the broker under test runs on CPU 1 and
// the load generator on CPU 0, all their threads included. Unpinned, on a
// 2-core box, the two saturated processes now and then share a core and single
// runs drop by up to 40 %; pinned, repeated runs agree within a few percent.
// The broker gets one core, as its event loop can use no more; its libuv pool
// (where scrypt runs) shares that core, which makes cold logins a little
// slower than on an idle production box: a conservative figure.
//
// Connects use a minimal MQTT client on a bare socket (CONNECT, CONNACK,
// DISCONNECT) unless --connect-client=mqttjs: an mqtt.js client costs its
// process about as much CPU to set up as the broker spends accepting it, so
// with mqtt.js the load generator, not the broker, sets the connect rate.
//
// Memory per idle connection (engine table only: Node-RED has no --expose-gc):
// heapUsed + external of the broker process after
// forced GCs, with the clients connected and idle, minus the same before they
// connected, divided by their number. It is measured last, because a forced GC
// leaves V8 slower for a second or so and would skew any timed phase after it.
//
// Exit code: 0 when the bench ran, whether or not targets were met (it is a
// report); 1 when the bench itself failed (a child crashed, a phase timed out).
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { children, killAll, pin, pinPid, rpc, setPinning, spawnChild, stopChild, tempDirs } from './children.mjs';
import { othersBetween, snapshot, stealBetween, waitForQuiet } from './machine.mjs';
import { startNodeRed } from './node-red.mjs';
import { printProfileComparison } from './profile.mjs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = new Set(process.argv.slice(2));
const argValue = (name, fallback) => {
  const hit = process.argv.slice(2).find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : fallback;
};
const quick = args.has('--quick');
const profile = args.has('--profile');
const profilePhases = args.has('--profile-phases');
const REPS = Number(argValue('reps', quick ? 1 : 5));
const PIN = setPinning(!args.has('--no-pin'));
const ALL_PHASES = ['fanin0', 'fanin1', 'fanout', 'connect', 'memory'];
const SELECTED = argValue('phases', ALL_PHASES.join(',')).split(',');
const has = (phase) => SELECTED.includes(phase);
const RUN_ENGINE = !args.has('--product');
const RUN_PRODUCT = !args.has('--no-product');
const TOTAL_TIMEOUT_MS = 60 * 60_000;
const MAX_NOISE = argValue('max-noise', '0.25') === 'off' ? Infinity : Number(argValue('max-noise', '0.25'));
const MAX_REDOS = 4;
if (!(MAX_NOISE > 0)) {
  console.error('--max-noise is a number of CPUs (e.g. 0.25) or off');
  process.exit(1);
}
if (SELECTED.some((p) => !ALL_PHASES.includes(p))) {
  console.error(`--phases is a comma-separated list of ${ALL_PHASES.join(', ')}`);
  process.exit(1);
}
if (!RUN_ENGINE && !RUN_PRODUCT) {
  console.error('--product and --no-product exclude each other');
  process.exit(1);
}

const ENGINE = resolve(argValue('engine', join(here, '..', 'dist', 'src', 'index.js')));
const ENGINE_OPTIONS = argValue('engine-options', '{}');
if (!existsSync(ENGINE)) {
  console.error(`${ENGINE} is missing: run \`node build.mjs\` first (npm run bench does).`);
  process.exit(1);
}
try {
  JSON.parse(ENGINE_OPTIONS);
} catch {
  console.error(`--engine-options must be JSON, not ${ENGINE_OPTIONS}`);
  process.exit(1);
}

if (!['raw', 'mqttjs'].includes(argValue('connect-client', 'raw'))) {
  console.error('--connect-client is raw or mqttjs');
  process.exit(1);
}
const LOAD_CLIENT = argValue('load-client', 'mqttjs');
if (!['raw', 'mqttjs'].includes(LOAD_CLIENT)) {
  console.error('--load-client is mqttjs or raw');
  process.exit(1);
}
if (!Number.isInteger(REPS) || REPS < 1) {
  console.error('--reps must be a whole number, 1 or more');
  process.exit(1);
}
const scale = quick ? 0.1 : 1;
const PHASES = {
  fanin0: { qos: 0, publishers: 4, perPublisher: Math.round(100_000 * scale), payloadSize: 64, window: 1000, quietMs: 2000, client: LOAD_CLIENT },
  fanin1: { qos: 1, publishers: 4, perPublisher: Math.round(60_000 * scale), payloadSize: 64, window: 100, quietMs: 3000, client: LOAD_CLIENT },
  fanout: { qos: 0, subscribers: 20, messages: Math.round(30_000 * scale), payloadSize: 64, window: 1000, quietMs: 2000, client: LOAD_CLIENT },
  connect: { clients: quick ? 500 : 2000, concurrency: 100, client: argValue('connect-client', 'raw') },
};
const WARMUP = {
  fanin0: { ...PHASES.fanin0, perPublisher: 2000 },
  fanin1: { ...PHASES.fanin1, perPublisher: 1000 },
  fanout: { ...PHASES.fanout, messages: 500 },
  connect: { ...PHASES.connect, clients: 1000 },
};

// ------------------------------------------------------------ measurements

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * One table: its brokers and what was measured against them.
 * raw[metric][target] = [value per repetition]
 */
function newTable(kind) {
  return { kind, raw: {}, profiles: [], noise: [], redone: 0 };
}
/** How many values each series holds, so that a discarded round can be taken back. */
function markOf(table) {
  const mark = [];
  for (const [metric, byTarget] of Object.entries(table.raw)) for (const [target, xs] of Object.entries(byTarget)) mark.push([metric, target, xs.length]);
  return mark;
}
function rollback(table, mark) {
  const kept = new Map(mark.map(([metric, target, n]) => [`${metric}\u0000${target}`, n]));
  for (const [metric, byTarget] of Object.entries(table.raw)) {
    for (const [target, xs] of Object.entries(byTarget)) xs.length = kept.get(`${metric}\u0000${target}`) ?? 0;
  }
}
const record = (table, metric, target, value) => {
  table.raw[metric] ??= {};
  (table.raw[metric][target] ??= []).push(value);
};

/** A broker child of ours (bench/broker.mjs), driven over IPC. */
function ipcBroker(child) {
  return {
    child,
    cpu: async () => {
      const { cpu } = await rpc(child, { cmd: 'cpu' });
      return cpu.user + cpu.system;
    },
    cold: () => rpc(child, { cmd: 'cold' }),
    stats: () => rpc(child, { cmd: 'stats' }),
    mem: async () => (await rpc(child, { cmd: 'mem' })).memory,
    profileStart: () => rpc(child, { cmd: 'profile-start' }),
    profileStop: (file) => rpc(child, { cmd: 'profile-stop', file }),
    gcStart: () => rpc(child, { cmd: 'gc-start' }),
    gcStop: async () => (await rpc(child, { cmd: 'gc-stop' })).gc,
  };
}

/** Node-RED under scripts/start.mjs (bench/node-red.mjs): /proc and the admin API. */
function nodeRedBroker(red) {
  return {
    red,
    cpu: () => red.cpu(),
    cold: () => red.cold(),
    stats: async () => ({}), // no public count of scrypt checks
    mem: () => red.mem(), // only with the inspector open (--profile, --profile-phases)
    profileStart: () => red.profileStart(),
    profileStop: async (file) => writeFile(file, JSON.stringify(await red.profileStop())),
    gcStart: () => red.gcStart(),
    gcStop: () => red.gcStop(),
  };
}

async function throughput(table, load, broker, target, phase, params, warm) {
  const cpu0 = await broker.cpu();
  const { result } = await rpc(load, { task: phase === 'fanout' ? 'fanout' : 'fanin', params: { target, ...params } });
  const cpuUs = (await broker.cpu()) - cpu0;
  result.cpuUs = cpuUs;
  if (warm) return result;
  record(table, `${phase}.rate`, target.name, result.rate);
  record(table, `${phase}.lost`, target.name, result.lost);
  record(table, `${phase}.cpu`, target.name, cpuUs / result.received);
  record(table, `${phase}.brokerBusy`, target.name, cpuUs / 1e6 / result.seconds);
  record(table, `${phase}.loadBusy`, target.name, result.cpuSeconds / result.seconds);
  return result;
}

async function connectOnce(load, broker, target, params) {
  const cpu0 = await broker.cpu();
  const { result } = await rpc(load, { task: 'connect', params: { target, ...params } });
  const cpuUs = (await broker.cpu()) - cpu0;
  await rpc(load, { task: 'disconnect' });
  if (result.failed) throw new Error(`${target.name}: ${result.failed} of ${params.clients} connects failed (first: ${result.firstError})`);
  return { ...result, cpuUs, cpuPerConnect: cpuUs / result.connected, brokerBusy: cpuUs / 1e6 / result.seconds };
}

/**
 * Connect rate, first with an empty credential cache (the engine then runs
 * the real scrypt check, as after a restart), then again with a warm cache.
 * No forced GC here: a global.gc() leaves V8 slower for the next second or
 * so (measured: the next 2,000 connects at a third of the rate), so memory is
 * measured on its own, after every timed phase.
 */
async function connectPhase(table, load, broker, target, params, warm) {
  await broker.cold(); // engine: empty the credential cache so scrypt really runs
  const stats0 = await broker.stats();
  const cold = await connectOnce(load, broker, target, params);
  const stats1 = await broker.stats();
  const hot = await connectOnce(load, broker, target, params);
  if (warm) return cold;
  record(table, 'connect.rate', target.name, cold.rate);
  record(table, 'connect.warmRate', target.name, hot.rate);
  record(table, 'connect.cpu', target.name, cold.cpuPerConnect);
  record(table, 'connect.warmCpu', target.name, hot.cpuPerConnect);
  record(table, 'connect.brokerBusy', target.name, hot.brokerBusy);
  record(table, 'connect.loadBusy', target.name, hot.cpuSeconds / hot.seconds);
  if (stats1.scryptChecks !== undefined) record(table, 'connect.scrypt', target.name, stats1.scryptChecks - stats0.scryptChecks);
  return cold;
}

/** Broker memory per idle connection: GC, open the clients, leave them idle, GC, compare. */
async function memoryPhase(table, load, broker, target, params) {
  const before = await broker.mem();
  const { result } = await rpc(load, { task: 'connect', params: { target, ...params } });
  await new Promise((resolve) => setTimeout(resolve, 200)); // let the last CONNACKs settle
  const after = await broker.mem();
  await rpc(load, { task: 'disconnect' });
  if (result.failed) throw new Error(`${target.name}: ${result.failed} connects failed (first: ${result.firstError})`);
  const n = result.connected;
  record(table, 'memory.heapExt', target.name, (after.heapUsed + after.external - before.heapUsed - before.external) / n);
  record(table, 'memory.rss', target.name, (after.rss - before.rss) / n);
  return { n, perConnection: (after.heapUsed + after.external - before.heapUsed - before.external) / n };
}

/**
 * --profile-phases: one more round, not counted, with the sampling profiler on
 * around each phase of each target; one .cpuprofile per (phase, target).
 */
async function profileRound(table, load, brokers, targets, profDir) {
  const take = async (name, phase, fn) => {
    const broker = brokers[name];
    const file = join(profDir, `${table.kind}-${phase}-${name}.cpuprofile`);
    await broker.gcStart();
    await broker.profileStart();
    let result;
    let gc;
    try {
      result = await fn();
    } finally {
      await broker.profileStop(file);
      gc = await broker.gcStop();
    }
    const count = result.received ?? result.connected;
    table.profiles.push({ file, table: table.kind, phase, target: name, count, seconds: result.seconds, rate: result.rate, cpuUs: result.cpuUs, gc });
    return result;
  };
  const parts = [];
  for (const name of TARGET_NAMES) {
    const broker = brokers[name];
    const target = targets[name];
    for (const phase of ['fanin0', 'fanin1', 'fanout'].filter(has)) {
      await take(name, phase, () => throughput(table, load, broker, target, phase, PHASES[phase], true));
    }
    if (!has('connect')) continue;
    // the profile spans exactly the connects, as the CPU time does; the disconnects come after
    const connects = async () => {
      const cpu0 = await broker.cpu();
      const { result } = await rpc(load, { task: 'connect', params: { target, ...PHASES.connect } });
      result.cpuUs = (await broker.cpu()) - cpu0;
      return result;
    };
    await broker.cold();
    const cold = await take(name, 'connect-cold', connects);
    await rpc(load, { task: 'disconnect' });
    await take(name, 'connect-warm', connects);
    await rpc(load, { task: 'disconnect' });
    parts.push(`${name} ${Math.round(cold.rate).toLocaleString('en-US')}/s cold`);
  }
  console.log(`profile round (not counted) done${parts.length ? `: ${parts.join(', ')}` : ''}`);
  // heap size matters to GC cost: what each broker process holds after a full GC
  const heaps = [];
  for (const name of ['aedes', 'prefix']) {
    const m = await brokers[name].mem();
    heaps.push(`${name === 'aedes' ? 'bare aedes' : table.kind} ${(m.heapUsed / 2 ** 20).toFixed(1)} MiB heap used (+${(m.external / 2 ** 20).toFixed(1)} MiB external)`);
  }
  console.log(`after a full GC: ${heaps.join(', ')}`);
}

// ------------------------------------------------------------------ report

const TARGET_NAMES = ['aedes', 'prefix', 'mountpoint'];

const ROWS_ALL = [
  { key: 'fanin0.rate', label: 'fan-in QoS 0 (msg/s)', fmt: 'int', min: 0.9 },
  { key: 'fanin0.lost', label: '  lost QoS 0 (sum of runs)', fmt: 'int', agg: 'sum', info: true },
  { key: 'fanin1.rate', label: 'fan-in QoS 1 (msg/s)', fmt: 'int', min: 0.9 },
  { key: 'fanin1.lost', label: '  lost QoS 1 (sum of runs)', fmt: 'int', agg: 'sum', zero: true },
  { key: 'fanout.rate', label: 'fan-out x20 (deliveries/s)', fmt: 'int', min: 0.9 },
  { key: 'fanout.lost', label: '  lost fan-out (sum of runs)', fmt: 'int', agg: 'sum', info: true },
  { key: 'connect.rate', label: 'connect rate, cold cred. cache (conn/s)', fmt: 'int', min: 0.8 },
  { key: 'connect.warmRate', label: '  connect rate, warm cred. cache (conn/s)', fmt: 'int', info: true },
  { key: 'connect.scrypt', label: '  scrypt checks per connect run', fmt: 'int', info: true, noRatio: true },
  { key: 'memory.heapExt', label: 'memory / idle conn, heap+ext (B)', fmt: 'int', info: true },
  { key: 'memory.rss', label: '  memory / idle conn, RSS (B, noisy)', fmt: 'int', info: true },
  { key: 'fanin0.cpu', label: 'broker CPU / msg, fan-in QoS 0 (µs)', fmt: 'dec', info: true },
  { key: 'fanin1.cpu', label: 'broker CPU / msg, fan-in QoS 1 (µs)', fmt: 'dec', info: true },
  { key: 'fanout.cpu', label: 'broker CPU / delivery, fan-out (µs)', fmt: 'dec', info: true },
  { key: 'connect.cpu', label: 'broker CPU / connect, cold (µs)', fmt: 'dec', info: true },
  { key: 'connect.warmCpu', label: 'broker CPU / connect, warm (µs)', fmt: 'dec', info: true },
];
// Node-RED: no forced GC (memory), no public count of scrypt checks
const PRODUCT_SKIPS = new Set(['memory.heapExt', 'memory.rss', 'connect.scrypt']);
const rowsOf = (table) => ROWS_ALL.filter((r) => has(r.key.split('.')[0]) && !(table.kind === 'product' && PRODUCT_SKIPS.has(r.key)));
const HEADERS = {
  engine: ['engine(prefix)', 'engine(mountpoint)'],
  product: ['product(prefix)', 'product(mountpoint)'],
};

function summarize(table) {
  const raw = table.raw;
  const rows = [];
  for (const row of rowsOf(table)) {
    const values = {};
    for (const t of TARGET_NAMES) {
      const xs = raw[row.key]?.[t];
      values[t] = xs ? (row.agg === 'sum' ? xs.reduce((a, b) => a + b, 0) : median(xs)) : NaN;
    }
    // The ratio pairs each engine run with the bare-aedes run of the same round
    // (measured seconds apart) and takes the median of those per-round ratios:
    // slow spells of the machine then hit both sides of a ratio alike.
    const ratio = (t) => {
      if (row.noRatio || row.agg === 'sum') return NaN;
      const base = raw[row.key]?.aedes ?? [];
      const mine = raw[row.key]?.[t] ?? [];
      return median(mine.map((v, i) => v / base[i]));
    };
    const ratios = { prefix: ratio('prefix'), mountpoint: ratio('mountpoint') };
    const ratiosOfMedians = { prefix: values.prefix / values.aedes, mountpoint: values.mountpoint / values.aedes };
    let target = '';
    let verdict = '';
    if (row.min !== undefined) {
      target = `>= ${row.min}`;
      verdict = ratios.prefix >= row.min && ratios.mountpoint >= row.min ? 'PASS' : 'BELOW';
    } else if (row.zero) {
      target = '0 lost';
      verdict = values.prefix === 0 && values.mountpoint === 0 ? 'PASS' : 'BELOW';
    }
    rows.push({ ...row, values, ratios, ratiosOfMedians, target, verdict, runs: Object.fromEntries(TARGET_NAMES.map((t) => [t, raw[row.key]?.[t] ?? []])) });
  }
  return rows;
}

function fmt(value, kind) {
  if (!Number.isFinite(value)) return '-';
  if (kind === 'dec') return value.toFixed(2);
  return Math.round(value).toLocaleString('en-US');
}

function printTable(table, rows) {
  const header = ['metric', 'bare aedes', ...HEADERS[table.kind], 'ratio prefix', 'ratio mountpt', 'target', 'result'];
  const body = rows.map((r) => [
    r.label,
    fmt(r.values.aedes, r.fmt),
    fmt(r.values.prefix, r.fmt),
    fmt(r.values.mountpoint, r.fmt),
    Number.isFinite(r.ratios.prefix) ? r.ratios.prefix.toFixed(3) : '-',
    Number.isFinite(r.ratios.mountpoint) ? r.ratios.mountpoint.toFixed(3) : '-',
    r.target || (r.info ? 'info' : ''),
    r.verdict,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

function printRuns(rows) {
  console.log('\nper-run values (bare | prefix | mountpoint):');
  for (const r of rows) {
    if (r.info && r.key !== 'connect.warmRate') continue;
    const show = (t) => r.runs[t].map((v) => fmt(v, r.fmt)).join(' ');
    console.log(`  ${r.label.trim().padEnd(42)} ${show('aedes')} | ${show('prefix')} | ${show('mountpoint')}`);
  }
}

/** Who limited each phase: CPU time / wall time of the broker and of the load generator (1.0 = one core saturated). */
function printBusy(table) {
  const raw = table.raw;
  const phases = [['fanin0', 'fan-in QoS 0'], ['fanin1', 'fan-in QoS 1'], ['fanout', 'fan-out'], ['connect', 'connect (warm)']].filter(([key]) => has(key));
  console.log('\nCPU busy share during each phase, broker / load generator (1.00 = one core):');
  for (const [key, label] of phases) {
    const cell = (t) => {
      const b = median(raw[`${key}.brokerBusy`]?.[t] ?? []);
      const l = median(raw[`${key}.loadBusy`]?.[t] ?? []);
      return `${Number.isFinite(b) ? b.toFixed(2) : '-'} / ${Number.isFinite(l) ? l.toFixed(2) : '-'}`;
    };
    console.log(`  ${label.padEnd(16)} aedes ${cell('aedes')}   prefix ${cell('prefix')}   mountpoint ${cell('mountpoint')}`);
  }
  // a ratio means something only while the brokers, not the load generator, set the rate
  const capped = phases.filter(([key]) => median(raw[`${key}.loadBusy`]?.aedes ?? []) >= 0.9 && median(raw[`${key}.brokerBusy`]?.aedes ?? []) < 0.95);
  if (capped.length) {
    console.log(
      `  note: in ${capped.map(([, label]) => label).join(', ')} the load generator, not bare aedes, was the limit (load >= 0.90, aedes < 0.95): ` +
        `bare aedes could go faster, so the ratios there flatter the broker${LOAD_CLIENT === 'mqttjs' ? '; --load-client=raw measures them broker-bound' : ''}`,
    );
  }
}

/** What else ran on the machine meanwhile (2 cores shared with others: the figures are only as quiet as this). */
function printNoise(table) {
  const all = table.noiseAll;
  if (!all || all.others === null) return;
  const kept = table.noise.filter((n) => n.others !== null);
  const mean = kept.reduce((sum, n) => sum + n.others, 0) / (kept.length || 1);
  const worst = [...kept].sort((a, b) => b.others - a.others)[0];
  console.log(
    `\nmachine noise: other processes used ${mean.toFixed(2)} CPU on average during the kept rounds` +
      `${worst ? ` (at most ${worst.others.toFixed(2)}, ${worst.round})` : ''}; ` +
      `${table.redone} round(s) discarded and measured again (over ${MAX_NOISE} CPU)` +
      `${all.steal > 0.005 ? `; hypervisor steal ${all.steal.toFixed(2)} CPU` : ''}; load average ${all.loadStart.toFixed(2)} at start, ${all.loadEnd.toFixed(2)} at end`,
  );
}

// -------------------------------------------------------------------- main

async function runExtras() {
  const extras = ['extras.mjs', 'webhooks.mjs'].filter((f) => existsSync(join(here, f)));
  for (const file of extras) {
    console.log(`\n--- bench/${file} ---`);
    const child = fork(join(here, file), [], { stdio: 'inherit' });
    children.add(child);
    const timer = setTimeout(() => child.kill('SIGKILL'), 9 * 60_000);
    const [code, signal] = await new Promise((resolve) => child.once('exit', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    children.delete(child);
    if (code !== 0) console.log(`bench/${file} FAILED (code ${code}, signal ${signal}); not counted against this bench`);
  }
}

/** Warm-up, the measured repetitions and (--profile-phases) the profile round of one table. */
async function measure(table, load, brokers, targets, { memory, profDir }) {
  process.stdout.write('warm-up ');
  for (const name of TARGET_NAMES) {
    for (const phase of ['fanin0', 'fanin1', 'fanout'].filter(has)) await throughput(table, load, brokers[name], targets[name], phase, WARMUP[phase], true);
    if (has('connect')) await connectPhase(table, load, brokers[name], targets[name], WARMUP.connect, true);
    process.stdout.write('.');
  }
  console.log(' done');
  if (table.kind === 'engine' && (ENGINE_OPTIONS !== '{}' || ENGINE !== resolve(here, '..', 'dist', 'src', 'index.js'))) console.log(`engine: ${ENGINE} ${ENGINE_OPTIONS}`);

  if (MAX_NOISE !== Infinity) await waitForQuiet();
  const first = snapshot();
  for (let rep = 0; rep < REPS; rep++) {
    // rotate the order each repetition so drift (thermal, page cache, GC state) spreads evenly
    const order = TARGET_NAMES.map((_, i) => TARGET_NAMES[(i + rep) % TARGET_NAMES.length]);
    for (const phase of ['fanin0', 'fanin1', 'fanout', 'connect'].filter(has)) {
      for (let attempt = 0; ; attempt++) {
        const mark = markOf(table);
        const before = snapshot();
        const parts = [];
        for (const name of order) {
          const r =
            phase === 'connect'
              ? await connectPhase(table, load, brokers[name], targets[name], PHASES.connect, false)
              : await throughput(table, load, brokers[name], targets[name], phase, PHASES[phase], false);
          parts.push(`${name} ${Math.round(r.rate).toLocaleString('en-US')}/s${r.lost ? ` (lost ${r.lost})` : ''}`);
        }
        const others = othersBetween(before, snapshot());
        if (others !== null && others > MAX_NOISE && attempt < MAX_REDOS) {
          // someone else's work took CPU time from a broker or the load generator: not a figure of ours
          rollback(table, mark);
          table.redone++;
          console.log(`run ${rep + 1}/${REPS} ${phase.padEnd(7)} ${parts.join(', ')}: discarded, other processes used ${others.toFixed(2)} CPU; waiting for a quiet machine`);
          await waitForQuiet();
          continue;
        }
        console.log(`run ${rep + 1}/${REPS} ${phase.padEnd(7)} ${parts.join(', ')}`);
        table.noise.push({ round: `run ${rep + 1} ${phase}`, others });
        break;
      }
    }
  }
  const last = snapshot();
  table.noiseAll = { others: othersBetween(first, last), steal: stealBetween(first, last), loadStart: first?.load, loadEnd: last?.load };

  // before the memory phase: its forced GCs would skew what the profiles see
  if (profDir) await profileRound(table, load, brokers, targets, profDir);

  if (memory && has('memory')) {
    for (let rep = 0; rep < REPS; rep++) {
      const order = TARGET_NAMES.map((_, i) => TARGET_NAMES[(i + rep) % TARGET_NAMES.length]);
      const parts = [];
      for (const name of order) {
        const m = await memoryPhase(table, load, brokers[name], targets[name], PHASES.connect);
        parts.push(`${name} ${Math.round(m.perConnection).toLocaleString('en-US')} B/conn`);
      }
      console.log(`run ${rep + 1}/${REPS} memory  ${parts.join(', ')} (${PHASES.connect.clients} idle clients)`);
    }
  }
}

function report(table) {
  const rows = summarize(table);
  console.log('');
  printTable(table, rows);
  console.log(`values: medians over runs; ratios: ${table.kind} / bare aedes, median of the per-round ratios (each round measures all three back to back)`);
  printRuns(rows);
  printBusy(table);
  printNoise(table);
  const below = rows.filter((r) => r.verdict === 'BELOW').map((r) => r.label.trim());
  console.log(below.length ? `\nbelow target: ${below.join('; ')}` : '\nall targets met');
  return {
    busy: Object.fromEntries(Object.entries(table.raw).filter(([k]) => k.endsWith('Busy'))),
    noise: { ...table.noiseAll, redone: table.redone, maxNoise: MAX_NOISE, rounds: table.noise },
    rows: rows.map(({ key, label, values, ratios, ratiosOfMedians, target, verdict, runs }) => ({ key, label: label.trim(), values, ratios, ratiosOfMedians, target, verdict, runs })),
  };
}

async function main() {
  const started = Date.now();
  console.log(`tenant-broker bench: node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${REPS} repetition(s)${quick ? ', quick' : ''}${PIN ? ', pinned (brokers CPU 1, load generator CPU 0)' : ', not pinned'}`);
  console.log(
    `fan-in ${PHASES.fanin0.publishers}x${PHASES.fanin0.perPublisher} QoS 0 / ${PHASES.fanin1.publishers}x${PHASES.fanin1.perPublisher} QoS 1, ` +
      `${PHASES.fanin0.payloadSize}-byte payloads, 1 wildcard subscriber; fan-out 1x${PHASES.fanout.messages} -> ${PHASES.fanout.subscribers} subscribers` +
      `${LOAD_CLIENT === 'raw' ? ' (raw clients)' : ''}; ` +
      `${PHASES.connect.clients} authenticated connects (${PHASES.connect.client} client), ${PHASES.connect.concurrency} at a time`,
  );

  const dbDir = await mkdtemp(join(os.tmpdir(), 'tenant-broker-bench-db-'));
  tempDirs.push(dbDir);
  const profDir = profile || profilePhases ? await mkdtemp(join(os.tmpdir(), 'tenant-broker-bench-prof-')) : null;
  const profArgs = (name) => (profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : []);
  const phaseProfDir = profilePhases ? profDir : null;
  const results = {};
  const tables = [];
  let load;
  try {
    load = spawnChild('load.mjs', []);
    await load.ready;
    pin(load.child, '0');

    if (RUN_ENGINE) {
      const table = newTable('engine');
      const aedes = spawnChild('broker.mjs', ['aedes'], profArgs('aedes'));
      const engine = spawnChild('broker.mjs', ['engine', dbDir, ENGINE, ENGINE_OPTIONS], profArgs('engine'));
      const [aReady, eReady] = await Promise.all([aedes.ready, engine.ready]);
      const brokers = { aedes: ipcBroker(aedes.child), prefix: ipcBroker(engine.child), mountpoint: ipcBroker(engine.child) };
      pin(aedes.child, '1');
      pin(engine.child, '1');
      const targets = Object.fromEntries([...aReady.targets, ...eReady.targets].map((t) => [t.name, t]));
      await measure(table, load.child, brokers, targets, { memory: true, profDir: phaseProfDir });
      results.engine = report(table);
      tables.push(table);
      await Promise.all([stopChild(aedes.child), stopChild(engine.child)]);
    }

    if (RUN_PRODUCT) {
      const table = newTable('product');
      const aedes = spawnChild('broker.mjs', ['aedes'], profArgs('aedes-product'));
      const red = await startNodeRed({ inspect: profile || profilePhases });
      // --profile: Node-RED's whole run through its inspector (per-phase profiles take the profiler over instead)
      const wholeRun = profile && !profilePhases;
      if (wholeRun) await red.profileStart();
      const aReady = await aedes.ready;
      pin(aedes.child, '1');
      pinPid(red.pid, '1');
      pinPid(red.scriptPid, '0'); // scripts/start.mjs only waits for Node-RED
      console.log(
        `\n--- the product as \`npm start\` runs it: Node-RED ${red.version} from scripts/start.mjs (pid ${red.pid}), SQLite persistence, ` +
          `the getting-started flow + admin node deployed; prefix = tenant1, mountpoint = tenant2; bare aedes in its own process ---`,
      );
      const brokers = { aedes: ipcBroker(aedes.child), prefix: nodeRedBroker(red), mountpoint: nodeRedBroker(red) };
      const targets = Object.fromEntries([...aReady.targets, ...red.targets].map((t) => [t.name, t]));
      try {
        await measure(table, load.child, brokers, targets, { memory: false, profDir: phaseProfDir });
      } catch (err) {
        if (red.exitedEarly()) console.error(`Node-RED's output:\n${red.output().slice(-4000)}`);
        throw err;
      }
      results.product = { nodeRed: red.version, ...report(table) };
      tables.push(table);
      if (wholeRun) await writeFile(join(profDir, `node-red-${Date.now()}.cpuprofile`), JSON.stringify(await red.profileStop()));
      await Promise.all([stopChild(aedes.child), red.stop()]);
    }

    const out = join(os.tmpdir(), `tenant-broker-bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(
      out,
      JSON.stringify(
        {
          when: new Date().toISOString(),
          node: process.version,
          cpus: os.cpus().length,
          reps: REPS,
          phases: PHASES,
          engine: ENGINE,
          engineOptions: JSON.parse(ENGINE_OPTIONS),
          pinned: PIN,
          // the engine table at the top level, as before the product table existed
          ...(results.engine ?? {}),
          product: results.product ?? null,
          profiles: tables.flatMap((t) => t.profiles),
        },
        null,
        2,
      ),
    );
    console.log(`results: ${out}`);

    await stopChild(load.child);
    if (phaseProfDir) {
      const index = join(phaseProfDir, 'index.json');
      await writeFile(index, JSON.stringify(tables.flatMap((t) => t.profiles), null, 2));
      console.log('\nper-phase profiles (the uncounted profile round), self time per message by origin:');
      await printProfileComparison(tables.flatMap((t) => t.profiles), ['fanin1', 'connect-cold', 'connect-warm']);
      console.log(`per-phase profiles and their index: ${index} (node bench/profile.mjs ${index} [phase] for more)`);
    }
    if (profile) console.log(`CPU profiles of the broker processes: ${profDir}`);
    console.log(`bench took ${((Date.now() - started) / 1000).toFixed(0)} s`);
    if (!args.has('--no-extras') && !quick && RUN_ENGINE) await runExtras();
  } finally {
    killAll();
  }
}

const watchdog = setTimeout(() => {
  console.error(`bench: gave up after ${TOTAL_TIMEOUT_MS / 60_000} minutes`);
  killAll();
  process.exit(1);
}, TOTAL_TIMEOUT_MS);
watchdog.unref();

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

main().then(
  () => {
    clearTimeout(watchdog);
    process.exit(0);
  },
  (err) => {
    console.error(`bench failed: ${err?.stack ?? err}`);
    killAll();
    process.exit(1);
  },
);
