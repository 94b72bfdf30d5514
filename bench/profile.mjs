// Reads the .cpuprofile files of `node bench/run.mjs --profile-phases` (or any
// V8 CPU profile) and says where a broker's time goes, by origin:
//
//   ours: engine   dist/src/**   (mapped back to src/**.ts:line through dist's source maps)
//   ours: nodes    dist/nodes/** (the Node-RED adapters)
//   aedes          aedes and the packages it brings (mqtt-packet, mqemitter, qlobber, ...)
//   sqlite         better-sqlite3 (the JS side; the C++ side shows as native)
//   Node-RED       node-red, @node-red/*, and what only Node-RED brings (express, ...)
//   node core      node:* JavaScript (net, streams, events, timers, crypto, ...)
//   native         V8 builtins and C++ entered from JS (no script URL)
//   GC             (garbage collector)
//   program        (program): V8/libuv work outside any JS frame
//
//   node bench/profile.mjs <index.json> [phase ...]    compare every profile of those phases
//   node bench/profile.mjs <file.cpuprofile> [count]   one profile; per-message figures with count
//   node bench/profile.mjs <index.json> <phase> --diff=<table>:<target>,<table>:<target>
//                                                      per function, what the second costs more than the
//                                                      first, µs per message, e.g. --diff=engine:prefix,product:prefix
//                                                      (bare aedes: engine:aedes or product:aedes)
//   node bench/profile.mjs <file.cpuprofile> --callers=<function name> [--depth=N]
//                                                      the stacks that lead to a function's self time
//
// Times are self time (the function itself, not its callees) unless said
// "incl." (everything below the function too). Per-message figures divide by
// the messages delivered (fan-in/out) or clients connected (connect). The
// profiler samples the main thread on wall-clock ticks, so a process that is
// descheduled (a busy machine) has that wait charged to whatever frame it was
// in; the comparison therefore scales each profile to the CPU time /proc
// measured for the same run ("scaled"): shares come from the samples, the
// total from the kernel. That total also holds other threads (scrypt in
// libuv's pool, V8's GC helpers), which the samples do not see.
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const project = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// what aedes brings with it (its own dependency tree as installed)
const AEDES = new Set([
  'aedes', 'aedes-packet', 'aedes-persistence', 'aedes-protocol-decoder', 'mqemitter', 'mqtt-packet', 'qlobber', 'fastfall', 'fastparallel',
  'fastseries', 'reusify', 'retimer', 'hyperid', 'uuid-parse', 'bl', 'readable-stream', 'end-of-stream', 'process-nextick-args', 'string_decoder',
  'safe-buffer', 'inherits', 'util-deprecate', 'buffer', 'events', 'abort-controller', 'event-target-shim', 'debug', 'ms', 'once', 'wrappy',
  'duplexify', 'stream-shift', 'fast-fifo', 'proxyaddr-string', 'uuid', 'websocket-stream', 'pump',
]);
const NODE_RED = /^(node-red|@node-red\/|express|body-parser|router|cookie|cors|multer|passport|oauth2orize|bcrypt|jsonata|i18next|mustache|on-finished|on-headers|finalhandler|send|serve-static|raw-body|iconv-lite|http-errors|type-is|mime|content-type|depd|qs|lodash|clone|fs-extra|graceful-fs|semver|node-watch|cronosjs|moment|hash-sum|@babel|acorn|json-stringify-safe|uglify-js)/;

export const CATEGORIES = ['ours: engine', 'ours: nodes', 'aedes', 'sqlite', 'Node-RED', 'ws', 'undici', 'other packages', 'node core', 'native', 'GC', 'program', 'bench harness'];

function packageOf(url) {
  const i = url.lastIndexOf('/node_modules/');
  if (i < 0) return null;
  const rest = url.slice(i + 14).split('/');
  return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
}

export function categoryOf(frame) {
  const { functionName: fn, url } = frame;
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'program';
  if (fn === '(idle)' || fn === '(root)') return null;
  if (!url) return 'native';
  if (url.startsWith('node:')) return 'node core';
  const pkg = packageOf(url);
  if (pkg === null) {
    if (url.includes('/dist/src/')) return 'ours: engine';
    if (url.includes('/dist/nodes/')) return 'ours: nodes';
    if (url.includes('/bench/')) return 'bench harness';
    return 'other packages';
  }
  if (AEDES.has(pkg)) return 'aedes';
  if (pkg === 'better-sqlite3' || pkg === 'bindings' || pkg === 'file-uri-to-path') return 'sqlite';
  if (pkg === 'ws') return 'ws';
  if (pkg === 'undici') return 'undici';
  if (NODE_RED.test(pkg)) return 'Node-RED';
  return 'other packages';
}

