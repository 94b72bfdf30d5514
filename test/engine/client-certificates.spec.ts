import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { BrokerHost, TenantBrokerError } from '../../src';
import type { ConnectionShed } from '../../src/events';
import { certificateIdentity, subjectAltNames } from '../../src/tenancy/certificate-identity';
import { createCa, type IssuedCertificate, type TestCa } from '../helpers/certificates';
import { startEngine, type RunningEngine } from '../helpers/engine';
import { connackCode, connect, type TestClient } from '../helpers/mqtt';
import { tempDir } from '../helpers/tmp';

/**
 * Client certificates on a TLS listener that requires them: a certificate
 * revocation list, and the login taken from the verified certificate (its CN
 * here) instead of the CONNECT's username and password. Every certificate is
 * made at run time (test/helpers/certificates.ts): a CA, the server's, a
 * device's, a revoked one, one from a foreign CA, one whose CN names nobody.
 */
describe('client certificates', function () {
  this.timeout(20_000);
  let ca: TestCa;
  let foreign: TestCa;
  let server: IssuedCertificate;
  const certs: Record<string, IssuedCertificate> = {};
  let crl: string;

  before(async () => {
    ca = await createCa('tenant-broker test CA');
    foreign = await createCa('someone else');
    server = await ca.issue({ cn: 'localhost', serial: '10', server: true, altNames: [{ type: 'ip', value: '127.0.0.1' }, { type: 'dns', value: 'localhost' }] });
    let serial = 0x20;
    for (const cn of ['sensor-1', 'revoked-dev', 'nobody-known', 'off', 'bound', 'acme', 'acme-dev', 'globex-dev']) {
      certs[cn] = await ca.issue({ cn, serial: (serial++).toString(16) });
    }
    certs['foreign-sensor-1'] = await foreign.issue({ cn: 'sensor-1', serial: '20' });
    crl = await ca.crl([certs['revoked-dev'].serial]);
  });

  let engine: RunningEngine;
  let tmp: ReturnType<typeof tempDir>;
  const open: TestClient[] = [];
  const shed: ConnectionShed[] = [];

  function tlsFiles(overrides: Record<string, unknown> = {}) {
    const write = (name: string, text: string) => {
      writeFileSync(tmp.file(name), text);
      return tmp.file(name);
    };
    return {
      keyFile: write('server.key', server.key),
      certFile: write('server.crt', server.cert),
      caFile: write('ca.crt', ca.cert),
      crlFile: write('ca.crl', crl),
      requireClientCert: true,
      certificateIdentity: 'cn' as const,
      ...overrides,
    };
  }

  beforeEach(async () => {
    tmp = tempDir();
    const tls = tlsFiles();
    engine = await startEngine({ mqtt: { port: 0, host: '127.0.0.1', tls }, ws: { port: 0, host: '127.0.0.1', path: '/ws', tls } });
    engine.host.on('connection-shed', (e) => shed.push(e));
    const r = engine.host.registry;
    r.devices.setRole('globex', 'no-news', [{ permission: 'deny', action: 'subscribe', topic: 'news/#' }], 'add');
    await r.devices.add({ tenant: 'globex', username: 'sensor-1', password: 'sensor-1-secret', roles: ['no-news'] });
    await r.devices.add({ tenant: 'globex', username: 'revoked-dev', password: 'x-secret' });
    await r.devices.add({ tenant: 'globex', username: 'off', password: 'x-secret', enabled: false });
    await r.devices.add({ tenant: 'globex', username: 'bound', password: 'x-secret', clientId: 'bound-id' });
    await r.devices.add({ tenant: 'globex', username: 'globex-dev', password: 'x-secret' });
    await r.devices.add({ tenant: 'acme', username: 'acme-dev', password: 'x-secret' });
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.end().catch(() => undefined)));
    shed.length = 0;
    await engine.stop();
  });

  const mqtts = () => `mqtts://127.0.0.1:${engine.addresses.mqtt!.port}`;
  const wss = () => `wss://127.0.0.1:${engine.addresses.ws!.port}/ws`;
  const withCert = (name: string, options: Record<string, unknown> = {}) => ({ ca: ca.cert, key: certs[name].key, cert: certs[name].cert, ...options });

  async function as(name: string, options: Record<string, unknown> = {}, url = mqtts()): Promise<TestClient> {
    const client = await connect(url, withCert(name, options));
    open.push(client);
    return client;
  }

  it('admits a registry device by its certificate with no username or password, as certificate, with its roles', async () => {
    const connected: Array<{ username: string | null; provider: string }> = [];
    engine.host.on('client-connected', (e) => connected.push({ username: e.username, provider: e.provider }));
    const device = await as('sensor-1', { clientId: 'c1' });
    assert.deepEqual(connected, [{ username: 'sensor-1', provider: 'certificate' }]);
    const [listed] = engine.host.live.list('globex');
    assert.equal(listed.login, 'sensor-1');
    assert.equal(listed.device, 'sensor-1');
    assert.equal(listed.provider, 'certificate');
    assert.equal(listed.transport, 'tls');
    // the device's role denies news/#; the tenant's default lets it read the rest
    assert.deepEqual(await device.subscribe('news/today', 1), [128]);
    assert.deepEqual(await device.subscribe('data/#', 1), [1]);
    await engine.host.publish('globex', { topic: 'data/x', payload: 'for-sensor', qos: 1 });
    await device.waitFor((m) => m.topic === 'data/x' && m.payload === 'for-sensor');
  });

  it('takes the identity from the certificate, never from the CONNECT: another username and password change nothing', async () => {
    const device = await as('sensor-1', { username: 'acme', password: 'acme-pw', clientId: 'same-id' });
    assert.equal(engine.host.live.list('acme').length, 0);
    assert.deepEqual(engine.host.live.list('globex').map((c) => c.login), ['sensor-1']);
    // held to sensor-1's rules in globex, not acme's whole namespace
    assert.deepEqual(await device.subscribe('news/today', 1), [128]);
  });

  it('refuses a revoked certificate and one from a foreign CA in the TLS handshake, counted as tls-rejected', async () => {
    const revoked = await connackCode(mqtts(), withCert('revoked-dev'));
    assert.equal(typeof revoked, 'string', `no CONNACK at all, got ${revoked}`);
    const foreignCode = await connackCode(mqtts(), { ca: ca.cert, key: certs['foreign-sensor-1'].key, cert: certs['foreign-sensor-1'].cert });
    assert.equal(typeof foreignCode, 'string', `no CONNACK at all, got ${foreignCode}`);
    const none = await connackCode(mqtts(), { ca: ca.cert, username: 'acme', password: 'acme-pw' });
    assert.equal(typeof none, 'string', `no CONNACK at all, got ${none}`);
    assert.deepEqual(
      shed.map((e) => [e.reason, e.transport, e.detail]),
      [
        ['tls-rejected', 'tls', 'CERT_REVOKED'],
        ['tls-rejected', 'tls', shed[1].detail],
        ['tls-rejected', 'tls', shed[2].detail],
      ],
    );
    assert.notEqual(shed[1].detail, undefined);
    assert.equal(engine.host.stats().total.denials['tls-rejected'], 3);
    assert.equal(engine.host.connectionCount(), 0);
    // the listener goes on serving valid certificates
    await as('sensor-1');
  });

  it('answers CONNACK 4 for a CN that names no login, 5 for a disabled device, 2 for a device bound to another client id', async () => {
    assert.equal(await connackCode(mqtts(), withCert('nobody-known')), 4);
    assert.equal(await connackCode(mqtts(), withCert('off')), 5);
    assert.equal(await connackCode(mqtts(), withCert('bound', { clientId: 'other' })), 2);
    assert.equal(await connackCode(mqtts(), withCert('bound', { clientId: 'bound-id' })), 0);
    await engine.host.registry.updateTenant('globex', { enabled: false });
    assert.equal(await connackCode(mqtts(), withCert('sensor-1')), 5);
  });

  it('applies the device quota to the identity, not to the CONNECT username', async () => {
    await engine.host.registry.devices.update('sensor-1', { maxConnections: 1 });
    await as('sensor-1', { clientId: 'first', username: 'a' });
    assert.equal(await connackCode(mqtts(), withCert('sensor-1', { clientId: 'second', username: 'b' })), 5);
  });

  it('admits a tenant\'s own login by its certificate, with the whole namespace', async () => {
    const own = await as('acme');
    assert.deepEqual(await own.subscribe('acme/#', 1), [1]);
    assert.deepEqual(engine.host.live.list('acme').map((c) => [c.login, c.device, c.provider]), [['acme', null, 'certificate']]);
  });

  it('a certificate for tenant A\'s device never reads tenant B\'s data, even with the same client id', async () => {
    const a = await as('acme-dev', { clientId: 'shared' });
    const b = await as('globex-dev', { clientId: 'shared' });
    // the same client id in two tenants: two sessions, neither takes the other over
    assert.equal(a.client.connected, true);
    assert.equal(b.client.connected, true);
    for (const filter of ['#', 'globex/#', '+/secret', '$share/g/#', 'acme/#']) await a.subscribe(filter, 1);
    await b.subscribe('secret', 1);
    await engine.host.publish('globex', { topic: 'secret', payload: 'globex-only', qos: 1 });
    await b.waitFor((m) => m.payload === 'globex-only');
    // a's own message published after globex's reaches a: globex's would have arrived before it
    await engine.host.publish('acme', { topic: 'marker', payload: 'acme-marker', qos: 1 });
    await a.waitFor((m) => m.payload === 'acme-marker');
    assert.equal(a.inbox.some((m) => m.payload === 'globex-only'), false);
    assert.deepEqual(engine.host.live.list('acme').map((c) => c.login), ['acme-dev']);
    assert.deepEqual(engine.host.live.list('globex').map((c) => c.login), ['globex-dev']);
  });

  it('takes the identity from the certificate over secure WebSocket too, and refuses a revoked one there', async () => {
    const device = await as('sensor-1', {}, wss());
    assert.deepEqual(await device.subscribe('news/#', 1), [128]);
    assert.equal(engine.host.live.list('globex')[0].transport, 'wss');
    const revoked = await connackCode(wss(), withCert('revoked-dev'));
    assert.notEqual(revoked, 0);
    assert.deepEqual(shed.map((e) => [e.reason, e.transport, e.detail]), [['tls-rejected', 'wss', 'CERT_REVOKED']]);
  });
});

