import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { capWebSocketMessages } from '../../src/aedes-seam';

/**
 * One test per assumption src/aedes-seam.ts makes about a dependency's
 * private state: an upgrade that breaks one fails here, by name.
 */
describe('the seam: assumptions about private state', () => {
  describe('ws', () => {
    let server: http.Server;
    let wss: WebSocketServer;
    let url: string;
    const serverSide: WebSocket[] = [];
    beforeEach(async () => {
      server = http.createServer();
      wss = new WebSocketServer({ server, maxPayload: 1024 * 1024, perMessageDeflate: false });
      wss.on('connection', (ws) => serverSide.push(ws));
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterEach(async () => {
      for (const ws of serverSide.splice(0)) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => server.close(() => resolve())));
    });

    async function pair(): Promise<{ client: WebSocket; server: WebSocket; received: Buffer[] }> {
      const client = new WebSocket(url);
      client.on('error', () => undefined);
      await once(client, 'open');
      while (serverSide.length === 0) await new Promise((resolve) => setImmediate(resolve));
      const ws = serverSide[serverSide.length - 1];
      const received: Buffer[] = [];
      ws.on('message', (data: Buffer) => received.push(data));
      ws.on('error', () => undefined);
      return { client, server: ws, received };
    }

    it("capWebSocketMessages: ws 8 checks each frame header against the receiver's _maxPayload, per connection, before buffering", async () => {
      const { client, server: ws, received } = await pair();
      assert.equal(capWebSocketMessages(ws, 100), true);
      client.send(Buffer.alloc(100, 1));
      await new Promise<void>((resolve) => ws.once('message', () => resolve()));
      // raised again, a larger message passes
      assert.equal(capWebSocketMessages(ws, 1000), true);
      client.send(Buffer.alloc(1000, 2));
      await new Promise<void>((resolve) => ws.once('message', () => resolve()));
      assert.deepEqual(received.map((m) => m.length), [100, 1000]);
      // over the cap: the fragments of a message never finished are refused by their length, with 1009
      capWebSocketMessages(ws, 100);
      const [code] = (await Promise.all([once(client, 'close'), client.send(Buffer.alloc(60), { fin: false }), client.send(Buffer.alloc(60), { fin: false })]))[0] as [number];
      assert.equal(code, 1009);
    });

    it('capWebSocketMessages answers false for an object that is not a ws 8 WebSocket', () => {
      assert.equal(capWebSocketMessages({} as WebSocket, 100), false);
    });
  });
});
