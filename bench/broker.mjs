// One broker under test, in its own process so that its CPU time and memory
// are its own. Started by bench/run.mjs through child_process.fork():
//
//   node --expose-gc bench/broker.mjs aedes            bare aedes, accept-all authenticate hook
//   node --expose-gc bench/broker.mjs http             a bare Node HTTP server answering 204 to every request
//   node --expose-gc bench/broker.mjs engine <dir> [index.js] [options JSON]
//                                                      the BUILT engine (default dist/src/index.js),
//                                                      registry in <dir>/registry.db, extra
//                                                      BrokerHost options merged in (e.g. persistence;
//                                                      `ws` and `httpPublish` for the HTTP adapter)
//
// It answers the parent over IPC: {id, cmd} -> {id, ok, ...}.
//   mem     GC twice, then process.memoryUsage()
//   cpu     process.cpuUsage() (user + system, microseconds)
//   cold    engine only: empties the credential cache (registry.reload() in builds
//           before forgetVerifiedPasswords), so the next login of each tenant
//           runs the real scrypt check
//   stats   engine only: full scrypt checks so far, live connection count
//   webhook engine only: {url} adds a webhook on all of tenant t1's topics (registry),
//           {remove: id} removes it; answers its id and the webhook counters
//   policy  engine only: {add: policy, tenant?} adds a message policy (tenant t1 by default),
//           {remove: id} removes one; answers the added policy's id
//   profile-start   start V8's sampling profiler (in-process inspector session, 1 ms interval)
//   profile-stop    {file}: stop it and write the .cpuprofile there
//   gc-start / gc-stop   count GC pauses by kind (perf_hooks) between the two; gc-stop answers them
//   stop    close the broker and exit
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { createRequire } from 'node:module';
import net from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const kind = process.argv[2];
const require = createRequire(import.meta.url);

if (typeof process.send !== 'function') {
  console.error('bench/broker.mjs is started by bench/run.mjs');
  process.exit(2);
}

// The parent going away (crash, timeout, Ctrl-C) must never leave a broker behind.
process.on('disconnect', () => process.exit(0));

let close;
let registry = null;
let host = null;
const targets = [];

if (kind === 'aedes') {
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker({
    authenticate: (_client, _username, _password, done) => done(null, true),
  });
  const server = net.createServer(broker.handle);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  close = () =>
    new Promise((resolve) => {
      broker.close(() => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    });
  targets.push({
    name: 'aedes',
    port: server.address().port,
    username: 'bench',
    password: 'bench',
    pubPrefix: '', // publishes bench/<n>
    subFilter: 'bench/#',
  });
} else if (kind === 'http') {
  // the ceiling of any HTTP adapter on this machine: a Node HTTP server that reads each body and answers 204
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  close = () => new Promise((resolve) => server.close(() => resolve(), server.closeAllConnections()));
  targets.push({ name: 'http', wsPort: server.address().port, username: 'bench', password: 'bench', pubPrefix: '' });
} else if (kind === 'engine') {
  const dir = process.argv[3];
  if (!dir) throw new Error('engine needs a directory for its registry');
  const { BrokerHost } = require(process.argv[4] || '../dist/src/index.js');
  host = new BrokerHost({
    ws: false,
    ...JSON.parse(process.argv[5] || '{}'),
    mqtt: { port: 0, host: '127.0.0.1' },
    database: join(dir, 'registry.db'),
    rootPassword: randomBytes(12).toString('hex'),
    reloadOnSighup: false,
  });
  host.on('engine-error', (err) => process.send({ event: 'engine-error', message: String(err?.stack ?? err) }));
  registry = host.registry;
  const p1 = 'pw-' + randomBytes(9).toString('base64url');
  const p2 = 'pw-' + randomBytes(9).toString('base64url');
  await registry.addTenant({ username: 't1', password: p1, isolation: 'prefix' });
  await registry.addTenant({ username: 't2', password: p2, isolation: 'mountpoint' });
  const addresses = await host.start();
  const port = addresses.mqtt.port;
  const wsPort = addresses.ws?.port; // with a `ws` option: where the HTTP publish adapter listens, when it is on
  close = () => host.close();
  targets.push(
    { name: 'prefix', port, wsPort, username: 't1', password: p1, pubPrefix: 't1/', subFilter: 't1/bench/#' },
    { name: 'mountpoint', port, wsPort, username: 't2', password: p2, pubPrefix: '', subFilter: 'bench/#' },
  );
} else {
  throw new Error(`unknown broker kind ${JSON.stringify(kind)}`);
}

import { gcWatcher } from './gc-watch.mjs';

let gc = null;
let inspector = null;
function inspectorCall(method, params = {}) {
  if (!inspector) {
    inspector = new Session();
    inspector.connect();
  }
  return new Promise((resolve, reject) => inspector.post(method, params, (err, result) => (err ? reject(err) : resolve(result))));
}

async function fullGc() {
  for (let i = 0; i < 3; i++) {
    global.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

process.on('message', async (msg) => {
  const { id, cmd } = msg;
  try {
    let reply = {};
    if (cmd === 'mem') {
      await fullGc();
      reply = { memory: process.memoryUsage() };
    } else if (cmd === 'cpu') {
      reply = { cpu: process.cpuUsage() };
    } else if (cmd === 'cold') {
      if (registry?.forgetVerifiedPasswords) registry.forgetVerifiedPasswords();
      else if (registry) registry.reload();
    } else if (cmd === 'stats') {
      reply = registry ? { scryptChecks: registry.scryptChecks, connections: host.connectionCount() } : {};
    } else if (cmd === 'webhook') {
      if (msg.remove !== undefined) registry.removeWebhook(msg.remove);
      const added = msg.url ? registry.addWebhook({ tenant: 't1', topicFilter: 't1/#', url: msg.url }) : null;
      reply = { webhookId: added?.id, webhooks: host.stats().webhooks };
    } else if (cmd === 'policy') {
      if (msg.remove !== undefined) registry.policies.remove(msg.remove);
      const added = msg.add ? registry.policies.add(msg.tenant ?? 't1', msg.add) : null;
      reply = { policyId: added?.id };
    } else if (cmd === 'profile-start') {
      await inspectorCall('Profiler.enable');
      await inspectorCall('Profiler.setSamplingInterval', { interval: 1000 });
      await inspectorCall('Profiler.start');
    } else if (cmd === 'profile-stop') {
      const { profile } = await inspectorCall('Profiler.stop');
      writeFileSync(msg.file, JSON.stringify(profile));
    } else if (cmd === 'gc-start') {
      gc?.stop();
      gc = gcWatcher();
    } else if (cmd === 'gc-stop') {
      reply = { gc: gc?.stop() ?? null };
      gc = null;
    } else if (cmd === 'stop') {
      await close();
      process.send({ id, ok: true }, () => process.exit(0));
      return;
    } else {
      throw new Error(`unknown command ${cmd}`);
    }
    process.send({ id, ok: true, ...reply });
  } catch (err) {
    process.send({ id, ok: false, error: String(err?.stack ?? err) });
  }
});

process.send({ event: 'ready', pid: process.pid, targets });
