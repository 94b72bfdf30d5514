import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser';
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

/** A raw i18n key of ours on screen: a missing or misspelt translation. */
const RAW_KEY = /\b(?:node-red-contrib-tenant-broker\/)?tenant-(?:broker|in|out|webhook|admin)\.(?!(?:db|js|json|html|svg)\b)[A-Za-z][\w-]*(?:\.[\w-]+)*/;

/** Markup shown as text: a translation with HTML rendered without `[html]`, or an escaped entity. */
const VISIBLE_MARKUP = /<\/?[A-Za-z][\w-]*(?:\s[^<>]*)?\/?>|&(?:lt|gt|amp|quot|nbsp|#\d+);/;

/** How the editor logs an error it caught in a node definition (red.js: oneditprepare, "Definition error", failedToAppendNode). */
const SWALLOWED_ERROR = /^(?:oneditprepare|oneditsave|oneditcancel|oneditdelete|oneditresize)\b|^Definition error: |^\[node-red-contrib-tenant-broker\]/;

/** Every piece of text a person sees in `root`: text, placeholders, titles, options. */
async function visibleTexts(root: Locator): Promise<string[]> {
  return root.evaluate((el) => {
    const out: string[] = [];
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const parent = n.parentElement;
      if (!parent || parent.closest('script,style,template')) continue;
      const text = (n.textContent ?? '').trim();
      if (text) out.push(text);
    }
    el.querySelectorAll('[placeholder],[title],option').forEach((e) => {
      for (const attr of ['placeholder', 'title']) {
        const value = e.getAttribute(attr);
        if (value) out.push(value);
      }
      if (e.tagName === 'OPTION' && e.textContent) out.push(e.textContent.trim());
    });
    return out;
  });
}

/**
 * `data-i18n` targets that came out empty: Node-RED renders a key missing
 * from the catalog as nothing at all, not as the key.
 */
async function emptyI18nTargets(root: Locator): Promise<string[]> {
  return root.evaluate((el) => {
    const empty: string[] = [];
    el.querySelectorAll('[data-i18n]').forEach((e) => {
      for (const spec of (e.getAttribute('data-i18n') ?? '').split(';')) {
        const match = /^\s*(?:\[([\w-]+)\])?(.+?)\s*$/.exec(spec);
        if (!match) continue;
        const [, target, key] = match;
        const value = !target || target === 'html' || target === 'prepend' || target === 'append' ? e.textContent : e.getAttribute(target);
        if (!value || !value.trim()) empty.push(`${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''} ${target ? '[' + target + ']' : ''}${key}`);
      }
    });
    return empty;
  });
}

async function assertTranslated(root: Locator, where: string): Promise<void> {
  const texts = await visibleTexts(root);
  const raw = texts.filter((t) => RAW_KEY.test(t));
  assert.deepEqual(raw, [], `${where} shows untranslated i18n keys`);
  assert.deepEqual(texts.filter((t) => VISIBLE_MARKUP.test(t)), [], `${where} shows markup as text`);
  assert.deepEqual(await emptyI18nTargets(root), [], `${where} has data-i18n keys that translate to nothing (missing from the catalog?)`);
}

/**
 * Text inputs for ports take \${ENV_VAR}: the longest name the demo uses, and
 * the placeholder, must fit without scrolling.
 */
async function assertPortFieldsFit(root: Locator, where: string): Promise<void> {
  const clipped = await root.locator('input[type="text"][id$="Port"]:visible, input[type="text"][id$="-port"]:visible').evaluateAll((inputs) =>
    (inputs as HTMLInputElement[]).flatMap((input) => {
      const before = input.value;
      const out: string[] = [];
      for (const text of ['\${MQTT_WS_PORT}', input.placeholder]) {
        input.value = text;
        if (input.scrollWidth > input.clientWidth) out.push(`#${input.id}: "${text}" needs ${input.scrollWidth}px, has ${input.clientWidth}px`);
      }
      input.value = before;
      return out;
    }),
  );
  assert.deepEqual(clipped, [], `${where}: port fields clip their text`);
}

/** The label on the canvas of a node, as a person reads it. */
function canvasLabel(page: Page, id: string): Promise<string> {
  return page.locator(`g.red-ui-flow-node-group[id="${id}"] .red-ui-flow-node-label`).first().evaluate((el) => (el.textContent ?? '').trim());
}

/** The edit tray that is open on top. */
const topTray = (page: Page) => page.locator('.red-ui-tray').last();

