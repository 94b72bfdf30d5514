// The load generator: mqtt.js clients, in a process of its own (never the
// broker's). Started by bench/run.mjs through child_process.fork(); takes one
// task at a time over IPC: {id, task, ...params} -> {id, ok, result}.
//
//   fanin       P publishers x M messages -> one wildcard subscriber
//   fanout      1 publisher x N messages -> S subscribers
//               client 'mqttjs' (default): mqtt.js clients; client 'raw': minimal MQTT 3.1.1
//               publishers and subscribers on bare sockets (pre-encoded PUBLISH packets written
//               in batches, PUBACKs counted; subscribers count PUBLISH packets and answer
//               PUBACK), several times cheaper per message than mqtt.js, so that the broker,
//               not this process, sets the rate even for bare aedes
//   connect     open C authenticated clients, at most K connecting at once; they stay open.
//               client 'raw' (default): a minimal MQTT 3.1.1 client on a bare socket (CONNECT,
//               wait for CONNACK, DISCONNECT), so the broker, not mqtt.js' per-client setup
//               (about as costly as the broker's side), limits the rate; client 'mqttjs': mqtt.js.
//   http        HTTP publishes (POST /publish/<topic>) from one undici client with keep-alive
//   disconnect  close the clients `connect` left open
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Client, Pool } from 'undici';

if (typeof process.send !== 'function') {
  console.error('bench/load.mjs is started by bench/run.mjs');
  process.exit(2);
}
process.on('disconnect', () => process.exit(0));

let serial = 0;
const idle = new Set();

function open(target, extra = {}) {
  const clientId = `b${process.pid % 1000}x${(serial++).toString(36)}`; // within aedes' default 23-byte cap
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({
      host: '127.0.0.1',
      port: target.port,
      protocol: 'mqtt',
      protocolVersion: 4,
      clientId,
      username: target.username,
      password: target.password,
      clean: true,
      keepalive: 60,
      reconnectPeriod: 0,
      connectTimeout: 30_000,
      ...extra,
    });
    const onError = (err) => {
      client.end(true);
      reject(err);
    };
    client.once('error', onError);
    client.once('close', () => reject(new Error('closed before CONNACK')));
    client.once('connect', () => {
      client.removeListener('error', onError);
      client.removeAllListeners('close');
      client.on('error', () => undefined);
      resolve(client);
    });
  });
}

function closeClient(client) {
  return new Promise((resolve) => client.end(false, {}, () => resolve()));
}

function subscribe(client, filter, qos) {
  return new Promise((resolve, reject) =>
    client.subscribe(filter, { qos }, (err, granted) => {
      if (err) return reject(err);
      if (!granted?.length || granted[0].qos === 128) return reject(new Error(`subscription to ${filter} refused`));
      resolve();
    }),
  );
}

/**
 * Publishes `total` messages keeping at most `window` unacknowledged: for QoS 0
 * a publish is done once written to the socket (mqtt.js waits for 'drain' when
 * the socket pushes back), for QoS 1 once PUBACK arrives.
 */
function pump(client, topic, payload, qos, total, window, retain = false) {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let done = 0;
    let inPump = false;
    let scheduled = false;
    const onDone = (err) => {
      if (err) return reject(err);
      done++;
      if (done === total) return resolve();
      if (!inPump && !scheduled) {
        scheduled = true;
        setImmediate(run);
      }
    };
    // with reconnectPeriod 0 a dropped publisher never completes its QoS 1 publishes
    client.once('close', () => reject(new Error(`publisher on ${topic} disconnected after ${done} of ${total}`)));
    const run = () => {
      scheduled = false;
      inPump = true;
      while (sent < total && sent - done < window) {
        sent++;
        client.publish(topic, payload, { qos, retain }, onDone);
      }
      inPump = false;
      // callbacks that ran synchronously inside the loop may have freed the window
      if (sent < total && sent - done < window && !scheduled) {
        scheduled = true;
        setImmediate(run);
      }
    };
    run();
  });
}

/** Resolves when `counter.received` reaches `expected`, or once nothing has arrived for `quietMs` after `sendersDone`. */
function awaitDeliveries(counter, expected, sendersDone, quietMs) {
  return new Promise((resolve) => {
    let timer = null;
    const check = () => {
      if (counter.received >= expected) {
        clearInterval(timer);
        resolve();
      } else if (counter.sendersDone && performance.now() - Math.max(counter.last, counter.sendersDoneAt) > quietMs) {
        clearInterval(timer);
        resolve();
      }
    };
    counter.onMessage = () => {
      if (counter.received >= expected) check();
    };
    timer = setInterval(check, 50);
    const finished = () => {
      counter.sendersDone = true;
      counter.sendersDoneAt = performance.now();
    };
    // a failed sender ends the wait too; the caller's `await sending` reports the error
    sendersDone.then(finished, finished);
  });
}

