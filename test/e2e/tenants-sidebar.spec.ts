import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser';
import { assertFillsDown, assertNothingClipped, assertReachable, assertTranslated, RAW_KEY, SIDEBAR_CONTENT, SWALLOWED_ERROR, topTray, traySettled } from '../helpers/editor-page';
import { connect, type TestClient } from '../helpers/mqtt';
import { deployFlows, eventually, startNodeRed, type NodeRedProcess } from '../helpers/node-red-process';
import { projectRoot } from '../helpers/package-install';
import { tempDir } from '../helpers/tmp';

const MODULE = 'node-red-contrib-tenant-broker';
const SCREENSHOTS = join(projectRoot, 'test-results', 'screenshots');
const BROKER_ID = 'sidebar-broker';

/** A realistic size: 20 tenants, 200 devices (105 of them in one tenant), three roles. */
const BIG = 'acme';
const LONG = 'customer-with-a-rather-long-name-0020.example';
const TENANTS = [BIG, ...Array.from({ length: 18 }, (_, i) => `tenant-${String(i + 2).padStart(2, '0')}`), LONG];
const BIG_DEVICES = Array.from({ length: 105 }, (_, i) => `acme-sensor-${String(i + 1).padStart(3, '0')}`);
const OTHER_DEVICES = TENANTS.slice(1).flatMap((tenant, t) => Array.from({ length: 5 }, (_, i) => ({ tenant, username: `dev-${String(t + 2).padStart(2, '0')}-${i + 1}` })));
const ROLES = {
  paho: [
    { permission: 'deny', action: 'subscribe', topic: 'test/nosubscribe' },
    { permission: 'allow', action: 'all', topic: '#' },
  ],
  reader: [{ permission: 'allow', action: 'subscribe', topic: '#', max_qos: 1 }],
  sensor: [
    { permission: 'allow', action: 'publish', topic: 'sensors/%u/#' },
    { permission: 'allow', action: 'subscribe', topic: 'cmd/%u/#' },
    { permission: 'deny', action: 'all', topic: '#' },
  ],
};

type TenantJson = { username: string; namespace: string; isolation: string; enabled: boolean; [field: string]: unknown };
type DeviceJson = { username: string; enabled: boolean; roles: string[]; client_id: string | null; connections: number };
type RoleJson = { name: string; rules: Array<{ permission: string; action: string; topic: string; max_qos?: number }> };
type ConnectionInfo = { host: string; mqtt_port: number; ws_port: number; ws_path: string; tls: boolean };
type EditorWindow = Window & {
  RED: { actions: { invoke(name: string): void }; settings: Record<string, unknown>; nodes: { node(id: string): unknown }; view: { importNodes(nodes: unknown[]): void } };
};

/** Runs `work` on every item, `width` at a time. */
async function inBatches<T>(items: T[], width: number, work: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(work));
}

/**
 * The Tenants sidebar in a real browser against a real Node-RED, at a
 * realistic size: tenants, devices, roles, live clients (real mqtt.js
 * clients) and connection details, every change made through the editor's
 * routes and checked there, screenshots of each view, nothing clipped, every
 * text translated.
 */
