import { startEngine } from './helpers/engine';
import mqtt from 'mqtt';

async function main() {
  const engine = await startEngine();
  const pub = await mqtt.connectAsync(engine.mqttUrl, { username: process.env.T ?? 'globex', password: (process.env.T ?? 'globex') + '-pw', clientId: 'pub' });
  const sub = await mqtt.connectAsync(engine.mqttUrl, { username: process.env.T ?? 'globex', password: (process.env.T ?? 'globex') + '-pw', clientId: 'sub' });
  const prefix = process.env.T === 'acme' ? 'acme/' : '';
  await sub.subscribeAsync(prefix + 'bench/#', { qos: 1 });
  const aedes = (engine.host as any).aedes;
  const keys = Object.keys(aedes.clients);
  const pc = aedes.clients[keys.find((k) => k.includes('pub'))!];
  const sc = aedes.clients[keys.find((k) => k.includes('sub'))!];
  const payload = Buffer.alloc(64);
  const qos = Number(process.env.QOS ?? 1);
  const N = 1_000_000;
  let sink = 0;
  const cb = () => { sink++; };
  for (let round = 0; round < 5; round++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      const packet: any = { cmd: 'publish', topic: prefix + 'bench/' + (i & 3), payload, qos, retain: false, dup: false, messageId: (i & 0xffff) + 1 };
      aedes.authorizePublish(pc, packet, cb);
      const copy: any = { cmd: 'publish', topic: packet.topic, payload, qos, retain: false, dup: false, messageId: 7 };
      aedes.authorizeForward(sc, copy);
      aedes.published(packet, pc, cb);
    }
    const ns = Number(process.hrtime.bigint() - t) / N;
    console.log(`round ${round}: ${ns.toFixed(0)} ns/msg`);
    await new Promise((r) => setImmediate(r));
  }
  console.log(sink);
  await pub.endAsync(); await sub.endAsync();
  await engine.stop();
}
main();