function counterFor(clients) {
  const counter = { received: 0, last: 0, sendersDone: false, sendersDoneAt: 0, onMessage: null };
  for (const c of clients) {
    c.on('message', () => {
      counter.received++;
      counter.last = performance.now();
      if (counter.onMessage) counter.onMessage();
    });
  }
  return counter;
}

async function fanIn({ target, qos, publishers, perPublisher, payloadSize, payloadText, window, quietMs, retain = false, persistentSubscriber = false }) {
  const payload = payloadText === undefined ? Buffer.alloc(payloadSize, 0x61) : Buffer.from(payloadText);
  // a persistent subscriber (clean session off) makes the broker store its subscription and queue for it
  const sub = await open(target, persistentSubscriber ? { clean: false, clientId: `ps${process.pid % 1000}x${(serial++).toString(36)}` } : {});
  await subscribe(sub, target.subFilter, qos);
  const pubs = await Promise.all(Array.from({ length: publishers }, () => open(target)));
  const expected = publishers * perPublisher;
  const counter = counterFor([sub]);
  const start = performance.now();
  const sending = Promise.all(pubs.map((p, n) => pump(p, `${target.pubPrefix}bench/${n}`, payload, qos, perPublisher, window, retain)));
  await awaitDeliveries(counter, expected, sending, quietMs);
  await sending;
  const end = counter.received > 0 ? counter.last : performance.now();
  const seconds = (end - start) / 1000;
  if (persistentSubscriber) await new Promise((resolve) => sub.unsubscribe(target.subFilter, () => resolve()));
  await Promise.all([sub, ...pubs].map(closeClient));
  return { sent: expected, received: counter.received, lost: expected - counter.received, seconds, rate: counter.received / seconds };
}

async function fanOut({ target, qos, subscribers, messages, payloadSize, window, quietMs }) {
  const payload = Buffer.alloc(payloadSize, 0x62);
  const subs = await Promise.all(Array.from({ length: subscribers }, () => open(target)));
  await Promise.all(subs.map((s) => subscribe(s, target.subFilter, qos)));
  const pub = await open(target);
  const expected = subscribers * messages;
  const counter = counterFor(subs);
  const start = performance.now();
  const sending = pump(pub, `${target.pubPrefix}bench/0`, payload, qos, messages, window);
  await awaitDeliveries(counter, expected, sending, quietMs);
  await sending;
  const end = counter.received > 0 ? counter.last : performance.now();
  const seconds = (end - start) / 1000;
  await Promise.all([pub, ...subs].map(closeClient));
  return { sent: expected, received: counter.received, lost: expected - counter.received, seconds, rate: counter.received / seconds };
}

const DISCONNECT = mqttPacket.generate({ cmd: 'disconnect' });

/** CONNECT on a bare socket; resolves with a handle once CONNACK says 0 (accepted). */
function openRaw(target) {
  const clientId = `r${process.pid % 1000}x${(serial++).toString(36)}`; // within aedes' default 23-byte cap
  const connect = mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    clientId,
    keepalive: 60,
    username: target.username,
    password: Buffer.from(target.password),
  });
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: target.port, noDelay: true });
    let buffered = Buffer.alloc(0);
    const fail = (err) => {
      socket.destroy();
      reject(err);
    };
    socket.once('error', fail);
    socket.once('close', () => reject(new Error('closed before CONNACK')));
    socket.once('connect', () => socket.write(connect));
    const onData = (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 4) return;
      socket.removeListener('data', onData);
      if (buffered[0] !== 0x20 || buffered[1] !== 0x02) return fail(new Error(`expected CONNACK, got 0x${buffered[0].toString(16)}`));
      if (buffered[3] !== 0) return fail(new Error(`CONNACK return code ${buffered[3]}`));
      socket.removeAllListeners('error');
      socket.removeAllListeners('close');
      socket.on('error', () => undefined);
      socket.on('data', () => undefined); // keep the socket flowing
      resolve({
        socket,
        end: () =>
          new Promise((done) => {
            if (socket.destroyed) return done();
            socket.once('close', done);
            socket.end(DISCONNECT);
          }),
      });
    };
    socket.on('data', onData);
  });
}

// ------------------------------------------------- raw publishers and subscribers

/** Calls onPacket(firstByte, buffer, bodyOffset, bodyLength) for every whole MQTT packet in a byte stream. */
function packetReader(onPacket) {
  let pending = null;
  return (chunk) => {
    let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    let off = 0;
    for (;;) {
      if (buf.length - off < 2) break;
      let len = 0;
      let mul = 1;
      let i = off + 1;
      let byte;
      do {
        if (i >= buf.length) {
          len = -1;
          break;
        }
        byte = buf[i++];
        len += (byte & 127) * mul;
        mul *= 128;
      } while (byte & 128);
      if (len < 0 || buf.length - i < len) break;
      onPacket(buf[off], buf, i, len);
      off = i + len;
    }
    pending = off === buf.length ? null : buf.subarray(off);
  };
}

