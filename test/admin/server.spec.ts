import assert from 'node:assert/strict';
import net from 'node:net';
import { AdminServer, TenantBrokerError } from '../../src';
import { isLoopbackHost } from '../../src/admin/admin-server';
import { connect } from '../helpers/mqtt';
import { request, startAdmin, type Reply, type RunningAdmin } from './helpers';

const LIMIT = 64 * 1024;

function assertError(reply: Reply, status: number, pattern?: RegExp): void {
  assert.equal(reply.status, status, reply.text);
  assert.equal(reply.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(reply.json.status, 'error');
  assert.equal(typeof reply.json.error, 'string');
  if (pattern) assert.match(reply.json.error, pattern);
}

/** Sends a request as raw bytes (what http.request would tidy up), resolves with the raw answer. */
function raw(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
  });
}

describe('admin API server', () => {
  describe('without a token, on loopback', () => {
    let admin: RunningAdmin;
    beforeEach(async () => {
      admin = await startAdmin();
    });
    afterEach(async () => {
      await admin.stop();
    });

    it('parses the body as JSON whatever the Content-Type says (curl -d sends a form type)', async () => {
      for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'application/octet-stream']) {
        const reply = await request(admin.port, 'POST', '/internal/tenant/kick', { raw: '{"username":"acme"}', headers: { 'Content-Type': type } });
        assert.equal(reply.text, '{"status":"ok","kicked":0}', type);
      }
      const untyped = await raw(admin.port, 'POST /internal/tenant/kick HTTP/1.1\r\nHost: localhost\r\nContent-Length: 21\r\nConnection: close\r\n\r\n{"username":"globex"}');
      assert.match(untyped, /^HTTP\/1\.1 200 /);
      assert.ok(untyped.endsWith('\r\n\r\n{"status":"ok","kicked":0}'));
    });

    it('answers a request that is not HTTP with a JSON 400', async () => {
      const answer = await raw(admin.port, 'HELLO THERE\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 400 /);
      assert.ok(answer.endsWith('\r\n\r\n{"status":"error","error":"the request is not valid HTTP"}'));
    });

    it('answers malformed JSON and non-object bodies with 400', async () => {
      assertError(await request(admin.port, 'POST', '/internal/tenant/kick', { raw: '{"username":' }), 400, /not valid JSON/);
      assertError(await request(admin.port, 'POST', '/internal/tenant/kick', { raw: 'username=acme', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }), 400, /JSON/);
      assertError(await request(admin.port, 'POST', '/internal/tenant/kick', { raw: '["acme"]' }), 400, /object/);
      assertError(await request(admin.port, 'POST', '/internal/tenant/kick', { raw: 'null' }), 400, /object/);
    });

    it('accepts a body of exactly 64 KiB and answers a larger one with 413, declared or chunked', async () => {
      const padded = (size: number) => {
        const json = '{"username":"acme"}';
        return json.slice(0, -1) + ' '.repeat(size - json.length) + '}';
      };
      assert.equal((await request(admin.port, 'POST', '/internal/tenant/kick', { raw: padded(LIMIT) })).text, '{"status":"ok","kicked":0}');
      assertError(await request(admin.port, 'POST', '/internal/tenant/kick', { raw: padded(LIMIT + 1) }), 413, /65536/);
      assertError(await request(admin.port, 'POST', '/internal/tenant/add', { raw: padded(4 * 1024 * 1024) }), 413);
      const chunked = await raw(
        admin.port,
        `POST /internal/tenant/kick HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n${[padded(LIMIT + 10)].map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join('')}0\r\n\r\n`,
      );
      assert.match(chunked, /^HTTP\/1\.1 413 /);
      assert.match(chunked, /"status":"error"/);
      // the server is still there for the next client
      assert.equal((await admin.get('/internal/tenants')).status, 200);
    });

    it('refuses requests from web pages (Origin) and DNS-rebound host names with 403', async () => {
      assertError(await admin.post('/internal/tenant/kick', { username: 'acme' }, { headers: { Origin: 'https://evil.example' } }), 403, /Origin/);
      assertError(await admin.get('/internal/tenants', { headers: { Host: `evil.example:${admin.port}` } }), 403, /evil\.example/);
      for (const host of [`localhost:${admin.port}`, `127.0.0.1:${admin.port}`, `[::1]:${admin.port}`, 'localhost']) {
        assert.equal((await admin.get('/internal/tenants', { headers: { Host: host } })).status, 200, host);
      }
    });

    it('uses JSON for every answer but /metrics, with status ok on success', async () => {
      const tenants = await admin.get('/internal/tenants');
      assert.equal(tenants.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(tenants.headers['cache-control'], 'no-store');
      assert.equal(tenants.json.status, 'ok');
    });

    it('releases its port on close, even with a client still connected', async () => {
      const port = admin.port;
      const idle = net.connect(port, '127.0.0.1');
      await new Promise((resolve) => idle.once('connect', resolve));
      await admin.server.close();
      const again = new AdminServer(admin.engine.host, { port });
      try {
        assert.equal((await again.start()).port, port);
        assert.equal((await request(port, 'GET', '/internal/tenants')).status, 200);
      } finally {
        await again.close();
        idle.destroy();
      }
    });

    it('releases the port when closed while still starting', async () => {
      const early = new AdminServer(admin.engine.host, { port: 0 });
      const started = early.start();
      const closing = early.close();
      const { port } = await started;
      await closing;
      const again = new AdminServer(admin.engine.host, { port });
      assert.equal((await again.start()).port, port);
      await again.close();
    });

    it('reports a port in use as errors.port-in-use', async () => {
      const second = new AdminServer(admin.engine.host, { port: admin.port });
      await assert.rejects(second.start(), (err: TenantBrokerError) => err.key === 'errors.port-in-use' && err.message.includes(String(admin.port)));
      await second.close();
    });
  });

  describe('with a token', () => {
    let admin: RunningAdmin;
    beforeEach(async () => {
      admin = await startAdmin({ token: 's3cret-token' });
    });
    afterEach(async () => {
      await admin.stop();
    });

    it('answers 401 without the token, with a wrong one or another scheme, and 200 with it, on every route', async () => {
      for (const path of ['/internal/stats', '/internal/tenants', '/metrics', '/internal/openapi.json', '/internal/nothing']) {
        const none = await request(admin.port, 'GET', path);
        assertError(none, 401, /Bearer/);
        assert.equal(none.headers['www-authenticate'], 'Bearer realm="tenant-broker"');
        assertError(await request(admin.port, 'GET', path, { token: 's3cret-tokeN' }), 401);
        assertError(await request(admin.port, 'GET', path, { token: 's3cret-token-and-more' }), 401);
        assertError(await request(admin.port, 'GET', path, { headers: { Authorization: 'Basic czNjcmV0LXRva2Vu' } }), 401);
      }
      assert.equal((await request(admin.port, 'POST', '/internal/tenant/kick', { raw: '{"username":"acme"}' })).status, 401);
      assert.equal((await admin.get('/internal/tenants')).status, 200);
      assert.equal((await admin.get('/metrics')).status, 200);
      assert.equal((await admin.post('/internal/tenant/kick', { username: 'acme' })).text, '{"status":"ok","kicked":0}');
      assert.equal((await request(admin.port, 'GET', '/internal/tenants', { headers: { Authorization: 'bearer s3cret-token' } })).status, 200);
    });

    it('checks the token before the body: an unauthenticated oversize body gets 401, not 413', async () => {
      assertError(await request(admin.port, 'POST', '/internal/tenant/add', { raw: 'x'.repeat(LIMIT + 1) }), 401);
    });

    it('lets browsers in with the token (the token is the protection then)', async () => {
      assert.equal((await admin.get('/internal/tenants', { headers: { Origin: 'https://dashboard.example' } })).status, 200);
    });
  });

  describe('binding', () => {
    it('refuses to start on a non-loopback address without a token', async () => {
      const engine = await startAdmin();
      try {
        for (const host of ['0.0.0.0', '::', '192.0.2.10', 'example.com']) {
          const server = new AdminServer(engine.engine.host, { host, port: 0 });
          await assert.rejects(server.start(), (err: TenantBrokerError) => err.key === 'errors.admin-token-required' && err.params.host === host);
          await server.close();
        }
      } finally {
        await engine.stop();
      }
    });

    it('serves on every interface with a token, and enforces it', async () => {
      const admin = await startAdmin({ host: '0.0.0.0', token: 'tok' });
      try {
        assert.equal((await request(admin.port, 'GET', '/internal/tenants')).status, 401);
        assert.equal((await admin.get('/internal/tenants')).status, 200);
      } finally {
        await admin.stop();
      }
    });

    it('knows loopback names and addresses', () => {
      for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', 'api.localhost', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(host), true, host);
      for (const host of ['0.0.0.0', '::', '', '10.0.0.1', '128.0.0.1', 'localhost.example.com', 'example.com', '::ffff:10.0.0.1']) assert.equal(isLoopbackHost(host), false, host);
    });
  });

  it('keeps working while clients disconnect mid-request', async () => {
    const admin = await startAdmin();
    try {
      const socket = net.connect(admin.port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write('POST /internal/tenant/add HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{"username":');
      socket.destroy();
      const device = await connect(admin.engine.mqttUrl, { username: 'acme', password: 'acme-pw' });
      assert.equal((await admin.post('/internal/tenant/kick', { username: 'acme' })).text, '{"status":"ok","kicked":1}');
      device.client.end(true);
    } finally {
      await admin.stop();
    }
  });
});
