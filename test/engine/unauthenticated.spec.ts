import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';
import mqttPacket, { type Packet } from 'mqtt-packet';
import WebSocket from 'ws';
import type { ConnectionShed } from '../../src';
import { renderMetrics } from '../../src/admin/metrics';
import { startEngine, type RunningEngine } from '../helpers/engine';
import { connect } from '../helpers/mqtt';
import { connectPacket } from '../helpers/raw-mqtt';
import { until } from '../helpers/until';

const certs = join(__dirname, '..', 'fixtures', 'certs');
const KiB = 1024;

/** A socket on the loopback that records when the broker closes it. */
async function tcp(port: number): Promise<net.Socket & { gone: boolean }> {
  const socket = net.connect(port, '127.0.0.1') as net.Socket & { gone: boolean };
  socket.gone = false;
  socket.on('error', () => undefined);
  socket.on('close', () => (socket.gone = true));
  await once(socket, 'connect');
  return socket;
}

/** A raw WebSocket speaking MQTT bytes, with the packets it receives. */
async function rawWs(url: string): Promise<{ ws: WebSocket; packets: Packet[]; closed: Promise<number> }> {
  const ws = new WebSocket(url, 'mqtt');
  ws.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  const packets: Packet[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (p: Packet) => packets.push(p));
  ws.on('message', (data: Buffer) => parser.parse(data));
  await once(ws, 'open');
  return { ws, packets, closed };
}

const connectBytes = (username: string, password: string) => Buffer.from(mqttPacket.generate(connectPacket({ username, password: Buffer.from(password) }) as unknown as Packet));

/**
 * Before CONNACK a connection belongs to no tenant, yet it holds memory and a
 * socket: it gets a deadline for its CONNECT, WebSocket messages as small as
 * TCP packets then, and all such connections share one memory budget.
 */
