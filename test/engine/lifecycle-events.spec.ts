import assert from 'node:assert/strict';
import { engineFixture } from '../helpers/engine';
import { HttpSink } from '../helpers/http-sink';
import { closed, connackCode, connect, type TestClient } from '../helpers/mqtt';

interface Event {
  event: string;
  tenant: string;
  login: string;
  client_id: string;
  transport: string;
  address: string;
  time: string;
  reason?: string;
  filters?: string[];
}

/** Per-tenant lifecycle events on `$events/<namespace>/...`, with real clients in both styles. */
describe('lifecycle events', () => {
  const fixture = engineFixture();

  async function watch(username: string, filter: string): Promise<{ client: TestClient; events: () => Event[] }> {
    const client = await fixture.as(username, { clientId: `watch-${username}` });
    assert.deepEqual(await client.subscribe(filter, 0), [0]);
    return { client, events: () => client.inbox.filter((m) => m.topic.startsWith('$events')).map((m) => JSON.parse(m.payload) as Event) };
  }

  async function until(predicate: () => boolean): Promise<void> {
    while (!predicate()) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  it('tells a mountpoint tenant its clients\' connects, subscriptions and disconnects, with the reason, in its own view', async () => {
    const w = await watch('globex', '$events/#');
    const c = await fixture.as('globex', { clientId: 'dev-1' });
    await c.subscribe('sensors/+', 1);
    await new Promise<void>((resolve) => c.client.unsubscribe('sensors/+', () => resolve()));
    await c.end();
    await until(() => w.events().some((e) => e.event === 'client.disconnected' && e.client_id === 'dev-1'));
    const mine = w.events().filter((e) => e.client_id === 'dev-1');
    assert.deepEqual(mine.map((e) => [e.event, e.reason ?? e.filters ?? null]), [
      ['client.connected', null],
      ['client.subscribed', ['sensors/+']],
      ['client.unsubscribed', ['sensors/+']],
      ['client.disconnected', 'client'],
    ]);
    const sample = mine[0];
    assert.deepEqual(Object.keys(sample).sort(), ['address', 'client_id', 'event', 'login', 'tenant', 'time', 'transport']);
    assert.deepEqual([sample.tenant, sample.login, sample.transport], ['globex', 'globex', 'tcp']);
    assert.ok(!Number.isNaN(Date.parse(sample.time)));
    const topics = w.client.inbox.filter((m) => m.topic.startsWith('$events')).map((m) => m.topic);
    assert.ok(topics.includes('$events/client/connected') && topics.includes('$events/client/disconnected'));
  });

  it('says kick, denied and takeover, and auth/failed for a wrong password', async () => {
    // root watches in full: a kick of globex would take a globex watcher with it
    const w = await watch('root', '$events/globex/#');
    const kicked = await fixture.as('globex', { clientId: 'k' });
    const gone = closed(kicked.client);
    fixture.engine.host.kick('globex');
    await gone;
    await until(() => w.events().some((e) => e.client_id === 'k' && e.reason === 'kick'));
    const w2 = w;
    const denied = await fixture.as('globex', { clientId: 'd' });
    const deniedGone = closed(denied.client);
    denied.client.publish('$SYS/x', 'no');
    await deniedGone;
    const first = await fixture.as('globex', { clientId: 'same' });
    const taken = closed(first.client);
    await fixture.as('globex', { clientId: 'same' });
    await taken;
    assert.equal(await connackCode(fixture.engine.mqttUrl, { username: 'globex', password: 'wrong', clientId: 'bad' }), 4);
    await until(() => w2.events().some((e) => e.client_id === 'same' && e.event === 'client.disconnected'));
    await until(() => w.events().some((e) => e.event === 'auth.failed'));
    assert.equal(w2.events().find((e) => e.client_id === 'd' && e.event === 'client.disconnected')?.reason, 'denied');
    assert.equal(w2.events().find((e) => e.client_id === 'same' && e.event === 'client.disconnected')?.reason, 'takeover');
    assert.deepEqual(w.events().filter((e) => e.event === 'auth.failed').map((e) => [e.client_id, e.reason]), [['bad', 'bad-credentials']]);
  });

  it('keeps each tenant to its own events: a prefix tenant writes $events/<namespace>/..., never another\'s, and no wildcard sees them', async () => {
    const acme = await fixture.as('acme', { clientId: 'a-watch' });
    assert.deepEqual(await acme.subscribe(['$events/acme/#', '$events/globex/#', '$events/#', 'acme/#'], 0), [0, 128, 128, 0]);
    const globex = await fixture.as('globex', { clientId: 'g-watch' });
    assert.deepEqual(await globex.subscribe(['#', '+/#', '$events/#'], 0), [0, 0, 0]);
    const root = await fixture.as('root');
    await root.subscribe(['#', '+/client/#'], 0);
    await (await fixture.as('acme', { clientId: 'a1' })).end();
    await (await fixture.as('globex', { clientId: 'g1' })).end();
    await until(() => acme.inbox.some((m) => m.topic === '$events/acme/client/disconnected'));
    await until(() => globex.inbox.some((m) => m.topic === '$events/client/disconnected'));
    assert.ok(acme.inbox.every((m) => !m.payload.includes('"tenant":"globex"')));
    assert.ok(globex.inbox.filter((m) => m.topic.startsWith('$events')).every((m) => (JSON.parse(m.payload) as Event).tenant === 'globex'));
    // the wildcard subscriptions got no event: only the explicit $events one did
    assert.ok(globex.inbox.filter((m) => !m.topic.startsWith('$events')).length === 0);
    assert.ok(root.inbox.every((m) => !m.topic.startsWith('$events')));
  });

  it('no client, root included, may publish an $events topic', async () => {
    for (const [user, topic] of [['globex', '$events/client/connected'], ['acme', '$events/acme/client/connected'], ['acme', 'acme/$events/x'], ['root', '$events/acme/client/connected']]) {
      const c = await fixture.as(user);
      const gone = closed(c.client);
      c.client.publish(topic, '{}');
      await gone;
    }
  });

  it('reach flows in the tenant\'s own view and registry webhooks in full, and are not counted as traffic', async () => {
    const { host } = fixture.engine;
    const sink = await HttpSink.start(() => ({ status: 204 }));
    try {
      host.registry.addWebhook({ tenant: 'acme', topicFilter: '$events/acme/#', url: sink.url('/events') });
      const flow: string[] = [];
      const all: Array<[string | null, string]> = [];
      await host.subscribe('acme', '$events/#', (m) => flow.push(m.topic));
      await host.subscribe('acme', '#', (m) => flow.push('wildcard:' + m.topic));
      await host.subscribe('*', '$events/client/+', (m) => all.push([m.tenant, m.topic]));
      const before = host.stats().tenants.acme.messagesIn;
      await (await fixture.as('acme', { clientId: 'f1' })).end();
      await until(() => flow.includes('$events/client/disconnected') && all.length >= 2);
      const [request] = await sink.waitFor(1);
      assert.equal(request.headers['x-mqtt-topic'], '$events/acme/client/connected');
      assert.ok(!flow.some((t) => t.startsWith('wildcard:')));
      assert.deepEqual(all.slice(0, 2), [['acme', '$events/client/connected'], ['acme', '$events/client/disconnected']]);
      assert.equal(host.stats().tenants.acme.messagesIn, before);
    } finally {
      await sink.close();
    }
  });

  it('a device needs the read right: its rules are written in the tenant\'s view', async () => {
    const r = fixture.engine.host.registry;
    await r.devices.setRole('globex', 'no-events', [{ permission: 'deny', action: 'subscribe', topic: '$events/#' }], 'add');
    await r.devices.add({ tenant: 'globex', username: 'quiet', password: 'quiet-pw', roles: ['no-events'] });
    const d = await connect(fixture.engine.mqttUrl, { username: 'quiet', password: 'quiet-pw' });
    try {
      assert.deepEqual(await d.subscribe(['$events/#', 'x'], 0), [128, 0]);
    } finally {
      await d.end();
    }
  });
});
