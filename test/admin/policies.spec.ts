import assert from 'node:assert/strict';
import { closed, connect } from '../helpers/mqtt';
import { startAdmin, type RunningAdmin } from './helpers';

/** Message policies over the admin API, with real HTTP and a real device meeting them. */
describe('admin API: message policies', () => {
  let admin: RunningAdmin;
  beforeEach(async () => (admin = await startAdmin()));
  afterEach(async () => admin.stop());

  it('adds (201 with id), lists, changes and removes a policy, which applies at once', async () => {
    const added = await admin.post('/internal/policy/add', { tenant: 'globex', topic_filter: 'cmd/#', patterns: ['reboot'], action: 'close' });
    assert.equal(added.status, 201);
    assert.equal(added.json.status, 'ok');
    const id = added.json.id as number;
    assert.deepEqual((await admin.get('/internal/policies?tenant=globex')).json.policies, [{ id, tenant: 'globex', topic_filter: 'cmd/#', patterns: ['reboot'], action: 'close' }]);
    const device = await connect(admin.engine.mqttUrl, { username: 'globex', password: 'globex-pw' });
    const gone = closed(device.client);
    device.client.publish('cmd/now', 'please reboot');
    await gone;
    const changed = await admin.post('/internal/policy/update', { id, action: 'detect' });
    assert.deepEqual([changed.status, changed.json.policy.action], [200, 'detect']);
    const again = await connect(admin.engine.mqttUrl, { username: 'globex', password: 'globex-pw' });
    await again.publish('cmd/now', 'please reboot', { qos: 1 });
    assert.equal(again.client.connected, true);
    await again.end();
    assert.equal((await admin.post('/internal/policy/remove', { id })).status, 200);
    assert.deepEqual((await admin.get('/internal/policies?tenant=globex')).json.policies, []);
  });

  it('refuses a malformed schema, a catastrophic pattern, an unknown field or tenant with a clear JSON error', async () => {
    const refused = async (body: unknown, status: number, pattern: RegExp) => {
      const reply = await admin.post('/internal/policy/add', body);
      assert.equal(reply.status, status, JSON.stringify(reply.json));
      assert.equal(reply.json.status, 'error');
      assert.match(reply.json.error, pattern);
    };
    await refused({ tenant: 'globex', topic_filter: '#', json_schema: { type: 'nope' }, action: 'drop' }, 400, /json_schema/);
    await refused({ tenant: 'globex', topic_filter: '#', patterns: ['(a+)\\1'], action: 'drop' }, 400, /patterns\[0\]/);
    await refused({ tenant: 'globex', topic_filter: '#', patterns: ['x'], action: 'maybe' }, 400, /action/);
    await refused({ tenant: 'globex', topic_filter: '#', patterns: ['x'], action: 'drop', colour: 'red' }, 400, /unknown field/);
    await refused({ tenant: 'nobody', topic_filter: '#', patterns: ['x'], action: 'drop' }, 404, /nobody/);
    assert.equal((await admin.get('/internal/policies?tenant=nobody')).status, 404);
    assert.equal((await admin.post('/internal/policy/update', { id: 999, action: 'drop' })).status, 404);
  });

  it('describes the routes in the OpenAPI document', async () => {
    const doc = (await admin.get('/internal/openapi.json')).json;
    for (const path of ['/internal/policies', '/internal/policy/add', '/internal/policy/update', '/internal/policy/remove']) assert.ok(doc.paths[path], path);
  });
});
