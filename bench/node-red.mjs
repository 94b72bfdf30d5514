// The product as `npm start` runs it, as a broker under test: scripts/start.mjs
// itself (a temp DEMO_DIR, free ports from the environment), so Node-RED runs
// with this package linked into its user directory, the getting-started flow
// plus the demo's admin node and audit debug node deployed, SQLite persistence,
// and the demo tenants tenant1 (prefix) and tenant2 (mountpoint).
//
// Node-RED is not an IPC child of the bench, so everything goes through public
// or OS surfaces:
//   cpu    /proc/<pid>/task/*/schedstat of the Node-RED process (every thread,
//          nanoseconds), or /proc/<pid>/stat (clock ticks) where schedstat is missing
//   cold   POST /internal/reload on the demo's admin API: re-reads the registry
//          and empties the credential cache, so the next login of each tenant
//          runs the real scrypt check
//   stats  GET /internal/stats (live connections)
//   profileStart / profileStop   (only with `inspect: true`) the V8 sampling
//          profiler through the inspector: Node-RED is started with
//          NODE_OPTIONS=--inspect-port=0 and SIGUSR1 opens the inspector once
//          it is up, so nothing of the demo changes but a listening debug port
//          (--cpu-prof is not allowed in NODE_OPTIONS, and scripts/start.mjs
//          passes Node-RED no flags of its own)
//
// scripts/start.mjs spawns Node-RED as its own child; both run in a process
// group of their own, so stop() and killAll() end Node-RED with the script.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { processGroups, tempDirs } from './children.mjs';
import { installGcWatcher } from './gc-watch.mjs';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const project = resolve(here, '..');
const START_TIMEOUT_MS = 90_000;

async function freePort() {
  const server = createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The parent pid of a process, from /proc/<pid>/stat (the command name may hold spaces and parentheses). */
function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

function childPids(pid) {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((p) => parentOf(p) === pid);
}

let clockTick = 0;
/** CPU time (user + system, every thread) of another process, in microseconds. */
export function processCpuMicros(pid) {
  try {
    let ns = 0;
    let seen = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        seen++;
      } catch {
        /* thread gone meanwhile */
      }
    }
    if (seen > 0 && ns > 0) return ns / 1000;
  } catch {
    /* no schedstat: fall back to clock ticks */
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (!clockTick) {
    try {
      clockTick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTick = 100;
    }
  }
  // fields[11], fields[12]: utime, stime (fields of stat 14 and 15)
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / clockTick;
}

async function request(port, method, path, body) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
async function inspectorClient(url) {
  const { WebSocket } = require('ws');
  const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  let serial = 0;
  const pending = new Map();
  socket.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.id !== undefined && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(new Error(`${msg.error.message}`));
      else resolve(msg.result);
    }
  });
  return {
    send: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = ++serial;
        pending.set(id, { resolve, reject });
        socket.send(JSON.stringify({ id, method, params }));
      }),
    close: () => socket.close(),
  };
}

/**
 * Starts `npm start`'s script on free ports in a temp user directory and
 * resolves once the admin API answers (the tenant-admin node serves only after
 * the broker listens). `inspect`: open the inspector for profiles.
 */
