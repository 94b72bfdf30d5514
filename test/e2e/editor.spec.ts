import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser';
import { assertNothingClipped, assertPortFieldsFit, assertTranslated, closeTray, RAW_KEY, SIDEBAR_CONTENT, SWALLOWED_ERROR, topTray, traySettled } from '../helpers/editor-page';
import { deployFlows, eventually, startNodeRed, type NodeRedProcess } from '../helpers/node-red-process';
import { projectRoot } from '../helpers/package-install';
import { tempDir } from '../helpers/tmp';

const MODULE = 'node-red-contrib-tenant-broker';
const SCREENSHOTS = join(projectRoot, 'test-results', 'screenshots');
const BROKER_ID = 'e2e-broker';

/** The editor's globals, as far as these tests use them. */
type EditorWindow = Window & {
  RED: {
    nodes: {
      node(id: string): { id: string; type: string } | null;
      filterNodes(filter: { type?: string; z?: string }): Array<{ id: string }>;
      getType(type: string): { defaults?: Record<string, { type?: string }>; category?: string } | null;
    };
    workspaces: { active(): string };
    actions: { invoke(name: string): void };
  };
};

/** The label on the canvas of a node, as a person reads it. */
function canvasLabel(page: Page, id: string): Promise<string> {
  return page.locator(`g.red-ui-flow-node-group[id="${id}"] .red-ui-flow-node-label`).first().evaluate((el) => (el.textContent ?? '').trim());
}

/**
 * The editor in a real browser against a real Node-RED with this project
 * installed (linked, as `npm start` does): the broker's Tenants tab adds a
 * tenant through the admin route, and every node of the palette category
 * opens a dialog that renders its form.
 */
