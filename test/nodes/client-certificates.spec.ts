import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type net from 'node:net';
import { createCa, type IssuedCertificate, type TestCa } from '../helpers/certificates';
import { helper, brokerConfig, brokerOf, loadNode, nodeRedFixture } from '../helpers/nodes';
import { connackCode } from '../helpers/mqtt';

const tenantBroker = loadNode('tenant-broker');

/** The broker node's TLS settings reach the engine: the revocation list and the login from the certificate. */
describe('tenant-broker node: client certificates', function () {
  this.timeout(20_000);
  const fixture = nodeRedFixture();
  let ca: TestCa;
  let server: IssuedCertificate;
  let device: IssuedCertificate;
  let revoked: IssuedCertificate;
  let crl: string;

  before(async () => {
    ca = await createCa('node test CA');
    server = await ca.issue({ cn: 'localhost', serial: '10', server: true, altNames: [{ type: 'ip', value: '127.0.0.1' }] });
    device = await ca.issue({ cn: 'sensor-1', serial: '11' });
    revoked = await ca.issue({ cn: 'sensor-1', serial: '12' });
    crl = await ca.crl([revoked.serial]);
  });

  function tlsConfig(extra: Record<string, unknown>) {
    const file = (name: string, text: string) => {
      writeFileSync(fixture.tmp.file(name), text);
      return fixture.tmp.file(name);
    };
    return { tls: true, keyFile: file('s.key', server.key), certFile: file('s.crt', server.cert), caFile: file('ca.crt', ca.cert), requireClientCert: true, wsEnabled: false, ...extra };
  }

  async function mqttsUrl(id: string): Promise<string> {
    const host = await brokerOf(id);
    const address = (host as unknown as { servers: Array<{ server: net.Server }> }).servers[0].server.address() as AddressInfo;
    return `mqtts://127.0.0.1:${address.port}`;
  }

  it('takes the login from the certificate CN and refuses a certificate the revocation list names', async () => {
    const crlFile = fixture.tmp.file('ca.crl');
    writeFileSync(crlFile, crl);
    await helper.load([tenantBroker], [brokerConfig('b1', fixture.tmp.file('r.db'), tlsConfig({ crlFile, certificateIdentity: 'cn' }))]);
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'acme', password: 'acme-pw' });
    await host.registry.devices.add({ tenant: 'acme', username: 'sensor-1', password: 'sensor-1-secret' });
    const url = await mqttsUrl('b1');
    assert.equal(await connackCode(url, { ca: ca.cert, key: device.key, cert: device.cert }), 0);
    assert.equal(typeof (await connackCode(url, { ca: ca.cert, key: revoked.key, cert: revoked.cert })), 'string');
    assert.equal(host.stats().total.denials['tls-rejected'], 1);
  });

  it('reads a flow without the new fields as no revocation list and username-and-password logins', async () => {
    await helper.load([tenantBroker], [brokerConfig('b1', fixture.tmp.file('r.db'), tlsConfig({}))]);
    const host = await brokerOf('b1');
    await host.registry.addTenant({ username: 'acme', password: 'acme-pw' });
    await host.registry.devices.add({ tenant: 'acme', username: 'sensor-1', password: 'sensor-1-secret' });
    const url = await mqttsUrl('b1');
    const cert = { ca: ca.cert, key: revoked.key, cert: revoked.cert };
    // not revoked without a list; the certificate names no login: the username and password decide
    assert.equal(await connackCode(url, cert), 5);
    assert.equal(await connackCode(url, { ...cert, username: 'sensor-1', password: 'wrong' }), 4);
    assert.equal(await connackCode(url, { ...cert, username: 'sensor-1', password: 'sensor-1-secret' }), 0);
  });
});
