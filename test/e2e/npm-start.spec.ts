import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { closedPort, HttpSink } from '../helpers/http-sink';
import { closed, connect } from '../helpers/mqtt';
import { tempDir } from '../helpers/tmp';

const project = join(__dirname, '../..');

/** The README's token line: signs {tenant:'tenant1', sub:'sensor-1'} with $JWT_SECRET (HS256, one hour). */
const README_TOKEN_LINE = `node -e "import('jose').then(async ({SignJWT}) => console.log(await new SignJWT({tenant:'tenant1',sub:'sensor-1'}).setProtectedHeader({alg:'HS256'}).setExpirationTime('1h').sign(new TextEncoder().encode(process.env.JWT_SECRET))))"`;
const JWT_SECRET = 'demo-jwt-secret';

/** An auth service as the README describes it: allows http-dev / from-service into tenant2, "ignore" otherwise. */
async function authService(): Promise<{ url: string; requests: Array<Record<string, unknown>>; close(): Promise<void> }> {
  const requests: Array<Record<string, unknown>> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const login = JSON.parse(body) as { username: string; password: string };
      requests.push(login);
      const answer = login.username === 'http-dev' && login.password === 'from-service' ? { result: 'allow', tenant: 'tenant2', device: 'http-dev' } : { result: 'ignore' };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/mqtt/auth`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Runs a command line through the shell, as a user would type it; resolves with its stdout. */
function shell(line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', line], { cwd: project }, (err, stdout, stderr) => (err ? reject(new Error(`${line}\n${stderr}`)) : resolve(stdout)));
  });
}

function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/internal/stats', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
  });
}

/**
 * Resolves once the admin API answers. Each line the demo prints triggers one
 * probe (tenant-admin logs a line once it listens), so this waits on events,
 * not on time; it gives up after a bounded number of probes or when the demo exits.
 */
function adminAnswers(child: ChildProcess, port: number, output: string[], maxProbes = 2000): Promise<void> {
  return new Promise((resolve, reject) => {
    let probes = 0;
    let probing = false;
    let again = false;
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      child.stdout?.off('data', onOutput);
      child.stderr?.off('data', onOutput);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    const attempt = () => {
      if (done) return;
      if (probing) {
        again = true;
        return;
      }
      if (++probes > maxProbes) return finish(new Error(`the admin API did not answer after ${maxProbes} probes:\n${output.join('')}`));
      probing = true;
      void probe(port).then((ok) => {
        probing = false;
        if (ok) return finish();
        if (again) {
          again = false;
          attempt();
        }
      });
    };
    const onOutput = () => attempt();
    const onExit = (code: number | null) => finish(new Error(`npm start exited (${code}) before the admin API answered:\n${output.join('')}`));
    child.stdout?.on('data', onOutput);
    child.stderr?.on('data', onOutput);
    child.on('exit', onExit);
    attempt();
  });
}

describe('npm start (end to end)', function () {
  this.timeout(60_000);
  let demo: ReturnType<typeof tempDir>;
  const output: string[] = [];
  let child: ChildProcess;
  let exited: Promise<void>;
  const ports = { NODE_RED_PORT: 0, MQTT_PORT: 0, MQTT_WS_PORT: 0, ADMIN_PORT: 0 };
  let auth: Awaited<ReturnType<typeof authService>>;

  before(async () => {
    auth = await authService();
    await shell('curl --version').catch(() => {
      throw new Error('curl is missing: the README\'s curl lines cannot be checked (install it, e.g. apt-get install -y curl)');
    });
    demo = tempDir('tenant-broker-demo-');
    for (const key of Object.keys(ports) as Array<keyof typeof ports>) ports[key] = await closedPort();
    const env: NodeJS.ProcessEnv = { ...process.env, DEMO_DIR: demo.dir, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) };
    delete env.ROOT_PASSWORD;
    Object.assign(env, { JWT_SECRET, AUTH_HTTP_URL: auth.url });
    // its own process group, so the after hook can end Node-RED with the script that started it
    child = spawn(process.execPath, ['scripts/start.mjs'], { cwd: project, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    await adminAnswers(child, ports.ADMIN_PORT, output);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(output.join(''));
  });

  after(async () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid, 'SIGTERM');
      // Node-RED closes its flows on SIGTERM; a stuck close must not keep the suite waiting
      const kill = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(kill);
    }
    demo?.remove();
    await auth?.close();
  });

  it('with JWT_SECRET set, admits the README\'s token into tenant1 as device sensor-1; the registry still decides its own logins', async () => {
    const token = (await shell(`JWT_SECRET='${JWT_SECRET}' ${README_TOKEN_LINE}`)).trim();
    const url = `mqtt://127.0.0.1:${ports.MQTT_PORT}`;
    const owner = await connect(url, { username: 'tenant1', password: 'secret', clientId: 'e2e-owner' });
    const device = await connect(url, { username: 'sensor-1', password: token, clientId: 'sensor-1' });
    try {
      await owner.subscribe('tenant1/jwt/#', 1);
      await device.publish('tenant1/jwt/t', '21');
      assert.equal((await owner.waitFor((m) => m.topic === 'tenant1/jwt/t')).payload, '21');
    } finally {
      await device.end();
      await owner.end();
    }
    // the registry decided tenant1; the JWT provider the token: the service was not asked for either
    assert.deepEqual(auth.requests.map((r) => r.username).filter((u) => u === 'tenant1' || u === 'sensor-1'), []);
  });

  it('with AUTH_HTTP_URL set, asks that service for logins the registry and JWT do not decide', async () => {
    const url = `mqtt://127.0.0.1:${ports.MQTT_PORT}`;
    const device = await connect(url, { username: 'http-dev', password: 'from-service', clientId: 'http-dev' });
    await device.end();
    const asked = auth.requests.find((r) => r.username === 'http-dev');
    assert.deepEqual(asked && { ...asked, peerhost: undefined }, { username: 'http-dev', password: 'from-service', clientid: 'http-dev', peerhost: undefined, protocol: 'mqtt', transport: 'tcp' });
    // "ignore" from the service, no tenant-auth node in the demo: the end of the chain
    await assert.rejects(connect(url, { username: 'nobody', password: 'x', clientId: 'n' }), (err: { code?: number }) => err.code === 4);
  });

  it('kicks with the README\'s curl line: {"status":"ok","kicked":N}', async () => {
    const device = await connect(`mqtt://127.0.0.1:${ports.MQTT_PORT}`, { username: 'tenant1', password: 'secret', clientId: 'e2e-device' });
    const gone = closed(device.client);
    const stdout = await shell(`curl -X POST http://localhost:${ports.ADMIN_PORT}/internal/tenant/kick -d '{"username":"tenant1"}'`);
    assert.equal(stdout, '{"status":"ok","kicked":1}');
    await gone;
  });

  it('publishes over HTTP with the README\'s curl line (the adapter is on in the demo)', async () => {
    const device = await connect(`mqtt://127.0.0.1:${ports.MQTT_PORT}`, { username: 'tenant2', password: 'secret2', clientId: 'e2e-http' });
    try {
      await device.subscribe('alerts/#', 1);
      const stdout = await shell(`curl -s -o /dev/null -w '%{http_code}' -u tenant2:secret2 -X POST 'http://127.0.0.1:${ports.MQTT_WS_PORT}/publish/alerts/door?qos=1' -d open`);
      assert.equal(stdout, '204');
      assert.deepEqual(await device.waitFor((m) => m.topic === 'alerts/door'), { topic: 'alerts/door', payload: 'open', qos: 1, retain: false });
    } finally {
      await device.end();
    }
  });

  it('answers curl on localhost even where localhost resolves to ::1 first', async () => {
    // curl tries the next address when ::1 refuses; --resolve makes this machine behave like such a one
    const stdout = await shell(`curl --resolve 'localhost:${ports.ADMIN_PORT}:[::1],127.0.0.1' -X POST http://localhost:${ports.ADMIN_PORT}/internal/tenant/kick -d '{"username":"tenant1"}'`);
    assert.equal(stdout, '{"status":"ok","kicked":0}');
  });

  it('registers a webhook with the README\'s curl line that receives the next reading of the getting-started flow', async () => {
    const sink = await HttpSink.start();
    try {
      const stdout = await shell(
        `curl -X POST http://localhost:${ports.ADMIN_PORT}/internal/webhook/add -d '{"username":"tenant1","topic_filter":"tenant1/sensors/+","webhook_url":"http://127.0.0.1:${sink.port}/hook"}'`,
      );
      const reply = JSON.parse(stdout) as { status: string; id: number };
      assert.equal(reply.status, 'ok');
      assert.equal(typeof reply.id, 'number');
      const [reading] = await sink.waitFor(1);
      assert.equal(reading.method, 'POST');
      assert.equal(reading.url, '/hook');
      assert.equal(reading.headers['x-mqtt-topic'], 'tenant1/sensors/temp');
      const body = JSON.parse(reading.body.toString()) as { client_id: string; temp_c: number };
      assert.deepEqual([body.client_id, body.temp_c], ['sensor_01', 23.45]);
    } finally {
      await sink.close();
    }
  });
});

