// npm run soak: holds many MQTT connections against the broker for minutes,
// churns them, and reports memory. Run by hand, not in CI.
//
//   npm run soak -- [--target=engine|npm-start|both] [--connections=10000] [--hold=300]
//                   [--churn=5] [--keepalive=30] [--snapshots=DIR]
//
// The broker runs in its own process (the engine alone: scripts/soak-engine.mjs;
// or the `npm start` demo: scripts/start.mjs with its ports from the environment),
// the clients in others (scripts/soak-clients.mjs, 5,000 each): no process needs
// more than about 10,100 file descriptors, where one process holding both ends
// of 10,000 connections would need over 20,000. Memory is read from the
// broker's inspector (Chrome DevTools protocol, on a free loopback port):
// garbage collected first, then /proc's VmRSS and process.memoryUsage().
//
// Phases: baseline; ramp (connect all, each subscribing to one topic); settle
// (30 s); hold (PINGs only; RSS as is every 30 s, garbage collected only at its
// end); churn (each round closes a fifth of the clients and connects them
// again); leave (all disconnect), samples 5 s and 30 s later; then all connect
// and leave once more, a sample 5 s after. RSS growth during the hold is
// measured from the settled sample; the target is under 5 % per 5 minutes.
import { fork, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const here = dirname(fileURLToPath(import.meta.url));
const project = join(here, '..');
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const settings = {
  target: args.target ?? 'engine',
  connections: Number(args.connections ?? 10_000),
  holdSeconds: Number(args.hold ?? 300),
  churnRounds: Number(args.churn ?? 5),
  keepalive: Number(args.keepalive ?? 30),
  settleSeconds: Number(args.settle ?? 30),
  snapshots: args.snapshots ?? null,
};
const PER_WORKER = 5000;
const MiB = 1024 * 1024;
const log = (...a) => console.log(new Date().toISOString().slice(11, 19), ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = new Set();

function fdLimit() {
  try {
    return Number(/Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))[1]);
  } catch {
    return Infinity;
  }
}

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function rssOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
}

/** A minimal Chrome DevTools protocol session over the inspector's WebSocket. */
async function inspect(wsUrl) {
  const ws = new WebSocket(wsUrl, { maxPayload: 1024 * MiB });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let serial = 0;
  const pending = new Map();
  const listeners = new Map();
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.id !== undefined) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      msg.error ? p.reject(new Error(msg.error.message)) : p.resolve(msg.result);
    } else listeners.get(msg.method)?.(msg.params);
  });
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++serial;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    send,
    on: (method, fn) => listeners.set(method, fn),
    close: () => ws.close(),
  };
}

/** Finds the inspector of the process whose main script matches, among the ws:// URLs seen on stderr. */
async function inspectorOf(urls, scriptPattern) {
  for (let i = 0; i < 100; i++) {
    for (const url of urls) {
      const { host } = new URL(url);
      try {
        const list = await (await fetch(`http://${host}/json/list`)).json();
        const hit = list.find((t) => scriptPattern.test(t.url ?? '') || scriptPattern.test(t.title ?? ''));
        if (hit) return { wsUrl: hit.webSocketDebuggerUrl };
      } catch {
        // not listening (yet)
      }
    }
    await sleep(200);
  }
  throw new Error(`no inspector for ${scriptPattern}`);
}

