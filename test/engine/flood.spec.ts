import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import mqttPacket, { type Packet } from 'mqtt-packet';
import WebSocket, { createWebSocketStream } from 'ws';
import { engineFixture } from '../helpers/engine';
import { connect } from '../helpers/mqtt';
import { connectPacket, rawConnect } from '../helpers/raw-mqtt';
import { tempDir } from '../helpers/tmp';

/**
 * One tenant's client floods the broker; the broker process (a child, so a
 * crash shows as its exit) must survive and still serve a fresh client.
 * Before the fix, a QoS 0 flood whose subscriber left mid-flood overflowed the
 * stack in aedes' emitter (its queue drained recursively once no subscriber
 * matched) and took the process down.
 */
describe('floods cannot crash the broker process', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tempDir>;
  let child: ChildProcess | null = null;
  let stderr = '';
  const sockets: Duplex[] = [];

  async function startChild(mode = ''): Promise<{ mqtt: number; ws: number; lines: string[] }> {
    stderr = '';
    child = spawn(process.execPath, ['-r', 'esbuild-register', join(__dirname, '..', 'fixtures', 'flood-child.ts'), tmp.file('registry.db'), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines: string[] = [];
    const first = await new Promise<string>((resolve, reject) => {
      child!.stdout!.on('data', (d: Buffer) => {
        lines.push(...d.toString().split('\n').filter(Boolean));
        if (lines.length === 1) resolve(lines[0]);
      });
      child!.once('exit', (code) => reject(new Error(`the broker exited (${code}) before it listened: ${stderr}`)));
    });
    return { ...JSON.parse(first), lines };
  }

  function stream(transport: 'tcp' | 'ws', port: number): Duplex {
    const s: Duplex = transport === 'tcp' ? net.connect(port, '127.0.0.1') : createWebSocketStream(new WebSocket(`ws://127.0.0.1:${port}/ws`));
    s.on('error', () => undefined);
    sockets.push(s);
    return s;
  }

  /** A raw MQTT client that answers PUBREC (QoS 2) so its flood is not stopped by the in-flight bound. */
  function rawClient(transport: 'tcp' | 'ws', port: number, clientId: string): Duplex {
    const s = stream(transport, port);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: Packet) => {
      if (p.cmd === 'pubrec') s.write(mqttPacket.generate({ cmd: 'pubrel', messageId: p.messageId } as Packet));
    });
    s.on('data', (d: Buffer) => parser.parse(d));
    s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0, username: 'globex', password: Buffer.from('globex-pw') } as Packet));
    return s;
  }

  function subscriber(transport: 'tcp' | 'ws', port: number, qos: 0 | 1 | 2): Duplex {
    const s = rawClient(transport, port, 'flood-sub');
    s.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'bench/#', qos }] } as Packet));
    return s;
  }

  /** Four publishers write as fast as their sockets accept, until `stop()`. */
  function publishers(transport: 'tcp' | 'ws', port: number, qos: 0 | 1 | 2, retain: boolean): { stop(): void } {
    let stopped = false;
    for (let k = 0; k < 4; k++) {
      const s = rawClient(transport, port, `flood-pub-${k}`);
      let messageId = 0;
      const batch = () => {
        const packets: Buffer[] = [];
        for (let i = 0; i < 100; i++) {
          messageId = (messageId % 65535) + 1;
          packets.push(Buffer.from(mqttPacket.generate({ cmd: 'publish', topic: `bench/${k}`, payload: Buffer.alloc(64, 120), qos, retain, dup: false, messageId } as Packet)));
        }
        return Buffer.concat(packets);
      };
      const pump = () => {
        while (!stopped && s.write(batch()));
        if (!stopped) s.once('drain', pump);
      };
      setTimeout(pump, 50);
    }
    return { stop: () => (stopped = true) };
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  async function assertServing(ports: { mqtt: number }): Promise<void> {
    for (const s of sockets.splice(0)) s.destroy();
    await sleep(500); // what was still queued inside the broker drains now
    assert.equal(child!.exitCode, null, `the broker process died:\n${stderr.slice(0, 3000)}`);
    const fresh = await connect(`mqtt://127.0.0.1:${ports.mqtt}`, { username: 'globex', password: 'globex-pw', clientId: 'after-flood' });
    try {
      await fresh.subscribe('probe', 1);
      await fresh.publish('probe', 'still here', { qos: 1 });
      assert.equal((await fresh.waitFor((m) => m.topic === 'probe')).payload, 'still here');
    } finally {
      await fresh.end();
    }
    assert.doesNotMatch(stderr, /RangeError|Maximum call stack/);
  }

  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    child = null;
    tmp.remove();
  });

  it('QoS 0 over TCP, the subscriber reading for 2 s and then gone, publishers on for 3 s more', async () => {
    const ports = await startChild();
    const sub = subscriber('tcp', ports.mqtt, 0);
    sub.on('data', () => undefined);
    await sleep(200);
    const flood = publishers('tcp', ports.mqtt, 0, false);
    await sleep(2000);
    sub.destroy();
    await sleep(3000);
    flood.stop();
    await assertServing(ports);
  });

  it('QoS 1 retained over WebSocket, a subscriber arriving mid-flood and leaving again', async () => {
    const ports = await startChild();
    const flood = publishers('ws', ports.ws, 1, true);
    await sleep(700);
    const sub = subscriber('ws', ports.ws, 1);
    await sleep(700);
    sub.destroy();
    await sleep(700);
    flood.stop();
    await assertServing(ports);
  });

  it('QoS 2 over TCP with a subscriber that never reads, then leaves', async () => {
    const ports = await startChild();
    const sub = subscriber('tcp', ports.mqtt, 2);
    (sub as net.Socket).pause();
    await sleep(200);
    const flood = publishers('tcp', ports.mqtt, 2, false);
    await sleep(1500);
    sub.destroy();
    await sleep(1000);
    flood.stop();
    await assertServing(ports);
  });

  it('QoS 0 with no subscriber at all', async () => {
    const ports = await startChild();
    const flood = publishers('tcp', ports.mqtt, 0, false);
    await sleep(1500);
    flood.stop();
    await assertServing(ports);
  });

  it('in-process publishes (tenant-out) with an in-process subscriber (tenant-in) leaving mid-flood', async () => {
    const ports = await startChild('in-process');
    while (child!.exitCode === null && !(await new Promise<boolean>((resolve) => setTimeout(() => resolve(ports.lines.includes('flooded')), 100))));
    await assertServing(ports);
  });
});

