import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { BrokerHost, TenantBrokerError } from '../../src';
import { startEngine, type RunningEngine } from '../helpers/engine';
import { closed, connect, connackCode } from '../helpers/mqtt';
import { connectPacket, rawConnect, type RawConnection } from '../helpers/raw-mqtt';
import { tempDir } from '../helpers/tmp';

const certs = join(__dirname, '..', 'fixtures', 'certs');
const cert = (name: string) => join(certs, name);

describe('listeners and the wire', () => {
  describe('malformed input', () => {
    let engine: RunningEngine;
    beforeEach(async () => (engine = await startEngine()));
    afterEach(() => engine.stop());

    const connected = async (port: number) => {
      const raw = await rawConnect(port);
      raw.send(connectPacket({ username: 'acme', password: Buffer.from('acme-pw') }));
      await raw.next('connack');
      return raw;
    };
    const garbage: Array<[string, (port: number) => Promise<RawConnection>]> = [
      ['random bytes', async (port) => (await rawConnect(port)).sendBytes(Buffer.from('GET / HTTP/1.1\r\n\r\n'))],
      ['a bad protocol name', async (port) => (await rawConnect(port)).sendBytes(Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x58, 0x58, 0x58, 0x58, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00]))],
      ['a PUBLISH before CONNECT', async (port) => (await rawConnect(port)).send({ cmd: 'publish', topic: 'acme/x', payload: 'x', qos: 0, retain: false, dup: false })],
      ['a remaining length that lies', async (port) => (await rawConnect(port)).sendBytes(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]))],
      ['a second CONNECT', async (port) => (await connected(port)).send(connectPacket({ username: 'globex', password: Buffer.from('globex-pw') }))],
      ['a SUBSCRIBE with an invalid filter', async (port) => (await connected(port)).send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'acme/#/x', qos: 0 }] })],
      ['a PUBLISH with a wildcard topic', async (port) => (await connected(port)).send({ cmd: 'publish', topic: 'acme/+', payload: 'x', qos: 0, retain: false, dup: false })],
      ['a reserved packet type', async (port) => (await connected(port)).sendBytes(Buffer.from([0xf0, 0x00]))],
    ];

    for (const [what, send] of garbage) {
      it(`closes only the connection that sent ${what}`, async () => {
        const bystander = await connect(engine.mqttUrl, { username: 'acme', password: 'acme-pw' });
        await bystander.subscribe('acme/#', 1);
        const bad = await send(engine.addresses.mqtt!.port);
        await bad.closed;
        const publisher = await connect(engine.mqttUrl, { username: 'acme', password: 'acme-pw' });
        await publisher.publish('acme/alive', 'yes');
        await bystander.waitFor((m) => m.payload === 'yes');
        assert.equal(bystander.client.connected, true);
        await Promise.all([publisher.end(), bystander.end()]);
      });
    }

  });

  describe('start and close', () => {
    it('restarts on the same ports twenty times in a row', async function () {
      this.timeout(60_000);
      const tmp = tempDir();
      try {
        const first = new BrokerHost({ mqtt: { port: 0, host: '127.0.0.1' }, ws: { port: 0, host: '127.0.0.1' }, database: tmp.file('r.db') });
        await first.registry.addTenant({ username: 'acme', password: 'acme-pw' });
        const { mqtt, ws } = await first.start();
        await first.close();
        for (let i = 0; i < 20; i++) {
          const host = new BrokerHost({ mqtt: { port: mqtt!.port, host: '127.0.0.1' }, ws: { port: ws!.port, host: '127.0.0.1' }, database: tmp.file('r.db') });
          const bound = await host.start();
          assert.equal(bound.mqtt!.port, mqtt!.port);
          // a live client at close time must not hold the port
          const client = await connect(`mqtt://127.0.0.1:${mqtt!.port}`, { username: 'acme', password: 'acme-pw' });
          const wsClient = await connect(`ws://127.0.0.1:${ws!.port}/ws`, { username: 'acme', password: 'acme-pw' });
          await host.close();
          client.client.end(true);
          wsClient.client.end(true);
        }
      } finally {
        tmp.remove();
      }
    });

    it('fails to start with a port-in-use error and releases what it had bound', async () => {
      const blocker = net.createServer();
      await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
      const port = (blocker.address() as net.AddressInfo).port;
      const tmp = tempDir();
      try {
        const host = new BrokerHost({ mqtt: { port: 0, host: '127.0.0.1' }, ws: { port, host: '127.0.0.1' }, database: tmp.file('r.db') });
        await assert.rejects(host.start(), (err: TenantBrokerError) => err.key === 'errors.port-in-use' && err.params.port === port);
      } finally {
        blocker.close();
        tmp.remove();
      }
    });

    it('fails to start with a clear error when a TLS file is missing', async () => {
      const tmp = tempDir();
      try {
        const host = new BrokerHost({ mqtt: { port: 0, host: '127.0.0.1', tls: { keyFile: tmp.file('none.key'), certFile: cert('server.crt') } }, ws: false, database: ':memory:' });
        await assert.rejects(host.start(), (err: TenantBrokerError) => err.key === 'errors.tls-file' && String(err.params.path).endsWith('none.key'));
      } finally {
        tmp.remove();
      }
    });
  });

  describe('TLS', () => {
    let engine: RunningEngine;
    afterEach(() => engine.stop());

    it('serves MQTT over TLS and secure WebSocket', async () => {
      const tls = { keyFile: cert('server.key'), certFile: cert('server.crt') };
      engine = await startEngine({ mqtt: { port: 0, host: '127.0.0.1', tls }, ws: { port: 0, host: '127.0.0.1', path: '/ws', tls } });
      const ca = readFileSync(cert('ca.crt'));
      const a = await connect(`mqtts://localhost:${engine.addresses.mqtt!.port}`, { username: 'acme', password: 'acme-pw', ca });
      const g = await connect(`wss://localhost:${engine.addresses.ws!.port}/ws`, { username: 'globex', password: 'globex-pw', ca });
      await a.subscribe('acme/t', 1);
      await a.publish('acme/t', 'over-tls');
      await a.waitFor((m) => m.payload === 'over-tls');
      await Promise.all([a.end(), g.end()]);
      // a client that does not trust the CA is refused by its own TLS check
      assert.notEqual(await connackCode(`mqtts://localhost:${engine.addresses.mqtt!.port}`, { username: 'acme', password: 'acme-pw' }), 0);
    });

    it('requires a client certificate signed by the CA when asked to', async () => {
      const tls = { keyFile: cert('server.key'), certFile: cert('server.crt'), caFile: cert('ca.crt'), requireClientCert: true };
      engine = await startEngine({ mqtt: { port: 0, host: '127.0.0.1', tls }, ws: false });
      const url = `mqtts://localhost:${engine.addresses.mqtt!.port}`;
      const ca = readFileSync(cert('ca.crt'));
      assert.notEqual(await connackCode(url, { username: 'acme', password: 'acme-pw', ca }), 0);
      const ok = await connect(url, { username: 'acme', password: 'acme-pw', ca, key: readFileSync(cert('client.key')), cert: readFileSync(cert('client.crt')) });
      await ok.end();
    });
  });
});

