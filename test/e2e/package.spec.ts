import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connackCode, connect, type TestClient } from '../helpers/mqtt';
import { deployFlows, eventually, freePort, startNodeRed, type NodeRedProcess } from '../helpers/node-red-process';
import { installTarball, nativePrebuildAvailable, packProject, projectRoot } from '../helpers/package-install';
import { tempDir } from '../helpers/tmp';

const MODULE = 'node-red-contrib-tenant-broker';
const NODE_TYPES = ['tenant-broker', 'tenant-in', 'tenant-out', 'tenant-auth'];

type NodeSet = { id: string; module: string; types: string[]; enabled: boolean; err?: string };
type FlowNode = { id: string; type: string; [key: string]: unknown };

function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The published artifact, used as a person would: `npm pack`, installed into
 * a fresh Node-RED user directory, Node-RED started on it, the example flow
 * deployed and its readings received by an outside MQTT client.
 */
describe('e2e: the packed package in a real Node-RED', function () {
  this.timeout(180_000);

  let tmp: ReturnType<typeof tempDir>;
  let red: NodeRedProcess | undefined;
  let packedFiles: string[] = [];
  const clients: TestClient[] = [];
  const timings: Record<string, number> = {};
  let nodeRedVersion = '?';

  before(async function () {
    // without the project's better-sqlite3 binary to reuse, npm compiles SQLite: minutes on two cores
    const compiles = !nativePrebuildAvailable();
    if (compiles) this.timeout(600_000);
    tmp = tempDir('tenant-broker-e2e-pack-');
    const userDir = tmp.file('userDir');
    const t0 = Date.now();
    const { tarball, files } = await packProject(tmp.dir);
    packedFiles = files;
    timings.pack = Date.now() - t0;
    const t1 = Date.now();
    mkdirSync(userDir);
    const { nativeFromPrebuild } = await installTarball(userDir, tarball, tmp.file('prebuilds'), compiles ? 540_000 : 150_000);
    timings.install = Date.now() - t1;
    timings.nativeFromPrebuild = nativeFromPrebuild ? 1 : 0;
    const t2 = Date.now();
    red = await startNodeRed({ userDir });
    timings.start = Date.now() - t2;
    nodeRedVersion = (await red.json<{ version: string }>('/settings')).version;
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && red) console.log(`--- Node-RED output ---\n${red.output().slice(-8000)}`);
  });

  after(async function () {
    await Promise.all(clients.splice(0).map((c) => c.end()));
    await red?.stop();
    tmp?.remove();
    if (process.env.E2E_TIMINGS) console.log(`      e2e package on Node ${process.version}, Node-RED ${nodeRedVersion}, timings (ms):`, timings);
  });

  it('packs the built nodes, their editor files, locales, icons and the examples', function () {
    for (const type of NODE_TYPES) {
      for (const file of [`dist/nodes/${type}.js`, `dist/nodes/${type}.html`, `dist/nodes/locales/en-US/${type}.json`, `dist/nodes/locales/en-US/${type}.html`, `dist/nodes/icons/${type}.svg`]) {
        assert.ok(packedFiles.includes(file), `${file} is not in the tarball`);
      }
    }
    for (const example of readdirSync(join(projectRoot, 'examples'))) assert.ok(packedFiles.includes(`examples/${example}`), `examples/${example} is not in the tarball`);
    assert.ok(!packedFiles.some((f) => /^(src|nodes|test)\//.test(f) || f.endsWith('.ts')), 'sources leaked into the tarball');
    // the repository's scripts run build.mjs, scripts/ and bench/, which are not shipped: the published manifest has none
    const shipped = JSON.parse(readFileSync(join(red!.userDir, 'node_modules', MODULE, 'package.json'), 'utf8')) as Record<string, unknown>;
    const { scripts, ...repository } = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.ok(scripts, 'the repository has scripts');
    assert.deepEqual(shipped, repository, 'the shipped package.json is not the repository\'s without scripts');
    // it is really the installed copy Node-RED loads: the project does not install itself
    assert.ok(existsSync(join(red!.userDir, 'node_modules', MODULE, 'dist', 'nodes', 'tenant-broker.js')));
    assert.ok(!existsSync(join(projectRoot, 'node_modules', MODULE)));
  });

  it('ships the MIT LICENSE the README names and every file the README links to', function () {
    assert.ok(packedFiles.includes('LICENSE'), 'no LICENSE in the tarball');
    const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { license: string };
    const license = readFileSync(join(projectRoot, 'LICENSE'), 'utf8');
    assert.equal(pkg.license, 'MIT');
    assert.match(license, /^MIT License\n\nCopyright \(c\) \d{4} /);
    const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
    assert.match(readme, /## License\s+MIT/);
    // relative links resolve inside the package on npm and in the Flow Library: each must be shipped
    const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((href) => !/^(?:[a-z]+:|#)/i.test(href));
    assert.ok(links.length > 0, 'the README links to no file at all: is this test still reading links?');
    const missing = links.map((href) => href.split('#')[0]).filter((file) => !packedFiles.includes(file));
    assert.deepEqual(missing, [], 'the README links to files the tarball does not ship');
  });

  it('loads the node types tenant-broker, tenant-in, tenant-out and tenant-auth', async function () {
    const sets = await red!.json<NodeSet[]>('/nodes');
    const ours = sets.filter((s) => s.module === MODULE);
    for (const type of NODE_TYPES) {
      const set = ours.find((s) => s.types.includes(type));
      assert.ok(set, `${type} is not registered; node sets of ${MODULE}: ${JSON.stringify(ours)}`);
      assert.equal(set.err, undefined, `${type} failed to load: ${set.err}`);
      assert.equal(set.enabled, true, `${type} is not enabled`);
    }
    // a node file that throws while loading is reported only in the log
    assert.doesNotMatch(red!.output(), /Failed to register|\[node-red-contrib-tenant-broker\/[^\]]*\] (Error|TypeError|SyntaxError)/);
    const version = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')).version as string;
    const info = await red!.json<{ name: string; version: string }>(`/nodes/${MODULE}`);
    assert.equal(info.version, version);
    // the editor gets each node's form, help and catalog
    const html = await (await red!.request('/nodes', { headers: { Accept: 'text/html' } })).text();
    for (const type of NODE_TYPES) {
      assert.match(html, new RegExp(`registerType\\(\\s*'${type}'`), `the editor gets no registerType('${type}')`);
      assert.match(html, new RegExp(`data-template-name="${type}"`));
      assert.match(html, new RegExp(`data-help-name="${type}"`));
    }
    const catalog = await red!.json<Record<string, unknown>>(`/nodes/messages?lng=en-US`);
    for (const type of NODE_TYPES) assert.ok(catalog[`${MODULE}/${type}`], `no en-US catalog for ${type}`);
  });

  it('lists the examples under Import > Examples', async function () {
    const modules = await red!.json<string[]>('/library/examples/flows/');
    assert.ok(modules.includes(MODULE), `examples library lists ${JSON.stringify(modules)}`);
    const entries = await red!.json<Array<{ fn?: string }>>(`/library/examples/flows/${MODULE}`);
    const expected = readdirSync(join(projectRoot, 'examples'))
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.replace(/\.json$/, ''))
      .sort();
    assert.deepEqual(entries.map((e) => e.fn).sort(), expected);
  });

  it('runs the getting-started example: a tenant added through the admin route receives the readings', async function () {
    // the flow exactly as the Import > Examples menu serves it
    const flow = await red!.json<FlowNode[]>(`/library/examples/flows/${MODULE}/${encodeURIComponent('01 Getting started')}`);
    assert.deepEqual(flow, JSON.parse(readFileSync(join(projectRoot, 'examples', '01 Getting started.json'), 'utf8')));
    const broker = flow.find((n) => n.type === 'tenant-broker');
    assert.ok(broker, 'the example has no tenant-broker');
    const [tcpPort, wsPort] = [await freePort(), await freePort()];
    Object.assign(broker, { tcpPort: String(tcpPort), tcpHost: '127.0.0.1', wsPort: String(wsPort), wsHost: '127.0.0.1' });
    await deployFlows(red!, flow);

    // the route waits for the broker to listen; it answers 404 until the deploy has created the node
    const created = await eventually('POST tenant1', async () => {
      const res = await red!.request(`/tenant-broker/${encodeURIComponent(broker.id)}/tenants`, {
        method: 'POST',
        body: JSON.stringify({ username: 'tenant1', password: 'secret', isolation: 'prefix' }),
      });
      if (res.status === 404) return undefined;
      return { status: res.status, body: (await res.json()) as { tenant?: { username: string; isolation: string } } };
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.tenant?.username, 'tenant1');
    assert.equal(created.body.tenant?.isolation, 'prefix');

    const tcp = await connect(`mqtt://127.0.0.1:${tcpPort}`, { username: 'tenant1', password: 'secret', clientId: 'e2e-tcp' });
    clients.push(tcp);
    const ws = await connect(`ws://127.0.0.1:${wsPort}/ws`, { username: 'tenant1', password: 'secret', clientId: 'e2e-ws' });
    clients.push(ws);
    assert.deepEqual(await tcp.subscribe('tenant1/sensors/temp', 1), [1]);
    assert.deepEqual(await ws.subscribe('tenant1/sensors/temp', 0), [0]);

    // the inject node repeats every 5 s: the next reading is at most one period away
    const isReading = (m: { topic: string; payload: string }) => m.topic === 'tenant1/sensors/temp' && /"client_id":"sensor_01"/.test(m.payload);
    const [overTcp, overWs] = await within(20_000, 'a reading on tenant1/sensors/temp', Promise.all([tcp.waitFor(isReading), ws.waitFor(isReading)]));
    for (const message of [overTcp, overWs]) {
      const reading = JSON.parse(message.payload) as { client_id: string; timestamp: number; temp_c: number };
      assert.equal(reading.client_id, 'sensor_01');
      assert.equal(reading.temp_c, 23.45);
      assert.equal(typeof reading.timestamp, 'number');
    }

    // the Tenants tab's list shows the two live connections
    const list = await red!.json<{ tenants: Array<{ username: string; connections: number }> }>(`/tenant-broker/${encodeURIComponent(broker.id)}/tenants`);
    assert.deepEqual(list.tenants.map((t) => [t.username, t.connections]), [['tenant1', 2]]);
    // the registry lives in the user directory, where the relative path in the flow puts it
    assert.ok(existsSync(join(red!.userDir, String(broker.database))));
  });

  it('deploys every example as Import > Examples serves it, each broker listening and no node reporting an error', async function () {
    await Promise.all(clients.splice(0).map((c) => c.end()));
    const entries = await red!.json<Array<{ fn?: string }>>(`/library/examples/flows/${MODULE}`);
    for (const name of entries.map((e) => e.fn).filter((fn): fn is string => !!fn)) {
      const flow = await red!.json<FlowNode[]>(`/library/examples/flows/${MODULE}/${encodeURIComponent(name)}`);
      // the examples' fixed ports (1883, 4035, 4036, the editor's 1880) become this run's free ones
      const admins: number[] = [];
      for (const node of flow) {
        if (node.type === 'tenant-broker') {
          Object.assign(node, { tcpPort: String(await freePort()), tcpHost: '127.0.0.1', wsHost: '127.0.0.1' });
          if (node.wsEnabled !== false) node.wsPort = String(await freePort());
        } else if (node.type === 'tenant-admin') {
          const port = await freePort();
          admins.push(port);
          Object.assign(node, { port: String(port), host: '127.0.0.1' });
        }
        if (typeof node.url === 'string') node.url = node.url.replace(/^(https?:\/\/)(?:127\.0\.0\.1|localhost):1880\b/, `$1127.0.0.1:${red!.port}`);
      }
      const brokers = flow.filter((n) => n.type === 'tenant-broker');
      assert.ok(brokers.length > 0, `${name} has no tenant-broker`);
      const from = red!.output().length;
      await deployFlows(red!, flow);
      for (const broker of brokers) {
        // 404 until the deploy has created the node; then the route waits for the broker to listen, or answers its start error
        const listed = await eventually(`${name}: the broker ${broker.id} listens`, async () => {
          const res = await red!.request(`/tenant-broker/${encodeURIComponent(broker.id)}/tenants`);
          return res.status === 404 ? undefined : { status: res.status, body: await res.text() };
        });
        assert.equal(listed.status, 200, `${name}: ${listed.body}`);
      }
      for (const port of admins) {
        const stats = await eventually(`${name}: the admin API on ${port} answers`, async () => (await fetch(`http://127.0.0.1:${port}/internal/stats`)).status);
        assert.equal(stats, 200, `${name}: GET /internal/stats`);
      }
      if (flow.some((n) => n.type === 'tenant-auth')) {
        // example 05: the flow admits flow-demo / let-me-in into tenant1 (which the getting-started test added) and refuses a wrong password
        const broker = brokers[0];
        const tenants = await red!.json<{ tenants: Array<{ username: string }> }>(`/tenant-broker/${encodeURIComponent(broker.id)}/tenants`);
        if (!tenants.tenants.some((t) => t.username === 'tenant1')) {
          const res = await red!.request(`/tenant-broker/${encodeURIComponent(broker.id)}/tenants`, { method: 'POST', body: JSON.stringify({ username: 'tenant1', password: 'secret' }) });
          assert.equal(res.status, 201, `${name}: POST tenant1`);
        }
        const url = `mqtt://127.0.0.1:${broker.tcpPort}`;
        assert.equal(await connackCode(url, { username: 'flow-demo', password: 'let-me-in', clientId: 'flow-demo' }), 0, `${name}: flow-demo / let-me-in`);
        assert.equal(await connackCode(url, { username: 'flow-demo', password: 'wrong', clientId: 'flow-demo' }), 5, `${name}: a wrong password`);
      }
      assert.doesNotMatch(red!.output().slice(from), /\[error\]/, `${name}: Node-RED logged an error after the deploy`);
    }
  });
});