describe('e2e: the editor in headless Chromium', function () {
  this.timeout(120_000);

  let tmp: ReturnType<typeof tempDir>;
  let red: NodeRedProcess | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const serverErrors: string[] = [];

  before(async function () {
    tmp = tempDir('tenant-broker-e2e-editor-');
    const userDir = tmp.file('userDir');
    mkdirSync(join(userDir, 'node_modules'), { recursive: true });
    symlinkSync(projectRoot, join(userDir, 'node_modules', MODULE), 'dir');
    writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true, dependencies: { [MODULE]: `file:${projectRoot}` } }, null, 2));
    mkdirSync(SCREENSHOTS, { recursive: true });

    red = await startNodeRed({ userDir });
    await deployFlows(red, [
      { id: 'e2e-tab', type: 'tab', label: 'E2E' },
      { id: BROKER_ID, type: 'tenant-broker', name: 'e2e broker', tcpPort: '0', tcpHost: '127.0.0.1', wsEnabled: true, wsPort: '0', wsHost: '127.0.0.1', wsPath: '/ws', database: 'tenant-broker.db', defaultIsolation: 'prefix', defaultMaxConnections: '0' },
      { id: 'e2e-in', type: 'tenant-in', z: 'e2e-tab', name: '', broker: BROKER_ID, tenant: '*', topic: 'sensors/#', qos: '0', datatype: 'auto', inputs: 0, x: 180, y: 100, wires: [[]] },
      { id: 'e2e-out', type: 'tenant-out', z: 'e2e-tab', name: '', broker: BROKER_ID, tenant: 'tenant1', topic: 'sensors/temp', qos: '', retain: '', x: 440, y: 100, wires: [] },
      { id: 'e2e-out2', type: 'tenant-out', z: 'e2e-tab', name: '', broker: BROKER_ID, tenant: 'tenant2', topic: 'sensors/temp', qos: '', retain: '', x: 440, y: 160, wires: [] },
    ]);
    // the Tenants tab needs the broker running: the route answers 404 until the deploy has created it
    await eventually('the deployed broker', async () => ((await red!.request(`/tenant-broker/${BROKER_ID}/tenants`)).ok ? true : undefined));

    context = await launchChromium(tmp.file('chromium-profile'));
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (err) => pageErrors.push(`${err.message}\n${err.stack ?? ''}`));
    // Node-RED catches what our editor code throws in oneditprepare/oneditsave/label/… and
    // while appending a node's HTML, and only logs it to the console: those count as errors too
    page.on('console', (msg) => {
      const text = msg.text();
      if (SWALLOWED_ERROR.test(text) && /tenant/.test(text)) pageErrors.push(`console.${msg.type()}: ${text}`);
    });
    page.on('response', (res) => {
      // our routes, icons, catalogs and help all have "tenant" in their URL
      if (res.status() >= 500 || (/tenant/.test(res.url()) && res.status() >= 400)) serverErrors.push(`${res.status()} ${res.request().method()} ${res.url()}`);
    });
    await page.goto(red.url + '/');
    // loaded: our nodes are registered and the deployed flow is on the canvas
    await page.waitForFunction(() => Boolean((window as unknown as EditorWindow).RED?.nodes?.node?.('e2e-in')), null, { timeout: 60_000 });
    await page.locator('#red-ui-palette-container-tenant_broker').waitFor();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      if (page) await page.screenshot({ path: join(SCREENSHOTS, `failed-${this.currentTest.title.replace(/\W+/g, '-')}.png`) }).catch(() => undefined);
      if (red) console.log(`--- Node-RED output ---\n${red.output().slice(-6000)}`);
    }
    // a test that failed with a dialog open must not leave it in the next test's way
    for (let open = await page?.locator('.red-ui-tray').count(); page && open > 0; open--) {
      const cancel = topTray(page).locator('#node-dialog-cancel, #node-config-dialog-cancel');
      if (!(await cancel.count())) break;
      await closeTray(page, (await cancel.first().getAttribute('id')) === 'node-dialog-cancel' ? '#node-dialog-cancel' : '#node-config-dialog-cancel').catch(() => undefined);
    }
    const left = [...pageErrors.splice(0), ...serverErrors.splice(0)];
    if (left.length) console.log(`--- editor errors ---\n${left.join('\n')}`);
  });

  /** An uncaught error in the editor, or a failed request to our routes, fails the test that caused it. */
  function assertNoEditorErrors(): void {
    const errors = [...pageErrors.splice(0), ...serverErrors.splice(0)];
    assert.deepEqual(errors, [], 'the editor reported errors');
  }

  after(async function () {
    await context?.close().catch(() => undefined);
    await red?.stop();
    tmp?.remove();
  });

  it('shows the node types in the "tenant broker" palette category and their status, translated', async function () {
    const category = page.locator('#red-ui-palette-container-tenant_broker');
    assert.equal((await category.locator('.red-ui-palette-header').innerText()).trim(), 'tenant broker');
    const types = await category.locator('.red-ui-palette-node').evaluateAll((els) => els.map((e) => e.getAttribute('data-palette-type')));
    for (const type of ['tenant-in', 'tenant-out']) assert.ok(types.includes(type), `${type} is not in the palette category; found ${JSON.stringify(types)}`);
    for (const type of types) {
      const node = category.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
      await node.scrollIntoViewIfNeeded();
      assert.ok(await node.isVisible(), `${type} is not visible in the palette`);
    }
    await assertTranslated(category, 'the palette category');
    await category.screenshot({ path: join(SCREENSHOTS, 'palette.png') });

    // the runtime's status texts (translated on the server) reach the canvas
    for (const id of ['e2e-in', 'e2e-out']) {
      await page.waitForFunction((nodeId) => Boolean(document.querySelector(`g[id="${nodeId}"] .red-ui-flow-node-status-label`)?.textContent?.trim()), id);
    }
    await assertTranslated(page.locator('#red-ui-workspace-chart'), 'the node status on the canvas');
    await page.screenshot({ path: join(SCREENSHOTS, 'workspace.png') });
    assertNoEditorErrors();
  });

  it('points from the broker\'s Tenants tab to the Tenants sidebar, where a tenant is added and listed by the admin route', async function () {
    await page.evaluate(() => (window as unknown as EditorWindow).RED.actions.invoke('core:show-config-tab'));
    const entry = page.locator('.red-ui-palette-node-config', { hasText: 'e2e broker' });
    await entry.dblclick();
    const tray = topTray(page);
    await tray.locator('#node-config-input-tcpPort').waitFor({ state: 'visible' });
    await traySettled(page);
    await assertTranslated(tray, 'the tenant-broker dialog (first tab)');
    await assertPortFieldsFit(tray, 'the tenant-broker dialog');
    await page.screenshot({ path: join(SCREENSHOTS, 'tenant-broker.png') });

    // the tab says where tenants are managed now, and how many there are
    await tray.locator('#node-config-tenant-broker-tabs a', { hasText: 'Tenants' }).click();
    await tray.locator('#node-config-tenant-broker-tenants-summary', { hasText: 'Tenants:' }).waitFor();
    await assertTranslated(tray, 'the tenant-broker dialog (Tenants tab)');
    await assertNothingClipped(tray.locator('#tenant-broker-tab-tenants'), 'the Tenants tab');
    await page.screenshot({ path: join(SCREENSHOTS, 'tenant-broker-tenants.png') });

    // every other tab renders too
    const tabs = await tray.locator('#node-config-tenant-broker-tabs a.red-ui-tab-label').evaluateAll((els) => els.map((e) => (e.textContent ?? '').trim()));
    for (const label of tabs) {
      await tray.locator('#node-config-tenant-broker-tabs a', { hasText: label }).click();
      await assertTranslated(tray, `the tenant-broker dialog (${label} tab)`);
    }
    await tray.locator('#node-config-tenant-broker-tabs a', { hasText: 'Tenants' }).click();

    // its button opens the sidebar on this broker, usable next to the open dialog
    await tray.locator('#node-config-tenant-broker-open-sidebar').click();
    const sidebar = page.locator(`${SIDEBAR_CONTENT} .tenant-broker-sidebar`);
    await sidebar.waitFor({ state: 'visible' });
    assert.equal(await sidebar.locator('.tenant-broker-sidebar-header select').inputValue(), BROKER_ID);
    await sidebar.locator('.tenant-broker-add-tenant').click();
    const form = page.locator('.tenant-broker-form-tray');
    await form.locator('#tenant-broker-tenant-username').waitFor({ state: 'visible' });
    await traySettled(page);
    await form.locator('#tenant-broker-tenant-username').fill('e2e-tenant');
    await form.locator('#tenant-broker-tenant-password').fill('e2e-secret');
    await form.locator('#tenant-broker-form-save').click();
    await form.waitFor({ state: 'detached' });
    await sidebar.locator('.tenant-broker-view-title', { hasText: 'e2e-tenant' }).waitFor();

    const listed = await red!.json<{ tenants: Array<{ username: string; isolation: string; enabled: boolean }> }>(`/tenant-broker/${BROKER_ID}/tenants`);
    const tenant = listed.tenants.find((t) => t.username === 'e2e-tenant');
    assert.ok(tenant, `the route does not list e2e-tenant: ${JSON.stringify(listed)}`);
    assert.equal(tenant.isolation, 'prefix');
    assert.equal(tenant.enabled, true);
    await closeTray(page, '#node-config-dialog-ok');
    assertNoEditorErrors();
  });

  it('opens the edit dialog of every node in the palette category and renders its form', async function () {
    const palette = page.locator('#red-ui-palette-container-tenant_broker .red-ui-palette-node');
    const types = (await palette.evaluateAll((els) => els.map((e) => e.getAttribute('data-palette-type')))).filter((t): t is string => Boolean(t));
    assert.ok(types.includes('tenant-in') && types.includes('tenant-out'));
    const chart = page.locator('#red-ui-workspace-chart');

    for (const [index, type] of types.entries()) {
      // a node of this type on the canvas: the deployed one, or one dragged from the palette as a person would
      let id = await page.evaluate((t) => (window as unknown as EditorWindow).RED.nodes.filterNodes({ type: t })[0]?.id, type);
      const deployed = Boolean(id);
      if (!id) {
        await page.locator(`#red-ui-palette-container-tenant_broker .red-ui-palette-node[data-palette-type="${type}"]`).dragTo(chart, { targetPosition: { x: 200 + 220 * (index % 3), y: 220 + 80 * Math.floor(index / 3) } });
        await page.waitForFunction((t) => (window as unknown as EditorWindow).RED.nodes.filterNodes({ type: t }).length > 0, type);
        id = await page.evaluate((t) => (window as unknown as EditorWindow).RED.nodes.filterNodes({ type: t })[0]?.id, type);
      }
      assert.ok(id, `no ${type} node on the canvas`);
      await page.locator(`g.red-ui-flow-node-group[id="${id}"] rect.red-ui-flow-node`).dblclick();
      const tray = topTray(page);
      await tray.locator('#node-dialog-ok').waitFor({ state: 'visible' });
      const form = tray.locator('#dialog-form');
      await form.waitFor({ state: 'visible' });
      await traySettled(page);
      const usesBroker = await page.evaluate((t) => (window as unknown as EditorWindow).RED.nodes.getType(t)?.defaults?.broker?.type === 'tenant-broker', type);
      if (usesBroker) {
        await form.locator('#node-input-broker').waitFor({ state: 'visible' });
        const offered = await form.locator('#node-input-broker option').evaluateAll((els) => els.map((e) => e.getAttribute('value')));
        assert.ok(offered.includes(BROKER_ID), `${type}: the broker select offers ${JSON.stringify(offered)}`);
        // a new node from the palette starts without a broker, as in Node-RED's own mqtt nodes
        if (deployed) assert.equal(await form.locator('#node-input-broker').inputValue(), BROKER_ID, `${type}: the deployed broker is not selected`);
      }
      const inputs = await form.locator('input:visible, select:visible, textarea:visible').count();
      assert.ok(inputs >= 2, `${type}: the dialog shows ${inputs} form fields`);
      await assertTranslated(tray, `the ${type} dialog`);
      await assertPortFieldsFit(tray, `the ${type} dialog`);
      await page.screenshot({ path: join(SCREENSHOTS, `${type}.png`) });
      await closeTray(page, '#node-dialog-cancel');
      assertNoEditorErrors();
    }
  });

  it('labels nodes with their tenant, counts the clients of their tenant, and names fresh nodes in words', async function () {
    const [out1, out2] = [await canvasLabel(page, 'e2e-out'), await canvasLabel(page, 'e2e-out2')];
    assert.notEqual(out1, out2, 'two tenant-out nodes of two tenants on one topic look the same');
    assert.match(out1, /tenant1/);
    assert.match(out2, /tenant2/);
    assert.match(out1, /sensors\/temp/);
    assert.match(await canvasLabel(page, 'e2e-in'), /all tenants.*sensors\/#/);

    // the status under a node counts its own tenant's clients
    const statusOf = (id: string) => page.locator(`g[id="${id}"] .red-ui-flow-node-status-label`).evaluate((el) => (el.textContent ?? '').trim());
    await page.waitForFunction(() => /tenant1/.test(document.querySelector('g[id="e2e-out"] .red-ui-flow-node-status-label')?.textContent ?? ''));
    assert.match(await statusOf('e2e-out'), /^tenant1: \d+ connected$/);
    assert.match(await statusOf('e2e-out2'), /^tenant2: \d+ connected$/);
    assert.match(await statusOf('e2e-in'), /^all tenants: \d+ connected$/);

    // a node fresh from the palette reads as words, not as its type name
    const chart = page.locator('#red-ui-workspace-chart');
    for (const [index, type] of ['tenant-in', 'tenant-out', 'tenant-webhook', 'tenant-admin'].entries()) {
      const before = await page.evaluate((t) => (window as unknown as EditorWindow).RED.nodes.filterNodes({ type: t }).map((n) => n.id), type);
      await page.locator(`#red-ui-palette-container-tenant_broker .red-ui-palette-node[data-palette-type="${type}"]`).dragTo(chart, { targetPosition: { x: 160 + 200 * index, y: 420 } });
      await page.waitForFunction(([t, n]) => (window as unknown as EditorWindow).RED.nodes.filterNodes({ type: t as string }).length > (n as number), [type, before.length] as const);
      const id = await page.evaluate(([t, old]) => (window as unknown as EditorWindow).RED.nodes.filterNodes({ type: t as string }).map((n) => n.id).find((i) => !(old as string[]).includes(i)), [type, before] as const);
      const label = await canvasLabel(page, id!);
      assert.ok(label && label !== type && !RAW_KEY.test(label), `a fresh ${type} reads "${label}"`);
    }
    await assertTranslated(chart, 'the canvas');
    await page.screenshot({ path: join(SCREENSHOTS, 'labels.png') });
    assertNoEditorErrors();
  });
});
