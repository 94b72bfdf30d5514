import assert from 'node:assert/strict';
import { ROUTE_KEYS } from '../../src/admin/route-keys';
import { startAdmin, type RunningAdmin } from './helpers';

describe('GET /internal/openapi.json', () => {
  let admin: RunningAdmin;
  before(async () => {
    admin = await startAdmin();
  });
  after(async () => {
    await admin.stop();
  });

  it('describes every route the server answers, and nothing else', async () => {
    const reply = await admin.get('/internal/openapi.json');
    assert.equal(reply.status, 200);
    const doc = reply.json as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    assert.match(doc.openapi, /^3\./);
    const described = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    assert.deepEqual(described.sort(), [...ROUTE_KEYS].sort());
    for (const key of ROUTE_KEYS) {
      assert.equal(ROUTE_KEYS.filter((k) => k === key).length, 1);
      const [method, path] = key.split(' ');
      // each route is really there: anything but 404 on the right method, 405 on the other
      const other = method === 'GET' ? 'POST' : 'GET';
      assert.equal((await (other === 'GET' ? admin.get(path) : admin.post(path, {}))).status, 405, key);
      const ok = Object.keys(doc.paths[path][method.toLowerCase()].responses).find((s) => s.startsWith('2'));
      assert.ok(ok, `${key} documents its success`);
    }
  });

  it('resolves every $ref to a schema it defines', async () => {
    const doc = (await admin.get('/internal/openapi.json')).json as { components: { schemas: Record<string, unknown> } };
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
    assert.ok(refs.length > 10);
    for (const ref of refs) assert.ok(ref in doc.components.schemas, ref);
  });
});