/** Whether nothing listens on 127.0.0.1:`port` (a connection is refused). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** `npm start` exactly as a person types it: the npm running this test (or the one on PATH). */
function npmStart(env: NodeJS.ProcessEnv): ChildProcess {
  const cli = process.env.npm_execpath;
  const [file, args] = cli && /npm-cli\.js$/.test(cli) ? [process.execPath, [cli, 'start']] : ['npm', ['start']];
  // its own process group, so that the test can clean up whatever a failed stop leaves behind
  return spawn(file, args, { cwd: project, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('npm start (end to end): stopping', function () {
  this.timeout(90_000);

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`stops Node-RED and frees every port on ${signal} to the npm process alone`, async () => {
      const demo = tempDir('tenant-broker-demo-stop-');
      const ports = { NODE_RED_PORT: 0, MQTT_PORT: 0, MQTT_WS_PORT: 0, ADMIN_PORT: 0 };
      for (const key of Object.keys(ports) as Array<keyof typeof ports>) ports[key] = await closedPort();
      const env: NodeJS.ProcessEnv = { ...process.env, DEMO_DIR: demo.dir, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) };
      delete env.ROOT_PASSWORD;
      const output: string[] = [];
      const child = npmStart(env);
      const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig)));
      child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      try {
        await adminAnswers(child, ports.ADMIN_PORT, output);
        // the pid a person finds with `ps` or `$!`: npm's, not its process group
        process.kill(child.pid!, signal);
        // "within a few seconds": Node-RED closes its flows and exits, then npm does
        let timer: NodeJS.Timeout | undefined;
        const outcome = await Promise.race([exited.then((code) => ({ code })), new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 15_000)))]);
        clearTimeout(timer);
        assert.ok(outcome, `npm start was still running 15 s after ${signal}:\n${output.join('')}`);
        for (const [name, port] of Object.entries(ports)) assert.ok(await portFree(port), `${name} ${port} is still held after npm start exited`);
      } finally {
        // whatever a failed stop left running (Node-RED, start.mjs) is in npm's process group
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // the group is gone: everything stopped
        }
        demo.remove();
      }
    });
  }
});