const maps = new Map();
/** src/**.ts:line of a dist/**.js position (0-based line and column), or null. */
function original(url, line, column) {
  if (!url.includes('/dist/')) return null;
  let path = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (!maps.has(path)) {
    let map = null;
    try {
      if (existsSync(path + '.map')) map = new SourceMap(JSON.parse(readFileSync(path + '.map', 'utf8')));
    } catch {
      map = null;
    }
    maps.set(path, map);
  }
  const map = maps.get(path);
  const entry = map?.findEntry(line, column);
  if (!entry || !entry.originalSource) return null;
  const source = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : resolve(dirname(path), entry.originalSource);
  return `${relative(project, source)}:${entry.originalLine + 1}`;
}

function where(frame) {
  const { url, lineNumber, columnNumber } = frame;
  if (!url) return '';
  const mapped = original(url, lineNumber, columnNumber);
  if (mapped) return mapped;
  let path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const i = path.lastIndexOf('/node_modules/');
  if (i >= 0) path = path.slice(i + 14);
  else if (path.startsWith(project)) path = relative(project, path);
  return `${path}:${lineNumber + 1}`;
}

/**
 * Self and inclusive time (ms) per function and per category of one profile.
 * A function is keyed by name and place, so its inlined or re-optimised copies add up.
 */