describe('e2e: the Tenants sidebar in headless Chromium', function () {
  this.timeout(180_000);

  let tmp: ReturnType<typeof tempDir>;
  let red: NodeRedProcess;
  let context: BrowserContext | undefined;
  let page: Page;
  let info: ConnectionInfo;
  const clients: TestClient[] = [];
  const pageErrors: string[] = [];
  const serverErrors: string[] = [];
  /** Requests to our routes that are meant to fail (a refused rule): not an editor error. */
  const expectedFailures: RegExp[] = [];

  const sidebar = () => page.locator(`${SIDEBAR_CONTENT} .tenant-broker-sidebar`);
  const api = <T>(path: string, init?: RequestInit & { status?: number }) => red.json<T>(`/tenant-broker/${BROKER_ID}${path}`, init);
  const post = (path: string, body: unknown, status = 201) => api(path, { method: 'POST', body: JSON.stringify(body), status });
  const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });

  function assertNoEditorErrors(): void {
    const errors = [...pageErrors.splice(0), ...serverErrors.splice(0)];
    assert.deepEqual(errors, [], 'the editor reported errors');
  }

  /** Opens one of our forms (a tray) by clicking `opener`, waits until it rests. */
  async function openForm(opener: Locator): Promise<Locator> {
    const before = await page.locator('.red-ui-tray').count();
    await opener.click();
    await page.waitForFunction((n) => document.querySelectorAll('.red-ui-tray').length > n, before);
    const tray = page.locator('.tenant-broker-form-tray').last();
    await tray.locator('.tenant-broker-form').waitFor({ state: 'visible' });
    await traySettled(page);
    return tray;
  }

  /** Presses the form's Save (or Add), and waits for the tray to close. */
  async function saveForm(tray: Locator): Promise<void> {
    await tray.locator('#tenant-broker-form-save').click();
    await tray.waitFor({ state: 'detached' });
  }

  async function openTenant(tenant: string): Promise<void> {
    const back = sidebar().locator('.tenant-broker-back');
    if (await back.isVisible()) await back.click();
    await sidebar().locator(`.tenant-broker-row[data-tenant="${tenant}"]`).click();
    await sidebar().locator('.tenant-broker-view-title', { hasText: tenant }).waitFor();
  }

  async function showSection(section: string): Promise<Locator> {
    await sidebar().locator(`a.tenant-broker-section[data-section="${section}"]`).click();
    const panel = sidebar().locator(`.tenant-broker-panel[data-section="${section}"]`);
    await panel.waitFor();
    return panel;
  }

  async function refreshSidebar(): Promise<void> {
    await sidebar().locator('.tenant-broker-refresh').click();
  }

  /**
   * A kicked connection leaves the broker's lists once its socket has closed,
   * which may come after the list was read again: read it again until `gone`.
   */
  async function refreshUntilGone(gone: Locator, what: string): Promise<void> {
    await eventually(what, async () => {
      if ((await gone.count()) === 0) return true;
      await refreshSidebar();
      return undefined;
    });
  }

  before(async function () {
    tmp = tempDir('tenant-broker-e2e-sidebar-');
    const userDir = tmp.file('userDir');
    mkdirSync(join(userDir, 'node_modules'), { recursive: true });
    symlinkSync(projectRoot, join(userDir, 'node_modules', MODULE), 'dir');
    writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true, dependencies: { [MODULE]: `file:${projectRoot}` } }, null, 2));
    mkdirSync(SCREENSHOTS, { recursive: true });

    red = await startNodeRed({ userDir });
    await deployFlows(red, [
      { id: 'sidebar-tab', type: 'tab', label: 'Sidebar' },
      { id: BROKER_ID, type: 'tenant-broker', name: 'plant broker', tcpPort: '0', tcpHost: '127.0.0.1', wsEnabled: true, wsPort: '0', wsHost: '127.0.0.1', wsPath: '/ws', database: 'tenant-broker.db', defaultIsolation: 'prefix' },
      { id: 'sidebar-out', type: 'tenant-out', z: 'sidebar-tab', name: '', broker: BROKER_ID, tenant: BIG, topic: 'cmd/all', qos: '', retain: '', x: 200, y: 100, wires: [] },
    ]);
    await eventually('the deployed broker', async () => ((await red.request(`/tenant-broker/${BROKER_ID}/tenants`)).ok ? true : undefined));
    info = await api<ConnectionInfo>('/connection-info');

    await post('/tenants', { username: BIG, password: 'acme-secret', isolation: 'mountpoint', namespace: 'tenants/acme' });
    await inBatches(TENANTS.slice(1), 4, (username) => post('/tenants', { username, password: `${username}-secret` }));
    for (const [name, rules] of Object.entries(ROLES)) await post(`/tenants/${BIG}/roles`, { name, rules });
    await inBatches(BIG_DEVICES, 4, (username) => post(`/tenants/${BIG}/devices`, { username, password: `${username}-pw`, roles: ['sensor'] }));
    await inBatches(OTHER_DEVICES, 4, ({ tenant, username }) => post(`/tenants/${encodeURIComponent(tenant)}/devices`, { username, password: `${username}-pw` }));

    context = await launchChromium(tmp.file('chromium-profile'));
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: red.url });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (err) => pageErrors.push(`${err.message}\n${err.stack ?? ''}`));
    page.on('console', (msg) => {
      const text = msg.text();
      if (SWALLOWED_ERROR.test(text) && /tenant/.test(text)) pageErrors.push(`console.${msg.type()}: ${text}`);
    });
    page.on('response', (res) => {
      const line = `${res.status()} ${res.request().method()} ${res.url()}`;
      if (res.status() >= 500 || (/tenant/.test(res.url()) && res.status() >= 400 && !expectedFailures.some((re) => re.test(line)))) serverErrors.push(line);
    });
    await page.goto(red.url + '/');
    // loaded: the deployed flow is on the canvas (the editor picks its sidebar tab while loading)
    await page.waitForFunction(() => Boolean((window as unknown as EditorWindow).RED?.nodes?.node?.('sidebar-out')), null, { timeout: 60_000 });
    await page.locator('#red-ui-palette-container-tenant_broker').waitFor();
    await page.locator('g[id="sidebar-out"] .red-ui-flow-node-status-label').waitFor();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      if (page) await page.screenshot({ path: join(SCREENSHOTS, `failed-sidebar-${this.currentTest.title.replace(/\W+/g, '-').slice(0, 60)}.png`) }).catch(() => undefined);
      if (red) console.log(`--- Node-RED output ---\n${red.output().slice(-6000)}`);
    }
    // a test that failed with a form open must not leave it in the next one's way
    for (let open = page ? await page.locator('.tenant-broker-form-tray').count() : 0; open > 0; open--) {
      await topTray(page).locator('#tenant-broker-form-cancel').click().catch(() => undefined);
      await page.waitForFunction((n) => document.querySelectorAll('.tenant-broker-form-tray').length < n, open).catch(() => undefined);
    }
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
    const left = [...pageErrors.splice(0), ...serverErrors.splice(0)];
    if (left.length) console.log(`--- editor errors ---\n${left.join('\n')}`);
  });

  after(async function () {
    await context?.close().catch(() => undefined);
    await red?.stop();
    tmp?.remove();
  });

  it('lists the broker\'s 20 tenants in the sidebar, filtered as you type, nothing clipped', async function () {
    await eventually('the Tenants sidebar shown', async () => {
      await page.evaluate(() => (window as unknown as EditorWindow).RED.actions.invoke('tenant-broker:show-tenants-tab'));
      return (await sidebar().isVisible()) ? true : undefined;
    });
    const rows = sidebar().locator('.tenant-broker-list .tenant-broker-row');
    await eventually('20 tenant rows', async () => ((await rows.count()) === 20 ? true : undefined));
    assert.equal(await sidebar().locator('.tenant-broker-sidebar-header select').inputValue(), BROKER_ID);
    assert.match(await sidebar().locator('.tenant-broker-summary').innerText(), /20/);
    // the list fills the sidebar and scrolls; its last row can be reached whole
    const list = sidebar().locator('.tenant-broker-list');
    const scrolls = await list.evaluate((el) => el.scrollHeight > el.clientHeight);
    assert.ok(scrolls, 'with 20 tenants the list should scroll in a 900 px window');
    await assertFillsDown(list, page.locator(SIDEBAR_CONTENT).filter({ has: page.locator('.tenant-broker-sidebar') }), 'the tenant list');
    await assertNothingClipped(sidebar(), 'the tenant list');
    await assertReachable(list, rows.last(), 'the last tenant');
    assert.equal(await rows.last().getAttribute('data-tenant'), 'tenant-19', 'tenants are listed by name');
    assert.equal(await list.locator(`.tenant-broker-row[data-tenant="${LONG}"] .tenant-broker-row-title`).getAttribute('title'), LONG, 'a long tenant name shows whole on hover');
    await list.evaluate((el) => el.scrollTo(0, 0));
    await assertTranslated(sidebar(), 'the tenant list');
    await shot('sidebar-tenants');

    await sidebar().locator('.tenant-broker-toolbar input[type="search"]').fill('tenant-1');
    await eventually('the filtered list', async () => ((await rows.locator('visible=true').count()) === 10 ? true : undefined));
    await sidebar().locator('.tenant-broker-toolbar input[type="search"]').fill('');
    assert.equal(await rows.locator('visible=true').count(), 20);
    assertNoEditorErrors();
  });

  it('shows a tenant\'s 105 devices in a list that scrolls; adds, edits, disables and kicks a device', async function () {
    await openTenant(BIG);
    const panel = await showSection('devices');
    const rows = panel.locator('.tenant-broker-list .tenant-broker-row');
    await eventually('105 device rows', async () => ((await rows.count()) === 105 ? true : undefined));
    assert.match(await panel.locator('.tenant-broker-summary').innerText(), /105/);
    assert.match(await sidebar().locator('.tenant-broker-facts').innerText(), /tenants\/acme/);
    await assertNothingClipped(sidebar(), 'the device list');
    await assertReachable(panel.locator('.tenant-broker-list'), rows.last(), 'the last device');
    await assertFillsDown(panel.locator('.tenant-broker-list'), page.locator(SIDEBAR_CONTENT).filter({ has: page.locator('.tenant-broker-sidebar') }), 'the device list');
    await assertTranslated(sidebar(), 'the device list');
    await panel.locator('.tenant-broker-list').evaluate((el) => el.scrollTo(0, 0));
    await shot('sidebar-devices');

    // add: a device with a password and a role
    let tray = await openForm(panel.locator('.tenant-broker-add-device'));
    await tray.locator('#tenant-broker-device-username').fill('acme-gateway');
    await tray.locator('#tenant-broker-device-password').fill('gateway-pw');
    await tray.locator('.red-ui-editableList-addButton').click();
    await tray.locator('.tenant-broker-role-select').last().selectOption('reader');
    await assertTranslated(tray, 'the device form');
    await assertNothingClipped(tray, 'the device form');
    await shot('device-form-add');
    await saveForm(tray);
    await panel.locator('.tenant-broker-row[data-device="acme-gateway"]').waitFor();
    let devices = (await api<{ devices: DeviceJson[] }>(`/tenants/${BIG}/devices`)).devices;
    assert.deepEqual(devices.find((d) => d.username === 'acme-gateway')?.roles, ['reader']);
    // the new device logs in with its own password
    const gateway = await connect(`mqtt://127.0.0.1:${info.mqtt_port}`, { username: 'acme-gateway', password: 'gateway-pw', clientId: 'gw-1' });
    clients.push(gateway);

    // kick: the row of a connected device has a kick button that closes its connection
    const sensor = await connect(`mqtt://127.0.0.1:${info.mqtt_port}`, { username: 'acme-sensor-007', password: 'acme-sensor-007-pw', clientId: 'sensor-7' });
    clients.push(sensor);
    const sensorClosed = new Promise<void>((resolve) => sensor.client.once('close', () => resolve()));
    await refreshSidebar();
    const sensorRow = panel.locator('.tenant-broker-row[data-device="acme-sensor-007"]');
    await sensorRow.locator('.tenant-broker-badge-live').waitFor();
    await sensorRow.locator('.tenant-broker-kick').click();
    await sensorClosed;
    await refreshUntilGone(sensorRow.locator('.tenant-broker-kick'), 'the kicked device shown without connections');

    // edit: disable it, bind its client id, give it a new password: its connection is closed
    const gatewayClosed = new Promise<void>((resolve) => gateway.client.once('close', () => resolve()));
    await refreshSidebar();
    tray = await openForm(panel.locator('.tenant-broker-row[data-device="acme-gateway"]'));
    assert.match(await tray.locator('.tenant-broker-form-facts').innerText(), /1 connected/);
    await tray.locator('#tenant-broker-device-enabled').uncheck();
    await tray.locator('#tenant-broker-device-client-id').fill('gw-1');
    await tray.locator('#tenant-broker-device-max-connections').fill('2');
    await assertNothingClipped(tray, 'the device form (edit)');
    await shot('device-form-edit');
    await saveForm(tray);
    await gatewayClosed;
    devices = (await api<{ devices: DeviceJson[] }>(`/tenants/${BIG}/devices`)).devices;
    const edited = devices.find((d) => d.username === 'acme-gateway');
    assert.equal(edited?.enabled, false);
    assert.equal(edited?.client_id, 'gw-1');
    await panel.locator('.tenant-broker-row[data-device="acme-gateway"] .tenant-broker-badge-off').waitFor();
    await assert.rejects(connect(`mqtt://127.0.0.1:${info.mqtt_port}`, { username: 'acme-gateway', password: 'gateway-pw', clientId: 'gw-1' }), (err: { code?: number }) => err.code === 5);

    // a bad value is refused with the server's reason, in the form, and nothing is lost
    tray = await openForm(panel.locator('.tenant-broker-row[data-device="acme-gateway"]'));
    await tray.locator('#tenant-broker-device-max-connections').fill('many');
    expectedFailures.push(/^400 PUT .*\/devices\/acme-gateway$/);
    await tray.locator('#tenant-broker-form-save').click();
    await tray.locator('.tenant-broker-form-error').waitFor({ state: 'visible' });
    assert.match(await tray.locator('.tenant-broker-form-error').innerText(), /max_connections/);
    await tray.locator('#tenant-broker-device-max-connections').fill('0');
    await tray.locator('#tenant-broker-device-enabled').check();
    await saveForm(tray);
    devices = (await api<{ devices: DeviceJson[] }>(`/tenants/${BIG}/devices`)).devices;
    assert.equal(devices.find((d) => d.username === 'acme-gateway')?.enabled, true);
    assertNoEditorErrors();
  });

  it('edits a role\'s rules as an ordered list; a bad rule is refused in place', async function () {
    await openTenant(BIG);
    const panel = await showSection('roles');
    await panel.locator('.tenant-broker-row[data-role="sensor"]').waitFor();
    assert.equal(await panel.locator('.tenant-broker-row').count(), 3);
    await assertNothingClipped(sidebar(), 'the role list');
    await assertTranslated(sidebar(), 'the role list');
    await shot('sidebar-roles');

    const tray = await openForm(panel.locator('.tenant-broker-row[data-role="sensor"]'));
    const rules = tray.locator('.tenant-broker-rules > li');
    assert.equal(await rules.count(), 3);
    assert.equal(await rules.nth(0).locator('.tenant-broker-rule-topic').inputValue(), 'sensors/%u/#');
    // a fourth rule whose filter is not one: "#" must be the last level
    await tray.locator('.red-ui-editableList-addButton').click();
    const added = rules.nth(3);
    await added.locator('.tenant-broker-rule-permission').selectOption('allow');
    await added.locator('.tenant-broker-rule-action').selectOption('publish');
    await added.locator('.tenant-broker-rule-topic').fill('status/#/%u');
    expectedFailures.push(/^400 PUT .*\/roles\/sensor$/);
    await tray.locator('#tenant-broker-form-save').click();
    const error = added.locator('.tenant-broker-rule-error');
    await error.waitFor({ state: 'visible' });
    assert.match(await error.innerText(), /rule 4/);
    assert.equal(await added.locator('.tenant-broker-rule-invalid').count(), 1, 'the refused rule is not marked');
    assert.equal(await tray.locator('.tenant-broker-form-error').isVisible(), false, 'the error belongs to the rule, not to the form');
    assert.equal(await rules.locator('.tenant-broker-rule-error:visible').count(), 1, 'only the refused rule shows an error');
    await assertNothingClipped(tray, 'the role form');
    await assertTranslated(tray, 'the role form');
    await shot('role-form-error');
    // the stored role is unchanged until the rules are valid
    let roles = (await api<{ roles: RoleJson[] }>(`/tenants/${BIG}/roles`)).roles;
    assert.equal(roles.find((r) => r.name === 'sensor')?.rules.length, 3);

    // corrected, and moved above the final deny (order is what decides): saved in that order
    await added.locator('.tenant-broker-rule-topic').fill('status/%u');
    assert.equal(await error.isVisible(), false, 'the error stays after the rule was changed');
    const handle = added.locator('.red-ui-editableList-item-handle');
    const target = rules.nth(2);
    const [from, to] = [await handle.boundingBox(), await target.boundingBox()];
    await page.mouse.move(from!.x + from!.width / 2, from!.y + from!.height / 2);
    await page.mouse.down();
    await page.mouse.move(from!.x + from!.width / 2, to!.y + 4, { steps: 12 });
    await page.mouse.move(from!.x + from!.width / 2, to!.y + 2, { steps: 4 });
    await page.mouse.up();
    await eventually('the moved rule', async () => ((await rules.nth(2).locator('.tenant-broker-rule-topic').inputValue()) === 'status/%u' ? true : undefined));
    await saveForm(tray);
    roles = (await api<{ roles: RoleJson[] }>(`/tenants/${BIG}/roles`)).roles;
    assert.deepEqual(roles.find((r) => r.name === 'sensor')?.rules.map((r) => r.topic), ['sensors/%u/#', 'cmd/%u/#', 'status/%u', '#']);
    assertNoEditorErrors();
  });

  it('lists the tenant\'s live clients with their subscriptions, and kicks one', async function () {
    const watcher = await connect(`mqtt://127.0.0.1:${info.mqtt_port}`, { username: BIG, password: 'acme-secret', clientId: 'e2e-watcher' });
    clients.push(watcher);
    await watcher.subscribe(['sensors/#', 'cmd/+/led']);
    const device = await connect(`ws://127.0.0.1:${info.ws_port}${info.ws_path}`, { username: 'acme-sensor-001', password: 'acme-sensor-001-pw', clientId: 'sensor-1' });
    clients.push(device);
    await device.subscribe('cmd/acme-sensor-001/#');
    await openTenant(BIG);
    const panel = await showSection('clients');
    const row = panel.locator('.tenant-broker-row[data-client-id="e2e-watcher"]');
    await row.waitFor();
    assert.deepEqual(await row.locator('.tenant-broker-subscriptions code').allInnerTexts(), ['sensors/#', 'cmd/+/led'], 'subscriptions as the client wrote them (mountpoint view)');
    const deviceRow = panel.locator('.tenant-broker-row[data-client-id="sensor-1"]');
    assert.match(await deviceRow.innerText(), /acme-sensor-001/);
    assert.match(await deviceRow.innerText(), /WebSocket/);
    await assertNothingClipped(sidebar(), 'the client list');
    await assertTranslated(sidebar(), 'the client list');
    await shot('sidebar-clients');

    const closed = new Promise<void>((resolve) => watcher.client.once('close', () => resolve()));
    await row.locator('.tenant-broker-kick').click();
    await closed;
    await refreshUntilGone(row, 'the kicked client gone from the list');
    assert.equal(await deviceRow.count(), 1, 'the other client stays');
    assertNoEditorErrors();
  });

  it('shows what a device needs to connect, and copies it', async function () {
    await openTenant(BIG);
    const panel = await showSection('connect');
    await panel.locator('.tenant-broker-connect-info dt').first().waitFor();
    await panel.locator('#tenant-broker-connect-login').selectOption('acme-sensor-002');
    const details = await panel.locator('.tenant-broker-connect-info').evaluate((dl) => {
      const out: Record<string, string> = {};
      const terms = dl.querySelectorAll('dt');
      terms.forEach((dt) => (out[(dt.textContent ?? '').trim()] = ((dt.nextElementSibling as HTMLElement).textContent ?? '').trim()));
      return out;
    });
    assert.equal(details.Host, '127.0.0.1');
    assert.equal(details['MQTT port'], String(info.mqtt_port));
    assert.equal(details['WebSocket URL'], `ws://127.0.0.1:${info.ws_port}/ws`);
    assert.equal(details.Username, 'acme-sensor-002');
    assert.equal(details['Topic namespace'], 'tenants/acme');
    assert.match(details.Topics, /without tenants\/acme\//);
    await assertNothingClipped(sidebar(), 'the connection details');
    await assertTranslated(sidebar(), 'the connection details');

    await panel.locator('.tenant-broker-copy').click();
    await panel.locator('.tenant-broker-copy-status', { hasText: 'Copied' }).waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    const expected = Object.entries(details).map(([label, value]) => `${label}: ${value}`).join('\n');
    assert.equal(copied, expected);
    await shot('sidebar-connect');
    // what was copied works: the device connects with it
    const device = await connect(`mqtt://${details.Host}:${details['MQTT port']}`, { username: details.Username, password: 'acme-sensor-002-pw' });
    clients.push(device);
    assertNoEditorErrors();
  });

  it('edits every field of a tenant: password, state, isolation, namespace and each limit', async function () {
    await openTenant('tenant-05');
    const tray = await openForm(sidebar().locator('.tenant-broker-edit-tenant'));
    const fields = await page.evaluate(() => (window as unknown as EditorWindow).RED.settings.tenantBrokerLimitFields as Array<{ column: string }>);
    assert.ok(fields.length >= 9, `the editor knows ${fields.length} limits`);
    for (const id of ['password', 'enabled', 'isolation', 'namespace', ...fields.map((f) => f.column)]) {
      const input = tray.locator(`#tenant-broker-tenant-${id}`);
      assert.equal(await input.count(), 1, `no field for ${id}`);
      assert.ok(await input.isVisible(), `the field for ${id} is not shown`);
      const label = await tray.locator(`label[for="tenant-broker-tenant-${id}"]`).innerText();
      assert.ok(label.trim() && !RAW_KEY.test(label), `the field for ${id} is labelled "${label}"`);
    }
    await assertNothingClipped(tray, 'the tenant form');
    await assertTranslated(tray, 'the tenant form');
    await shot('tenant-form');
    await tray.locator('#tenant-broker-tenant-max_msgs_per_sec').fill('50');
    await tray.locator('#tenant-broker-tenant-max_qos').selectOption('1');
    await tray.locator('#tenant-broker-tenant-allow_retain').uncheck();
    await tray.locator('#tenant-broker-tenant-denied_publish').selectOption('drop');
    await tray.locator('#tenant-broker-tenant-device_default_access').selectOption('deny');
    await tray.locator('#tenant-broker-tenant-isolation').selectOption('mountpoint');
    await tray.locator('#tenant-broker-tenant-namespace').fill('plants/tenant-05');
    await saveForm(tray);
    const tenant = (await api<{ tenants: TenantJson[] }>('/tenants')).tenants.find((t) => t.username === 'tenant-05')!;
    assert.deepEqual(
      { rate: tenant.max_msgs_per_sec, qos: tenant.max_qos, retain: tenant.allow_retain, denied: tenant.denied_publish, access: tenant.device_default_access, isolation: tenant.isolation, namespace: tenant.namespace, enabled: tenant.enabled },
      { rate: 50, qos: 1, retain: false, denied: 'drop', access: 'deny', isolation: 'mountpoint', namespace: 'plants/tenant-05', enabled: true },
    );
    await sidebar().locator('.tenant-broker-facts', { hasText: 'plants/tenant-05' }).waitFor();

    // a namespace that overlaps another tenant's is refused, and the form says why
    const again = await openForm(sidebar().locator('.tenant-broker-edit-tenant'));
    await again.locator('#tenant-broker-tenant-namespace').fill('tenants/acme/more');
    expectedFailures.push(/^409 PUT .*\/tenants\/tenant-05$/);
    await again.locator('#tenant-broker-form-save').click();
    await again.locator('.tenant-broker-form-error').waitFor({ state: 'visible' });
    assert.match(await again.locator('.tenant-broker-form-error').innerText(), /overlap/);
    await again.locator('#tenant-broker-form-cancel').click();
    await again.waitFor({ state: 'detached' });
    assertNoEditorErrors();
  });

  it('adds a tenant, which opens, and removes it after asking twice', async function () {
    await sidebar().locator('.tenant-broker-back').click();
    const tray = await openForm(sidebar().locator('.tenant-broker-add-tenant'));
    await tray.locator('#tenant-broker-tenant-username').fill('newcomer');
    await tray.locator('#tenant-broker-tenant-password').fill('newcomer-pw');
    await tray.locator('#tenant-broker-tenant-namespace').fill('tenants/newcomer');
    await assertNothingClipped(tray, 'the add-tenant form');
    await assertTranslated(tray, 'the add-tenant form');
    await shot('tenant-form-add');
    await saveForm(tray);
    await sidebar().locator('.tenant-broker-view-title', { hasText: 'newcomer' }).waitFor();
    const listed = (await api<{ tenants: TenantJson[] }>('/tenants')).tenants.find((t) => t.username === 'newcomer');
    assert.equal(listed?.namespace, 'tenants/newcomer');
    assert.equal(listed?.isolation, 'prefix', 'the broker\'s default isolation');

    const edit = await openForm(sidebar().locator('.tenant-broker-edit-tenant'));
    await edit.locator('#tenant-broker-form-remove').click();
    assert.equal(await edit.count(), 1, 'one click does not remove');
    await edit.locator('#tenant-broker-form-remove').click();
    await edit.waitFor({ state: 'detached' });
    await sidebar().locator('.tenant-broker-summary').waitFor();
    assert.equal((await api<{ tenants: TenantJson[] }>('/tenants')).tenants.some((t) => t.username === 'newcomer'), false);
    assertNoEditorErrors();
  });

  it('offers every broker of the flows, and says when one is not deployed yet', async function () {
    await page.evaluate(() => (window as unknown as EditorWindow).RED.view.importNodes([{ id: 'undeployed-broker', type: 'tenant-broker', name: 'next broker', tcpPort: '1999' }]));
    const select = sidebar().locator('.tenant-broker-sidebar-header select');
    await select.locator('option[value="undeployed-broker"]').waitFor({ state: 'attached' });
    expectedFailures.push(/^404 GET .*\/tenant-broker\/undeployed-broker\/tenants/);
    await select.selectOption('undeployed-broker');
    const notice = sidebar().locator('.tenant-broker-sidebar-notice');
    await notice.waitFor({ state: 'visible' });
    assert.match(await notice.innerText(), /deploy/i);
    await assertNothingClipped(sidebar(), 'the sidebar of an undeployed broker');
    await assertTranslated(sidebar(), 'the sidebar of an undeployed broker');
    await select.selectOption(BROKER_ID);
    await sidebar().locator('.tenant-broker-list .tenant-broker-row').first().waitFor();
    assert.equal(await notice.isVisible(), false);
    assertNoEditorErrors();
  });
});