describe('client certificate settings', () => {
  it('refuses to start with an identity from certificates that are not required, or an unknown identity source', async () => {
    const tmp = tempDir();
    try {
      const ca = await createCa('settings CA');
      const server = await ca.issue({ cn: 'localhost', serial: '02', server: true });
      writeFileSync(tmp.file('s.key'), server.key);
      writeFileSync(tmp.file('s.crt'), server.cert);
      const tls = { keyFile: tmp.file('s.key'), certFile: tmp.file('s.crt') };
      const start = (extra: Record<string, unknown>) => new BrokerHost({ mqtt: { port: 0, host: '127.0.0.1', tls: { ...tls, ...extra } }, ws: false, database: ':memory:' }).start();
      await assert.rejects(start({ certificateIdentity: 'cn' }), (err: TenantBrokerError) => err.key === 'errors.tls-identity-needs-client-cert');
      await assert.rejects(start({ requireClientCert: true, certificateIdentity: 'serial' }), (err: TenantBrokerError) => err.key === 'errors.tls-identity');
      await assert.rejects(start({ requireClientCert: true, crlFile: tmp.file('none.crl') }), (err: TenantBrokerError) => err.key === 'errors.tls-file' && String(err.params.path).endsWith('none.crl'));
    } finally {
      tmp.remove();
    }
  });
});

