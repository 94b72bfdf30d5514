// Login rates of the authentication providers, measured in one run against
// the registry's own logins (cold credential cache: every login runs scrypt):
// 2,000 JWT logins (each a different token, so the allow cache is cold) and
// the HTTP provider's requests per login, cold and warm.
// Usage: node build.mjs && node bench/auth-logins.mjs
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { SignJWT } from 'jose';
import { BrokerHost } from '../dist/src/index.js';

const SECRET = 'bench-secret-bench-secret-bench-secret';
const PARALLEL = 32;

const service = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"allow","tenant":"bench"}'));
});
await new Promise((r) => service.listen(0, '127.0.0.1', r));
let requests = 0;
service.on('request', () => requests++);

const dir = mkdtempSync(join(tmpdir(), 'auth-bench-'));
const host = new BrokerHost({
  mqtt: { port: 0, host: '127.0.0.1' },
  ws: false,
  database: join(dir, 'registry.db'),
  reloadOnSighup: false,
  watchRegistry: false,
  auth: { providers: [{ kind: 'jwt', secret: SECRET }, { kind: 'http', url: `http://127.0.0.1:${service.address().port}/auth`, maxConcurrent: 16 }] },
});
await host.registry.addTenant({ username: 'bench', password: 'bench-pw', isolation: 'mountpoint', maxConnections: 0 });
const DEVICES = 200;
for (let i = 0; i < DEVICES; i++) await host.registry.devices.add({ tenant: 'bench', username: `dev-${i}`, password: `dev-${i}-pw` });
const { mqtt: address } = await host.start();
const url = `mqtt://127.0.0.1:${address.port}`;

function login(username, password, clientId) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { username, password, clientId, reconnectPeriod: 0, protocolVersion: 4 });
    c.once('connect', () => c.end(true, resolve));
    c.once('error', reject);
  });
}

async function rate(count, credentials) {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (next < count) {
      const i = next++;
      const [u, p] = await credentials(i);
      await login(u, p, `c-${i}`);
    }
  }));
  return count / (Number(process.hrtime.bigint() - started) / 1e9);
}

const tokens = await Promise.all(Array.from({ length: 2000 }, (_, i) => new SignJWT({ tenant: 'bench', sub: `jwt-${i}` }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))));

host.registry.forgetVerifiedPasswords();
const registryRate = await rate(DEVICES, (i) => [`dev-${i}`, `dev-${i}-pw`]);
const jwtRate = await rate(2000, (i) => ['anyone', tokens[i]]);
host.registry.forgetVerifiedPasswords();
const registryRate2 = await rate(DEVICES, (i) => [`dev-${i}`, `dev-${i}-pw`]);

const HTTP_LOGINS = 100; // cold and warm within the allow cache's 5 s
requests = 0;
const httpCold = await rate(HTTP_LOGINS, (i) => [`svc-${i}`, 'x']);
const coldRequests = requests;
requests = 0;
// the same credentials, client ids and peer within the cache's 5 s
const httpWarm = await rate(HTTP_LOGINS, (i) => [`svc-${i}`, 'x']);
const warmRequests = requests;

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const registryMean = (registryRate + registryRate2) / 2;
console.log(`registry logins, cold credential cache (scrypt each): ${fmt(registryRate)} / ${fmt(registryRate2)} conn/s`);
console.log(`JWT logins, 2,000 distinct tokens (allow cache cold):  ${fmt(jwtRate)} conn/s  ratio ${(jwtRate / registryMean).toFixed(2)} (>= 0.8)`);
console.log(`HTTP provider, ${HTTP_LOGINS} logins cold: ${fmt(httpCold)} conn/s, ${coldRequests} requests (${(coldRequests / HTTP_LOGINS).toFixed(2)} per login)`);
console.log(`HTTP provider, ${HTTP_LOGINS} logins warm: ${fmt(httpWarm)} conn/s, ${warmRequests} requests`);
await host.close();
service.close();
rmSync(dir, { recursive: true, force: true });
