// MQTT clients for scripts/soak.mjs: plain sockets speaking MQTT 3.1.1 through
// mqtt-packet, so that one process can hold thousands of them cheaply. Started
// with fork(); commands over IPC ({id, cmd, ...} -> {id, ok, ...}):
//   connect    {ids: [n...]} opens these clients (at most `parallel` CONNECTs at once), each
//              subscribing to one topic of its own; answers {connected, failed}
//   disconnect {ids} DISCONNECT and close; answers once every socket is closed
//   stats      {open, dropped, failed, pings, pongs}
// A client's socket closing without a disconnect asked for counts as dropped.
import net from 'node:net';
import mqttPacket from 'mqtt-packet';

const [host, portText, username, password, topicPrefix, keepaliveText] = process.argv.slice(2);
const port = Number(portText);
const keepalive = Number(keepaliveText);
process.on('disconnect', () => process.exit(0));

const clients = new Map();
const counts = { dropped: 0, failed: 0, pings: 0, pongs: 0 };
const PARALLEL = 100;
// several loopback source addresses: 10,000 clients and their churn never run out of ephemeral ports
const SOURCES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];

function open(n) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, localAddress: SOURCES[n % SOURCES.length] });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const client = { n, socket, leaving: false, connected: false };
    let settled = false;
    const settle = (ok) => {
      if (settled) return;
      settled = true;
      if (ok) clients.set(n, client);
      else counts.failed++;
      resolve(ok);
    };
    socket.setNoDelay(true);
    socket.on('data', (data) => parser.parse(data));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clients.delete(n);
      if (!settled) settle(false);
      else if (!client.leaving) counts.dropped++;
      client.onClosed?.();
    });
    parser.on('packet', (packet) => {
      if (packet.cmd === 'connack') {
        if (packet.returnCode !== 0) return socket.destroy();
        client.connected = true;
        socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${topicPrefix}${n}/cmd`, qos: 1 }] }));
      } else if (packet.cmd === 'suback') settle(true);
      else if (packet.cmd === 'pingresp') counts.pongs++;
    });
    parser.on('error', () => socket.destroy());
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `soak-${n}`, keepalive, username, password: Buffer.from(password) }));
  });
}

// PINGREQ well inside the keep-alive, spread over it: each second a slice of the clients pings
let tick = 0;
const period = Math.max(1, Math.floor(keepalive * 0.75));
setInterval(() => {
  tick++;
  for (const client of clients.values()) {
    if (client.connected && client.n % period === tick % period) {
      counts.pings++;
      client.socket.write(mqttPacket.generate({ cmd: 'pingreq' }));
    }
  }
}, 1000);

async function connectAll(ids) {
  let next = 0;
  let connected = 0;
  const worker = async () => {
    while (next < ids.length) {
      if (await open(ids[next++])) connected++;
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  return { connected, failed: ids.length - connected };
}

function disconnect(ids) {
  return Promise.all(
    ids.map(
      (n) =>
        new Promise((resolve) => {
          const client = clients.get(n);
          if (!client) return resolve();
          client.leaving = true;
          client.onClosed = resolve;
          client.socket.end(mqttPacket.generate({ cmd: 'disconnect' }));
        }),
    ),
  );
}

process.on('message', async (msg) => {
  try {
    let answer = {};
    if (msg.cmd === 'connect') answer = await connectAll(msg.ids);
    else if (msg.cmd === 'disconnect') await disconnect(msg.ids);
    else if (msg.cmd === 'stats') answer = { open: clients.size, ...counts };
    process.send({ id: msg.id, ok: true, ...answer });
  } catch (err) {
    process.send({ id: msg.id, ok: false, error: String(err) });
  }
});
process.send({ event: 'ready' });
