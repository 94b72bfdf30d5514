import assert from 'node:assert/strict';
import { AdminRoutes } from '../../src/admin/routes';
import { startEngine, type RunningEngine } from '../helpers/engine';

/** AdminRoutes without a socket: a request in, a status and a body out. */
describe('admin routes, called directly', () => {
  let engine: RunningEngine;
  let routes: AdminRoutes;
  before(async () => {
    engine = await startEngine();
    routes = new AdminRoutes(engine.host);
  });
  after(async () => {
    await engine.stop();
  });

  it('answers with a status and JSON, never throwing', async () => {
    assert.deepEqual(await routes.handle({ method: 'POST', url: '/internal/tenant/kick', body: '{"username":"acme"}' }), { status: 200, json: { status: 'ok', kicked: 0 } });
    assert.deepEqual(await routes.handle({ method: 'POST', url: '/internal/tenant/kick', body: Buffer.from('{"username":"nobody"}') }), {
      status: 404,
      json: { status: 'error', error: 'no tenant named "nobody"' },
    });
    assert.equal((await routes.handle({ method: 'POST', url: '/internal/tenant/kick', body: '{' })).status, 400);
    assert.equal((await routes.handle({ method: 'POST', url: '/internal/reload' })).status, 200);
    assert.deepEqual(await routes.handle({ method: 'DELETE', url: '/internal/tenants' }), {
      status: 405,
      headers: { Allow: 'GET' },
      json: { status: 'error', error: 'DELETE is not allowed on /internal/tenants; use GET' },
    });
    assert.equal((await routes.handle({ method: 'GET', url: '/internal/tenants/acme' })).status, 404);
  });

  it('reads query parameters from the URL and ignores a GET body', async () => {
    const reply = await routes.handle({ method: 'GET', url: '/internal/topics?username=globex&limit=5', body: 'not json' });
    assert.deepEqual(reply, { status: 200, json: { status: 'ok', username: 'globex', topics: [], other: { topics: 0, messages: 0, bytes: 0 } } });
  });

  it('serves /metrics as text', async () => {
    const reply = await routes.handle({ method: 'GET', url: '/metrics' });
    assert.ok('text' in reply);
    assert.equal(reply.contentType, 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(reply.text, /^tenant_broker_connections\{tenant="acme"\} 0$/m);
  });
});
