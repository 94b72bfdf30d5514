// `npm run bench`: bare aedes against this engine (one prefix tenant, one
// mountpoint tenant), measured in the same run, every figure reported as an
// engine / bare-aedes ratio.
//
//   node build.mjs && node bench/run.mjs [--reps=N] [--quick] [--profile] [--no-extras] [...]
//
//   --reps=N      repetitions of every measurement (median reported); default 5
//   --quick       smaller message counts, 1 repetition: a smoke test of the bench itself
//   --profile     run the broker processes under --cpu-prof; profiles are kept in a temp dir
//   --no-extras   skip other bench/*.mjs scripts (e.g. webhooks.mjs) run after the table
//   --no-pin      do not pin processes to CPUs (see below)
//   --connect-client=raw|mqttjs   client used by the connect phase (default raw, see below)
//   --engine=PATH         measure another build of the engine (its index.js) instead of dist/src/index.js
//   --engine-options=JSON extra BrokerHost options, e.g. '{"persistence":"memory"}' (default: none,
//                         i.e. the engine's defaults, SQLite persistence included)
//
// Processes: this one only orchestrates. Each broker runs in its own child
// (bench/broker.mjs: bare aedes in one, the BUILT engine from dist/ in the
// other), so CPU time and memory are per broker; the mqtt.js load generator
// (bench/load.mjs) is a third process. Nothing is written inside the repository:
// the engine's SQLite registry lives in a temp dir removed at the end, and the
// JSON results go to a file under os.tmpdir() whose path is printed.
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
// Memory per idle connection: heapUsed + external of the broker process after
// forced GCs, with the clients connected and idle, minus the same before they
// connected, divided by their number. It is measured last, because a forced GC
// leaves V8 slower for a second or so and would skew any timed phase after it.
//
// Exit code: 0 when the bench ran, whether or not targets were met (it is a
// report); 1 when the bench itself failed (a child crashed, a phase timed out).
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { children, killAll, pin, rpc, setPinning, spawnChild, stopChild, tempDirs } from './children.mjs';
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
const REPS = Number(argValue('reps', quick ? 1 : 5));
const PIN = setPinning(!args.has('--no-pin'));
const TOTAL_TIMEOUT_MS = 20 * 60_000;

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
if (!Number.isInteger(REPS) || REPS < 1) {
  console.error('--reps must be a whole number, 1 or more');
  process.exit(1);
}
const scale = quick ? 0.1 : 1;
const PHASES = {
  fanin0: { qos: 0, publishers: 4, perPublisher: Math.round(100_000 * scale), payloadSize: 64, window: 1000, quietMs: 2000 },
  fanin1: { qos: 1, publishers: 4, perPublisher: Math.round(60_000 * scale), payloadSize: 64, window: 100, quietMs: 3000 },
  fanout: { qos: 0, subscribers: 20, messages: Math.round(30_000 * scale), payloadSize: 64, window: 1000, quietMs: 2000 },
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

/** raw[metric][target] = [value per repetition] */
const raw = {};
const record = (metric, target, value) => {
  raw[metric] ??= {};
  (raw[metric][target] ??= []).push(value);
};

async function cpuOf(broker) {
  const { cpu } = await rpc(broker, { cmd: 'cpu' });
  return cpu.user + cpu.system;
}

async function throughput(load, broker, target, phase, params, warm) {
  const cpu0 = await cpuOf(broker);
  const { result } = await rpc(load, { task: phase === 'fanout' ? 'fanout' : 'fanin', params: { target, ...params } });
  const cpuUs = (await cpuOf(broker)) - cpu0;
  if (warm) return result;
  record(`${phase}.rate`, target.name, result.rate);
  record(`${phase}.lost`, target.name, result.lost);
  record(`${phase}.cpu`, target.name, cpuUs / result.received);
  record(`${phase}.brokerBusy`, target.name, cpuUs / 1e6 / result.seconds);
  record(`${phase}.loadBusy`, target.name, result.cpuSeconds / result.seconds);
  return result;
}

async function connectOnce(load, broker, target, params) {
  const cpu0 = await cpuOf(broker);
  const { result } = await rpc(load, { task: 'connect', params: { target, ...params } });
  const cpuUs = (await cpuOf(broker)) - cpu0;
  await rpc(load, { task: 'disconnect' });
  if (result.failed) throw new Error(`${target.name}: ${result.failed} of ${params.clients} connects failed (first: ${result.firstError})`);
  return { ...result, cpuPerConnect: cpuUs / result.connected, brokerBusy: cpuUs / 1e6 / result.seconds };
}

/**
 * Connect rate, first with an empty credential cache (the engine then runs
 * the real scrypt check, as after a restart), then again with a warm cache.
 * No forced GC here: a global.gc() leaves V8 slower for the next second or
 * so (measured: the next 2,000 connects at a third of the rate), so memory is
 * measured on its own, after every timed phase.
 */
async function connectPhase(load, broker, target, params, warm) {
  await rpc(broker, { cmd: 'cold' }); // engine: empty the credential cache so scrypt really runs
  const stats0 = await rpc(broker, { cmd: 'stats' });
  const cold = await connectOnce(load, broker, target, params);
  const stats1 = await rpc(broker, { cmd: 'stats' });
  const hot = await connectOnce(load, broker, target, params);
  if (warm) return cold;
  record('connect.rate', target.name, cold.rate);
  record('connect.warmRate', target.name, hot.rate);
  record('connect.cpu', target.name, cold.cpuPerConnect);
  record('connect.warmCpu', target.name, hot.cpuPerConnect);
  record('connect.brokerBusy', target.name, hot.brokerBusy);
  record('connect.loadBusy', target.name, hot.cpuSeconds / hot.seconds);
  if (stats1.scryptChecks !== undefined) record('connect.scrypt', target.name, stats1.scryptChecks - stats0.scryptChecks);
  return cold;
}

/** Broker memory per idle connection: GC, open the clients, leave them idle, GC, compare. */
async function memoryPhase(load, broker, target, params) {
  const before = (await rpc(broker, { cmd: 'mem' })).memory;
  const { result } = await rpc(load, { task: 'connect', params: { target, ...params } });
  await new Promise((resolve) => setTimeout(resolve, 200)); // let the last CONNACKs settle
  const after = (await rpc(broker, { cmd: 'mem' })).memory;
  await rpc(load, { task: 'disconnect' });
  if (result.failed) throw new Error(`${target.name}: ${result.failed} connects failed (first: ${result.firstError})`);
  const n = result.connected;
  record('memory.heapExt', target.name, (after.heapUsed + after.external - before.heapUsed - before.external) / n);
  record('memory.rss', target.name, (after.rss - before.rss) / n);
  return { n, perConnection: (after.heapUsed + after.external - before.heapUsed - before.external) / n };
}

// ------------------------------------------------------------------ report

const TARGET_NAMES = ['aedes', 'prefix', 'mountpoint'];

const ROWS = [
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

function summarize() {
  const rows = [];
  for (const row of ROWS) {
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

function printTable(rows) {
  const header = ['metric', 'bare aedes', 'engine(prefix)', 'engine(mountpoint)', 'ratio prefix', 'ratio mountpt', 'target', 'result'];
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
function printBusy() {
  const phases = [['fanin0', 'fan-in QoS 0'], ['fanin1', 'fan-in QoS 1'], ['fanout', 'fan-out'], ['connect', 'connect (warm)']];
  console.log('\nCPU busy share during each phase, broker / load generator (1.00 = one core):');
  for (const [key, label] of phases) {
    const cell = (t) => {
      const b = median(raw[`${key}.brokerBusy`]?.[t] ?? []);
      const l = median(raw[`${key}.loadBusy`]?.[t] ?? []);
      return `${Number.isFinite(b) ? b.toFixed(2) : '-'} / ${Number.isFinite(l) ? l.toFixed(2) : '-'}`;
    };
    console.log(`  ${label.padEnd(16)} aedes ${cell('aedes')}   prefix ${cell('prefix')}   mountpoint ${cell('mountpoint')}`);
  }
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

async function main() {
  const started = Date.now();
  console.log(`tenant-broker bench: node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${REPS} repetition(s)${quick ? ', quick' : ''}${PIN ? ', pinned (brokers CPU 1, load generator CPU 0)' : ', not pinned'}`);
  console.log(
    `fan-in ${PHASES.fanin0.publishers}x${PHASES.fanin0.perPublisher} QoS 0 / ${PHASES.fanin1.publishers}x${PHASES.fanin1.perPublisher} QoS 1, ` +
      `${PHASES.fanin0.payloadSize}-byte payloads, 1 wildcard subscriber; fan-out 1x${PHASES.fanout.messages} -> ${PHASES.fanout.subscribers} subscribers; ` +
      `${PHASES.connect.clients} authenticated connects (${PHASES.connect.client} client), ${PHASES.connect.concurrency} at a time`,
  );

  const dbDir = await mkdtemp(join(os.tmpdir(), 'tenant-broker-bench-db-'));
  tempDirs.push(dbDir);
  const profDir = profile ? await mkdtemp(join(os.tmpdir(), 'tenant-broker-bench-prof-')) : null;
  const profArgs = (name) => (profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : []);
  let aedes, engine, load;
  try {
    aedes = spawnChild('broker.mjs', ['aedes'], profArgs('aedes'));
    engine = spawnChild('broker.mjs', ['engine', dbDir, ENGINE, ENGINE_OPTIONS], profArgs('engine'));
    load = spawnChild('load.mjs', []);
    const [aReady, eReady] = await Promise.all([aedes.ready, engine.ready, load.ready]);
    const brokers = { aedes: aedes.child, prefix: engine.child, mountpoint: engine.child };
    pin(load.child, '0');
    pin(aedes.child, '1');
    pin(engine.child, '1');
    const targets = Object.fromEntries([...aReady.targets, ...eReady.targets].map((t) => [t.name, t]));

    process.stdout.write('warm-up ');
    for (const name of TARGET_NAMES) {
      for (const phase of ['fanin0', 'fanin1', 'fanout']) await throughput(load.child, brokers[name], targets[name], phase, WARMUP[phase], true);
      await connectPhase(load.child, brokers[name], targets[name], WARMUP.connect, true);
      process.stdout.write('.');
    }
    console.log(' done');
    if (ENGINE_OPTIONS !== '{}' || ENGINE !== resolve(here, '..', 'dist', 'src', 'index.js')) console.log(`engine: ${ENGINE} ${ENGINE_OPTIONS}`);

    for (let rep = 0; rep < REPS; rep++) {
      // rotate the order each repetition so drift (thermal, page cache, GC state) spreads evenly
      const order = TARGET_NAMES.map((_, i) => TARGET_NAMES[(i + rep) % TARGET_NAMES.length]);
      for (const phase of ['fanin0', 'fanin1', 'fanout', 'connect']) {
        const parts = [];
        for (const name of order) {
          const r =
            phase === 'connect'
              ? await connectPhase(load.child, brokers[name], targets[name], PHASES.connect, false)
              : await throughput(load.child, brokers[name], targets[name], phase, PHASES[phase], false);
          parts.push(`${name} ${Math.round(r.rate).toLocaleString('en-US')}/s${r.lost ? ` (lost ${r.lost})` : ''}`);
        }
        console.log(`run ${rep + 1}/${REPS} ${phase.padEnd(7)} ${parts.join(', ')}`);
      }
    }

    for (let rep = 0; rep < REPS; rep++) {
      const order = TARGET_NAMES.map((_, i) => TARGET_NAMES[(i + rep) % TARGET_NAMES.length]);
      const parts = [];
      for (const name of order) {
        const m = await memoryPhase(load.child, brokers[name], targets[name], PHASES.connect);
        parts.push(`${name} ${Math.round(m.perConnection).toLocaleString('en-US')} B/conn`);
      }
      console.log(`run ${rep + 1}/${REPS} memory  ${parts.join(', ')} (${PHASES.connect.clients} idle clients)`);
    }

    const rows = summarize();
    console.log('');
    printTable(rows);
    console.log('values: medians over runs; ratios: engine / bare aedes, median of the per-round ratios (each round measures all three back to back)');
    printRuns(rows);
    printBusy();
    const below = rows.filter((r) => r.verdict === 'BELOW').map((r) => r.label.trim());
    console.log(below.length ? `\nbelow target: ${below.join('; ')}` : '\nall targets met');

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
          busy: Object.fromEntries(Object.entries(raw).filter(([k]) => k.endsWith('Busy'))),
          rows: rows.map(({ key, label, values, ratios, ratiosOfMedians, target, verdict, runs }) => ({
            key,
            label: label.trim(),
            values,
            ratios,
            ratiosOfMedians,
            target,
            verdict,
            runs,
          })),
        },
        null,
        2,
      ),
    );
    console.log(`results: ${out}`);

    await Promise.all([stopChild(aedes.child), stopChild(engine.child), stopChild(load.child)]);
    if (profDir) console.log(`CPU profiles of the broker processes: ${profDir}`);
    console.log(`bench took ${((Date.now() - started) / 1000).toFixed(0)} s`);
    if (!args.has('--no-extras') && !quick) await runExtras();
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
