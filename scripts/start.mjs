// `npm start`: Node-RED with this package, the getting-started flow and the
// demo tenants, in a git-ignored user directory. Everything comes from the
// environment so that two demos can run side by side:
//   NODE_RED_PORT (1880)  MQTT_PORT (1883)  MQTT_WS_PORT (4035)  ADMIN_PORT (4036)
//   ROOT_PASSWORD (root's password, set at each start)  DEMO_DIR (./.demo)
//   JWT_SECRET (also accept HS256 tokens signed with it)  AUTH_HTTP_URL (also ask this auth service)
// ROOT_PASSWORD, JWT_SECRET and AUTH_HTTP_URL are applied at every start when set; set empty to clear one.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addDemoTenants, DEMO_BROKER_ID, demoFlow } from './demo-flow.mjs';

const require = createRequire(import.meta.url);
const project = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const env = {
  NODE_RED_PORT: process.env.NODE_RED_PORT || '1880',
  MQTT_PORT: process.env.MQTT_PORT || '1883',
  MQTT_WS_PORT: process.env.MQTT_WS_PORT || '4035',
  ADMIN_PORT: process.env.ADMIN_PORT || '4036',
};
const demoDir = resolve(project, process.env.DEMO_DIR || '.demo');
const brokerId = DEMO_BROKER_ID;
const database = join(demoDir, 'tenant-broker.db');

if (!existsSync(join(project, 'dist/nodes/tenant-broker.js'))) {
  console.error('dist/ is missing: run `npm install` (it builds the package) first.');
  process.exit(1);
}
mkdirSync(join(demoDir, 'node_modules'), { recursive: true });

// Node-RED loads the package from the user directory's node_modules, as if installed from the palette.
const link = join(demoDir, 'node_modules', 'node-red-contrib-tenant-broker');
rmSync(link, { force: true, recursive: true });
symlinkSync(project, link, 'dir');
writeFileSync(join(demoDir, 'package.json'), JSON.stringify({ name: 'tenant-broker-demo', private: true, dependencies: { 'node-red-contrib-tenant-broker': `file:${project}` } }, null, 2));

writeFileSync(
  join(demoDir, 'settings.js'),
  `module.exports = {
  uiHost: '127.0.0.1',
  uiPort: Number(process.env.NODE_RED_PORT),
  flowFile: 'flows.json',
  // the demo keeps root's password readable so ROOT_PASSWORD can set it at each start
  credentialSecret: false,
  logging: { console: { level: 'info', metrics: false, audit: false } },
  editorTheme: { projects: { enabled: false }, tours: false },
  diagnostics: { enabled: false },
  telemetry: { enabled: false },
};
`,
);

// The getting-started example, with ports from the environment (Node-RED substitutes ${VAR}).
const flowFile = join(demoDir, 'flows.json');
if (!existsSync(flowFile)) writeFileSync(flowFile, JSON.stringify(demoFlow(project), null, 2));
// Settings the demo applies at every start, to a demo folder of any age: the HTTP publish adapter is on, and
// the auth service of AUTH_HTTP_URL is asked (the chain: registry, then JWT, then HTTP, then a tenant-auth flow).
{
  const flow = JSON.parse(readFileSync(flowFile, 'utf8'));
  const broker = flow.find((node) => node.id === brokerId);
  if (broker) {
    broker.httpPublish = true;
    if (process.env.AUTH_HTTP_URL !== undefined) broker.httpAuthUrl = process.env.AUTH_HTTP_URL;
    if (process.env.JWT_SECRET !== undefined || process.env.AUTH_HTTP_URL !== undefined) {
      broker.authOrder = 'jwt,http,flow';
      if (process.env.JWT_SECRET !== undefined) broker.jwtSecretEncoding = 'utf8';
    }
    writeFileSync(flowFile, JSON.stringify(flow, null, 2));
  }
}
// Credentials: root's password, and the HMAC secret of HS256 tokens (its UTF-8 bytes, as typed).
const credentials = { rootPassword: process.env.ROOT_PASSWORD, jwtSecret: process.env.JWT_SECRET };
if (Object.values(credentials).some((value) => value !== undefined)) {
  const credFile = join(demoDir, 'flows_cred.json');
  const creds = existsSync(credFile) ? JSON.parse(readFileSync(credFile, 'utf8')) : {};
  const broker = { ...(creds[brokerId] || {}) };
  for (const [key, value] of Object.entries(credentials)) if (value !== undefined) broker[key] = value;
  creds[brokerId] = broker;
  writeFileSync(credFile, JSON.stringify(creds, null, 2));
}

// Demo tenants on first start only: afterwards the registry is the user's.
if (!existsSync(database)) {
  const { Registry } = require(join(project, 'dist/src/index.js'));
  await addDemoTenants(Registry, database);
  console.log(`Created demo tenants tenant1/secret (prefix) and tenant2/secret2 (mountpoint) in ${database}`);
}

console.log(`Node-RED editor: http://127.0.0.1:${env.NODE_RED_PORT}  MQTT: ${env.MQTT_PORT}  MQTT over WebSocket: ${env.MQTT_WS_PORT}/ws  Admin API: http://127.0.0.1:${env.ADMIN_PORT}`);
if (process.env.JWT_SECRET) console.log('JWT: HS256 tokens signed with $JWT_SECRET are accepted as passwords (claims: tenant, sub, acl)');
if (process.env.AUTH_HTTP_URL) console.log(`HTTP authentication: logins the registry and JWT do not decide are asked of ${process.env.AUTH_HTTP_URL}`);
const red = spawn(process.execPath, [require.resolve('node-red/red.js'), '--userDir', demoDir, '--settings', join(demoDir, 'settings.js')], {
  stdio: 'inherit',
  env: { ...process.env, ...env },
});
// `npm start` runs this script through `sh -c`, and npm forwards SIGINT and SIGTERM to
// that shell only; dash neither forwards them nor execs its command, so the signals
// never reached Node-RED (and SIGTERM orphaned it, ports held). The start script
// therefore `exec`s node: npm's child is this process, which passes each signal on.
// A Node-RED that has not stopped 10 s after the first signal is killed.
let forceKill = null;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    red.kill(signal);
    if (signal !== 'SIGHUP' && forceKill === null) forceKill = setTimeout(() => red.kill('SIGKILL'), 10_000).unref();
  });
}
red.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