async function startBroker(target, dir) {
  const inspectorUrls = [];
  const watch = (child) =>
    child.stderr.on('data', (data) => {
      const text = data.toString();
      for (const m of text.matchAll(/Debugger listening on (ws:\/\/\S+)/g)) inspectorUrls.push(m[1]);
      for (const line of text.split('\n')) if (line && !/Debugger|inspector|For help, see/.test(line)) process.stderr.write(`[broker] ${line}\n`);
    });
  let child;
  let port;
  let script;
  if (target === 'engine') {
    child = fork(join(here, 'soak-engine.mjs'), [join(dir, 'registry.db')], { execArgv: ['--inspect=127.0.0.1:0'], stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    watch(child);
    port = await new Promise((resolve, reject) => {
      child.once('message', (m) => resolve(m.port));
      child.once('exit', (code) => reject(new Error(`engine exited with ${code}`)));
    });
    script = /soak-engine\.mjs/;
  } else {
    port = await freePort();
    const env = { ...process.env, MQTT_PORT: String(port), MQTT_WS_PORT: String(await freePort()), ADMIN_PORT: String(await freePort()), NODE_RED_PORT: String(await freePort()), DEMO_DIR: join(dir, 'demo'), NODE_OPTIONS: '--inspect=127.0.0.1:0' };
    child = spawn(process.execPath, [join(here, 'start.mjs')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    watch(child);
    await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        if (/Started flows/.test(out)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`npm start exited with ${code}: ${out}`)));
    });
    script = /red\.js/;
  }
  children.add(child);
  const found = await inspectorOf(inspectorUrls, script);
  const cdp = await inspect(found.wsUrl);
  const { result } = await cdp.send('Runtime.evaluate', { expression: 'process.pid', returnByValue: true });
  return { child, port, pid: result.value, cdp, credentials: target === 'engine' ? ['soak', 'soak-pw', 'soak/'] : ['tenant1', 'secret', 'tenant1/soak/'] };
}

/**
 * RSS as it is (what `ps` shows: V8 collects lazily, so it includes garbage not
 * yet collected), then after two full collections: what is really held.
 */
