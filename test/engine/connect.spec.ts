import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqttPacket, { type Packet } from 'mqtt-packet';
import type { ConnectionRefused } from '../../src';
import { engineFixture, type RunningEngine } from '../helpers/engine';
import { closed, connect, connackCode } from '../helpers/mqtt';
import { emptyIdPersistentConnect, rawConnect } from '../helpers/raw-mqtt';

describe('CONNECT, credentials and quotas', () => {
  const fixture = engineFixture();
  let engine: RunningEngine;
  const refused: ConnectionRefused[] = [];
  beforeEach(() => {
    engine = fixture.engine;
    refused.length = 0;
    engine.host.on('connection-refused', (e) => refused.push(e));
  });
  const code = (options: Record<string, unknown>) => connackCode(engine.mqttUrl, options);
  const as = fixture.as;

  it('answers each refusal with its CONNACK code and reason, and keeps serving everyone else', async () => {
    const bystander = await as('acme');
    await bystander.subscribe('acme/#', 1);
    await engine.host.registry.addTenant({ username: 'off', password: 'off-pw', enabled: false });
    assert.equal(await code({ username: 'acme', password: 'wrong' }), 4);
    assert.equal(await code({ username: 'nobody', password: 'x' }), 4);
    assert.equal(await code({ username: 'acme' }), 4);
    assert.equal(await code({}), 5);
    assert.equal(await code({ username: 'off', password: 'off-pw' }), 5);
    assert.equal(await code({ username: 'root', password: 'wrong' }), 4);
    // mqtt.js will not send an empty identifier without clean session: speak the bytes ourselves
    const raw = await rawConnect(engine.addresses.mqtt!.port);
    raw.sendBytes(emptyIdPersistentConnect('acme', 'acme-pw'));
    assert.equal(((await raw.next('connack')) as { returnCode: number }).returnCode, 2);
    await raw.closed;
    assert.deepEqual(
      refused.map((r) => [r.username, r.reason, r.returnCode]),
      [
        ['acme', 'bad-credentials', 4],
        ['nobody', 'bad-credentials', 4],
        ['acme', 'bad-credentials', 4],
        [null, 'no-credentials', 5],
        ['off', 'tenant-disabled', 5],
        ['root', 'bad-credentials', 4],
        ['acme', 'identifier-rejected', 2],
      ],
    );
    await (await as('acme')).publish('acme/still', 'served');
    await bystander.waitFor((m) => m.payload === 'served');
  });

  it('answers an MQTT 5 CONNECT with a 3.1.1 CONNACK, return code 1, as the README says', async () => {
    const raw = await rawConnect(engine.addresses.mqtt!.port);
    const received: Buffer[] = [];
    raw.socket.on('data', (chunk: Buffer) => received.push(chunk));
    raw.sendBytes(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'v5', keepalive: 0, username: 'acme', password: Buffer.from('acme-pw'), properties: { sessionExpiryInterval: 0 } } as unknown as Packet));
    await raw.closed;
    // [MQTT-3.2.2-5] 0x01 unacceptable protocol level, in the 3.1.1 form (no properties), then the connection closes
    assert.deepEqual([...Buffer.concat(received)], [0x20, 0x02, 0x00, 0x01]);
    const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');
    assert.match(readme, /MQTT 3\.1 and 3\.1\.1 only/);
    assert.match(readme, /MQTT 5 client gets CONNACK return\s+code 1/);
  });

  it('assigns an identifier to an empty one with clean session [MQTT-3.1.3-6]', async () => {
    const seen: string[] = [];
    engine.host.on('client-connected', (c) => seen.push(c.clientId));
    await as('acme', { clientId: '' });
    assert.match(seen[0], /^auto-/);
  });

  it('refuses root when no root password is set', async () => {
    engine.host.setRootPassword(undefined);
    assert.equal(await code({ username: 'root', password: '' }), 5);
    assert.equal(refused[0].reason, 'root-disabled');
    engine.host.setRootPassword('rootpw');
    assert.equal(await code({ username: 'root', password: 'rootpw' }), 0);
  });

  it('enforces max_connections with CONNACK 5, and counts a takeover as a replacement', async () => {
    await engine.host.registry.updateTenant('acme', { maxConnections: 2 });
    await as('acme', { clientId: 'one' });
    await as('acme', { clientId: 'two' });
    assert.equal(await code({ username: 'acme', password: 'acme-pw', clientId: 'three' }), 5);
    assert.equal(refused.at(-1)?.reason, 'over-quota');
    // reconnecting an existing identifier replaces it and stays within quota
    await as('acme', { clientId: 'two' });
    assert.equal(engine.host.connectionCount('acme'), 2);
    // other tenants are unaffected by acme's quota
    await as('globex');
  });

  it('lowering the quota disconnects the newest excess clients', async () => {
    const clients = [await as('acme', { clientId: 'c1' }), await as('acme', { clientId: 'c2' }), await as('acme', { clientId: 'c3' })];
    const gone = Promise.all([closed(clients[1].client), closed(clients[2].client)]);
    await engine.host.registry.updateTenant('acme', { maxConnections: 1 });
    await gone;
    assert.equal(clients[0].client.connected, true);
    assert.equal(engine.host.connectionCount('acme'), 1);
  });

  it('kick disconnects every client of one tenant and says how many', async () => {
    const acme = [await as('acme'), await as('acme')];
    const globex = await as('globex');
    const gone = Promise.all(acme.map((c) => closed(c.client)));
    assert.equal(engine.host.kick('acme'), 2);
    await gone;
    assert.equal(globex.client.connected, true);
    assert.equal(engine.host.kick('acme'), 0);
  });

  for (const [change, patch] of [
    ['disabling', { enabled: false }],
    ['a new password', { password: 'changed' }],
    ['a new isolation style', { isolation: 'mountpoint' as const }],
  ] as const) {
    it(`${change} disconnects the tenant's clients at once`, async () => {
      const client = await as('acme');
      const gone = closed(client.client);
      await engine.host.registry.updateTenant('acme', patch);
      await gone;
    });
  }

  it('a changed password takes effect at once and the old one stops working', async () => {
    await as('acme');
    await engine.host.registry.updateTenant('acme', { password: 'new-pw' });
    assert.equal(await code({ username: 'acme', password: 'acme-pw' }), 4);
    assert.equal(await code({ username: 'acme', password: 'new-pw' }), 0);
  });

  it('removing a tenant disconnects its clients and refuses them afterwards', async () => {
    const client = await as('acme');
    const gone = closed(client.client);
    engine.host.registry.removeTenant('acme');
    await gone;
    assert.equal(await code({ username: 'acme', password: 'acme-pw' }), 4);
  });

  it('reports connects and disconnects as events', async () => {
    const events: string[] = [];
    engine.host.on('client-connected', (c) => events.push(`+${c.tenant}/${c.clientId}/${c.transport}`));
    engine.host.on('client-disconnected', (c) => events.push(`-${c.tenant}/${c.clientId}`));
    const c = await as('acme', { clientId: 'ev' });
    await c.end();
    const ws = await connect(engine.wsUrl, { username: 'globex', password: 'globex-pw', clientId: 'ev' });
    await ws.end();
    while (events.length < 4) await new Promise((r) => setImmediate(r));
    assert.deepEqual(events, ['+acme/ev/tcp', '-acme/ev', '+globex/ev/ws', '-globex/ev']);
  });
});
