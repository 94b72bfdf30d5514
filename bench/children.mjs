// Child processes of the benches: brokers (bench/broker.mjs) and the load
// generator (bench/load.mjs), driven over IPC, pinned to CPUs where possible,
// and never left behind.
import { execFileSync, fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const PHASE_TIMEOUT_MS = 90_000;

/** Pinning is on by default where `taskset` works on a machine with 2 CPUs or more. */
let pinning = false;
export function setPinning(on) {
  pinning = on && process.platform === 'linux' && os.cpus().length >= 2 && hasTaskset();
  return pinning;
}


export function hasTaskset() {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Restricts every thread of a child to the given CPU list ("1", "0-1"); no-op unless pinning. */
export function pin(child, cpus) {
  if (!pinning || !child?.pid) return;
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(child.pid)], { stdio: 'ignore' });
}

/** The same for a process that is not a ChildProcess of ours (Node-RED under scripts/start.mjs). */
export function pinPid(pid, cpus) {
  if (!pinning || !pid) return;
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

export const children = new Set();
let rpcSerial = 0;

export function spawnChild(script, argv, execArgv = []) {
  const child = fork(join(here, script), argv, {
    execArgv: ['--expose-gc', ...execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.pending = new Map();
  child.exitedEarly = false;
  child.on('message', (msg) => {
    if (msg && msg.event === 'engine-error') {
      console.error(`[${script}] engine-error: ${msg.message}`);
      return;
    }
    if (msg && msg.id !== undefined && child.pending.has(msg.id)) {
      const { resolve, reject, timer } = child.pending.get(msg.id);
      child.pending.delete(msg.id);
      clearTimeout(timer);
      if (msg.ok) resolve(msg);
      else reject(new Error(`${script}: ${msg.error}`));
    }
  });
  child.on('exit', (code, signal) => {
    children.delete(child);
    for (const { reject, timer } of child.pending.values()) {
      clearTimeout(timer);
      reject(new Error(`${script} exited (code ${code}, signal ${signal})`));
    }
    child.pending.clear();
    if (!child.stopping) child.exitedEarly = true;
  });
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start within 30 s`)), 30_000);
    child.on('message', (msg) => {
      if (msg && msg.event === 'ready') {
        clearTimeout(timer);
        resolve(msg);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with code ${code} before it was ready`));
    });
  });
  return { child, ready };
}

export function rpc(child, payload, timeoutMs = PHASE_TIMEOUT_MS) {
  const id = ++rpcSerial;
  return new Promise((resolve, reject) => {
    if (!child.connected) return reject(new Error('child process is gone'));
    const timer = setTimeout(() => {
      child.pending.delete(id);
      reject(new Error(`timed out after ${timeoutMs / 1000} s: ${JSON.stringify(payload).slice(0, 120)}`));
    }, timeoutMs);
    child.pending.set(id, { resolve, reject, timer });
    child.send({ id, ...payload });
  });
}

export async function stopChild(child, timeoutMs = 15_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.stopping = true;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    await rpc(child, { cmd: 'stop' }, timeoutMs);
  } catch {
    /* killed below */
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

export const tempDirs = [];
/** Process groups started detached (scripts/start.mjs and its Node-RED): killed as a whole. */
export const processGroups = new Set();

/** Kills whatever children are left and removes the registry's temp dir (also on timeout and Ctrl-C). */
export function killAll() {
  for (const child of children) child.kill('SIGKILL');
  for (const pgid of processGroups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  processGroups.clear();
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

