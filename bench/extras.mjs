// Two comparisons of the engine with itself, run by `npm run bench` after the
// table against bare aedes (or alone: node bench/extras.mjs [--reps=N]):
//
// node bench/extras.mjs [--reps=N] [--only=1,3] [--no-pin]
//
// 1. Webhooks never slow the broker: fan-in QoS 0 (prefix tenant) with a
//    webhook on every topic to a target that answers after 2 s, as a ratio to
//    the same engine without the webhook. Target >= 0.9.
// 2. SQLite persistence against memory persistence: fan-in QoS 1 with retained
//    publishes and a persistent subscriber (clean session off), so the broker
//    stores retained messages and queues for the session. Target >= 0.7.
// 3. Message policies: fan-in QoS 0 of a 64-byte JSON object (5 properties) on
//    a topic with a JSON-schema policy of those 5 properties, as a ratio to the
//    same engine without any policy (target >= 0.7); and with a policy on
//    another topic only (a topic without policy costs nothing measurable:
//    ratio ~1). Bare-socket publishers (--load-client=raw in bench/run.mjs), so
//    that the broker sets the rate.
// 4. HTTP publish adapter: publishes/s from one undici client with keep-alive,
//    one socket one request at a time, and a pool of 8 sockets. Target
//    >= 10,000/s.
//
// Same processes as bench/run.mjs: brokers (bench/broker.mjs) and the mqtt.js
// load generator (bench/load.mjs) in children of their own, pinned to CPUs.
import { createServer } from 'node:http';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAll, pin, rpc, setPinning, spawnChild, stopChild, tempDirs } from './children.mjs';

const repsArg = process.argv.find((a) => a.startsWith('--reps='));
const REPS = repsArg ? Number(repsArg.slice(7)) : 3;
const onlyArg = process.argv.find((a) => a.startsWith('--only='));
/** `--only=3,4`: run only these comparisons (numbered as above). */
const wanted = (n) => !onlyArg || onlyArg.slice(7).split(',').map(Number).includes(n);
const PINNED = setPinning(!process.argv.includes('--no-pin'));
const FANIN0 = { qos: 0, publishers: 4, perPublisher: 50_000, payloadSize: 64, window: 1000, quietMs: 2000 };
const FANIN1 = { qos: 1, publishers: 4, perPublisher: 25_000, payloadSize: 64, window: 100, quietMs: 3000, retain: true, persistentSubscriber: true };

