import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';

/** A port that was free a moment ago: bound on 127.0.0.1:0, then released. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A real Node-RED, started as a child process on 127.0.0.1, and its admin HTTP API. */
export interface NodeRedProcess {
  readonly port: number;
  readonly url: string;
  readonly userDir: string;
  /** Everything Node-RED printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the first match of `pattern` in the output, already printed or to come. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** fetch() against the admin API; `path` starts with '/'. */
  request(path: string, init?: RequestInit): Promise<Response>;
  /** Parsed JSON of a request that must answer with `status` (200 unless told). */
  json<T = unknown>(path: string, init?: RequestInit & { status?: number }): Promise<T>;
  /** SIGTERM (Node-RED closes its flows), SIGKILL if it has not exited within 10 s. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartOptions {
  userDir: string;
  /** Extra environment for the Node-RED process. */
  env?: Record<string, string>;
  /** How long to wait for the admin API to answer. */
  readyTimeoutMs?: number;
}

/**
 * The settings a headless test run wants: loopback only, no tours, no
 * telemetry or update prompts, no palette catalogue fetches (the network is closed).
 */
function writeSettings(userDir: string): string {
  const file = join(userDir, 'settings.js');
  writeFileSync(
    file,
    `module.exports = {
  uiHost: '127.0.0.1',
  uiPort: Number(process.env.PORT),
  flowFile: 'flows.json',
  credentialSecret: false,
  logging: { console: { level: 'info', metrics: false, audit: false } },
  editorTheme: { projects: { enabled: false }, tours: false, palette: { catalogues: [] } },
  diagnostics: { enabled: false, ui: false },
  telemetry: { enabled: false, updateNotification: false },
  externalModules: { palette: { allowInstall: false } },
};
`,
  );
  return file;
}

const redJs = require.resolve('node-red/red.js');

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function launch(options: StartOptions, port: number): Promise<NodeRedProcess> {
  const settings = writeSettings(options.userDir);
  const child = spawn(process.execPath, [redJs, '--userDir', options.userDir, '--settings', settings, '--port', String(port)], {
    cwd: options.userDir,
    env: { ...process.env, ...options.env, PORT: String(port), NODE_RED_ENABLE_PROJECTS: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const watchers = new Set<() => void>();
  const append = (chunk: Buffer) => {
    text += chunk.toString();
    for (const watcher of [...watchers]) watcher();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const gone = exited(child);
  // never outlive the test run, even when mocha exits without running the after hooks
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void gone.then(() => process.removeListener('exit', killOnExit));
  const url = `http://127.0.0.1:${port}`;

  const request = (path: string, init: RequestInit = {}) =>
    fetch(url + path, { ...init, headers: { Accept: 'application/json', ...(init.body ? { 'Content-Type': 'application/json' } : {}), ...(init.headers as Record<string, string> | undefined) } });

  const red: NodeRedProcess = {
    port,
    url,
    userDir: options.userDir,
    output: () => text,
    waitForOutput(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = text.match(pattern);
          if (match) {
            done();
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`Node-RED did not print ${pattern} within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          watchers.delete(check);
        };
        watchers.add(check);
        check();
      });
    },
    request,
    async json<T>(path: string, init: RequestInit & { status?: number } = {}): Promise<T> {
      const { status = 200, ...rest } = init;
      const res = await request(path, rest);
      const body = await res.text();
      if (res.status !== status) throw new Error(`${rest.method ?? 'GET'} ${path}: expected ${status}, got ${res.status}: ${body}`);
      return JSON.parse(body) as T;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await gone;
        clearTimeout(timer);
      }
    },
  };

  // Node-RED loads its nodes and starts its flows before it listens, so the
  // first answer from the admin API means the runtime is up.
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  let lastError: unknown;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw Object.assign(new Error(`Node-RED exited (${child.exitCode ?? child.signalCode}) before it answered:\n${text}`), { output: text });
    }
    try {
      const res = await request('/settings');
      if (res.ok) return red;
      lastError = new Error(`GET /settings answered ${res.status}`);
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      await red.stop();
      throw new Error(`Node-RED did not answer on ${url} in time (${String(lastError)}):\n${text}`);
    }
    // poll interval, not synchronisation: the loop ends on the first answer
    await Promise.race([new Promise((r) => setTimeout(r, 150)), gone]);
  }
}

/**
 * Starts Node-RED from the project's own node-red (devDependency) with the
 * given user directory, on a free loopback port. A port taken between
 * choosing it and Node-RED binding it gets another try.
 */
export async function startNodeRed(options: StartOptions): Promise<NodeRedProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await launch(options, await freePort());
    } catch (err) {
      lastError = err;
      const output = (err as { output?: string }).output ?? '';
      if (!/EADDRINUSE|unable to listen|port-in-use/i.test(output)) throw err;
    }
  }
  throw lastError;
}

/** Deploys `flows` (full deployment) and returns the new revision. */
export async function deployFlows(red: NodeRedProcess, flows: unknown[], credentials?: Record<string, unknown>): Promise<string> {
  const nodes = credentials ? (flows as Array<{ id: string }>).map((n) => (credentials[n.id] ? { ...n, credentials: credentials[n.id] } : n)) : flows;
  const result = await red.json<{ rev: string }>('/flows', {
    method: 'POST',
    headers: { 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
    body: JSON.stringify({ flows: nodes }),
  });
  return result.rev;
}

/** Retries `attempt` until it returns a value other than undefined, within `timeoutMs`. */
export async function eventually<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 15_000, intervalMs = 150): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${lastError ? ` (${String(lastError)})` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
