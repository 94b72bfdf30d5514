import assert from 'node:assert/strict';
import { closed, connackCode, connect, type TestClient } from '../helpers/mqtt';
import { until } from '../helpers/until';
import { startAdmin, type Reply, type RunningAdmin } from './helpers';

function assertError(reply: Reply, status: number, pattern?: RegExp): void {
  assert.equal(reply.status, status, reply.text);
  assert.deepEqual(Object.keys(reply.json).sort(), ['error', 'status']);
  assert.equal(reply.json.status, 'error');
  if (pattern) assert.match(reply.json.error, pattern);
}

const DEVICE_KEYS = ['client_id', 'connections', 'created_at', 'enabled', 'last_seen', 'max_connections', 'roles', 'tenant', 'updated_at', 'username'];
const CLIENT_KEYS = ['address', 'client_id', 'connected_since', 'login', 'messages_in', 'messages_out', 'provider', 'subscriptions', 'transport'];

/**
 * The admin API of issue 11 over real HTTP, against a real engine with real
 * MQTT clients: devices, roles, live clients and kicks, each tenant's calls
 * seeing only its own.
 */
describe('admin API: devices, roles and live clients', () => {
  let admin: RunningAdmin;
  const open: TestClient[] = [];

  beforeEach(async () => {
    admin = await startAdmin();
  });
  afterEach(async () => {
    for (const c of open.splice(0)) c.client.end(true);
    await admin.stop();
  });

  async function login(username: string, password: string, options: Record<string, unknown> = {}, url = admin.engine.mqttUrl): Promise<TestClient> {
    const c = await connect(url, { username, password, ...options });
    open.push(c);
    return c;
  }

  const addDevice = (body: Record<string, unknown>) => admin.post('/internal/device/add', { password: `${String(body.username)}-pw`, ...body });

  describe('devices', () => {
    it('POST /internal/device/add creates a device that logs in (201); the view has every field and never a hash', async () => {
      assert.equal((await admin.post('/internal/role/add', { tenant: 'globex', name: 'reader', rules: [{ permission: 'allow', action: 'subscribe', topic: '#' }] })).status, 201);
      const added = await admin.post('/internal/device/add', { tenant: 'globex', username: 'sensor-1', password: 's3cret', roles: ['reader'], client_id: 'sensor-1-id', max_connections: 2, enabled: true });
      assert.equal(added.status, 201, added.text);
      assert.equal(added.json.status, 'ok');
      assert.deepEqual(Object.keys(added.json.device).sort(), DEVICE_KEYS);
      assert.deepEqual(
        [added.json.device.tenant, added.json.device.username, added.json.device.enabled, added.json.device.roles, added.json.device.client_id, added.json.device.max_connections, added.json.device.connections, added.json.device.last_seen],
        ['globex', 'sensor-1', true, ['reader'], 'sensor-1-id', 2, 0, null],
      );
      assert.ok(!Number.isNaN(Date.parse(added.json.device.created_at)));
      assert.equal(await connackCode(admin.engine.mqttUrl, { username: 'sensor-1', password: 's3cret', clientId: 'sensor-1-id' }), 0);
      const list = await admin.get('/internal/devices?tenant=globex');
      assert.equal(list.status, 200);
      assert.doesNotMatch(list.text, /scrypt|hash|password|s3cret/);
      const [listed] = list.json.devices;
      assert.equal(listed.username, 'sensor-1');
      assert.ok(!Number.isNaN(Date.parse(listed.last_seen)), 'last_seen is set by the login');
    });

    it('GET /internal/devices shows live connection counts, and only the tenant asked for', async () => {
      await addDevice({ tenant: 'globex', username: 'g-dev' });
      await addDevice({ tenant: 'acme', username: 'a-dev' });
      await login('g-dev', 'g-dev-pw');
      await login('g-dev', 'g-dev-pw');
      const globex = (await admin.get('/internal/devices?tenant=globex')).json.devices;
      assert.deepEqual(globex.map((d: { username: string; connections: number }) => [d.username, d.connections]), [['g-dev', 2]]);
      const acme = (await admin.get('/internal/devices?tenant=acme')).json.devices;
      assert.deepEqual(acme.map((d: { username: string; connections: number }) => [d.username, d.connections]), [['a-dev', 0]]);
      assertError(await admin.get('/internal/devices'), 400, /tenant/);
      assertError(await admin.get('/internal/devices?tenant=nobody'), 404, /nobody/);
    });

    it('POST /internal/device/add: 400 for an unknown role naming it or a bad field, 409 for a taken name, 404 for an unknown tenant', async () => {
      assertError(await addDevice({ tenant: 'globex', username: 'd1', roles: ['ghost'] }), 400, /ghost/);
      assertError(await addDevice({ tenant: 'globex', username: 'd1', roles: 'ghost' }), 400, /roles/);
      assertError(await addDevice({ tenant: 'globex', username: 'd1', enabled: 'yes' }), 400, /enabled/);
      assertError(await addDevice({ tenant: 'globex', username: 'd1', max_connections: -1 }), 400, /max_connections/);
      assertError(await addDevice({ tenant: 'globex', username: 'd1', colour: 'red' }), 400, /unknown field "colour"/);
      assertError(await admin.post('/internal/device/add', { tenant: 'globex', username: 'd1' }), 400, /password/);
      assertError(await addDevice({ tenant: 'globex', username: 'bad/name' }), 400);
      assertError(await addDevice({ tenant: 'globex' }), 400, /username/);
      assertError(await addDevice({ username: 'd1' }), 400, /tenant/);
      assertError(await addDevice({ tenant: 'nobody', username: 'd1' }), 404, /nobody/);
      assertError(await addDevice({ tenant: 'globex', username: 'acme' }), 409, /taken/);
      assertError(await addDevice({ tenant: 'globex', username: 'root' }), 400, /reserved/);
      assert.equal((await addDevice({ tenant: 'globex', username: 'd1' })).status, 201);
      assertError(await addDevice({ tenant: 'acme', username: 'd1' }), 409, /taken/);
      assertError(await admin.post('/internal/tenant/add', { username: 'd1', password: 'x' }), 409);
    });

    it('POST /internal/device/update changes fields; disabling or a new password disconnects that device only', async () => {
      await admin.post('/internal/role/add', { tenant: 'globex', name: 'r1', rules: [] });
      await addDevice({ tenant: 'globex', username: 'd1' });
      await addDevice({ tenant: 'globex', username: 'd2' });
      const d1 = await login('d1', 'd1-pw');
      const d2 = await login('d2', 'd2-pw');
      const gone = closed(d1.client);
      const updated = await admin.post('/internal/device/update', { username: 'd1', password: 'new-pw', roles: ['r1'], max_connections: 3 });
      assert.equal(updated.status, 200, updated.text);
      assert.deepEqual([updated.json.device.roles, updated.json.device.max_connections], [['r1'], 3]);
      await gone;
      assert.equal(d2.client.connected, true);
      assert.equal(await connackCode(admin.engine.mqttUrl, { username: 'd1', password: 'd1-pw' }), 4);
      assert.equal(await connackCode(admin.engine.mqttUrl, { username: 'd1', password: 'new-pw' }), 0);
      const off = await admin.post('/internal/device/update', { username: 'd2', enabled: false });
      assert.equal(off.json.device.enabled, false);
      await closed(d2.client);
      assert.equal(await connackCode(admin.engine.mqttUrl, { username: 'd2', password: 'd2-pw' }), 5);
      const cleared = await admin.post('/internal/device/update', { username: 'd1', client_id: 'only-this' });
      assert.equal(cleared.json.device.client_id, 'only-this');
      assert.equal((await admin.post('/internal/device/update', { username: 'd1', client_id: null })).json.device.client_id, null);
      assertError(await admin.post('/internal/device/update', { username: 'nobody', enabled: true }), 404, /nobody/);
      assertError(await admin.post('/internal/device/update', { username: 'd1', roles: ['ghost'] }), 400, /ghost/);
      assertError(await admin.post('/internal/device/update', { username: 'd1', tenant: 'acme' }), 400, /unknown field "tenant"/);
      assertError(await admin.post('/internal/device/update', { enabled: true }), 400, /username/);
    });

    it('POST /internal/device/remove removes and disconnects it; unknown 404', async () => {
      await addDevice({ tenant: 'acme', username: 'd1' });
      const d1 = await login('d1', 'd1-pw');
      const gone = closed(d1.client);
      const reply = await admin.post('/internal/device/remove', { username: 'd1' });
      assert.deepEqual([reply.status, reply.json], [200, { status: 'ok' }]);
      await gone;
      assert.equal(await connackCode(admin.engine.mqttUrl, { username: 'd1', password: 'd1-pw' }), 4);
      assert.deepEqual((await admin.get('/internal/devices?tenant=acme')).json.devices, []);
      assertError(await admin.post('/internal/device/remove', { username: 'd1' }), 404);
      assertError(await admin.post('/internal/device/remove', { username: 'd1', force: true }), 400, /unknown field/);
    });

    it('POST /internal/device/kick disconnects every connection of that device, nothing else, and is audited naming it', async () => {
      await addDevice({ tenant: 'globex', username: 'd1' });
      await addDevice({ tenant: 'globex', username: 'd2' });
      const a = await login('d1', 'd1-pw', { clientId: 'a' });
      const b = await login('d1', 'd1-pw', { clientId: 'b' });
      const other = await login('d2', 'd2-pw', { clientId: 'a' });
      const owner = await login('globex', 'globex-pw', { clientId: 'a' });
      const gone = Promise.all([closed(a.client), closed(b.client)]);
      const reply = await admin.post('/internal/device/kick', { username: 'd1' });
      assert.equal(reply.text, '{"status":"ok","kicked":2}');
      await gone;
      assert.deepEqual([other.client.connected, owner.client.connected], [true, true]);
      assert.equal((await admin.post('/internal/device/kick', { username: 'd1' })).text, '{"status":"ok","kicked":0}');
      const audit = (await admin.get('/internal/audit?username=globex')).json.events.filter((e: { action: string }) => e.action === 'device.kick');
      assert.deepEqual(audit.map((e: { detail: unknown }) => e.detail), [{ device: 'd1', count: 0 }, { device: 'd1', count: 2 }]);
      assertError(await admin.post('/internal/device/kick', { username: 'nobody' }), 404);
      assertError(await admin.post('/internal/device/kick', {}), 400, /username/);
    });
  });

  describe('roles', () => {
    const rules = [
      { permission: 'deny', action: 'subscribe', topic: 'secret/#' },
      { permission: 'allow', action: 'all', topic: '#', max_qos: 1 },
    ];

    it('POST /internal/role/add (201), GET /internal/roles with rules and holders, role/update (200); rules apply at once', async () => {
      const added = await admin.post('/internal/role/add', { tenant: 'globex', name: 'field', rules });
      assert.equal(added.status, 201, added.text);
      assert.deepEqual(added.json, { status: 'ok', role: { tenant: 'globex', name: 'field', rules, devices: [] } });
      await addDevice({ tenant: 'globex', username: 'd1', roles: ['field'] });
      const list = await admin.get('/internal/roles?tenant=globex');
      assert.deepEqual(list.json.roles, [{ tenant: 'globex', name: 'field', rules, devices: ['d1'] }]);
      assert.deepEqual((await admin.get('/internal/roles?tenant=acme')).json.roles, []);
      const d1 = await login('d1', 'd1-pw');
      assert.deepEqual(await d1.subscribe(['secret/x', 'open/x'], 2), [128, 1]);
      const updated = await admin.post('/internal/role/update', { tenant: 'globex', name: 'field', rules: [{ permission: 'allow', action: 'all', topic: '#' }] });
      assert.equal(updated.status, 200);
      assert.deepEqual(updated.json.role.devices, ['d1']);
      assert.deepEqual(await d1.subscribe('secret/x', 2), [2]);
      assertError(await admin.get('/internal/roles'), 400, /tenant/);
      assertError(await admin.get('/internal/roles?tenant=nobody'), 404);
    });

    it('refuses adding an existing name (409), a bad rule naming it (400), an unknown role or tenant (404)', async () => {
      await admin.post('/internal/role/add', { tenant: 'globex', name: 'field', rules });
      assertError(await admin.post('/internal/role/add', { tenant: 'globex', name: 'field', rules }), 409, /field/);
      assert.equal((await admin.post('/internal/role/add', { tenant: 'acme', name: 'field', rules })).status, 201, 'role names are per tenant');
      assertError(await admin.post('/internal/role/add', { tenant: 'globex', name: 'bad', rules: [rules[0], { permission: 'allow', action: 'read', topic: '#' }] }), 400, /rule 2/);
      assertError(await admin.post('/internal/role/add', { tenant: 'globex', name: 'bad', rules: [{ permission: 'allow', action: 'all', topic: 'a/%x' }] }), 400, /rule 1/);
      assertError(await admin.post('/internal/role/add', { tenant: 'globex', name: 'bad', rules: 'all' }), 400, /rules/);
      assertError(await admin.post('/internal/role/add', { tenant: 'globex', name: 'bad' }), 400, /rules/);
      assertError(await admin.post('/internal/role/add', { tenant: 'globex', name: 'no/slash', rules: [] }), 400, /role name/);
      assertError(await admin.post('/internal/role/add', { tenant: 'nobody', name: 'x', rules: [] }), 404);
      assertError(await admin.post('/internal/role/update', { tenant: 'globex', name: 'ghost', rules: [] }), 404, /ghost/);
      assertError(await admin.post('/internal/role/add', { tenant: 'globex', name: 'x', rules: [], extra: 1 }), 400, /unknown field/);
    });

    it('audits a denial by a device\'s rules naming the device', async () => {
      await admin.post('/internal/role/add', { tenant: 'globex', name: 'field', rules });
      await addDevice({ tenant: 'globex', username: 'd1', roles: ['field'] });
      const d1 = await login('d1', 'd1-pw', { clientId: 'c1' });
      assert.deepEqual(await d1.subscribe('secret/x', 1), [128]);
      const [denied] = (await admin.get('/internal/audit?username=globex')).json.events.filter((e: { action: string }) => e.action === 'subscribe.denied');
      assert.deepEqual([denied.detail.login, denied.detail.clientId, denied.detail.filter, denied.detail.reason], ['d1', 'c1', 'secret/x', 'rule-denied']);
    });

    it('POST /internal/role/remove: 409 while a device holds it, 200 after, 404 unknown', async () => {
      await admin.post('/internal/role/add', { tenant: 'globex', name: 'field', rules });
      await addDevice({ tenant: 'globex', username: 'd1', roles: ['field'] });
      assertError(await admin.post('/internal/role/remove', { tenant: 'globex', name: 'field' }), 409, /d1/);
      await admin.post('/internal/device/update', { username: 'd1', roles: [] });
      assert.deepEqual((await admin.post('/internal/role/remove', { tenant: 'globex', name: 'field' })).json, { status: 'ok' });
      assertError(await admin.post('/internal/role/remove', { tenant: 'globex', name: 'field' }), 404);
      assertError(await admin.post('/internal/role/remove', { tenant: 'nobody', name: 'field' }), 404, /nobody/);
      assertError(await admin.post('/internal/role/remove', { tenant: 'globex' }), 400, /name/);
    });
  });

  describe('live clients', () => {
    it('GET /internal/clients lists each connection: client id, login, transport, address, since, subscriptions as written, messages in and out', async () => {
      await addDevice({ tenant: 'globex', username: 'd1' });
      const owner = await login('globex', 'globex-pw', { clientId: 'owner-1' });
      await owner.subscribe(['sensors/+', 'cmd/#'], 1);
      const device = await login('d1', 'd1-pw', { clientId: 'dev-1' }, admin.engine.wsUrl);
      await device.publish('sensors/t', '21', { qos: 1 });
      await device.publish('sensors/h', '40', { qos: 1 });
      await owner.waitFor((m) => m.topic === 'sensors/h');
      const reply = await admin.get('/internal/clients?tenant=globex');
      assert.equal(reply.status, 200);
      const byId = Object.fromEntries(reply.json.clients.map((c: { client_id: string }) => [c.client_id, c]));
      assert.deepEqual(Object.keys(byId).sort(), ['dev-1', 'owner-1']);
      for (const c of reply.json.clients) assert.deepEqual(Object.keys(c).sort(), CLIENT_KEYS);
      const o = byId['owner-1'];
      // the mountpoint tenant's filters as its client wrote them, not as mounted (globex/sensors/+)
      assert.deepEqual([o.login, o.provider, o.transport, o.subscriptions, o.messages_in, o.messages_out], ['globex', 'registry', 'tcp', ['sensors/+', 'cmd/#'], 0, 2]);
      assert.match(o.address, /127\.0\.0\.1/);
      assert.ok(!Number.isNaN(Date.parse(o.connected_since)));
      const d = byId['dev-1'];
      assert.deepEqual([d.login, d.transport, d.subscriptions, d.messages_in, d.messages_out], ['d1', 'ws', [], 2, 0]);
    });

    it('a prefix tenant\'s subscriptions are listed as written; an unsubscribe removes one', async () => {
      const c = await login('acme', 'acme-pw', { clientId: 'a1' });
      await c.subscribe(['acme/x/#', 'acme/y'], 0);
      await new Promise<void>((resolve, reject) => c.client.unsubscribe('acme/y', (err) => (err ? reject(err) : resolve())));
      const [listed] = (await admin.get('/internal/clients?tenant=acme')).json.clients;
      assert.deepEqual(listed.subscriptions, ['acme/x/#']);
    });

    it('a tenant\'s listing never shows another tenant\'s clients, devices or devices\' clients', async () => {
      await addDevice({ tenant: 'acme', username: 'a-dev' });
      await login('acme', 'acme-pw', { clientId: 'same' });
      await login('a-dev', 'a-dev-pw', { clientId: 'same' });
      await login('globex', 'globex-pw', { clientId: 'same' });
      const globex = (await admin.get('/internal/clients?tenant=globex')).json.clients;
      assert.deepEqual(globex.map((c: { login: string }) => c.login), ['globex']);
      const acme = (await admin.get('/internal/clients?tenant=acme')).json.clients;
      assert.deepEqual(acme.map((c: { login: string }) => c.login).sort(), ['a-dev', 'acme']);
      assert.deepEqual((await admin.get('/internal/devices?tenant=globex')).json.devices, []);
      assertError(await admin.get('/internal/clients'), 400, /tenant/);
      assertError(await admin.get('/internal/clients?tenant=nobody'), 404);
    });

    it('POST /internal/client/kick disconnects every connection with that id in the tenant (any login), none elsewhere', async () => {
      await addDevice({ tenant: 'acme', username: 'a-dev' });
      const own = await login('acme', 'acme-pw', { clientId: 'dup' });
      const dev = await login('a-dev', 'a-dev-pw', { clientId: 'dup' });
      const keep = await login('acme', 'acme-pw', { clientId: 'other' });
      const elsewhere = await login('globex', 'globex-pw', { clientId: 'dup' });
      const gone = Promise.all([closed(own.client), closed(dev.client)]);
      const reply = await admin.post('/internal/client/kick', { tenant: 'acme', client_id: 'dup' });
      assert.equal(reply.text, '{"status":"ok","kicked":2}');
      await gone;
      assert.deepEqual([keep.client.connected, elsewhere.client.connected], [true, true]);
      await until('the kicked are gone from the listing', async () => (await admin.get('/internal/clients?tenant=acme')).json.clients.length === 1);
      assert.equal((await admin.post('/internal/client/kick', { tenant: 'acme', client_id: 'dup' })).text, '{"status":"ok","kicked":0}');
      const [audited] = (await admin.get('/internal/audit?username=acme')).json.events.filter((e: { action: string; detail: { count: number } }) => e.action === 'client.kick' && e.detail.count === 2);
      assert.deepEqual(audited.detail, { clientId: 'dup', logins: ['acme', 'a-dev'], count: 2 });
      assertError(await admin.post('/internal/client/kick', { tenant: 'nobody', client_id: 'dup' }), 404);
      assertError(await admin.post('/internal/client/kick', { tenant: 'acme' }), 400, /client_id/);
      assertError(await admin.post('/internal/client/kick', { client_id: 'dup' }), 400, /tenant/);
    });
  });

  describe('tenants: namespace, device_default_access, denied_publish', () => {
    it('tenant/add and tenant/update take them, and the tenant view shows them', async () => {
      const added = await admin.post('/internal/tenant/add', { username: 'initech', password: 'pw', isolation: 'mountpoint', namespace: 'tenants/initech', device_default_access: 'deny', denied_publish: 'drop' });
      assert.equal(added.status, 201, added.text);
      assert.deepEqual([added.json.tenant.namespace, added.json.tenant.device_default_access, added.json.tenant.denied_publish], ['tenants/initech', 'deny', 'drop']);
      const root = await login('root', 'rootpw');
      await root.subscribe('tenants/#', 1);
      const device = await login('initech', 'pw');
      await device.publish('x', 'mounted', { qos: 1 });
      assert.equal((await root.waitFor((m) => m.payload === 'mounted')).topic, 'tenants/initech/x');
      const updated = await admin.post('/internal/tenant/update', { username: 'initech', device_default_access: 'allow', denied_publish: 'close' });
      assert.deepEqual([updated.json.tenant.device_default_access, updated.json.tenant.denied_publish], ['allow', 'close']);
      const acme = (await admin.get('/internal/tenants')).json.tenants.find((t: { username: string }) => t.username === 'acme');
      assert.deepEqual([acme.namespace, acme.device_default_access, acme.denied_publish], ['acme', 'allow', 'close']);
      assertError(await admin.post('/internal/tenant/add', { username: 'x', password: 'pw', device_default_access: 'maybe' }), 400, /device_default_access/);
      assertError(await admin.post('/internal/tenant/add', { username: 'x', password: 'pw', namespace: 'a/+' }), 400, /namespace/);
      assertError(await admin.post('/internal/tenant/update', { username: 'initech', namespace: 42 }), 400, /namespace/);
    });

    it('refuses an overlapping namespace with 409, on add and on update', async () => {
      assertError(await admin.post('/internal/tenant/add', { username: 'x', password: 'pw', namespace: 'acme/x' }), 409, /overlaps/);
      assertError(await admin.post('/internal/tenant/add', { username: 'x', password: 'pw', namespace: 'globex' }), 409, /overlaps/);
      assertError(await admin.post('/internal/tenant/update', { username: 'globex', namespace: 'acme/globex' }), 409, /overlaps/);
      assert.equal((await admin.post('/internal/tenant/add', { username: 'x', password: 'pw', namespace: 'acmex' })).status, 201, 'only at a level boundary');
    });
  });

  describe('/metrics', () => {
    it('has devices and their live connections per tenant, label tenant', async () => {
      await addDevice({ tenant: 'globex', username: 'd1' });
      await addDevice({ tenant: 'globex', username: 'd2' });
      await login('d1', 'd1-pw');
      await login('globex', 'globex-pw');
      const text = (await admin.get('/metrics')).text;
      assert.match(text, /^tenant_broker_devices\{tenant="globex"\} 2$/m);
      assert.match(text, /^tenant_broker_devices\{tenant="acme"\} 0$/m);
      assert.match(text, /^tenant_broker_device_connections\{tenant="globex"\} 1$/m);
      assert.match(text, /^tenant_broker_connections\{tenant="globex"\} 2$/m);
    });
  });
});