export async function startNodeRed({ inspect = false, log = () => undefined } = {}) {
  const demoDir = await mkdtemp(join(os.tmpdir(), 'tenant-broker-bench-nodered-'));
  tempDirs.push(demoDir);
  const ports = { NODE_RED_PORT: await freePort(), MQTT_PORT: await freePort(), MQTT_WS_PORT: await freePort(), ADMIN_PORT: await freePort() };
  const nodeOptions = [process.env.NODE_OPTIONS ?? ''];
  if (inspect) nodeOptions.push('--inspect-port=0');
  const env = { ...process.env, DEMO_DIR: demoDir, NODE_OPTIONS: nodeOptions.join(' ').trim(), ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) };
  delete env.ROOT_PASSWORD;
  if (!env.NODE_OPTIONS) delete env.NODE_OPTIONS;

  const script = spawn(process.execPath, [join(project, 'scripts', 'start.mjs')], { cwd: project, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  processGroups.add(script.pid);
  let output = '';
  const watchers = new Set();
  const append = (chunk) => {
    output += chunk.toString();
    if (output.length > 200_000) output = output.slice(-100_000); // Node-RED logs little; stay bounded anyway
    for (const w of [...watchers]) w();
  };
  script.stdout.on('data', append);
  script.stderr.on('data', append);
  const exited = new Promise((resolve) => script.once('exit', (code, signal) => resolve({ code, signal })));
  let gone = false;
  void exited.then(() => {
    gone = true;
    processGroups.delete(script.pid);
  });

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (gone) throw new Error(`scripts/start.mjs exited before the admin API answered:\n${output}`);
    try {
      await request(ports.ADMIN_PORT, 'GET', '/internal/stats');
      break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      process.kill(-script.pid, 'SIGKILL');
      throw new Error(`Node-RED did not serve the admin API within ${START_TIMEOUT_MS / 1000} s:\n${output}`);
    }
    // poll interval, not synchronisation: the loop ends on the first answer
    await new Promise((r) => setTimeout(r, 200));
  }
  const [pid, ...others] = childPids(script.pid);
  if (!pid || others.length) throw new Error(`expected one Node-RED process under scripts/start.mjs (${script.pid}), found ${[pid, ...others].join(', ') || 'none'}`);
  const version = require('node-red/package.json').version;

  let inspector = null;
  if (inspect) {
    const before = output.length;
    process.kill(pid, 'SIGUSR1');
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(new Error(`Node-RED opened no inspector after SIGUSR1:\n${output.slice(before)}`));
      }, 10_000);
      const check = () => {
        const match = /Debugger listening on (ws:\/\/\S+)/.exec(output.slice(before));
        if (match) {
          clearTimeout(timer);
          watchers.delete(check);
          resolve(match[1]);
        }
      };
      watchers.add(check);
      check();
    });
    inspector = await inspectorClient(url);
    await inspector.send('Profiler.enable');
    await inspector.send('Profiler.setSamplingInterval', { interval: 1000 });
  }
  log(`Node-RED ${version} (pid ${pid}) from scripts/start.mjs, user dir ${demoDir}, MQTT ${ports.MQTT_PORT}, admin API ${ports.ADMIN_PORT}`);

  const mqtt = ports.MQTT_PORT;
  return {
    pid,
    scriptPid: script.pid,
    version,
    ports,
    output: () => output,
    targets: [
      { name: 'prefix', port: mqtt, username: 'tenant1', password: 'secret', pubPrefix: 'tenant1/', subFilter: 'tenant1/bench/#' },
      { name: 'mountpoint', port: mqtt, username: 'tenant2', password: 'secret2', pubPrefix: '', subFilter: 'bench/#' },
    ],
    exitedEarly: () => gone,
    async cpu() {
      if (gone) throw new Error(`Node-RED exited:\n${output.slice(-4000)}`);
      return processCpuMicros(pid);
    },
    async cold() {
      await request(ports.ADMIN_PORT, 'POST', '/internal/reload', {});
    },
    async stats() {
      const s = await request(ports.ADMIN_PORT, 'GET', '/internal/stats');
      return { connections: s.connections };
    },
    async profileStart() {
      if (!inspector) throw new Error('Node-RED was started without the inspector');
      await inspector.send('Profiler.start');
    },
    async profileStop() {
      const { profile } = await inspector.send('Profiler.stop');
      return profile;
    },
    /** (inspector only) process.memoryUsage() after a full GC, as bench/broker.mjs answers `mem`. */
    async mem() {
      if (!inspector) throw new Error('Node-RED was started without the inspector');
      await inspector.send('HeapProfiler.collectGarbage');
      const { result } = await inspector.send('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
      return JSON.parse(result.value);
    },
    /** (inspector only) GC pauses by kind from now until gcStop(), counted inside Node-RED. */
    async gcStart() {
      const expression = `(() => { const { PerformanceObserver, constants } = process.mainModule.require('node:perf_hooks');
        globalThis.__benchGc?.stop(); globalThis.__benchGc = (${installGcWatcher.toString()})(PerformanceObserver, constants); return true; })()`;
      const { result, exceptionDetails } = await inspector.send('Runtime.evaluate', { expression, returnByValue: true });
      if (exceptionDetails) throw new Error(`gcStart in Node-RED: ${JSON.stringify(exceptionDetails).slice(0, 300)}`);
      return result.value;
    },
    async gcStop() {
      const { result } = await inspector.send('Runtime.evaluate', { expression: 'JSON.stringify(globalThis.__benchGc?.stop() ?? null)', returnByValue: true });
      return JSON.parse(result.value);
    },
    /** (inspector only) a diagnostic expression evaluated in Node-RED's main context. */
    async evaluate(expression) {
      if (!inspector) throw new Error('Node-RED was started without the inspector');
      const { result } = await inspector.send('Runtime.evaluate', { expression, returnByValue: true });
      return result.value;
    },
    async stop(timeoutMs = 15_000) {
      inspector?.close();
      if (gone) return;
      process.kill(-script.pid, 'SIGTERM');
      const timer = setTimeout(() => {
        try {
          process.kill(-script.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, timeoutMs);
      await exited;
      clearTimeout(timer);
      // the group's Node-RED may outlive the script by a moment
      for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
    },
  };
}
