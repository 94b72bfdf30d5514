import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { closedPort } from '../helpers/http-sink';
import { connackCode } from '../helpers/mqtt';
import { launchChromium } from '../helpers/browser';
import { eventually, startNodeRed, type NodeRedProcess } from '../helpers/node-red-process';
import { projectRoot } from '../helpers/package-install';
import { tempDir } from '../helpers/tmp';

const MODULE = 'node-red-contrib-tenant-broker';
const SCREENSHOTS = join(projectRoot, 'test-results', 'screenshots');
const OUR_TYPES = ['tenant-broker', 'tenant-in', 'tenant-out', 'tenant-webhook', 'tenant-admin', 'tenant-auth'];

type FlowNode = { id: string; type: string; z?: string; x?: number; y?: number; label?: string; name?: string; [key: string]: unknown };
type DemoModule = {
  DEMO_BROKER_ID: string;
  demoFlow(project: string): FlowNode[];
  addDemoTenants(Registry: unknown, database: string): Promise<void>;
};
type EditorNode = { id: string; type: string; z?: string; status?: { fill?: string; text?: string }; _def?: { defaults?: Record<string, { value?: unknown; type?: string }> } } & Record<string, unknown>;
type DebugMessage = { name?: string; msg?: string; format?: string };
/** The editor's globals, as far as these tests use them. */
type EditorWindow = Window & {
  RED: {
    nodes: {
      node(id: string): EditorNode | null;
      filterNodes(filter: { type?: string; z?: string }): EditorNode[];
      eachConfig(cb: (node: EditorNode) => boolean | void): void;
      workspace(id: string): { id: string; label: string } | undefined;
      getWorkspaceOrder(): string[];
      dirty(): boolean;
    };
    actions: { invoke(name: string): void };
    comms: { subscribe(topic: string, cb: (topic: string, msg: unknown) => void): void };
    _(key: string): string;
  };
  __debug?: DebugMessage[];
};

const examples = readdirSync(join(projectRoot, 'examples'))
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({ name: file.replace(/\.json$/, ''), flow: JSON.parse(readFileSync(join(projectRoot, 'examples', file), 'utf8')) as FlowNode[] }));

/** The label of an example's tab, by which the imported copy is found. */
const tabLabel = (flow: FlowNode[]) => flow.find((n) => n.type === 'tab')!.label!;

/**
 * Import > Examples > node-red-contrib-tenant-broker > `name`, as a person
 * does it. Where Node-RED reports nodes that exist already it offers
 * "Import copy", which gives the flow nodes new ids and keeps an existing
 * config node of the same id: the shared broker.
 */
async function importExample(page: Page, name: string, label: string): Promise<void> {
  await page.evaluate(() => (window as unknown as EditorWindow).RED.actions.invoke('core:show-examples-import-dialog'));
  const dialog = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
  await dialog.locator('.red-ui-treeList-label', { hasText: MODULE }).first().click();
  await dialog.locator('.red-ui-treeList-label', { hasText: name }).first().click();
  await page.locator('#red-ui-clipboard-dialog-ok').click();
  const importCopy = await page.evaluate(() => (window as unknown as EditorWindow).RED._('clipboard.import.importCopy'));
  // either the flow arrives, or Node-RED asks about nodes that exist
  await page.waitForFunction(
    (tab) => {
      const RED = (window as unknown as EditorWindow).RED;
      return RED.nodes.getWorkspaceOrder().some((id) => RED.nodes.workspace(id)?.label === tab) || document.querySelector('.red-ui-notification button') !== null;
    },
    label,
  );
  const button = page.locator('.red-ui-notification button', { hasText: importCopy });
  if (await button.count()) await button.first().click();
  await page.waitForFunction((tab) => {
    const RED = (window as unknown as EditorWindow).RED;
    return RED.nodes.getWorkspaceOrder().some((id) => RED.nodes.workspace(id)?.label === tab);
  }, label);
}