/** A raw subscriber: SUBSCRIBE, SUBACK checked; then counts PUBLISH packets, answering PUBACK for QoS 1. */
async function rawSubscriber(target, filter, qos, counter) {
  const session = await openRaw(target);
  const { socket } = session;
  socket.removeAllListeners('data');
  let subacked;
  const suback = new Promise((resolve, reject) => (subacked = { resolve, reject }));
  const acks = [];
  const read = packetReader((first, buf, at) => {
    const type = first >> 4;
    if (type === 9) {
      // SUBACK: id (2 bytes), then the granted QoS
      if (buf[at + 2] === 0x80) subacked.reject(new Error(`subscription to ${filter} refused`));
      else subacked.resolve();
    } else if (type === 3) {
      counter.received++;
      const pqos = (first >> 1) & 3;
      if (pqos > 0) {
        const topicLength = buf.readUInt16BE(at);
        const id = at + 2 + topicLength;
        acks.push(0x40, 2, buf[id], buf[id + 1]);
      }
    }
  });
  socket.on('data', (chunk) => {
    read(chunk);
    counter.last = performance.now();
    if (acks.length) {
      socket.write(Buffer.from(acks));
      acks.length = 0;
    }
    if (counter.onMessage) counter.onMessage();
  });
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] }));
  await suback;
  return session;
}

/**
 * Publishes `total` pre-encoded messages on a raw connection keeping at most
 * `window` unacknowledged (QoS 1: PUBACKs counted) or, for QoS 0, writing in
 * batches of `window` and waiting for 'drain' when the socket pushes back.
 */
function rawPump(session, topic, payload, qos, total, window) {
  const { socket } = session;
  const template = mqttPacket.generate({ cmd: 'publish', topic, payload, qos, messageId: 1, retain: false, dup: false });
  const size = template.length;
  const idAt = size - payload.length - 2; // v3.1.1: the packet id sits between the topic and the payload
  let sent = 0;
  let acked = 0;
  let ackBytes = 0;
  let nextId = 1;
  return new Promise((resolve, reject) => {
    socket.once('close', () => reject(new Error(`raw publisher on ${topic} closed after ${acked} of ${total}`)));
    const batch = (n) => {
      const out = Buffer.allocUnsafe(n * size);
      for (let k = 0; k < n; k++) {
        template.copy(out, k * size);
        if (qos > 0) {
          out.writeUInt16BE(nextId, k * size + idAt);
          nextId = nextId === 65535 ? 1 : nextId + 1;
        }
      }
      sent += n;
      return out;
    };
    if (qos === 0) {
      const run = () => {
        while (sent < total) {
          if (!socket.write(batch(Math.min(window, total - sent)))) return socket.once('drain', run);
        }
        resolve();
      };
      run();
      return;
    }
    socket.removeAllListeners('data');
    socket.on('data', (chunk) => {
      ackBytes += chunk.length; // a publisher receives nothing but PUBACKs (4 bytes each)
      acked = ackBytes >> 2;
      if (acked >= total) return resolve();
      const room = Math.min(window - (sent - acked), total - sent);
      if (room > 0) socket.write(batch(room));
    });
    socket.write(batch(Math.min(window, total)));
  });
}

async function fanInRaw({ target, qos, publishers, perPublisher, payloadSize, payloadText, window, quietMs }) {
  const payload = payloadText === undefined ? Buffer.alloc(payloadSize, 0x61) : Buffer.from(payloadText);
  const counter = { received: 0, last: 0, sendersDone: false, sendersDoneAt: 0, onMessage: null };
  const sub = await rawSubscriber(target, target.subFilter, qos, counter);
  const pubs = await Promise.all(Array.from({ length: publishers }, () => openRaw(target)));
  const expected = publishers * perPublisher;
  const start = performance.now();
  const sending = Promise.all(pubs.map((p, n) => rawPump(p, `${target.pubPrefix}bench/${n}`, payload, qos, perPublisher, window)));
  await awaitDeliveries(counter, expected, sending, quietMs);
  await sending;
  const end = counter.received > 0 ? counter.last : performance.now();
  const seconds = (end - start) / 1000;
  await Promise.all([sub, ...pubs].map((c) => c.end()));
  return { sent: expected, received: counter.received, lost: expected - counter.received, seconds, rate: counter.received / seconds };
}

