import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { dropWill, isInflightOverflow } from '../../src/aedes-seam';
import { connectPacket, rawConnect } from '../helpers/raw-mqtt';
import { until } from '../helpers/until';

/**
 * One test per assumption src/aedes-seam.ts makes about aedes' private
 * behaviour, against bare aedes: an upgrade that breaks one fails here by name.
 */
describe('the aedes seam: assumptions about aedes', () => {
  it('isInflightOverflow: aedes closes a client past maxInflightInbound with an error naming it', async () => {
    const { Aedes } = await import('aedes');
    const aedes = await Aedes.createBroker({ maxInflightInbound: 1 });
    const server = net.createServer((socket) => aedes.handle(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const raw = await rawConnect((server.address() as AddressInfo).port);
      raw.send(connectPacket({ clientId: 'q2' }));
      await raw.next('connack');
      const failed = once(aedes, 'clientError') as Promise<[unknown, Error]>;
      raw.send({ cmd: 'publish', topic: 't', payload: Buffer.from('1'), qos: 2, messageId: 1 });
      raw.send({ cmd: 'publish', topic: 't', payload: Buffer.from('2'), qos: 2, messageId: 2 });
      const [, error] = await failed;
      assert.equal(isInflightOverflow(error), true, error.message);
      assert.equal(isInflightOverflow(new Error('drain timeout')), false);
      await raw.closed;
    } finally {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      server.close();
    }
  });

  it("dropWill: aedes publishes a client's will from client.will when its connection ends without DISCONNECT", async () => {
    const { Aedes } = await import('aedes');
    const aedes = await Aedes.createBroker();
    const server = net.createServer((socket) => aedes.handle(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const published: string[] = [];
    aedes.on('publish', (packet) => {
      if (!packet.topic.startsWith('$SYS')) published.push(packet.topic);
    });
    try {
      const port = (server.address() as AddressInfo).port;
      for (const [clientId, drop] of [['kept', false], ['dropped', true]] as const) {
        const ready = once(aedes, 'clientReady') as Promise<[Parameters<typeof dropWill>[0]]>;
        const raw = await rawConnect(port);
        raw.send(connectPacket({ clientId, will: { topic: `will/${clientId}`, payload: Buffer.from('bye'), qos: 0, retain: false } }));
        const [client] = await ready;
        if (drop) dropWill(client);
        const gone = once(aedes, 'clientDisconnect');
        raw.socket.destroy();
        await gone;
        // a publish after the close, to know the will (published during it) would have come before
        await new Promise<void>((resolve) => aedes.publish({ cmd: 'publish', topic: `after/${clientId}`, payload: Buffer.alloc(0), qos: 0, retain: false, dup: false }, () => resolve()));
        await until(`after/${clientId} published`, () => published.includes(`after/${clientId}`));
      }
      assert.deepEqual(published.sort(), ['after/dropped', 'after/kept', 'will/kept']);
    } finally {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      server.close();
    }
  });
});
