import mqttPacket, { type Packet } from 'mqtt-packet';
import net from 'node:net';

/** A bare TCP connection speaking MQTT bytes, for what mqtt.js refuses to send. */
export interface RawConnection {
  socket: net.Socket;
  packets: Packet[];
  send(packet: Record<string, unknown>): RawConnection;
  sendBytes(bytes: Buffer): RawConnection;
  next(cmd: string): Promise<Packet>;
  closed: Promise<void>;
}

export function rawConnect(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const packets: Packet[] = [];
    const waiters: Array<{ cmd: string; resolve: (p: Packet) => void }> = [];
    parser.on('packet', (packet: Packet) => {
      packets.push(packet);
      const waiter = waiters.find((w) => w.cmd === packet.cmd);
      if (waiter) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(packet);
      }
    });
    socket.on('data', (data) => parser.parse(data));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((res) => socket.once('close', () => res()));
    socket.once('connect', () => {
      const connection: RawConnection = {
        socket,
        packets,
        closed,
        send(packet) {
          socket.write(mqttPacket.generate(packet as unknown as Packet));
          return connection;
        },
        sendBytes(bytes) {
          socket.write(bytes);
          return connection;
        },
        next(cmd) {
          const found = packets.find((p) => p.cmd === cmd);
          if (found) return Promise.resolve(found);
          return new Promise((res) => waiters.push({ cmd, resolve: res }));
        },
      };
      resolve(connection);
    });
    socket.once('error', reject);
  });
}

export function connectPacket(fields: Record<string, unknown>): Record<string, unknown> {
  return { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'raw', keepalive: 0, ...fields };
}

/** CONNECT bytes with an empty client identifier and clean session off, which mqtt-packet will not generate. */
export function emptyIdPersistentConnect(username: string, password: string): Buffer {
  const bytes = Buffer.from(mqttPacket.generate(connectPacket({ clientId: '', clean: true, username, password: Buffer.from(password) }) as unknown as Packet));
  let offset = 1;
  while (bytes[offset] & 0x80) offset++; // skip the remaining-length varint
  const flags = offset + 1 + 6 + 1; // after "\0\4MQTT" and the protocol level
  bytes[flags] &= ~0x02;
  return bytes;
}
