import assert from 'node:assert/strict';
import net from 'node:net';
import { request } from 'undici';
import { engineFixture, startEngine } from '../helpers/engine';
import { HttpSink } from '../helpers/http-sink';
import { connackCode } from '../helpers/mqtt';

const basic = (user: string, password: string) => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

/** MQTT publishes over plain HTTP, with real requests (undici, and raw bytes where a client would refuse). */
describe('HTTP publish adapter', () => {
  const fixture = engineFixture({ httpPublish: { corsOrigins: ['https://app.example'] } });
  const base = () => `http://127.0.0.1:${fixture.engine.addresses.ws!.port}`;

  async function post(path: string, body: string | Buffer, auth: string | null = basic('globex', 'globex-pw'), headers: Record<string, string> = {}) {
    const res = await request(base() + path, { method: 'POST', body, headers: { ...(auth ? { authorization: auth } : {}), ...headers } });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, json: text ? (JSON.parse(text) as { status: string; error: string }) : null };
  }

  /** A raw request, for what undici would encode or refuse. */
  function raw(lines: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(fixture.engine.addresses.ws!.port, '127.0.0.1');
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
      socket.write(lines);
    });
  }

  it('publishes in the login\'s own view, as QoS 0 or 1, retained on request, with client id "http"', async () => {
    const own = await fixture.as('globex');
    await own.subscribe('#', 1);
    const flow: Array<[string, string | null]> = [];
    await fixture.engine.host.subscribe('globex', 'sensors/#', (m) => flow.push([m.topic, m.clientId]));
    assert.equal((await post('/publish/sensors/temp?qos=1&retain=1', '21.5')).status, 204);
    const got = await own.waitFor((m) => m.payload === '21.5');
    assert.deepEqual([got.topic, got.qos], ['sensors/temp', 1]);
    const later = await fixture.as('globex');
    await later.subscribe('sensors/temp', 1);
    assert.equal((await later.waitFor(() => true)).retain, true);
    while (flow.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(flow[0], ['sensors/temp', 'http']);
    // a prefix tenant writes its namespace itself, exactly as over MQTT
    assert.equal((await post('/publish/acme/x', 'a', basic('acme', 'acme-pw'))).status, 204);
    assert.equal((await post('/publish/globex/x', 'a', basic('acme', 'acme-pw'))).status, 403);
  });

  it('answers 401 with WWW-Authenticate, 400 for wildcards, U+0000, dot levels and qos=2, 404, 405, 413 before reading', async () => {
    const wrong = await post('/publish/x', 'a', basic('globex', 'nope'));
    assert.equal(wrong.status, 401);
    assert.match(String(wrong.headers['www-authenticate']), /^Basic realm=/);
    assert.equal((await post('/publish/x', 'a', null)).status, 401);
    for (const path of ['/publish/a/%2B', '/publish/a/%23', '/publish/a/%00', '/publish/x?qos=2', '/publish/a%ZZ']) {
      const reply = await post(path, 'a');
      assert.equal(reply.status, 400, path);
      assert.equal(reply.json?.status, 'error');
    }
    // as a client that does not resolve dot segments sends them (undici would)
    for (const path of ['/publish/a/%2e%2e/b', '/publish/a/../b', '/publish/./x']) {
      assert.match(await raw(`POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic('globex', 'globex-pw')}\r\nContent-Length: 1\r\nConnection: close\r\n\r\na`), /^HTTP\/1.1 400/, path);
    }
    assert.equal((await post('/elsewhere', 'a')).status, 404);
    const get = await request(base() + '/publish/x', { method: 'GET' });
    await get.body.text();
    assert.deepEqual([get.statusCode, get.headers.allow], [405, 'POST, OPTIONS']);
    await fixture.engine.host.registry.updateTenant('globex', { maxPayloadBytes: 10 });
    // the Content-Length alone decides: no body is sent at all
    const answer = await raw(`POST /publish/x HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic('globex', 'globex-pw')}\r\nContent-Length: 1000000\r\nConnection: close\r\n\r\n`);
    assert.match(answer, /^HTTP\/1.1 413/);
  });

  it('passes the checks of an MQTT publish: a device\'s rules, reserved topics, message policies, the rate', async () => {
    const { registry } = fixture.engine.host;
    await registry.devices.setRole('globex', 'r', [{ permission: 'allow', action: 'publish', topic: 'mine/#' }, { permission: 'deny', action: 'all', topic: '#' }], 'add');
    await registry.devices.add({ tenant: 'globex', username: 'dev', password: 'dev-pw', roles: ['r'] });
    assert.equal((await post('/publish/mine/a', 'x', basic('dev', 'dev-pw'))).status, 204);
    assert.equal((await post('/publish/other', 'x', basic('dev', 'dev-pw'))).status, 403);
    assert.equal((await post('/publish/$SYS/x', 'x')).status, 403);
    assert.equal((await post('/publish/$events/client/connected', 'x')).status, 403);
    registry.policies.add('globex', { topic_filter: 'strict/#', json_schema: { type: 'object' }, action: 'drop' });
    registry.policies.add('globex', { topic_filter: 'closing/#', max_payload_bytes: 1, action: 'close' });
    assert.equal((await post('/publish/strict/a', 'not json')).status, 204);
    assert.equal((await post('/publish/closing/a', 'too long')).status, 403);
    await registry.updateTenant('globex', { maxMsgsPerSec: 1 });
    // ten at once: the first pass, the next wait their turn, those past 5 s of waiting get 429
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => post(`/publish/r/${i}`, 'x')));
    const limited = replies.filter((r) => r.status === 429);
    assert.ok(limited.length > 0 && replies[0].status === 204, replies.map((r) => r.status).join());
    assert.ok(limited.every((r) => Number(r.headers['retry-after']) > 0));
  });

  it('shares the failed-login throttle with MQTT: wrong passwords over either lock both, 429 without hashing', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await post('/publish/acme/x', 'a', basic('acme', `wrong-${i}`))).status, 401);
    for (let i = 5; i < 10; i++) assert.equal(await connackCode(fixture.engine.mqttUrl, { username: 'acme', password: `wrong-${i}` }), 4);
    const before = fixture.engine.host.registry.scryptChecks;
    const locked = await post('/publish/acme/x', 'a', basic('acme', 'acme-pw'));
    assert.deepEqual([locked.status, locked.headers['retry-after']], [429, '60'], 'the right password, never verified: locked too');
    assert.equal(await connackCode(fixture.engine.mqttUrl, { username: 'acme', password: 'acme-pw' }), 5);
    assert.equal(fixture.engine.host.registry.scryptChecks, before, 'no hashing while locked');
    assert.equal((await post('/publish/sensors/x', 'a')).status, 204, 'another username is not locked');
  });

  it('answers CORS preflights for configured origins only', async () => {
    const preflight = (origin: string) => request(base() + '/publish/x', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
    const ok = await preflight('https://app.example');
    await ok.body.text();
    assert.deepEqual([ok.statusCode, ok.headers['access-control-allow-origin']], [204, 'https://app.example']);
    const no = await preflight('https://evil.example');
    await no.body.text();
    assert.equal(no.statusCode, 403);
  });

  it('reaches webhooks like any publish, with X-MQTT-Client-Id: http, and never another tenant', async () => {
    const sink = await HttpSink.start(() => ({ status: 204 }));
    try {
      fixture.engine.host.registry.addWebhook({ tenant: 'globex', topicFilter: 'globex/#', url: sink.url('/g') });
      const acme = await fixture.as('acme');
      await acme.subscribe('acme/#', 1);
      assert.equal((await post('/publish/acme/x', 'mounted away')).status, 204);
      const [hook] = await sink.waitFor(1);
      assert.deepEqual([hook.headers['x-mqtt-topic'], hook.headers['x-mqtt-client-id']], ['globex/acme/x', 'http']);
      await fixture.engine.host.publish('acme', { topic: 'sentinel', payload: 's' });
      await acme.waitFor((m) => m.payload === 's');
      assert.equal(acme.inbox.some((m) => m.payload === 'mounted away'), false);
    } finally {
      await sink.close();
    }
  });

  it('is off unless asked for: the listener keeps answering 426', async () => {
    const off = await startEngine();
    try {
      const res = await request(`http://127.0.0.1:${off.addresses.ws!.port}/publish/x`, { method: 'POST', body: 'x', headers: { authorization: basic('globex', 'globex-pw') } });
      await res.body.text();
      assert.equal(res.statusCode, 426);
    } finally {
      await off.stop();
    }
  });
});