const JSON_PAYLOAD = '{"id":1234,"temp":21.5,"hum":40.25,"ok":true,"name":"sensor-01"}'; // 64 bytes
const SCHEMA = {
  type: 'object',
  properties: { id: { type: 'integer' }, temp: { type: 'number' }, hum: { type: 'number' }, ok: { type: 'boolean' }, name: { type: 'string', maxLength: 32 } },
  required: ['id', 'temp', 'hum', 'ok', 'name'],
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function engine(name, options) {
  const dir = await mkdtemp(join(os.tmpdir(), `tenant-broker-bench-${name}-`));
  tempDirs.push(dir);
  const broker = spawnChild('broker.mjs', ['engine', dir, fileURLToPath(new URL('../dist/src/index.js', import.meta.url)), JSON.stringify(options)]);
  const ready = await broker.ready;
  pin(broker.child, '1');
  return { child: broker.child, prefix: ready.targets.find((t) => t.name === 'prefix') };
}

/** An HTTP target that holds every request for 2 s before answering 204. */
async function slowTarget() {
  const server = createServer((req, res) => {
    req.resume();
    setTimeout(() => res.writeHead(204).end(), 2000).unref();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${server.address().port}/hook` };
}

async function main() {
  console.log(`bench extras: ${REPS} repetition(s)${PINNED ? ', pinned' : ''}`);
  const load = spawnChild('load.mjs', []);
  await load.ready;
  pin(load.child, '0');
  const target = await slowTarget();
  try {
    if (wanted(1)) {
      // 1. webhook to a slow target vs none, same engine, alternating
      const e = await engine('webhook', {});
      await rpc(load.child, { task: 'fanin', params: { target: e.prefix, ...FANIN0, perPublisher: 2000 } });
      const plain = [];
      const hooked = [];
      let counters = null;
      for (let rep = 0; rep < REPS; rep++) {
        plain.push((await rpc(load.child, { task: 'fanin', params: { target: e.prefix, ...FANIN0 } })).result.rate);
        const { webhookId } = await rpc(e.child, { cmd: 'webhook', url: target.url });
        hooked.push((await rpc(load.child, { task: 'fanin', params: { target: e.prefix, ...FANIN0 } })).result.rate);
        counters = Object.values((await rpc(e.child, { cmd: 'webhook', remove: webhookId })).webhooks);
    }
    const ratios = hooked.map((h, i) => h / plain[i]);
    console.log(`fan-in QoS 0 without webhook: ${Math.round(median(plain)).toLocaleString('en-US')} msg/s; with a webhook to a 2 s target: ${Math.round(median(hooked)).toLocaleString('en-US')} msg/s`);
    console.log(`  ratio ${median(ratios).toFixed(3)} (target >= 0.9) ${median(ratios) >= 0.9 ? 'PASS' : 'BELOW'}; per run ${ratios.map((r) => r.toFixed(3)).join(' ')}`);
    if (counters?.[0]) console.log(`  webhook during the last run: ${counters[0].dropped} dropped by its bounded queue, ${counters[0].inFlight} in flight, ${counters[0].queued} queued`);
    await stopChild(e.child);
    }

    if (wanted(2)) {
      // 2. sqlite vs memory persistence, QoS 1, retained, persistent subscriber
      const memory = await engine('memory', { persistence: 'memory' });
      const sqlite = await engine('sqlite', { persistence: 'sqlite' });
      const rates = { memory: [], sqlite: [], lost: 0 };
      for (const e2 of [memory, sqlite]) await rpc(load.child, { task: 'fanin', params: { target: e2.prefix, ...FANIN1, perPublisher: 1000 } });
      for (let rep = 0; rep < REPS; rep++) {
        for (const [name, e2] of rep % 2 ? [['sqlite', sqlite], ['memory', memory]] : [['memory', memory], ['sqlite', sqlite]]) {
          const { result } = await rpc(load.child, { task: 'fanin', params: { target: e2.prefix, ...FANIN1 } });
          rates[name].push(result.rate);
          // the subscriber also gets the previous run's retained messages on subscribing: those are not losses
          rates.lost += Math.max(0, result.lost);
        }
    }
    const pratios = rates.sqlite.map((r, i) => r / rates.memory[i]);
    console.log(`fan-in QoS 1, retained, persistent subscriber: memory ${Math.round(median(rates.memory)).toLocaleString('en-US')} msg/s, sqlite ${Math.round(median(rates.sqlite)).toLocaleString('en-US')} msg/s`);
    console.log(`  ratio sqlite/memory ${median(pratios).toFixed(3)} (target >= 0.7) ${median(pratios) >= 0.7 ? 'PASS' : 'BELOW'}; per run ${pratios.map((r) => r.toFixed(3)).join(' ')}; lost ${rates.lost}`);
    await Promise.all([stopChild(memory.child), stopChild(sqlite.child)]);
    }

    if (wanted(3)) {
      // 3. a JSON-schema policy on the fan-in topics vs on another topic vs none, same engine, order rotated
      const p = await engine('policy', {});
      const json = { ...FANIN0, client: 'raw', perPublisher: 100_000, payloadText: JSON_PAYLOAD };
      await rpc(load.child, { task: 'fanin', params: { target: p.prefix, ...json, perPublisher: 2000 } });
      const variants = {
        none: null,
        other: { topic_filter: 'other/#', json_schema: SCHEMA, action: 'drop' },
        matching: { topic_filter: 'bench/#', json_schema: SCHEMA, action: 'drop' },
      };
      // the policy is really applied: with one that every payload violates (action drop), nothing arrives
      const { policyId: violatedId } = await rpc(p.child, { cmd: 'policy', add: { topic_filter: 'bench/#', json_schema: { ...SCHEMA, required: ['absent'] }, action: 'drop' } });
      const violated = (await rpc(load.child, { task: 'fanin', params: { target: p.prefix, ...json, perPublisher: 2000, quietMs: 500 } })).result;
      await rpc(p.child, { cmd: 'policy', remove: violatedId });
      if (violated.received !== 0) throw new Error(`a schema policy every payload violates let ${violated.received} of ${violated.sent} messages through`);
      const policyRates = { none: [], other: [], matching: [] };
      let policyLost = 0;
      const names = Object.keys(variants);
      for (let rep = 0; rep < REPS; rep++) {
        for (let k = 0; k < names.length; k++) {
          const name = names[(k + rep) % names.length];
          const { policyId } = variants[name] ? await rpc(p.child, { cmd: 'policy', add: variants[name] }) : {};
          const { result } = await rpc(load.child, { task: 'fanin', params: { target: p.prefix, ...json } });
          policyRates[name].push(result.rate);
          policyLost += result.lost;
          if (policyId !== undefined) await rpc(p.child, { cmd: 'policy', remove: policyId });
        }
    }
    const rate = (name) => Math.round(median(policyRates[name])).toLocaleString('en-US');
    const matchingRatios = policyRates.matching.map((r, i) => r / policyRates.none[i]);
    const otherRatios = policyRates.other.map((r, i) => r / policyRates.none[i]);
    console.log(`fan-in QoS 0, ${JSON_PAYLOAD.length}-byte JSON (raw publishers): no policy ${rate('none')} msg/s; policy on another topic ${rate('other')} msg/s; 5-property schema policy on the topic ${rate('matching')} msg/s`);
    console.log(`  ratio with schema policy ${median(matchingRatios).toFixed(3)} (target >= 0.7) ${median(matchingRatios) >= 0.7 ? 'PASS' : 'BELOW'}; per run ${matchingRatios.map((r) => r.toFixed(3)).join(' ')}`);
    console.log(`  ratio with a policy elsewhere only ${median(otherRatios).toFixed(3)} (expected ~1); per run ${otherRatios.map((r) => r.toFixed(3)).join(' ')}; lost ${policyLost}`);
    await stopChild(p.child);
    }

    if (wanted(4)) {
      // 4. HTTP publish adapter, one undici client with keep-alive; a bare Node HTTP server the same way, as the ceiling.
      // (undici never pipelines a POST, so one Client means one request at a time, whatever its `pipelining`)
      const h = await engine('http', { ws: { port: 0, host: '127.0.0.1' }, httpPublish: true });
      const bare = spawnChild('broker.mjs', ['http']);
      const bareTarget = (await bare.ready).targets[0];
      pin(bare.child, '1');
      for (const connections of [1, 8]) {
        const runs = { adapter: [], bare: [] };
        let last = null;
        for (let rep = 0; rep < REPS; rep++) {
          const params = { requests: 40_000, connections, payloadText: JSON_PAYLOAD };
          last = (await rpc(load.child, { task: 'http', params: { target: h.prefix, ...params } })).result;
          runs.adapter.push(last.rate);
          runs.bare.push((await rpc(load.child, { task: 'http', params: { target: bareTarget, ...params } })).result.rate);
        }
        const adapter = median(runs.adapter);
        console.log(
          `HTTP publish QoS 0, one undici ${connections === 1 ? 'Client (1 keep-alive socket, 1 request at a time)' : `Pool (${connections} keep-alive sockets, 1 request in flight on each)`}: ` +
            `${Math.round(adapter).toLocaleString('en-US')} publishes/s (target >= 10,000) ${adapter >= 10_000 ? 'PASS' : 'BELOW'}; per run ${runs.adapter.map(Math.round).join(' ')}; ` +
            `last run: statuses ${JSON.stringify(last.statuses)}, delivered ${last.received}`,
        );
        console.log(`  a bare Node HTTP server (reads the body, answers 204) the same way: ${Math.round(median(runs.bare)).toLocaleString('en-US')} requests/s; adapter/bare ${(adapter / median(runs.bare)).toFixed(3)}`);
    }
    await stopChild(bare.child);
    await stopChild(h.child);
    }
    await stopChild(load.child);
  } finally {
    target.server.close();
    target.server.closeAllConnections();
    killAll();
  }
}

const watchdog = setTimeout(() => {
  console.error('bench extras: gave up after 15 minutes');
  killAll();
  process.exit(1);
}, 15 * 60_000);
watchdog.unref();
main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench extras failed: ${err?.stack ?? err}`);
    killAll();
    process.exit(1);
  },
);
