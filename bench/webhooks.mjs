// Webhook delivery throughput against a local keep-alive HTTP receiver.
// Run after `node build.mjs`: it measures the BUILT dispatcher, as Node-RED loads it.
//
//   node bench/webhooks.mjs [deliveries=20000] [concurrency=4]
//
// The receiver runs in a worker thread so that, on a 2-core machine, it does
// not take CPU time from the dispatcher being measured.
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { WebhookDispatcher } from '../dist/src/index.js';

const total = Number(process.argv[2] ?? 20_000);
const concurrency = Number(process.argv[3] ?? 4);

const receiver = new Worker(
  `
  const { createServer } = require('node:http');
  const { parentPort } = require('node:worker_threads');
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => { res.writeHead(204); res.end(); });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
  parentPort.on('message', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
  `,
  { eval: true },
);
const [port] = await once(receiver, 'message');

function message(i) {
  return {
    tenant: 'bench',
    topic: `bench/sensors/${i % 16}`,
    payload: Buffer.from(`{"seq":${i},"value":${Math.random()}}`),
    qos: 1,
    retain: false,
    clientId: 'bench-client',
    username: 'bench',
  };
}

/** Routes `count` messages as the broker would, then waits for every result. */
async function run(dispatcher, count) {
  let done = 0;
  let failed = 0;
  const finished = new Promise((resolve) => {
    const settle = () => {
      if (++done === count) resolve();
    };
    dispatcher.on('delivered', settle);
    dispatcher.on('failed', (r) => {
      failed++;
      if (failed === 1) console.error('first failure:', r.error);
      settle();
    });
  });
  const messages = Array.from({ length: count }, (_, i) => message(i));
  const start = performance.now();
  for (const msg of messages) dispatcher.route(msg);
  const routed = performance.now();
  await finished;
  const end = performance.now();
  dispatcher.removeAllListeners();
  return { seconds: (end - start) / 1000, routeNs: ((routed - start) * 1e6) / count, failed };
}

async function scenario(label, spec) {
  const dispatcher = new WebhookDispatcher();
  dispatcher.upsert({
    id: 'bench',
    tenant: 'bench',
    topicFilter: 'bench/sensors/+',
    url: `http://127.0.0.1:${port}/hook`,
    concurrency,
    queueLimit: total,
    ...spec,
  });
  await run(dispatcher, Math.min(2000, total)); // warm-up: JIT, connections
  const { seconds, routeNs, failed } = await run(dispatcher, total);
  const counters = dispatcher.counters('bench');
  await dispatcher.close();
  const rate = Math.round(total / seconds);
  console.log(
    `${label}: ${total} deliveries in ${seconds.toFixed(2)} s, concurrency ${concurrency}, ` +
      `route() ${routeNs.toFixed(0)} ns/msg, failed ${failed}, dropped ${counters.dropped}`,
  );
  return rate;
}

const plain = await scenario('unsigned', {});
const signed = await scenario('signed', { secret: 'whsec_' + Buffer.from('bench-secret-key-bytes').toString('base64') });
console.log(`webhook deliveries/s: ${plain}`);
console.log(`webhook deliveries/s (signed): ${signed}`);

receiver.postMessage('stop');
await once(receiver, 'exit');