/** Clicks Deploy and waits until the editor has nothing left to deploy. */
async function deploy(page: Page): Promise<void> {
  await page.locator('#red-ui-header-button-deploy').click();
  await page.waitForFunction(() => !(window as unknown as EditorWindow).RED.nodes.dirty() || document.querySelector('.red-ui-deploy-dialog-confirm-list') !== null);
  const warning = page.locator('.red-ui-deploy-dialog-confirm-list');
  assert.equal(await warning.count(), 0, `Deploy warns about the flows: ${await warning.allInnerTexts()}`);
}

/**
 * The `npm start` demo (its flow, tenants, ports from the environment) in a
 * real Node-RED, and every example imported into it through the editor in
 * headless Chromium, one after the other, then deployed.
 */
describe('e2e: the examples next to the npm start demo and each other', function () {
  this.timeout(180_000);

  let tmp: ReturnType<typeof tempDir>;
  let red: NodeRedProcess | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let demo: DemoModule;
  let mqttPort = '';
  const pageErrors: string[] = [];

  before(async function () {
    tmp = tempDir('tenant-broker-e2e-examples-');
    const userDir = tmp.file('userDir');
    mkdirSync(join(userDir, 'node_modules'), { recursive: true });
    symlinkSync(projectRoot, join(userDir, 'node_modules', MODULE), 'dir');
    writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true, dependencies: { [MODULE]: `file:${projectRoot}` } }, null, 2));
    mkdirSync(SCREENSHOTS, { recursive: true });

    demo = (await import(pathToFileURL(join(projectRoot, 'scripts', 'demo-flow.mjs')).href)) as DemoModule;
    writeFileSync(join(userDir, 'flows.json'), JSON.stringify(demo.demoFlow(projectRoot), null, 2));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Registry } = require(join(projectRoot, 'dist', 'src', 'index.js'));
    await demo.addDemoTenants(Registry, join(userDir, 'tenant-broker.db'));
    const env = { MQTT_PORT: String(await closedPort()), MQTT_WS_PORT: String(await closedPort()), ADMIN_PORT: String(await closedPort()) };
    mqttPort = env.MQTT_PORT;
    red = await startNodeRed({ userDir, env });
    await eventually('the demo broker', async () => ((await red!.request(`/tenant-broker/${demo.DEMO_BROKER_ID}/tenants`)).ok ? true : undefined));

    context = await launchChromium(tmp.file('chromium-profile'));
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (err) => pageErrors.push(`${err.message}\n${err.stack ?? ''}`));
    await page.goto(red.url + '/');
    // loaded: the demo's flow is on the canvas
    await page.waitForFunction(() => ((window as unknown as EditorWindow).RED?.nodes?.filterNodes?.({ type: 'tenant-in' }).length ?? 0) > 0, null, { timeout: 60_000 });
    // the debug sidebar's messages, as the editor receives them
    await page.evaluate(() => {
      const w = window as unknown as EditorWindow;
      w.__debug = [];
      w.RED.comms.subscribe('debug', (_topic, msg) => w.__debug!.push(msg as DebugMessage));
    });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      if (page) await page.screenshot({ path: join(SCREENSHOTS, `failed-examples-${this.currentTest.title.replace(/\W+/g, '-')}.png`) }).catch(() => undefined);
      if (red) console.log(`--- Node-RED output ---\n${red.output().slice(-6000)}`);
    }
  });

  after(async function () {
    await context?.close().catch(() => undefined);
    await red?.stop();
    tmp?.remove();
  });

  it('imports every example, colliding with nothing but the shared broker, and deploys them all without an error', async function () {
    for (const { name, flow } of examples) {
      // what Node-RED would report as existing: only the broker every example shares with the demo
      const existing = await page.evaluate((ids) => ids.filter((id) => (window as unknown as EditorWindow).RED.nodes.node(id) || (window as unknown as EditorWindow).RED.nodes.workspace(id)), flow.map((n) => n.id));
      assert.deepEqual(existing, existing.length ? [demo.DEMO_BROKER_ID] : [], `${name}: ids that exist already`);
      await importExample(page, name, tabLabel(flow));
    }
    const brokers: string[] = [];
    await page.evaluate(() => {
      const found: string[] = [];
      (window as unknown as EditorWindow).RED.nodes.eachConfig((n) => {
        if (n.type === 'tenant-broker') found.push(n.id);
      });
      return found;
    }).then((ids) => brokers.push(...ids));
    assert.deepEqual(brokers, [demo.DEMO_BROKER_ID], 'the examples brought brokers of their own');

    const logBefore = red!.output().length;
    await deploy(page);

    // every node of ours settles on a status that is not an error: brokers listen, admin APIs serve
    const statuses = await eventually('every tenant node green', async () => {
      const all = await page.evaluate((types) => {
        const RED = (window as unknown as EditorWindow).RED;
        return types.flatMap((type) => RED.nodes.filterNodes({ type }).map((n) => ({ id: n.id, type, fill: n.status?.fill, text: n.status?.text })));
      }, OUR_TYPES);
      return all.length > 0 && all.every((s) => s.fill === 'green') ? all : undefined;
    }, 30_000).catch(async (err: Error) => {
      const now = await page.evaluate((types) => types.flatMap((type) => (window as unknown as EditorWindow).RED.nodes.filterNodes({ type }).map((n) => `${n.id} ${type}: ${n.status?.fill} ${n.status?.text}`)), OUR_TYPES);
      throw new Error(`${err.message}\n${now.join('\n')}`);
    });
    assert.ok(statuses.some((s) => s.type === 'tenant-admin' && s.id !== 'demo-admin'), 'example 04 has no tenant-admin running');
    const log = red!.output().slice(logBefore);
    assert.doesNotMatch(log, /\[error\]|in use/, 'the deploy logged errors');

    // example 03's receiver shows the webhook's body as text (and the node-red client id of the flow's publish)
    const received = await eventually('the webhook receiver of example 03', async () => {
      const messages = await page.evaluate(() => (window as unknown as EditorWindow).__debug ?? []);
      return messages.find((m) => m.name === 'receiver got');
    }, 30_000);
    const shown = JSON.parse(String(received.msg)) as { topic: string; username: string; clientId: string; body: unknown };
    const body = typeof shown.body === 'string' ? shown.body : JSON.stringify(shown.body);
    assert.doesNotMatch(body, /"type"\s*:\s*"Buffer"/, `the receiver shows a serialized Buffer: ${body.slice(0, 80)}`);
    assert.equal(shown.topic, 'tenant1/sensors/temp');
    assert.equal(shown.username, 'tenant1');
    assert.equal(shown.clientId, 'node-red');
    assert.equal(typeof shown.body, 'string');
    assert.match(body, /"client_id":"sensor_01"/);
    await page.screenshot({ path: join(SCREENSHOTS, 'examples-deployed.png') });

    // example 05 on its tab, deployed: the demo's broker asks its flow; flow-demo / let-me-in gets in, a wrong password does not
    const authTab = await page.evaluate((label) => {
      const RED = (window as unknown as EditorWindow).RED;
      return RED.nodes.getWorkspaceOrder().find((id) => RED.nodes.workspace(id)?.label === label);
    }, 'Auth as a flow');
    assert.ok(authTab, 'example 05 has no tab');
    await page.evaluate((z) => (window as unknown as EditorWindow & { RED: { workspaces: { show(id: string): void } } }).RED.workspaces.show(z), authTab);
    const mqttUrl = `mqtt://127.0.0.1:${mqttPort}`;
    assert.equal(await connackCode(mqttUrl, { username: 'flow-demo', password: 'let-me-in', clientId: 'flow-demo' }), 0, 'flow-demo / let-me-in');
    assert.equal(await connackCode(mqttUrl, { username: 'flow-demo', password: 'wrong', clientId: 'flow-demo' }), 5, 'a wrong password');
    // the function's status says what it decided, and tenant-auth counts the answers
    await eventually('the tenant-auth status counts two answers', async () => {
      const text = await page.evaluate((z) => (window as unknown as EditorWindow).RED.nodes.filterNodes({ type: 'tenant-auth', z })[0]?.status?.text, authTab);
      return text && /^2 answered/.test(text) ? text : undefined;
    }, 30_000);
    // the deploy's notifications would cover the flow
    await page.evaluate(() => document.querySelectorAll<HTMLElement>('.red-ui-notification').forEach((el) => (el.style.visibility = 'hidden')));
    await page.screenshot({ path: join(SCREENSHOTS, '05-auth-as-a-flow.png') });
    assert.deepEqual(pageErrors.splice(0), [], 'the editor reported errors');
  });

  it('shows each field an example leaves out as its default, and saving the dialogs writes the defaults', async function () {
    // one broker for all: every example carries the same one
    const shippedBrokers = examples.map(({ flow }) => flow.find((n) => n.type === 'tenant-broker'));
    for (const broker of shippedBrokers) assert.deepEqual(broker, shippedBrokers[0], 'the examples\' brokers differ');
    const shippedBroker = shippedBrokers[0]!;
    /** The shipped node a node on the canvas was imported from: same tab label, type and place. */
    const shippedOf = (label: string | undefined, node: FlowNode): FlowNode | undefined => {
      if (node.type === 'tenant-broker') return shippedBroker;
      const example = examples.find(({ flow }) => tabLabel(flow) === label);
      return example?.flow.find((n) => n.type === node.type && n.x === node.x && n.y === node.y);
    };

    // the editor's defaults are the run time's
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { NODE_DEFAULTS } = require(join(projectRoot, 'dist', 'nodes', 'shared', 'defaults.js')) as { NODE_DEFAULTS: Record<string, Record<string, unknown>> };
    const editorDefaults = await page.evaluate((types) => Object.fromEntries(types.map((type) => {
      const defaults = (window as unknown as EditorWindow & { RED: { nodes: { getType(t: string): { defaults: Record<string, { value?: unknown; type?: string }> } } } }).RED.nodes.getType(type).defaults;
      return [type, Object.fromEntries(Object.entries(defaults).filter(([, d]) => !d.type).map(([key, d]) => [key, d.value]))];
    })), OUR_TYPES);
    assert.deepEqual(editorDefaults, NODE_DEFAULTS, 'the editor\'s defaults and the run time\'s differ');

    /** Fields a dialog shows that differ from what the node has, or from the default where the shipped node has none. */
    const wrongFields = (type: string, prefix: string, shipped: FlowNode) =>
      page.evaluate(({ defaults, prefix, shipped }) => {
        const wrong: string[] = [];
        for (const [key, value] of Object.entries(defaults)) {
          const input = document.querySelector(`#${prefix}-${key}`) as HTMLInputElement | HTMLSelectElement | null;
          if (!input) continue;
          const expected = key in shipped && shipped[key] !== null ? shipped[key] : value;
          const shown = input instanceof HTMLInputElement && input.type === 'checkbox' ? input.checked : input.value;
          const want = typeof shown === 'boolean' ? Boolean(expected) : String(expected);
          if (key === 'tcpPort' || key === 'wsPort' || key === 'tcpHost') continue; // the demo's own
          if (shown !== want) wrong.push(`${key}: shows ${JSON.stringify(shown)}, expected ${JSON.stringify(want)}`);
        }
        return wrong;
      }, { defaults: NODE_DEFAULTS[type], prefix, shipped });

    // the broker, as every example and the demo have it: open it from the config sidebar, check, save
    await page.evaluate(() => (window as unknown as EditorWindow).RED.actions.invoke('core:show-config-tab'));
    await page.locator('.red-ui-palette-node-config', { hasText: String(shippedBroker.name) }).first().dblclick();
    await page.locator('#node-config-input-tcpPort').waitFor({ state: 'visible' });
    assert.deepEqual(await wrongFields('tenant-broker', 'node-config-input', shippedBroker), [], 'the broker dialog');
    await page.locator('#node-config-tenant-broker-tabs a', { hasText: 'Limits' }).click();
    assert.equal(await page.locator('#node-config-input-defaultAllowRetain').isChecked(), true, '"Allow retained messages" is not ticked');
    assert.equal(await page.locator('#node-config-input-defaultMaxQos').inputValue(), '2', '"Highest QoS" is not 2');
    await page.screenshot({ path: join(SCREENSHOTS, 'example-broker-limits.png') });
    await page.locator('#node-config-dialog-ok').click();
    await page.waitForFunction(() => document.querySelectorAll('.red-ui-tray').length === 0);

    // every node of ours on the examples' tabs: open its dialog, check, press Done
    const ours = await page.evaluate((types) => {
      const RED = (window as unknown as EditorWindow).RED;
      return types.slice(1).flatMap((type) => RED.nodes.filterNodes({ type }).map((n) => ({ id: n.id, type, z: n.z!, x: n.x as number, y: n.y as number, label: RED.nodes.workspace(n.z!)?.label })));
    }, OUR_TYPES);
    let opened = 0;
    for (const node of ours) {
      const shipped = shippedOf(node.label, node as unknown as FlowNode);
      if (!shipped) continue; // the demo's own nodes
      await page.evaluate((z) => (window as unknown as EditorWindow & { RED: { workspaces: { show(id: string): void } } }).RED.workspaces.show(z), node.z);
      await page.locator(`g.red-ui-flow-node-group[id="${node.id}"] rect.red-ui-flow-node`).dblclick();
      await page.locator('#node-dialog-ok').waitFor({ state: 'visible' });
      assert.deepEqual(await wrongFields(node.type, 'node-input', shipped), [], `the ${node.type} dialog on ${node.label}`);
      await page.locator('#node-dialog-ok').click();
      await page.waitForFunction(() => document.querySelectorAll('.red-ui-tray').length === 0);
      opened++;
    }
    assert.ok(opened >= 8, `only ${opened} dialogs of the examples' nodes were opened`);
    await deploy(page);

    // what the editor wrote: each field the example left out holds its default, none is blank or null
    const deployed = await red!.json<FlowNode[]>('/flows');
    const tabs = new Map(deployed.filter((n) => n.type === 'tab').map((t) => [t.id, t.label]));
    const problems: string[] = [];
    for (const node of deployed.filter((n) => OUR_TYPES.includes(n.type))) {
      const shipped = shippedOf(node.z ? tabs.get(node.z) : undefined, node);
      if (!shipped) continue;
      for (const [key, value] of Object.entries(NODE_DEFAULTS[node.type])) {
        if (key in shipped) continue;
        if (node[key] !== value) problems.push(`${node.type} ${node.id}: ${key} is ${JSON.stringify(node[key])}, not the default ${JSON.stringify(value)}`);
      }
    }
    assert.deepEqual(problems, [], 'saved by the editor');

    // and the running broker has them: a new tenant may retain and use QoS 2
    const added = await red!.json<{ tenant: { allow_retain: boolean; max_qos: number } }>(`/tenant-broker/${demo.DEMO_BROKER_ID}/tenants`, {
      method: 'POST',
      status: 201,
      body: JSON.stringify({ username: 'after-save', password: 'pw' }),
    });
    assert.deepEqual([added.tenant.allow_retain, added.tenant.max_qos], [true, 2]);
    assert.deepEqual(pageErrors.splice(0), [], 'the editor reported errors');
  });
});