describe('connections before CONNACK', function () {
  this.timeout(30_000);
  let engine: RunningEngine;
  const sockets: Array<{ destroy(): void } | WebSocket> = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) (s instanceof WebSocket ? s.terminate() : s.destroy());
    await engine?.stop();
  });
  const shedCount = (reason: string) => engine.host.stats().total.denials[reason] ?? 0;

  describe('a deadline for a complete CONNECT', () => {
    it('closes TCP and WebSocket connections without a complete CONNECT in time, from their arrival, and counts them', async () => {
      engine = await startEngine({ connectTimeoutMs: 300 });
      const shed: ConnectionShed[] = [];
      engine.host.on('connection-shed', (e) => shed.push(e));
      const silent = await tcp(engine.addresses.mqtt!.port);
      const half = await tcp(engine.addresses.mqtt!.port);
      half.write(connectBytes('acme', 'acme-pw').subarray(0, 10));
      // a WebSocket whose HTTP upgrade never completes, and one upgraded that never sends a CONNECT
      const upgrading = await tcp(engine.addresses.ws!.port);
      upgrading.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      const upgraded = await rawWs(engine.wsUrl);
      sockets.push(silent, half, upgrading, upgraded.ws);
      await until('all four are closed', () => silent.gone && half.gone && upgrading.gone && upgraded.ws.readyState === WebSocket.CLOSED);
      assert.equal(shedCount('connect-timeout'), 4);
      assert.deepEqual(shed.map((e) => e.transport).sort(), ['tcp', 'tcp', 'ws', 'ws']);
      assert.deepEqual(engine.host.stats().unauthenticated, { connections: 0, bytes: 0 });
    });

    it('does not close a client whose CONNECT arrived, however long its login takes', async () => {
      engine = await startEngine({ connectTimeoutMs: 300 });
      const { registry } = engine.host;
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const verify = registry.verifyPassword.bind(registry);
      registry.verifyPassword = async (username, password) => {
        await held;
        return verify(username, password);
      };
      const bystander = await tcp(engine.addresses.mqtt!.port);
      sockets.push(bystander);
      const login = connect(engine.mqttUrl, { username: 'acme', password: 'acme-pw' });
      // the deadline has passed for a connection opened with it; only then does the login go on
      await until('the silent bystander is closed', () => bystander.gone);
      release();
      const client = await login;
      assert.equal(client.client.connected, true);
      await client.end();
    });

    it('closes a TLS connection whose handshake does not complete in time', async () => {
      const tls = { keyFile: join(certs, 'server.key'), certFile: join(certs, 'server.crt') };
      engine = await startEngine({ connectTimeoutMs: 300, mqtt: { port: 0, host: '127.0.0.1', tls }, ws: false });
      const stalled = await tcp(engine.addresses.mqtt!.port);
      sockets.push(stalled);
      await until('the handshake is given up', () => stalled.gone);
    });
  });

  describe('WebSocket messages', () => {
    beforeEach(async () => (engine = await startEngine({ maxPacketBytes: 512 * KiB })));

    it('before CONNACK: a message over 256 KiB is refused as its frame header arrives, not buffered', async () => {
      const { ws, closed } = await rawWs(engine.wsUrl);
      sockets.push(ws);
      // the fragments of one message that never ends: ws sums their lengths as each header arrives
      ws.send(Buffer.alloc(200 * KiB), { fin: false });
      ws.send(Buffer.alloc(100 * KiB), { fin: false });
      assert.equal(await closed, 1009);
    });

    it('after CONNACK: messages up to the packet cap pass, a larger one closes the connection', async () => {
      const subscriber = await connect(engine.mqttUrl, { username: 'acme', password: 'acme-pw' });
      await subscriber.subscribe('acme/big', 1);
      const { ws, packets, closed } = await rawWs(engine.wsUrl);
      sockets.push(ws);
      ws.send(connectBytes('acme', 'acme-pw'));
      await until('CONNACK', () => packets.some((p) => p.cmd === 'connack'));
      const payload = Buffer.alloc(400 * KiB, 7);
      ws.send(Buffer.from(mqttPacket.generate({ cmd: 'publish', topic: 'acme/big', payload, qos: 0, retain: false, dup: false } as Packet)));
      assert.equal((await subscriber.waitFor((m) => m.topic === 'acme/big')).payload.length, payload.length);
      ws.send(Buffer.alloc(300 * KiB), { fin: false });
      ws.send(Buffer.alloc(300 * KiB), { fin: false });
      assert.equal(await closed, 1009);
      await subscriber.end();
    });
  });

  describe('memory held by unauthenticated connections', () => {
    it('refuses new connections past the budget, closes one that sends past it, counts both, and frees what an accepted login held', async () => {
      engine = await startEngine({ maxUnauthenticatedBytes: 256 * KiB, connectTimeoutMs: 60_000 });
      const port = engine.addresses.mqtt!.port;
      const held = () => engine.host.stats().unauthenticated;
      // half a CONNECT that claims 200 KiB: within the 256 KiB packet limit, so the parser waits for the rest
      const slow = await tcp(port);
      sockets.push(slow);
      slow.write(Buffer.concat([Buffer.from([0x10, 0x80, 0xc0, 0x0c]), Buffer.alloc(150 * KiB)]));
      await until('its bytes are charged', () => held().bytes >= 16 * KiB + 150 * KiB);
      // idle connections at 16 KiB each, until the budget refuses one
      const idle: Array<net.Socket & { gone: boolean }> = [];
      for (let i = 0; i < 8; i++) {
        const socket = await tcp(port);
        sockets.push(socket);
        idle.push(socket);
        await until('charged or refused', () => held().connections === idle.length + 1 || socket.gone);
        assert.ok(held().bytes <= 256 * KiB, `${held().bytes} bytes held`);
      }
      const refused = idle.filter((s) => s.gone).length;
      assert.equal(held().connections, 1 + 8 - refused);
      assert.ok(refused >= 3, `${refused} refused`);
      assert.equal(shedCount('unauthenticated-memory'), refused);
      const metrics = renderMetrics(engine.host);
      assert.match(metrics, new RegExp(`^tenant_broker_server_unauthenticated_connections ${held().connections}$`, 'm'));
      assert.match(metrics, new RegExp(`^tenant_broker_server_denials_total\\{reason="unauthenticated-memory"\\} ${refused}$`, 'm'));
      // more bytes of the slow one would pass the budget: it is closed, not the others
      slow.write(Buffer.alloc(50 * KiB));
      await until('the slow one is closed', () => slow.gone);
      assert.equal(shedCount('unauthenticated-memory'), refused + 1);
      assert.ok(held().bytes <= 256 * KiB);
      // with room again, a login goes through, and what it held before CONNACK is free after it
      const before = held();
      const client = await connect(engine.mqttUrl, { username: 'acme', password: 'acme-pw' });
      assert.deepEqual(held(), before);
      await client.end();
      for (const socket of idle) socket.destroy();
      await until('all freed', () => held().connections === 0);
      assert.equal(held().bytes, 0);
    });
  });
});