async function fanOutRaw({ target, qos, subscribers, messages, payloadSize, window, quietMs }) {
  const payload = Buffer.alloc(payloadSize, 0x62);
  const counter = { received: 0, last: 0, sendersDone: false, sendersDoneAt: 0, onMessage: null };
  const subs = await Promise.all(Array.from({ length: subscribers }, () => rawSubscriber(target, target.subFilter, qos, counter)));
  const pub = await openRaw(target);
  const expected = subscribers * messages;
  const start = performance.now();
  const sending = rawPump(pub, `${target.pubPrefix}bench/0`, payload, qos, messages, window);
  await awaitDeliveries(counter, expected, sending, quietMs);
  await sending;
  const end = counter.received > 0 ? counter.last : performance.now();
  const seconds = (end - start) / 1000;
  await Promise.all([pub, ...subs].map((c) => c.end()));
  return { sent: expected, received: counter.received, lost: expected - counter.received, seconds, rate: counter.received / seconds };
}

async function connectMany({ target, clients, concurrency, client = 'raw' }) {
  if (idle.size) throw new Error('clients of an earlier connect task are still open');
  let next = 0;
  let failed = 0;
  let firstError = null;
  const start = performance.now();
  const worker = async () => {
    while (next < clients) {
      next++;
      try {
        idle.add(client === 'mqttjs' ? await open(target) : await openRaw(target));
      } catch (err) {
        failed++;
        firstError ??= String(err?.message ?? err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, clients) }, worker));
  const seconds = (performance.now() - start) / 1000;
  return { connected: idle.size, failed, firstError, seconds, rate: idle.size / seconds };
}

async function disconnectAll() {
  const all = [...idle];
  idle.clear();
  // end in slices so thousands of DISCONNECTs do not all hit the broker in the same tick
  const close = (c) => (c instanceof mqtt.MqttClient ? closeClient(c) : c.end());
  for (let i = 0; i < all.length; i += 200) await Promise.all(all.slice(i, i + 200).map(close));
  return { closed: all.length };
}

/**
 * HTTP publishes (the broker's HTTP adapter, POST /publish/<topic>) from one
 * undici client with keep-alive: `connections` 1 is one `Client` (one socket,
 * one request at a time); more is one `Pool` of that many sockets, one
 * request in flight on each. A subscriber on the target's filter counts what
 * arrives.
 */
async function httpPublish({ target, requests, connections = 1, qos = 0, payloadText, quietMs = 2000 }) {
  const origin = `http://127.0.0.1:${target.wsPort}`;
  const client = connections === 1 ? new Client(origin) : new Pool(origin, { connections });
  const headers = { authorization: `Basic ${Buffer.from(`${target.username}:${target.password}`).toString('base64')}`, 'content-type': 'application/json' };
  const body = Buffer.from(payloadText);
  const path = `/publish/${target.pubPrefix}bench/http?qos=${qos}`;
  // no MQTT side for a bare HTTP server (bench/broker.mjs http)
  const sub = target.port ? await open(target) : null;
  if (sub) await subscribe(sub, target.subFilter, qos);
  const counter = counterFor(sub ? [sub] : []);
  const statuses = {};
  let started = 0;
  const worker = async () => {
    while (started < requests) {
      started++;
      const res = await client.request({ method: 'POST', path, headers, body });
      await res.body.dump();
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
    }
  };
  // warm-up: the first request pays the password check, which the adapter then caches like an MQTT login
  await client.request({ method: 'POST', path, headers, body }).then((res) => res.body.dump());
  const before = counter.received;
  const start = performance.now();
  await Promise.all(Array.from({ length: connections }, worker));
  const seconds = (performance.now() - start) / 1000;
  const accepted = statuses[204] ?? 0;
  const deadline = Date.now() + quietMs;
  while (sub && counter.received - before < accepted && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await client.close();
  if (sub) await closeClient(sub);
  return { requests, statuses, received: counter.received - before, seconds, rate: accepted / seconds };
}

const rawUsable = (p) => p.client === 'raw' && !p.retain && !p.persistentSubscriber;
const tasks = {
  fanin: (p) => (rawUsable(p) ? fanInRaw(p) : fanIn(p)),
  fanout: (p) => (rawUsable(p) ? fanOutRaw(p) : fanOut(p)),
  connect: connectMany,
  http: httpPublish,
  disconnect: disconnectAll,
};

process.on('message', async (msg) => {
  const { id, task, params } = msg;
  try {
    const fn = tasks[task];
    if (!fn) throw new Error(`unknown task ${task}`);
    const cpu0 = process.cpuUsage();
    const result = await fn(params ?? {});
    const cpu = process.cpuUsage(cpu0);
    // CPU this process spent on the task: the share of `seconds` tells whether the load generator was the limit
    result.cpuSeconds = (cpu.user + cpu.system) / 1e6;
    process.send({ id, ok: true, result });
  } catch (err) {
    process.send({ id, ok: false, error: String(err?.stack ?? err) });
  }
});

process.send({ event: 'ready', pid: process.pid });
