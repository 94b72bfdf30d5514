import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startEngine, type RunningEngine } from '../helpers/engine';
import { closed, connackCode, connect, type TestClient } from '../helpers/mqtt';
import { connectPacket, rawConnect } from '../helpers/raw-mqtt';
import { until } from '../helpers/until';

const SECRET = 'a-test-secret-of-enough-length-123';

async function sign(claims: Record<string, unknown>, options: { secret?: string; expiresIn?: number } = {}): Promise<string> {
  const { SignJWT } = await import('jose');
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (options.expiresIn !== undefined) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + options.expiresIn);
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

/** A real auth service on 127.0.0.1: each test sets how it answers. */
class AuthService {
  answer: (body: Record<string, unknown>) => { status: number; body: string; delayMs?: number } = () => ({ status: 200, body: '{"result":"ignore"}' });
  requests: Array<Record<string, unknown>> = [];
  inFlight = 0;
  maxInFlight = 0;
  private server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      const body = JSON.parse(data) as Record<string, unknown>;
      this.requests.push(body);
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      const out = this.answer(body);
      setTimeout(() => {
        this.inFlight--;
        res.writeHead(out.status, { 'content-type': 'application/json' }).end(out.body);
      }, out.delayMs ?? 0);
    });
  });
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/auth`;
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('authentication providers', () => {
  let engine: RunningEngine;
  const service = new AuthService();
  const open: TestClient[] = [];
  let url: string;

  before(async () => {
    url = await service.start();
  });
  after(() => service.close());
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.end().catch(() => undefined)));
    await engine?.stop();
    // a slow answer of an earlier test is still out: the next test counts from zero
    await until('the auth service idle', () => service.inFlight === 0);
    service.requests = [];
    service.maxInFlight = 0;
  });

  async function start(auth: Record<string, unknown>) {
    engine = await startEngine({ auth: { providers: [{ kind: 'jwt', secret: SECRET, clockToleranceSeconds: 0 }, { kind: 'http', url, timeoutMs: 300, maxConcurrent: 2 }], ...auth } as never });
    await engine.host.registry.devices.add({ tenant: 'globex', username: 'globex-meter', password: 'meter-pw-123' });
    engine.host.registry.devices.setRole('globex', 'read-only', [{ permission: 'allow', action: 'subscribe', topic: '#' }, { permission: 'deny', action: 'all', topic: '#' }], 'add');
  }
  const login = async (username: string, password: string, extra: Record<string, unknown> = {}) => {
    const c = await connect(engine.mqttUrl, { username, password, ...extra });
    open.push(c);
    return c;
  };

  describe('JWT', () => {
    beforeEach(() => start({}));

    it('admits a token into its tenant as the device named by sub; a wrong key, an expired or future token gets 5, a non-token password 4', async () => {
      const watcher = await login('globex', 'globex-pw');
      await watcher.subscribe('#', 0);
      const device = await login('anything', await sign({ tenant: 'globex', sub: 'sensor-7' }));
      await device.publish('sensors/t', '21');
      const got = await watcher.waitFor((m) => m.payload === '21');
      assert.equal(got.topic, 'sensors/t');
      const listed = engine.host.live.list('globex').find((c) => c.login === 'sensor-7');
      assert.equal(listed?.provider, 'jwt');
      assert.equal(await connackCode(engine.mqttUrl, { username: 'x', password: await sign({ tenant: 'globex' }, { secret: 'another-secret-of-enough-length' }) }), 5);
      assert.equal(await connackCode(engine.mqttUrl, { username: 'x', password: await sign({ tenant: 'globex' }, { expiresIn: -10 }) }), 5);
      const { SignJWT } = await import('jose');
      const future = await new SignJWT({ tenant: 'globex' }).setProtectedHeader({ alg: 'HS256' }).setNotBefore(Math.floor(Date.now() / 1000) + 600).sign(new TextEncoder().encode(SECRET));
      assert.equal(await connackCode(engine.mqttUrl, { username: 'x', password: future }), 5);
      assert.equal(await connackCode(engine.mqttUrl, { username: 'x', password: 'not-a-token' }), 4);
      const counts = engine.host.stats().auth;
      assert.ok(counts.some((c) => c.provider === 'jwt' && c.result === 'allow' && c.count >= 1));
      assert.ok(counts.some((c) => c.provider === 'jwt' && c.result === 'deny' && c.count >= 3));
    });

    it('a token for acme never reaches globex, whatever else it claims', async () => {
      const globex = await login('globex', 'globex-pw');
      // each claim beyond the tenant: rules naming globex, a globex device as sub, superuser, wildcards
      const tokens = [
        await sign({ tenant: 'acme', acl: [{ permission: 'allow', action: 'all', topic: '#' }] }),
        await sign({ tenant: 'acme', sub: 'globex-meter' }),
        await sign({ tenant: 'acme', is_superuser: true }),
        await sign({ tenant: 'acme', acl: [{ permission: 'allow', action: 'subscribe', topic: 'globex/#' }] }),
      ];
      const spies: TestClient[] = [];
      for (const token of tokens) {
        const spy = await login('spy', token, { clientId: 'spy-' + spies.length });
        const granted = await spy.subscribe(['acme/#', 'globex/#', '#', '+/#', '$share/g/#'], 0);
        assert.deepEqual(granted.slice(0, 4), [0, 128, 128, 128], 'only acme/ is inside acme');
        spies.push(spy);
      }
      await globex.publish('secret', 'globex-only', { qos: 1 });
      const own = await login('acme', 'acme-pw');
      await own.publish('acme/ping', 'p', { qos: 1 });
      for (const spy of spies) await spy.waitFor((m) => m.payload === 'p');
      for (const spy of spies) assert.ok(!spy.inbox.some((m) => m.payload === 'globex-only'));
      // a token naming root or an unknown tenant is refused
      assert.equal(await connackCode(engine.mqttUrl, { username: 'x', password: await sign({ tenant: 'root' }) }), 5);
      assert.equal(await connackCode(engine.mqttUrl, { username: 'x', password: await sign({ tenant: 'initech' }) }), 5);
    });

    it('applies the token\'s rules before the named device\'s roles, with %u as the login name', async () => {
      await engine.host.registry.devices.update('globex-meter', { roles: ['read-only'] });
      const token = await sign({ tenant: 'globex', sub: 'globex-meter', acl: [{ permission: 'allow', action: 'publish', topic: 'meters/%u' }] });
      const meter = await login('globex-meter', token);
      const watcher = await login('globex', 'globex-pw');
      await watcher.subscribe('meters/#', 0);
      await meter.publish('meters/globex-meter', 'own', { qos: 1 });
      await watcher.waitFor((m) => m.payload === 'own');
      // the role denies every other publish: the connection is closed
      const gone = closed(meter.client);
      meter.client.publish('meters/other', 'x', { qos: 1 });
      await gone;
    });

    it('closes the connection when the token expires, audited as token.expired', async () => {
      const c = await login('t', await sign({ tenant: 'globex', sub: 'short-lived' }, { expiresIn: 1 }));
      const reasons: string[] = [];
      engine.host.on('client-disconnected', (e) => reasons.push(e.reason));
      await closed(c.client);
      await until('a token-expired disconnect', () => reasons.includes('token-expired'));
      await until('a token.expired audit entry', () => {
        engine.host.registry.audit.flush();
        return engine.host.registry.audit.list({ tenant: 'globex' }).some((e) => e.action === 'token.expired');
      });
    });

    it('takes a bearer token on the HTTP publish adapter', async () => {
      await engine.stop();
      engine = await startEngine({ httpPublish: true, auth: { providers: [{ kind: 'jwt', secret: SECRET }] } });
      const watcher = await login('globex', 'globex-pw');
      await watcher.subscribe('#', 0);
      const res = await request(`http://127.0.0.1:${engine.addresses.ws!.port}/publish/from/http`, { method: 'POST', body: 'b', headers: { authorization: 'Bearer ' + (await sign({ tenant: 'globex', sub: 'web-1' })) } });
      assert.equal(res.statusCode, 204);
      assert.equal((await watcher.waitFor((m) => m.payload === 'b')).topic, 'from/http');
    });
  });

  describe('HTTP service', () => {
    beforeEach(() => start({}));

    it('sends the login, and answers allow/deny/ignore, errors, malformed and slow answers and unknown tenants precisely', async () => {
      const cases: Array<[{ status: number; body: string; delayMs?: number }, number]> = [
        [{ status: 200, body: '{"result":"allow","tenant":"globex","device":"d1"}' }, 0],
        [{ status: 200, body: '{"result":"deny"}' }, 5],
        [{ status: 200, body: '{"result":"ignore"}' }, 4],
        [{ status: 500, body: '{}' }, 5],
        [{ status: 200, body: 'not json' }, 5],
        [{ status: 200, body: '{"result":"maybe"}' }, 5],
        [{ status: 200, body: '{"result":"allow","tenant":"globex"}', delayMs: 1000 }, 5],
        [{ status: 200, body: '{"result":"allow","tenant":"initech"}' }, 5],
        [{ status: 200, body: '{"result":"allow","is_superuser":true}' }, 5],
      ];
      for (const [i, [answer, code]] of cases.entries()) {
        service.answer = () => answer;
        assert.equal(await connackCode(engine.mqttUrl, { username: 'svc-user', password: 'pw-' + i, clientId: 'c' + i }), code, JSON.stringify(answer));
      }
      const first = service.requests[0];
      assert.deepEqual(Object.keys(first).sort(), ['clientid', 'password', 'peerhost', 'protocol', 'transport', 'username']);
      assert.deepEqual([first.username, first.password, first.clientid, first.protocol, first.transport], ['svc-user', 'pw-0', 'c0', 'mqtt', 'tcp']);
      engine.host.registry.audit.flush();
      const audit = engine.host.registry.audit.list({});
      assert.ok(audit.some((e) => e.detail?.reason === 'provider-failed' && e.detail?.provider === 'http'));
    });

    it('asks once per login and not again while the allow is cached; a registry change drops it; denies are not cached', async () => {
      service.answer = () => ({ status: 200, body: '{"result":"allow","tenant":"globex"}' });
      for (let i = 0; i < 3; i++) assert.equal(await connackCode(engine.mqttUrl, { username: 'cached', password: 'pw', clientId: 'same' }), 0);
      assert.equal(service.requests.length, 1);
      await engine.host.registry.updateTenant('globex', { maxConnections: 50 });
      assert.equal(await connackCode(engine.mqttUrl, { username: 'cached', password: 'pw', clientId: 'same' }), 0);
      assert.equal(service.requests.length, 2);
      service.answer = () => ({ status: 200, body: '{"result":"deny"}' });
      for (let i = 0; i < 2; i++) assert.equal(await connackCode(engine.mqttUrl, { username: 'denied', password: 'pw', clientId: 'same' }), 5);
      assert.equal(service.requests.length, 4);
    });

    it('never sends more than maxConcurrent requests at once: a login flood waits, then is refused', async () => {
      service.answer = () => ({ status: 200, body: '{"result":"allow","tenant":"globex"}', delayMs: 100 });
      const codes = await Promise.all(Array.from({ length: 8 }, (_, i) => connackCode(engine.mqttUrl, { username: 'flood-' + i, password: 'pw', clientId: 'f' + i })));
      assert.ok(service.maxInFlight >= 1 && service.maxInFlight <= 2, `${service.maxInFlight} requests at once`);
      assert.ok(codes.includes(0));
      assert.ok(codes.every((c) => c === 0 || c === 5));
    });

    it('keeps two tenants\' logins with the same username and client id apart', async () => {
      service.answer = (b) => ({ status: 200, body: JSON.stringify({ result: 'allow', tenant: b.password === 'for-acme' ? 'acme' : 'globex' }) });
      const a = await login('same', 'for-acme', { clientId: 'same-id', clean: false });
      const g = await login('same', 'for-globex', { clientId: 'same-id', clean: false });
      await a.subscribe('acme/#', 1);
      await g.subscribe('#', 1);
      assert.ok(a.client.connected && g.client.connected, 'neither took the other over');
      const acme = await login('acme', 'acme-pw');
      await acme.publish('acme/x', 'for-a', { qos: 1 });
      await a.waitFor((m) => m.payload === 'for-a');
      assert.ok(!g.inbox.some((m) => m.payload === 'for-a'));
    });

    it('checks a SUBSCRIBE pipelined behind the CONNECT with the rules the provider answered', async () => {
      service.answer = () => ({ status: 200, delayMs: 150, body: JSON.stringify({ result: 'allow', tenant: 'globex', acl: [{ permission: 'deny', action: 'subscribe', topic: 'secret/#' }] }) });
      const raw = await rawConnect(engine.addresses.mqtt!.port);
      raw.send(connectPacket({ clientId: 'pipelined', username: 'pipe', password: Buffer.from('pw') }));
      raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'secret/#', qos: 0 }, { topic: 'open/#', qos: 0 }] });
      assert.equal((await raw.next('connack') as { returnCode: number }).returnCode, 0);
      assert.deepEqual((await raw.next('suback') as { granted: number[] }).granted, [128, 0]);
      raw.socket.destroy();
    });

    it('makes a login root only when the broker allows superusers', async () => {
      await engine.stop();
      engine = await startEngine({ auth: { providers: [{ kind: 'http', url }], allowSuperuser: true } });
      service.answer = () => ({ status: 200, body: '{"result":"allow","is_superuser":true}' });
      const root = await login('ops', 'pw');
      await root.subscribe('#', 0);
      const g = await login('globex', 'globex-pw');
      await g.publish('x', 'seen-by-root', { qos: 1 });
      assert.equal((await root.waitFor((m) => m.payload === 'seen-by-root')).topic, 'globex/x');
    });
  });

  describe('flow', () => {
    beforeEach(() => start({ providers: [{ kind: 'flow' }] }));

    it('is not asked while no flow takes logins, and decides once one does', async () => {
      assert.equal(await connackCode(engine.mqttUrl, { username: 'f', password: 'x' }), 4);
      const seen: string[] = [];
      engine.host.flowAuth.setHandler({
        timeoutMs: 300,
        ask: ({ id, attempt }) => {
          seen.push(attempt.username);
          if (attempt.username === 'silent') return;
          setImmediate(() => engine.host.flowAuth.answer(id, attempt.password.toString() === 'let-me-in' ? { result: 'allow', tenant: 'globex', device: 'f' } : { result: 'deny' }));
        },
      });
      assert.equal(await connackCode(engine.mqttUrl, { username: 'f', password: 'let-me-in' }), 0);
      assert.equal(await connackCode(engine.mqttUrl, { username: 'f', password: 'wrong' }), 5);
      assert.equal(await connackCode(engine.mqttUrl, { username: 'silent', password: 'x' }), 5);
      assert.deepEqual(seen, ['f', 'f', 'silent']);
    });
  });
});