describe('packet size', () => {
  let engine: RunningEngine;
  beforeEach(async () => (engine = await startEngine({ maxPacketBytes: 1000 })));
  afterEach(() => engine.stop());

  /** A packet header that claims `length` bytes, followed by a few of them: the broker must not wait for the rest. */
  const claim = (first: number, length: number) => {
    const varint: number[] = [];
    let n = length;
    do {
      let byte = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) byte |= 0x80;
      varint.push(byte);
    } while (n > 0);
    return Buffer.from([first, ...varint, 0, 4, 0x4d, 0x51, 0x54, 0x54]);
  };

  it('refuses a CONNECT that claims more than 256 KiB before authentication, without reading it', async () => {
    const raw = await rawConnect(engine.addresses.mqtt!.port);
    raw.sendBytes(claim(0x10, 100 * 1024 * 1024));
    await raw.closed;
  });

  it('closes an authenticated client whose packet exceeds maxPacketBytes, and keeps smaller ones', async () => {
    const client = await connect(engine.mqttUrl, { username: 'acme', password: 'acme-pw' });
    await client.subscribe('acme/#', 0);
    await client.publish('acme/small', 'x'.repeat(500), { qos: 1 });
    await client.waitFor((m) => m.topic === 'acme/small');
    const gone = closed(client.client);
    client.client.publish('acme/big', 'x'.repeat(2000), { qos: 0 });
    await gone;
  });
});