/**
 * Waits for the top tray's slide-in to end, so a screenshot shows where it
 * rests. Node-RED builds the tray in place, moves it off-screen, slides it in
 * with a transition on `right`, and 300 ms later raises the editor stack
 * above the sidebar (RED.tray show/finishBuild/raiseTrayZ). Rested: the
 * transition has reached 0, the stack is raised, and the tray's box has not
 * moved since the previous animation frame (polled once per frame).
 */
async function traySettled(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { __trayBox?: string }).__trayBox = '';
  });
  await page.waitForFunction(() => {
    const memo = window as unknown as { __trayBox?: string };
    const trays = document.querySelectorAll('.red-ui-tray');
    const tray = trays[trays.length - 1] as HTMLElement | undefined;
    const stack = document.querySelector('#red-ui-editor-stack') as HTMLElement | null;
    if (!tray || !stack) return false;
    const box = tray.getBoundingClientRect();
    const key = `${box.left},${box.top},${box.width},${box.height}`;
    const still = memo.__trayBox === key;
    memo.__trayBox = key;
    const slidIn = tray.style.transition.includes('right') && tray.style.right === '0px' && getComputedStyle(tray).right === '0px';
    const raised = getComputedStyle(stack).zIndex === '13';
    return still && slidIn && raised && Math.abs(box.right - stack.getBoundingClientRect().left) < 1;
  }, null, { polling: 'raf' });
}

async function closeTray(page: Page, button: '#node-dialog-cancel' | '#node-config-dialog-ok' | '#node-config-dialog-cancel'): Promise<void> {
  const before = await page.locator('.red-ui-tray').count();
  await page.locator(button).click();
  await page.waitForFunction((n) => document.querySelectorAll('.red-ui-tray').length < n, before);
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

  it('adds a tenant in the broker\'s Tenants tab, listed there and by the admin route', async function () {
    await page.evaluate(() => (window as unknown as EditorWindow).RED.actions.invoke('core:show-config-tab'));
    const entry = page.locator('.red-ui-palette-node-config', { hasText: 'e2e broker' });
    await entry.dblclick();
    const tray = topTray(page);
    await tray.locator('#node-config-input-tcpPort').waitFor({ state: 'visible' });
    await traySettled(page);
    await assertTranslated(tray, 'the tenant-broker dialog (first tab)');
    await assertPortFieldsFit(tray, 'the tenant-broker dialog');
    await page.screenshot({ path: join(SCREENSHOTS, 'tenant-broker.png') });

    await tray.locator('#node-config-tenant-broker-tabs a', { hasText: 'Tenants' }).click();
    await tray.locator('#node-config-tenant-broker-new-username').waitFor({ state: 'visible' });
    await tray.locator('#node-config-tenant-broker-new-username').fill('e2e-tenant');
    await tray.locator('#node-config-tenant-broker-new-password').fill('e2e-secret');
    await tray.locator('#node-config-tenant-broker-add').click();
    const row = tray.locator('#node-config-tenant-broker-tenants .tenant-broker-tenant-name', { hasText: 'e2e-tenant' });
    await row.waitFor({ state: 'visible' });
    assert.equal(await tray.locator('#node-config-tenant-broker-new-username').inputValue(), '', 'the form is not cleared after adding');
    assert.equal((await tray.locator('#node-config-tenant-broker-tenants-message').innerText()).trim(), '');
    await assertTranslated(tray, 'the tenant-broker dialog (Tenants tab)');
    await page.screenshot({ path: join(SCREENSHOTS, 'tenant-broker-tenants.png') });

    const listed = await red!.json<{ tenants: Array<{ username: string; isolation: string; enabled: boolean }> }>(`/tenant-broker/${BROKER_ID}/tenants`);
    const tenant = listed.tenants.find((t) => t.username === 'e2e-tenant');
    assert.ok(tenant, `the route does not list e2e-tenant: ${JSON.stringify(listed)}`);
    assert.equal(tenant.isolation, 'prefix');
    assert.equal(tenant.enabled, true);

    // every other tab renders too
    const tabs = await tray.locator('#node-config-tenant-broker-tabs a.red-ui-tab-label').evaluateAll((els) => els.map((e) => (e.textContent ?? '').trim()));
    for (const label of tabs) {
      await tray.locator('#node-config-tenant-broker-tabs a', { hasText: label }).click();
      await assertTranslated(tray, `the tenant-broker dialog (${label} tab)`);
    }
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