export function analyze(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = new Map();
  const info = new Map();
  for (const n of profile.nodes) {
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url}:${f.lineNumber}:${f.columnNumber}`;
    keyOf.set(n.id, key);
    if (!info.has(key)) info.set(key, { name: f.functionName || '(anonymous)', where: where(f), category: categoryOf(f), self: 0, total: 0 });
  }
  const categories = Object.fromEntries(CATEGORIES.map((c) => [c, 0]));
  const oursIncl = { 'ours: engine': 0, 'ours: nodes': 0 };
  let busy = 0;
  let idle = 0;
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    // a sample stands for the time until the next one
    const ms = (i + 1 < timeDeltas.length ? timeDeltas[i + 1] : timeDeltas[i] ?? 0) / 1000;
    const id = samples[i];
    const own = info.get(keyOf.get(id));
    if (own.category === null) {
      idle += ms;
      continue;
    }
    busy += ms;
    own.self += ms;
    categories[own.category] += ms;
    const seen = new Set();
    const seenCat = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const key = keyOf.get(at);
      if (seen.has(key)) continue;
      seen.add(key);
      const fn = info.get(key);
      fn.total += ms;
      if (fn.category in oursIncl && !seenCat.has(fn.category)) {
        seenCat.add(fn.category);
        oursIncl[fn.category] += ms;
      }
    }
  }
  return { file, busy, idle, wall: busy + idle, categories, oursIncl, functions: [...info.values()].filter((f) => f.category !== null) };
}

const pad = (s, n) => String(s).padStart(n);
const us = (ms, count) => (count ? ((ms * 1000) / count).toFixed(2) : ms.toFixed(0));

/** Compares every profile of each phase: µs per message by origin, then the top functions. */
export async function printProfileComparison(entries, phases, { top = 14 } = {}) {
  for (const phase of phases) {
    const group = entries.filter((e) => e.phase === phase && existsSync(e.file));
    if (group.length === 0) continue;
    const unit = phase.startsWith('connect') ? 'connect' : 'msg';
    const analyses = group.map((e) => ({ e, a: analyze(e.file), label: `${e.table === 'engine' ? 'eng' : e.table === 'product' ? 'prod' : e.table}:${e.target}` }))
      // bare aedes is measured in both tables: keep one
      .filter((x, i, all) => x.e.target !== 'aedes' || all.findIndex((y) => y.e.target === 'aedes') === i)
      .map((x) => (x.e.target === 'aedes' ? { ...x, label: 'aedes' } : x));
    // shares from the samples, totals from /proc (see the header)
    for (const x of analyses) x.scale = x.e.cpuUs ? x.e.cpuUs / 1000 / x.a.busy : 1;
    const val = (x, ms) => us(ms * x.scale, x.e.count);
    console.log(`\n[${phase}] self time by origin, µs per ${unit}, scaled to the CPU time measured (profile round)`);
    const w = 15;
    console.log(`  ${'origin'.padEnd(16)}${analyses.map((x) => pad(x.label, w)).join('')}`);
    for (const c of CATEGORIES) {
      if (analyses.every((x) => x.a.categories[c] < 0.5)) continue;
      console.log(`  ${c.padEnd(16)}${analyses.map((x) => pad(val(x, x.a.categories[c]), w)).join('')}`);
    }
    console.log(`  ${'ours incl.'.padEnd(16)}${analyses.map((x) => pad(val(x, x.a.oursIncl['ours: engine'] + x.a.oursIncl['ours: nodes']), w)).join('')}`);
    console.log(`  ${'CPU, /proc'.padEnd(16)}${analyses.map((x) => pad(x.e.cpuUs !== undefined ? (x.e.cpuUs / x.e.count).toFixed(2) : '-', w)).join('')}`);
    console.log(`  ${'sampled/CPU'.padEnd(16)}${analyses.map((x) => pad((1 / x.scale).toFixed(2), w)).join('')}`);
    console.log(`  ${'rate /s'.padEnd(16)}${analyses.map((x) => pad(Math.round(x.e.rate).toLocaleString('en-US'), w)).join('')}`);
    if (analyses.some((x) => x.e.gc)) {
      // pauses as perf_hooks reports them (main thread), per 1,000 messages: count / ms
      const per1k = (x, kind) => (x.e.gc ? `${((x.e.gc[kind].n * 1000) / x.e.count).toFixed(1)} / ${((x.e.gc[kind].ms * 1000) / x.e.count).toFixed(2)}` : '-');
      console.log(`  GC pauses per 1,000 ${unit}s, count / ms:`);
      for (const kind of ['minor', 'major', 'incremental']) console.log(`  ${('  ' + kind).padEnd(16)}${analyses.map((x) => pad(per1k(x, kind), w)).join('')}`);
    }

    for (const x of analyses.filter((y) => y.e.table === 'product')) {
      const engine = analyses.find((y) => y.e.table === 'engine' && y.e.target === x.e.target);
      const engineBy = new Map((engine?.a.functions ?? []).map((f) => [`${f.name} ${f.where}`, f]));
      console.log(`\n  top self time, ${x.label} (${phase}): % of samples, µs/${unit} scaled; engine alone µs/${unit} for the same function`);
      const fns = [...x.a.functions].sort((p, q) => q.self - p.self).slice(0, top);
      for (const f of fns) {
        const same = engineBy.get(`${f.name} ${f.where}`);
        console.log(
          `    ${pad(((100 * f.self) / x.a.busy).toFixed(1), 5)}%  ${pad(val(x, f.self), 6)}  eng ${pad(same ? val(engine, same.self) : '-', 6)}  ${f.category.padEnd(13)} ${f.name} ${f.where}`,
        );
      }
      const ours = x.a.functions.filter((f) => f.category.startsWith('ours')).sort((p, q) => q.total - p.total).slice(0, 10);
      console.log(`  ours by inclusive time (self in brackets), ${x.label}: % of samples incl., µs/${unit} scaled; engine alone`);
      for (const f of ours) {
        const same = engineBy.get(`${f.name} ${f.where}`);
        console.log(
          `    ${pad(((100 * f.total) / x.a.busy).toFixed(1), 5)}%  ${pad(val(x, f.total), 6)} (${val(x, f.self)})  eng ${pad(same ? val(engine, same.total) : '-', 6)} (${same ? val(engine, same.self) : '-'})  ${f.name} ${f.where}`,
        );
      }
    }
  }
}

/** Per function and per origin: µs per message of `b` minus `a` (both scaled to their measured CPU time). */
export function printDiff(a, b, { top = 20 } = {}) {
  const [x, y] = [a, b].map((e) => {
    const an = analyze(e.file);
    const scale = e.cpuUs ? e.cpuUs / 1000 / an.busy : 1;
    const per = (ms) => (ms * scale * 1000) / e.count;
    return { e, an, per };
  });
  const label = (e) => `${e.table}:${e.target}`;
  console.log(`${a.phase}: ${label(b)} minus ${label(a)}, µs per message (CPU /proc ${(x.e.cpuUs / x.e.count).toFixed(2)} -> ${(y.e.cpuUs / y.e.count).toFixed(2)})`);
  for (const c of CATEGORIES) {
    const d = y.per(y.an.categories[c]) - x.per(x.an.categories[c]);
    if (Math.abs(d) >= 0.005 * (x.e.cpuUs / x.e.count)) console.log(`  ${c.padEnd(16)} ${pad((d >= 0 ? '+' : '') + d.toFixed(2), 8)}`);
  }
  const key = (f) => `${f.name} ${f.where}`;
  const fx = new Map(x.an.functions.map((f) => [key(f), f]));
  const fy = new Map(y.an.functions.map((f) => [key(f), f]));
  const rows = [...new Set([...fx.keys(), ...fy.keys()])].map((k) => {
    const before = fx.get(k) ? x.per(fx.get(k).self) : 0;
    const after = fy.get(k) ? y.per(fy.get(k).self) : 0;
    return { k, before, after, d: after - before, category: (fy.get(k) ?? fx.get(k)).category };
  });
  console.log('  functions, largest increase first (self time, µs per message: before -> after):');
  for (const r of rows.sort((p, q) => q.d - p.d).slice(0, top)) console.log(`    ${pad('+' + r.d.toFixed(2), 7)}  ${r.before.toFixed(2)} -> ${r.after.toFixed(2)}  ${r.category.padEnd(13)} ${r.k}`);
}

/** The stacks (callee first) under which `name` spent its self time, heaviest first. */
export function printCallers(file, name, depth = 10) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000));
  const stacks = new Map();
  let all = 0;
  for (const [id, ms] of self) {
    const path = [];
    let hit = false;
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at).callFrame;
      if (f.functionName === name) hit = true;
      if (hit) path.push(`${f.functionName || '(anonymous)'} ${where(f)}`);
    }
    if (!hit) continue;
    all += ms;
    const key = path.slice(0, depth).join('\n        <- ');
    stacks.set(key, (stacks.get(key) ?? 0) + ms);
  }
  console.log(`${name}: ${all.toFixed(1)} ms of samples at or below it`);
  for (const [key, ms] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  ${ms.toFixed(1)} ms  ${key}`);
}