describe('a stalled subscriber slows nobody else', () => {
  const fixture = engineFixture();

  it("another tenant's round trip completes while one tenant's subscriber reads nothing under a flood", async function () {
    this.timeout(20_000);
    const port = fixture.engine.addresses.mqtt!.port;
    const stalled = await rawConnect(port);
    stalled.send(connectPacket({ clientId: 'stalled', username: 'globex', password: Buffer.from('globex-pw') }));
    await stalled.next('connack');
    stalled.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'bench/#', qos: 0 }] });
    await stalled.next('suback');
    stalled.socket.pause();
    let closed = false;
    void stalled.closed.then(() => (closed = true));
    const publisher = await rawConnect(port);
    publisher.send(connectPacket({ clientId: 'flooder', username: 'globex', password: Buffer.from('globex-pw') }));
    await publisher.next('connack');
    const packet = Buffer.from(mqttPacket.generate({ cmd: 'publish', topic: 'bench/1', payload: Buffer.alloc(64), qos: 0, retain: false, dup: false } as Packet));
    const batch = Buffer.concat(Array(1000).fill(packet));
    let flooding = true;
    const pump = () => {
      while (flooding && publisher.socket.write(batch));
      if (flooding) publisher.socket.once('drain', pump);
    };
    pump();
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const acme = await fixture.as('acme');
      await acme.subscribe('acme/probe', 0);
      await acme.publish('acme/probe', 'through');
      await acme.waitFor((m) => m.payload === 'through');
      // aedes drops a subscriber that has not drained for 30 s: until then it stalls the shared emitter's slots
      assert.equal(closed, false, 'the stalled subscriber was dropped first, so this proves nothing');
    } finally {
      flooding = false;
      publisher.socket.destroy();
      stalled.socket.destroy();
    }
  });
});
