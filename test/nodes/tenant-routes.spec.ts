import assert from 'node:assert/strict';
import { helper, brokerConfig, brokerOf, loadNode, nodeRedFixture } from '../helpers/nodes';
import { closed, connackCode, connect, type TestClient } from '../helpers/mqtt';

const tenantBroker = loadNode('tenant-broker');

/**
 * The editor's tenant management routes on Node-RED's admin API, in real
 * Node-RED: the same services and JSON as the admin API, the tenant named in
 * the path, and a device, role or client of another tenant unknown there.
 */
describe('tenant-broker editor routes: tenants, devices, roles, clients, connection info', function () {
  const fixture = nodeRedFixture();
  const open: TestClient[] = [];
  afterEach(() => {
    for (const c of open.splice(0)) c.client.end(true);
  });

  async function start(extra: Record<string, unknown> = {}) {
    await helper.load([tenantBroker], [brokerConfig('b1', fixture.tmp.file('r.db'), extra)], { b1: { rootPassword: 'rootpw' } });
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'acme', password: 'acme-pw', isolation: 'prefix' });
    await host.registry.addTenant({ username: 'globex', password: 'globex-pw', isolation: 'mountpoint' });
    return { host, url: `mqtt://127.0.0.1:${host.bound.mqtt!.port}`, request: helper.request() };
  }

  async function login(url: string, username: string, password: string, options: Record<string, unknown> = {}): Promise<TestClient> {
    const c = await connect(url, { username, password, ...options });
    open.push(c);
    return c;
  }

  it('tenants: the list has namespace, device_default_access, denied_publish and every limit; add and update take them', async () => {
    const { request } = await start();
    const added = await request.post('/tenant-broker/b1/tenants').send({ username: 'initech', password: 'pw', namespace: 'tenants/initech', device_default_access: 'deny', denied_publish: 'drop' });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.deepEqual([added.body.tenant.namespace, added.body.tenant.device_default_access, added.body.tenant.denied_publish], ['tenants/initech', 'deny', 'drop']);
    const list = await request.get('/tenant-broker/b1/tenants');
    const acme = list.body.tenants.find((t: { username: string }) => t.username === 'acme');
    for (const key of ['namespace', 'device_default_access', 'denied_publish', 'max_connections', 'max_msgs_per_sec', 'max_tenant_msgs_per_sec', 'max_payload_bytes', 'max_qos', 'allow_retain', 'max_subscriptions', 'connections']) assert.ok(key in acme, key);
    assert.equal((await request.post('/tenant-broker/b1/tenants').send({ username: 'x', password: 'pw', namespace: 'acme/x' })).status, 409);
    const moved = await request.put('/tenant-broker/b1/tenants/initech').send({ namespace: 'org/initech', device_default_access: 'allow' });
    assert.deepEqual([moved.status, moved.body.tenant.namespace, moved.body.tenant.device_default_access], [200, 'org/initech', 'allow']);
    assert.equal((await request.put('/tenant-broker/b1/tenants/initech').send({ username: 'acme', enabled: false })).status, 400, 'the body may not name another tenant');
  });

  it('devices: list, add (201), update, kick, remove; 400 for an unknown role naming it, 409 for a taken name, 404 across tenants', async () => {
    const { host, url, request } = await start();
    const base = '/tenant-broker/b1/tenants/globex/devices';
    assert.equal((await request.post('/tenant-broker/b1/tenants/globex/roles').send({ name: 'reader', rules: [{ permission: 'allow', action: 'subscribe', topic: '#' }] })).status, 201);
    const unknownRole = await request.post(base).send({ username: 'd1', password: 'pw', roles: ['ghost'] });
    assert.deepEqual([unknownRole.status, unknownRole.body.status], [400, 'error']);
    assert.match(unknownRole.body.error, /ghost/);
    const added = await request.post(base).send({ username: 'd1', password: 'pw', roles: ['reader'], client_id: null, max_connections: 2 });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.deepEqual([added.body.device.tenant, added.body.device.username, added.body.device.roles, added.body.device.connections], ['globex', 'd1', ['reader'], 0]);
    assert.equal((await request.post(base).send({ username: 'd1', password: 'pw' })).status, 409);
    assert.equal((await request.post(base).send({ tenant: 'acme', username: 'd9', password: 'pw' })).status, 400, 'the body may not name another tenant');
    assert.equal((await request.post('/tenant-broker/b1/tenants/nobody/devices').send({ username: 'd9', password: 'pw' })).status, 404);

    const a = await login(url, 'd1', 'pw');
    const b = await login(url, 'd1', 'pw');
    const list = await request.get(base);
    assert.deepEqual(list.body.devices.map((d: { username: string; connections: number }) => [d.username, d.connections]), [['d1', 2]]);
    assert.doesNotMatch(JSON.stringify(list.body), /scrypt|hash|password/);
    assert.deepEqual((await request.get('/tenant-broker/b1/tenants/acme/devices')).body.devices, []);

    // named under another tenant, a device is unknown: nothing changes
    assert.equal((await request.put('/tenant-broker/b1/tenants/acme/devices/d1').send({ enabled: false })).status, 404);
    assert.equal((await request.post('/tenant-broker/b1/tenants/acme/devices/d1/kick')).status, 404);
    assert.equal((await request.delete('/tenant-broker/b1/tenants/acme/devices/d1')).status, 404);
    assert.equal(host.registry.devices.get('d1')?.enabled, true);

    const gone = Promise.all([closed(a.client), closed(b.client)]);
    const kicked = await request.post(`${base}/d1/kick`);
    assert.deepEqual(kicked.body, { status: 'ok', kicked: 2 });
    await gone;
    const updated = await request.put(`${base}/d1`).send({ enabled: false, roles: [] });
    assert.deepEqual([updated.status, updated.body.device.enabled, updated.body.device.roles], [200, false, []]);
    assert.equal(await connackCode(url, { username: 'd1', password: 'pw' }), 5);
    assert.equal((await request.put(`${base}/d1`).send({ username: 'd2' })).status, 400);
    assert.deepEqual((await request.delete(`${base}/d1`)).body, { status: 'ok' });
    assert.equal((await request.delete(`${base}/d1`)).status, 404);
  });

  it('roles: list with holders, add (201), update, remove; 400 naming a bad rule, 409 for an existing name or a role in use, 404 unknown', async () => {
    const { request } = await start();
    const base = '/tenant-broker/b1/tenants/globex/roles';
    const rules = [{ permission: 'deny', action: 'publish', topic: 'cmd/#' }, { permission: 'allow', action: 'all', topic: '#' }];
    const added = await request.post(base).send({ name: 'field', rules });
    assert.deepEqual([added.status, added.body.role], [201, { tenant: 'globex', name: 'field', rules, devices: [] }]);
    assert.equal((await request.post(base).send({ name: 'field', rules })).status, 409);
    const bad = await request.post(base).send({ name: 'bad', rules: [rules[0], { permission: 'maybe', action: 'all', topic: '#' }] });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /rule 2/);
    await request.post('/tenant-broker/b1/tenants/globex/devices').send({ username: 'd1', password: 'pw', roles: ['field'] });
    assert.deepEqual((await request.get(base)).body.roles.map((r: { name: string; devices: string[] }) => [r.name, r.devices]), [['field', ['d1']]]);
    assert.deepEqual((await request.get('/tenant-broker/b1/tenants/acme/roles')).body.roles, []);
    const updated = await request.put(`${base}/field`).send({ rules: rules.slice(1) });
    assert.deepEqual([updated.status, updated.body.role.rules], [200, rules.slice(1)]);
    assert.equal((await request.put(`${base}/ghost`).send({ rules })).status, 404);
    assert.equal((await request.put(`${base}/field`).send({ name: 'other', rules })).status, 400);
    const inUse = await request.delete(`${base}/field`);
    assert.equal(inUse.status, 409);
    assert.match(inUse.body.error, /d1/);
    await request.put('/tenant-broker/b1/tenants/globex/devices/d1').send({ roles: [] });
    assert.deepEqual((await request.delete(`${base}/field`)).body, { status: 'ok' });
    assert.equal((await request.delete(`${base}/field`)).status, 404);
  });

  it('clients: live connections of one tenant as the clients know them, and kick by client id in that tenant only', async () => {
    const { url, request } = await start();
    await request.post('/tenant-broker/b1/tenants/globex/devices').send({ username: 'd1', password: 'pw' });
    const own = await login(url, 'globex', 'globex-pw', { clientId: 'dup' });
    await own.subscribe('sensors/+', 1);
    const dev = await login(url, 'd1', 'pw', { clientId: 'dup' });
    await dev.publish('sensors/t', '1', { qos: 1 });
    await own.waitFor((m) => m.topic === 'sensors/t');
    const elsewhere = await login(url, 'acme', 'acme-pw', { clientId: 'dup' });
    const list = await request.get('/tenant-broker/b1/tenants/globex/clients');
    assert.equal(list.status, 200);
    const view = list.body.clients.map((c: { client_id: string; login: string; subscriptions: string[]; messages_in: number; messages_out: number }) => [c.client_id, c.login, c.subscriptions, c.messages_in, c.messages_out]);
    assert.deepEqual(view, [['dup', 'globex', ['sensors/+'], 0, 1], ['dup', 'd1', [], 1, 0]]);
    const gone = Promise.all([closed(own.client), closed(dev.client)]);
    const kicked = await request.post('/tenant-broker/b1/tenants/globex/clients/kick').send({ client_id: 'dup' });
    assert.deepEqual(kicked.body, { status: 'ok', kicked: 2 });
    await gone;
    assert.equal(elsewhere.client.connected, true);
    assert.equal((await request.post('/tenant-broker/b1/tenants/globex/clients/kick').send({})).status, 400);
    assert.equal((await request.get('/tenant-broker/b1/tenants/nobody/clients')).status, 404);
  });

  it('connection-info: the bound host and ports, the WebSocket path and TLS', async () => {
    const { host, request } = await start();
    const info = await request.get('/tenant-broker/b1/connection-info');
    assert.equal(info.status, 200);
    assert.deepEqual(info.body, { status: 'ok', host: '127.0.0.1', mqtt_port: host.bound.mqtt!.port, ws_port: host.bound.ws!.port, ws_path: '/ws', tls: false });
    assert.equal((await request.get('/tenant-broker/nope/connection-info')).status, 404);
  });

  it('connection-info: for listeners bound to every interface, the host the editor was reached at', async () => {
    const { request } = await start({ tcpHost: '0.0.0.0', wsEnabled: false });
    const info = await request.get('/tenant-broker/b1/connection-info');
    assert.deepEqual([info.body.host, info.body.ws_port, info.body.ws_path], ['127.0.0.1', null, null]);
  });
});