describe('certificate identity (pure)', () => {
  const cert = (cn: string | string[] | undefined, san?: string) => ({ subject: cn === undefined ? {} : { CN: cn }, subjectaltname: san });

  it('takes the subject CN, the last of several', () => {
    assert.equal(certificateIdentity(cert('sensor-1'), 'cn'), 'sensor-1');
    assert.equal(certificateIdentity(cert(['ignored', 'sensor-2']), 'cn'), 'sensor-2');
    assert.equal(certificateIdentity(cert(undefined), 'cn'), null);
    assert.equal(certificateIdentity(cert('sensor-1'), 'none'), null);
    assert.equal(certificateIdentity(null, 'cn'), null);
  });

  it('takes the first SAN of the chosen kind: DNS as it is, email\'s local part, URI\'s last segment', () => {
    const san = 'IP Address:10.0.0.1, DNS:first.example, DNS:second.example, email:sensor-3@example.com, URI:spiffe://example.com/devices/sensor-4, URI:urn:dev:other';
    assert.equal(certificateIdentity(cert('x', san), 'san-dns'), 'first.example');
    assert.equal(certificateIdentity(cert('x', san), 'san-email'), 'sensor-3');
    assert.equal(certificateIdentity(cert('x', san), 'san-uri'), 'sensor-4');
    assert.equal(certificateIdentity(cert('x', 'URI:urn:dev:sensor-5'), 'san-uri'), 'sensor-5');
    assert.equal(certificateIdentity(cert('x', 'DNS:a.example'), 'san-email'), null);
    assert.equal(certificateIdentity(cert('x'), 'san-dns'), null);
  });

  it('names no login when the value is not a login name, or root', () => {
    assert.equal(certificateIdentity(cert('root'), 'cn'), null);
    assert.equal(certificateIdentity(cert('acme/dev'), 'cn'), null);
    assert.equal(certificateIdentity(cert('a:b'), 'cn'), null);
    assert.equal(certificateIdentity(cert('Sensor One'), 'cn'), null);
    assert.equal(certificateIdentity(cert('x'.repeat(65)), 'cn'), null);
    assert.equal(certificateIdentity(cert('x', 'DNS:"evil, DNS:sensor-1"'), 'san-dns'), null);
  });

  it('reads Node\'s quoted SAN values as one name', () => {
    assert.deepEqual(subjectAltNames('DNS:"a, DNS:b", DNS:c'), [
      { type: 'DNS', value: 'a, DNS:b' },
      { type: 'DNS', value: 'c' },
    ]);
    assert.deepEqual(subjectAltNames(''), []);
  });
});