async function sample(broker, label, collect = true) {
  const rssAsIs = rssOf(broker.pid);
  if (!collect) {
    // left to V8's own pace, as in production: what `ps` shows
    const s = { label, at: Date.now(), rssAsIs };
    log(`${label.padEnd(18)} RSS as is ${(rssAsIs / MiB).toFixed(1).padStart(6)} MiB`);
    return s;
  }
  await broker.cdp.send('HeapProfiler.collectGarbage');
  await broker.cdp.send('HeapProfiler.collectGarbage');
  const { result } = await broker.cdp.send('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
  const mem = JSON.parse(result.value);
  const s = { label, at: Date.now(), rssAsIs, rss: rssOf(broker.pid), heapTotal: mem.heapTotal, heapUsed: mem.heapUsed, external: mem.external, arrayBuffers: mem.arrayBuffers };
  const m = (n) => (n / MiB).toFixed(1).padStart(6);
  log(`${label.padEnd(18)} RSS as is ${m(s.rssAsIs)} MiB, after GC ${m(s.rss)} MiB  heap used ${m(s.heapUsed)} of ${m(s.heapTotal)} MiB  external ${m(s.external)} MiB`);
  return s;
}

async function snapshot(broker, name) {
  if (!settings.snapshots) return;
  mkdirSync(settings.snapshots, { recursive: true });
  const chunks = [];
  broker.cdp.on('HeapProfiler.addHeapSnapshotChunk', ({ chunk }) => chunks.push(chunk));
  await broker.cdp.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
  const file = join(settings.snapshots, `${settings.target}-${name}.heapsnapshot`);
  writeFileSync(file, chunks.join(''));
  log(`heap snapshot ${file}`);
}

function startWorkers(broker, count) {
  const [user, pw, prefix] = broker.credentials;
  return Promise.all(
    Array.from({ length: Math.ceil(count / PER_WORKER) }, async () => {
      const child = fork(join(here, 'soak-clients.mjs'), ['127.0.0.1', String(broker.port), user, pw, prefix, String(settings.keepalive)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.add(child);
      let serial = 0;
      const waiting = new Map();
      child.on('message', (m) => {
        if (m.id !== undefined) waiting.get(m.id)?.(m);
      });
      await new Promise((resolve) => child.once('message', resolve));
      child.call = (cmd, extra = {}) =>
        new Promise((resolve, reject) => {
          const id = ++serial;
          waiting.set(id, (m) => (m.ok ? resolve(m) : reject(new Error(m.error))));
          child.send({ id, cmd, ...extra });
        });
      return child;
    }),
  );
}

const idsOf = (worker, n) => Array.from({ length: Math.min(PER_WORKER, n - worker * PER_WORKER) }, (_, i) => worker * PER_WORKER + i);

async function soak(target) {
  const dir = mkdtempSync(join(tmpdir(), 'tenant-broker-soak-'));
  log(`target ${target}: ${settings.connections} connections, hold ${settings.holdSeconds} s, ${settings.churnRounds} churn rounds, keep-alive ${settings.keepalive} s`);
  const broker = await startBroker(target, dir);
  const report = { target, settings, samples: [] };
  const take = async (label, collect) => report.samples.push(await sample(broker, label, collect));
  try {
    await sleep(5000);
    await take('baseline');
    await snapshot(broker, '1-baseline');
    const workers = await startWorkers(broker, settings.connections);
    const rampStarted = Date.now();
    const ramp = await Promise.all(workers.map((w, i) => w.call('connect', { ids: idsOf(i, settings.connections) })));
    report.ramp = { seconds: (Date.now() - rampStarted) / 1000, connected: ramp.reduce((n, r) => n + r.connected, 0), failed: ramp.reduce((n, r) => n + r.failed, 0) };
    log(`ramp: ${report.ramp.connected} connected, ${report.ramp.failed} failed in ${report.ramp.seconds.toFixed(1)} s`);
    await sleep(settings.settleSeconds * 1000);
    await take('settled');
    await snapshot(broker, '2-settled');
    const holdEnd = Date.now() + settings.holdSeconds * 1000;
    // no forced collection during the hold (it would hide what V8 lets grow), one at its end
    while (Date.now() < holdEnd) {
      await sleep(Math.min(30_000, holdEnd - Date.now()));
      await take(`hold +${Math.round((Date.now() - holdEnd) / 1000 + settings.holdSeconds)} s`, Date.now() >= holdEnd);
    }
    await snapshot(broker, '3-held');
    const afterHold = await Promise.all(workers.map((w) => w.call('stats')));
    report.hold = { open: afterHold.reduce((n, s) => n + s.open, 0), dropped: afterHold.reduce((n, s) => n + s.dropped, 0), pings: afterHold.reduce((n, s) => n + s.pings, 0), pongs: afterHold.reduce((n, s) => n + s.pongs, 0) };
    log(`hold: ${report.hold.open} open, ${report.hold.dropped} dropped, ${report.hold.pongs}/${report.hold.pings} PINGRESP`);
    report.churn = { rounds: settings.churnRounds, reconnected: 0, failed: 0 };
    for (let round = 0; round < settings.churnRounds; round++) {
      await Promise.all(
        workers.map(async (w, i) => {
          const ids = idsOf(i, settings.connections).filter((n) => n % settings.churnRounds === round);
          await w.call('disconnect', { ids });
          const r = await w.call('connect', { ids });
          report.churn.reconnected += r.connected;
          report.churn.failed += r.failed;
        }),
      );
    }
    log(`churn: ${report.churn.reconnected} reconnected, ${report.churn.failed} failed`);
    await take('after churn');
    await Promise.all(workers.map((w, i) => w.call('disconnect', { ids: idsOf(i, settings.connections) })));
    await sleep(5000);
    await take('left +5 s');
    await sleep(25_000);
    await take('left +30 s');
    await snapshot(broker, '4-left');
    // all of them once more: what the first wave left behind is reused, not added to, unless something per connection outlives it
    const again = await Promise.all(workers.map((w, i) => w.call('connect', { ids: idsOf(i, settings.connections) })));
    report.again = { connected: again.reduce((n, r) => n + r.connected, 0), failed: again.reduce((n, r) => n + r.failed, 0) };
    await Promise.all(workers.map((w, i) => w.call('disconnect', { ids: idsOf(i, settings.connections) })));
    await sleep(5000);
    await take('left again +5 s');
    for (const w of workers) w.kill();
  } finally {
    broker.cdp.close();
    broker.child.kill('SIGINT');
    await new Promise((resolve) => (broker.child.exitCode !== null ? resolve() : broker.child.once('exit', resolve)));
    rmSync(dir, { recursive: true, force: true });
  }
  const at = (label) => report.samples.find((s) => s.label === label);
  const settled = at('settled');
  const held = report.samples.filter((s) => s.label.startsWith('hold')).at(-1);
  report.summary = {
    baselineRssMiB: +(at('baseline').rss / MiB).toFixed(1),
    settledRssMiB: +(settled.rss / MiB).toFixed(1),
    rssPerConnectionKiB: +((settled.rss - at('baseline').rss) / report.ramp.connected / 1024).toFixed(1),
    heapPerConnectionKiB: +((settled.heapUsed - at('baseline').heapUsed) / report.ramp.connected / 1024).toFixed(1),
    holdRssGrowthPercent: +((100 * (held.rss - settled.rss)) / settled.rss).toFixed(2),
    holdRssAsIsGrowthPercent: +((100 * (held.rssAsIs - settled.rss)) / settled.rss).toFixed(2),
    holdRssAsIsPeakGrowthPercent: +((100 * (Math.max(...report.samples.filter((s) => s.label.startsWith('hold')).map((s) => s.rssAsIs)) - settled.rss)) / settled.rss).toFixed(2),
    holdHeapGrowthPercent: +((100 * (held.heapUsed - settled.heapUsed)) / settled.heapUsed).toFixed(2),
    holdMinutes: +((held.at - settled.at) / 60_000).toFixed(1),
    leftRssAsIsMiB: +(at('left +5 s').rssAsIs / MiB).toFixed(1),
    leftRssMiB: +(at('left +5 s').rss / MiB).toFixed(1),
    leftHeapTotalMiB: +(at('left +5 s').heapTotal / MiB).toFixed(1),
    leftHeapMiB: +(at('left +5 s').heapUsed / MiB).toFixed(1),
    left30RssMiB: +(at('left +30 s').rss / MiB).toFixed(1),
    leftAgainRssMiB: +(at('left again +5 s').rss / MiB).toFixed(1),
    leftAgainHeapMiB: +(at('left again +5 s').heapUsed / MiB).toFixed(1),
    baselineHeapMiB: +(at('baseline').heapUsed / MiB).toFixed(1),
    left30HeapMiB: +(at('left +30 s').heapUsed / MiB).toFixed(1),
  };
  return report;
}

process.on('SIGINT', () => {
  for (const child of children) child.kill('SIGINT');
  process.exit(130);
});

const perProcess = Math.max(PER_WORKER, settings.connections) + 100;
if (fdLimit() < Math.min(perProcess, settings.connections + 100)) {
  console.error(`ulimit -n is ${fdLimit()}: the broker needs about ${settings.connections + 100} file descriptors. Raise it (ulimit -n) and run again.`);
  process.exit(2);
}
const reports = [];
for (const target of settings.target === 'both' ? ['engine', 'npm-start'] : [settings.target]) reports.push(await soak(target));
for (const r of reports) {
  console.log(`\n${r.target}: ${r.ramp.connected}/${settings.connections} connected (${r.ramp.failed} failed), ${r.hold.dropped} dropped during the hold, churn ${r.churn.reconnected} reconnected (${r.churn.failed} failed)`);
  console.log(JSON.stringify(r.summary, null, 2));
}
mkdirSync(join(project, 'test-results', 'soak'), { recursive: true });
const out = join(project, 'test-results', 'soak', `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify(reports, null, 2));
console.log(`\nreport: ${out}`);
process.exit(0);