export function printOne(file, count) {
  const a = analyze(file);
  const unit = count ? 'µs per message' : 'ms';
  console.log(`${file}: busy ${a.busy.toFixed(0)} ms of ${a.wall.toFixed(0)} ms sampled`);
  for (const c of CATEGORIES) if (a.categories[c] >= 0.5) console.log(`  ${c.padEnd(16)} ${pad(us(a.categories[c], count), 9)} ${unit}  ${pad(((100 * a.categories[c]) / a.busy).toFixed(1), 5)}%`);
  console.log('  top self time:');
  for (const f of [...a.functions].sort((p, q) => q.self - p.self).slice(0, 25)) {
    console.log(`    ${pad(((100 * f.self) / a.busy).toFixed(1), 5)}%  ${pad(us(f.self, count), 8)}  ${f.category.padEnd(13)} ${f.name} ${f.where}`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const callers = argv.find((a) => a.startsWith('--callers='))?.slice(10);
  const depth = Number(argv.find((a) => a.startsWith('--depth='))?.slice(8) ?? 10);
  const [file, ...rest] = argv.filter((a) => !a.startsWith('--'));
  if (!file) {
    console.error('node bench/profile.mjs <index.json> [phase ...] | <file.cpuprofile> [count]');
    process.exit(2);
  }
  const diff = argv.find((a) => a.startsWith('--diff='))?.slice(7);
  if (diff) {
    const entries = JSON.parse(readFileSync(file, 'utf8')).map((e) => ({ ...e, file: existsSync(e.file) ? e.file : join(dirname(file), e.file.split('/').pop()) }));
    const [phase] = rest;
    const pick = (spec) => {
      const [table, target] = spec.split(':');
      const hit = entries.find((e) => e.phase === phase && e.table === table && e.target === target);
      if (!hit) throw new Error(`no profile for ${phase} ${spec} in ${file}`);
      return hit;
    };
    const [a, b] = diff.split(',');
    printDiff(pick(a), pick(b));
  } else if (callers) {
    printCallers(file, callers, depth);
  } else if (file.endsWith('.json') && !file.endsWith('.cpuprofile')) {
    const entries = JSON.parse(readFileSync(file, 'utf8')).map((e) => ({ ...e, file: existsSync(e.file) ? e.file : join(dirname(file), e.file.split('/').pop()) }));
    const phases = rest.length ? rest : [...new Set(entries.map((e) => e.phase))];
    await printProfileComparison(entries, phases);
  } else {
    printOne(file, rest[0] ? Number(rest[0]) : 0);
  }
}
