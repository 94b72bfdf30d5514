import assert from 'node:assert/strict';
import { once } from 'node:events';
import BetterSqlite3 from 'better-sqlite3';
import { createSqlitePersistence, SqlitePersistence } from '../../src/persistence/sqlite-persistence';
import { collect, FakeBroker, payloads, publish, retained, Workspace } from './helpers';

describe('SqlitePersistence', () => {
  let ws: Workspace;
  beforeEach(() => {
    ws = new Workspace();
  });
  afterEach(async () => {
    await ws.cleanup();
  });

  describe('restart', () => {
    it('keeps retained messages, and their deletion, across destroy and reopen', async () => {
      const first = await ws.open();
      await first.storeRetained(retained('a/b', 'one'));
      await first.storeRetained(retained('a/c', 'two'));
      await first.storeRetained(retained('a/c', '')); // [MQTT-3.3.1-10] deletes a/c
      await first.storeRetained(retained('$SYS/x', 'sys'));
      await ws.close(first);

      const second = await ws.open({}, new FakeBroker('broker-2'));
      const all = await collect(second.createRetainedStream('#'));
      assert.deepEqual(
        all.map((p) => [p.topic, String(p.payload), Buffer.isBuffer(p.payload)]),
        [['a/b', 'one', true]],
        '# must not match a $ topic [MQTT-4.7.2-1]',
      );
      assert.equal((await collect(second.createRetainedStream('$SYS/#'))).length, 1);
      assert.equal(second.stats().retained, 2);
    });

    it('restores a persistent session: subscriptions, offline queue in order, in-flight state', async () => {
      const client = { id: 't1:sensor' };
      const first = await ws.open();
      await first.addSubscriptions(client, [
        { topic: 'data/#', qos: 1, rh: 0, rap: false, nl: false },
        { topic: 'cmd', qos: 0, rh: 0, rap: false, nl: false, subscriptionIdentifier: 7 },
      ]);
      const subs = await first.subscriptionsByTopic('data/x');
      assert.equal(subs.length, 1);
      for (let i = 0; i < 5; i++) {
        await first.outgoingEnqueueCombi(subs, publish('data/x', `m${i}`, { brokerId: 'broker-1', brokerCounter: i + 1 }));
      }
      // m0 was sent (messageId 10), m1 got to PUBREC and is now a PUBREL
      await first.outgoingUpdate(client, { ...publish('data/x', 'm0'), brokerId: 'broker-1', brokerCounter: 1, messageId: 10 });
      await first.outgoingUpdate(client, { ...publish('data/x', 'm1'), brokerId: 'broker-1', brokerCounter: 2, messageId: 11 });
      await first.outgoingUpdate(client, { cmd: 'pubrel', messageId: 11 });
      await first.incomingStorePacket(client, { ...publish('up', 'qos2', { qos: 2 }), messageId: 99 });
      await ws.close(first);

      const second = await ws.open({}, new FakeBroker('broker-2'));
      const restored = await second.subscriptionsByClient(client);
      restored.sort((a, b) => a.topic.localeCompare(b.topic));
      assert.deepEqual(restored, [
        { topic: 'cmd', qos: 0, rh: 0, rap: false, nl: false, subscriptionIdentifier: 7 },
        { topic: 'data/#', qos: 1, rh: 0, rap: false, nl: false },
      ]);
      assert.deepEqual(await second.countOffline(), { subsCount: 1, clientsCount: 1 });
      assert.deepEqual(
        (await second.subscriptionsByTopic('data/y')).map((s) => [s.clientId, s.topic, s.qos]),
        [['t1:sensor', 'data/#', 1]],
      );
      const queue = await collect(second.outgoingStream(client));
      assert.deepEqual(
        queue.map((p) => [p.cmd, p.messageId, p.cmd === 'publish' ? String(p.payload) : null]),
        [
          ['publish', 10, 'm0'],
          ['pubrel', 11, null],
          ['publish', undefined, 'm2'],
          ['publish', undefined, 'm3'],
          ['publish', undefined, 'm4'],
        ],
      );
      assert.equal(String((await second.incomingGetPacket(client, { messageId: 99 })).payload), 'qos2');

      // new messages queue behind the restored ones, also after a further restart
      await second.outgoingEnqueue({ clientId: client.id }, publish('data/x', 'm5', { brokerId: 'broker-2', brokerCounter: 1 }));
      await second.outgoingClearMessageId(client, { messageId: 10 });
      await ws.close(second);
      const third = await ws.open({}, new FakeBroker('broker-3'));
      assert.deepEqual(payloads((await collect(third.outgoingStream(client))).slice(1)), ['m2', 'm3', 'm4', 'm5']);
    });

    it('keeps a will and offers it to the next broker as orphaned', async () => {
      const client = { id: 't1:dev' };
      const first = await ws.open({}, new FakeBroker('old-broker'));
      await first.putWill(client, { topic: 'dev/status', payload: Buffer.from('offline'), qos: 1, retain: true });
      await ws.close(first);

      const second = await ws.open({}, new FakeBroker('new-broker'));
      const orphans = await collect(second.streamWill({ 'new-broker': Date.now() }));
      assert.deepEqual(
        orphans.map((w) => [w.clientId, w.brokerId, w.topic, String(w.payload)]),
        [['t1:dev', 'old-broker', 'dev/status', 'offline']],
      );
      await second.delWill({ id: client.id });
      await ws.close(second);

      const third = await ws.open();
      assert.equal(await third.getWill(client), undefined);
    });

    it('continues the counter of a broker restarted with the same id', async () => {
      const first = await ws.open({}, new FakeBroker('fixed-id'));
      await first.outgoingEnqueue({ clientId: 'acme:a' }, publish('t', 'm', { brokerId: 'fixed-id', brokerCounter: 41 }));
      await ws.close(first);
      const broker = new FakeBroker('fixed-id');
      await ws.open({}, broker);
      assert.equal(broker.counter, 41, 'the next packet gets brokerCounter 42, not 1');
    });
  });

  describe('keys', () => {
    // [MQTT-1.5.3-2] forbids U+0000 on the wire, but the store must not depend on it (issue 10, finding 13)
    it('keeps apart subscriptions whose client id and topic hold U+0000 and would join to the same text', async () => {
      const first = await ws.open();
      await first.addSubscriptions({ id: 'acme:a' }, [{ topic: 'b\u0000c', qos: 1 }]);
      await first.addSubscriptions({ id: 'acme:a\u0000b' }, [{ topic: 'c', qos: 1 }]);
      await first.incomingStorePacket({ id: 'acme:x\u00001' }, { ...publish('up', 'one', { qos: 2 }), messageId: 2 });
      await first.incomingStorePacket({ id: 'acme:x' }, { ...publish('up', 'two', { qos: 2 }), messageId: 12 });
      await ws.close(first);

      const second = await ws.open({}, new FakeBroker('broker-2'));
      assert.deepEqual((await second.subscriptionsByClient({ id: 'acme:a' })).map((s) => s.topic), ['b\u0000c']);
      assert.deepEqual((await second.subscriptionsByClient({ id: 'acme:a\u0000b' })).map((s) => s.topic), ['c']);
      assert.equal(String((await second.incomingGetPacket({ id: 'acme:x\u00001' }, { messageId: 2 })).payload), 'one');
      assert.equal(String((await second.incomingGetPacket({ id: 'acme:x' }, { messageId: 12 })).payload), 'two');
      assert.equal(ws.countRows('persist_subscriptions'), 2);
    });
  });

  describe('write batching', () => {
    it('serves reads from memory before the flush, and flushes on its own', async () => {
      const p = await ws.open({ flushIntervalMs: 250 });
      await p.storeRetained(retained('x', 'pending'));
      // only microtasks ran since the write: its timer cannot have fired yet
      assert.equal(p.stats().flushes, 0);
      assert.equal(p.stats().pendingWrites, 1);
      assert.equal(ws.countRows('persist_retained'), 0);
      assert.deepEqual(payloads(await collect(p.createRetainedStream('x'))), ['pending']);

      await once(p, 'flush');
      assert.equal(p.stats().pendingWrites, 0);
      assert.equal(ws.countRows('persist_retained'), 1);
    });

    it('writes N messages in far fewer transactions than N', async () => {
      const n = 1000;
      const p = await ws.open();
      for (let i = 0; i < n; i++) {
        await p.outgoingEnqueue({ clientId: 't1:offline' }, publish('t', `m${i}`, { brokerId: 'broker-1', brokerCounter: i + 1 }));
        await p.storeRetained(retained(`r/${i % 10}`, `v${i}`));
      }
      await p.flush();
      assert.equal(p.stats().flushes, 1);
      assert.equal(ws.countRows('persist_outgoing'), n);
      assert.equal(ws.countRows('persist_retained'), 10, 'repeated writes to one topic coalesce');
    });

    it('never writes a message acknowledged within one interval', async () => {
      const client = { id: 't1:online' };
      const p = await ws.open();
      const packet = publish('t', 'fast', { brokerId: 'broker-1', brokerCounter: 1 });
      await p.outgoingEnqueue({ clientId: client.id }, packet);
      await p.outgoingUpdate(client, { ...packet, messageId: 1 });
      await p.outgoingClearMessageId(client, { messageId: 1 });
      await p.incomingStorePacket(client, { ...publish('t', 'q2', { qos: 2 }), messageId: 5 });
      await p.incomingDelPacket(client, { messageId: 5 });
      assert.equal(p.stats().pendingWrites, 0);
      await p.flush();
      assert.equal(p.stats().flushes, 0);
      assert.equal(ws.countRows('persist_outgoing'), 0);
    });

    it('deletes a flushed entry from disk once it is acknowledged', async () => {
      const client = { id: 't1:slow' };
      const p = await ws.open();
      const packet = publish('t', 'slow', { brokerId: 'broker-1', brokerCounter: 1 });
      await p.outgoingEnqueue({ clientId: client.id }, packet);
      await p.outgoingUpdate(client, { ...packet, messageId: 3 });
      await p.flush();
      assert.equal(ws.countRows('persist_outgoing'), 1);
      await p.outgoingClearMessageId(client, { messageId: 3 });
      await p.flush();
      assert.equal(ws.countRows('persist_outgoing'), 0);
    });
  });

  describe('bounded queues (offline and in flight)', () => {
    const queued = async (p: SqlitePersistence, id: string) => payloads(await collect(p.outgoingStream({ id })));

    it('drops the oldest message of a client over maxOfflinePerClient, and counts it', async () => {
      const p = await ws.open({ maxOfflinePerClient: 3 });
      const dropped: unknown[] = [];
      p.on('queueOverflow', (e) => dropped.push(e));
      for (let i = 0; i < 5; i++) {
        await p.outgoingEnqueueCombi([{ clientId: 'acme:a' }], publish('t', `m${i}`, { brokerId: 'broker-1', brokerCounter: i + 1 }));
      }
      assert.deepEqual(await queued(p, 'acme:a'), ['m2', 'm3', 'm4']);
      const stats = p.stats();
      assert.equal(stats.offlineDropped, 2);
      assert.deepEqual(stats.offlineDroppedByTenant, { acme: 2 });
      assert.equal(stats.queued, 3);
      assert.deepEqual(dropped, [{ clientId: 'acme:a', tenant: 'acme' }, { clientId: 'acme:a', tenant: 'acme' }]);
    });

    it('bounds a tenant across its clients with maxOfflinePerTenant, dropping the tenant\'s oldest', async () => {
      const p = await ws.open({ maxOfflinePerTenant: 4 });
      const subs = [{ clientId: 'acme:a' }, { clientId: 'acme:b' }, { clientId: 'globex:c' }];
      for (let i = 0; i < 3; i++) {
        await p.outgoingEnqueueCombi(subs, publish('t', `m${i}`, { brokerId: 'broker-1', brokerCounter: i + 1 }));
      }
      assert.deepEqual(await queued(p, 'acme:a'), ['m1', 'm2']);
      assert.deepEqual(await queued(p, 'acme:b'), ['m1', 'm2']);
      assert.deepEqual(await queued(p, 'globex:c'), ['m0', 'm1', 'm2']);
      assert.deepEqual(p.stats().offlineDroppedByTenant, { acme: 2 });
    });

    it('bounds bytes (payload and topic) per client and per tenant through queueBounds', async () => {
      const bounds = { clientMessages: 0, clientBytes: 30, tenantMessages: 0, tenantBytes: 50 };
      const p = await ws.open({ queueBounds: (_clientId, tenant) => (tenant === 'acme' ? bounds : { clientMessages: 0, clientBytes: 0, tenantMessages: 0, tenantBytes: 0 }) });
      const enqueue = (id: string, payload: string, n: number) => p.outgoingEnqueue({ clientId: id }, publish('t', payload, { brokerId: 'broker-1', brokerCounter: n }));
      await enqueue('acme:a', 'x'.repeat(9), 1); // 10 bytes with the topic
      await enqueue('acme:a', 'y'.repeat(9), 2);
      await enqueue('acme:a', 'z'.repeat(19), 3); // 20: a's oldest goes to stay within 30
      assert.deepEqual(await queued(p, 'acme:a'), ['y'.repeat(9), 'z'.repeat(19)]);
      await enqueue('acme:b', 'w'.repeat(29), 4); // 30: the tenant (50) drops its oldest, a's y
      assert.deepEqual(await queued(p, 'acme:a'), ['z'.repeat(19)]);
      await enqueue('acme:b', 'v'.repeat(30), 5); // 31 bytes alone: never fits a client, the new one is dropped
      assert.deepEqual(await queued(p, 'acme:b'), ['w'.repeat(29)]);
      await enqueue('globex:c', 'u'.repeat(100), 6); // other tenants are not bounded here
      assert.equal((await queued(p, 'globex:c')).length, 1);
      assert.deepEqual(p.stats().offlineDroppedByTenant, { acme: 3 });
    });

    it('bounds a connected client too: an unacknowledged delivery is dropped, and its PUBACK, PUBREC and redelivery still pass', async () => {
      const broker = new FakeBroker('broker-1');
      broker.connect('acme:a');
      const p = await ws.open({ maxOfflinePerClient: 2 }, broker);
      const client = { id: 'acme:a' };
      const packets = [0, 1, 2, 3].map((i) => publish('t', `m${i}`, { brokerId: 'broker-1', brokerCounter: i + 1, qos: 2 }));
      // m0 and m1 are sent (messageIds 1, 2) and never acknowledged
      for (const [i, packet] of packets.slice(0, 2).entries()) {
        await p.outgoingEnqueue({ clientId: client.id }, packet);
        await p.outgoingUpdate(client, { ...packet, messageId: i + 1 });
      }
      await p.outgoingEnqueue({ clientId: client.id }, packets[2]);
      await p.outgoingEnqueue({ clientId: client.id }, packets[3]);
      assert.deepEqual(await queued(p, client.id), ['m2', 'm3']);
      assert.equal(p.stats().offlineDropped, 2);
      // the client's PUBREC of m0 becomes a PUBREL aedes stores; its PUBACK of m1 clears nothing
      await p.outgoingUpdate(client, { cmd: 'pubrel', messageId: 1 });
      assert.equal(await p.outgoingClearMessageId(client, { messageId: 2 }), undefined);
      // a redelivery of a dropped message taken from an earlier snapshot
      await p.outgoingUpdate(client, { ...packets[1], messageId: 7 });
      await assert.rejects(p.outgoingUpdate(client, { ...packets[1], brokerCounter: 99, messageId: 8 }), /no such packet/);
    });

    it('uses tenantOf to group clients', async () => {
      const p = await ws.open({ maxOfflinePerTenant: 1, tenantOf: (id) => id.split('.')[0] ?? null });
      await p.outgoingEnqueueCombi([{ clientId: 'x.1' }, { clientId: 'x.2' }, { clientId: 'y.1' }], publish('t', 'm', { brokerId: 'broker-1', brokerCounter: 1 }));
      assert.deepEqual(p.stats().offlineDroppedByTenant, { x: 1 });
    });

    it('restores queue sizes on reopen, so the bound still holds', async () => {
      const first = await ws.open({ maxOfflinePerClient: 2 });
      for (let i = 0; i < 2; i++) {
        await first.outgoingEnqueue({ clientId: 'acme:a' }, publish('t', `m${i}`, { brokerId: 'broker-1', brokerCounter: i + 1 }));
      }
      await ws.close(first);
      const second = await ws.open({ maxOfflinePerClient: 2 });
      await second.outgoingEnqueue({ clientId: 'acme:a' }, publish('t', 'm2', { brokerId: 'broker-2', brokerCounter: 1 }));
      assert.equal(second.stats().queued, 2);
      assert.equal(second.stats().offlineDropped, 1);
      assert.deepEqual(await queued(second, 'acme:a'), ['m1', 'm2']);
      await ws.close(second);
      assert.equal(ws.countRows('persist_outgoing'), 2, 'the dropped message is gone from disk too');
    });
  });

  describe('retained quota', () => {
    const quota = { maxRetainedMessages: 2, maxRetainedBytes: 40 };
    const retainedTopics = async (p: SqlitePersistence) => (await collect(p.createRetainedStream('#'))).map((m) => `${m.topic}=${m.payload}`).sort();

    it("holds an owner to its tenant's quota: a refused publish is not kept and loses its retain flag; deletes and replacements pass", async () => {
      const p = await ws.open({ retainedQuota: (owner) => (owner === 'acme' ? quota : undefined) });
      const refused: unknown[] = [];
      p.on('retainedRefused', (e) => refused.push(e));
      await p.storeRetained(retained('acme/a', '1')); // 7 bytes with the topic
      await p.storeRetained(retained('acme/b', '2'));
      const third = retained('acme/c', '3');
      await p.storeRetained(third);
      assert.equal(third.retain, false, 'delivered live with retain cleared');
      assert.deepEqual(refused, [{ owner: 'acme', topic: 'acme/c' }]);
      await p.storeRetained(retained('acme/a', 'one')); // a replacement at the count
      await p.storeRetained(retained('globex/x', 'x'.repeat(100))); // no quota for globex
      assert.deepEqual(await retainedTopics(p), ['acme/a=one', 'acme/b=2', `globex/x=${'x'.repeat(100)}`]);
      // growing a replacement past the bytes drops the out-of-date message instead of keeping it
      await p.storeRetained(retained('acme/b', 'y'.repeat(40)));
      assert.deepEqual(await retainedTopics(p), ['acme/a=one', `globex/x=${'x'.repeat(100)}`]);
      assert.deepEqual(p.retainedUsage('acme'), { messages: 1, bytes: 9 });
      await p.storeRetained(retained('acme/a', '')); // deleting is always allowed
      await p.storeRetained(retained('acme/c', '3'));
      assert.deepEqual(p.retainedUsage('acme'), { messages: 1, bytes: 7 });
      assert.equal(refused.length, 2);
    });

    it('counts what a restart reads back', async () => {
      const first = await ws.open();
      await first.storeRetained(retained('acme/a', '1'));
      await first.storeRetained(retained('acme/b', '2'));
      await ws.close(first);
      const second = await ws.open({ retainedQuota: () => quota });
      assert.deepEqual(second.retainedUsage('acme'), { messages: 2, bytes: 14 });
      const third = retained('acme/c', '3');
      await second.storeRetained(third);
      assert.equal(third.retain, false);
    });
  });

  describe('removing a tenant', () => {
    async function acmeAndGlobex(p: SqlitePersistence): Promise<void> {
      for (const tenant of ['acme', 'globex']) {
        const client = { id: `${tenant}:dev` };
        await p.storeRetained(retained(`${tenant}/state`, 'on'));
        await p.addSubscriptions(client, [{ topic: `${tenant}/cmd`, qos: 1 }]);
        await p.outgoingEnqueue({ clientId: client.id }, publish(`${tenant}/cmd`, 'go', { brokerId: 'broker-1', brokerCounter: 1 }));
        await p.incomingStorePacket(client, { ...publish(`${tenant}/up`, 'q2', { qos: 2 }), messageId: 1 });
        await p.putWill(client, { topic: `${tenant}/will`, payload: Buffer.from('bye'), qos: 0, retain: false });
      }
    }

    it('drops everything of the tenant at once and commits it, keeps other tenants, and keeps nothing more of it until a tenant of its name opens', async () => {
      const p = await ws.open({ flushIntervalMs: 1000, sessionExpiryMs: 3_600_000 });
      await acmeAndGlobex(p);
      await p.flush();
      p.removeTenant('acme');
      assert.equal(ws.countRows('persist_retained'), 1);
      assert.equal(ws.countRows('persist_subscriptions'), 1);
      assert.equal(ws.countRows('persist_outgoing'), 1);
      assert.equal(ws.countRows('persist_incoming'), 1);
      assert.equal(ws.countRows('persist_wills'), 1);
      assert.equal(ws.countRows('persist_clients'), 1);
      const acme = { id: 'acme:dev' };
      assert.deepEqual(await p.subscriptionsByClient(acme), []);
      assert.deepEqual(await collect(p.createRetainedStream('acme/#')), []);
      assert.equal((await p.subscriptionsByClient({ id: 'globex:dev' })).length, 1);

      // what its kicked clients still had on the way is not kept
      const late = retained('acme/late', 'x');
      await p.storeRetained(late);
      assert.equal(late.retain, false);
      await p.addSubscriptions(acme, [{ topic: 'acme/#', qos: 1 }]);
      await p.putWill(acme, { topic: 'acme/will', payload: Buffer.from('bye'), qos: 0, retain: false });
      assert.deepEqual(await p.subscriptionsByClient(acme), []);
      assert.equal(await p.getWill(acme), undefined);

      p.openTenant('acme');
      await p.addSubscriptions(acme, [{ topic: 'acme/#', qos: 1 }]);
      assert.equal((await p.subscriptionsByClient(acme)).length, 1);
    });

    it('opening a tenant drops what was left under its name; dropOrphanSessions drops sessions of users that are no more', async () => {
      const p = await ws.open();
      await acmeAndGlobex(p);
      assert.equal(p.dropOrphanSessions((user) => user === 'globex'), 1);
      assert.deepEqual(await p.subscriptionsByClient({ id: 'acme:dev' }), []);
      assert.equal((await collect(p.createRetainedStream('acme/#'))).length, 1, 'a retained message has no user to tell whose it is');
      p.openTenant('acme');
      assert.deepEqual(await collect(p.createRetainedStream('acme/#')), []);
      assert.equal((await collect(p.createRetainedStream('globex/#'))).length, 1);
    });
  });

  describe('session expiry', () => {
    const HOUR = 3_600_000;

    async function sessionWithState(p: SqlitePersistence, clientId: string): Promise<void> {
      const client = { id: clientId };
      await p.addSubscriptions(client, [{ topic: 'a/#', qos: 1 }]);
      await p.outgoingEnqueue({ clientId }, publish('a/b', 'queued', { brokerId: 'broker-1', brokerCounter: 1 }));
      await p.incomingStorePacket(client, { ...publish('up', 'q2', { qos: 2 }), messageId: 1 });
      await p.putWill(client, { topic: 'will', payload: Buffer.from('bye'), qos: 0, retain: false });
    }

    it('discards subscriptions, queue, in-flight state and will of a client offline too long', async () => {
      const now = Date.now();
      const first = await ws.open({ sessionExpiryMs: HOUR });
      await sessionWithState(first, 'acme:old');
      await sessionWithState(first, 'acme:recent');
      first.touchClient('acme:old', now - 2 * HOUR);
      first.touchClient('acme:recent', now - HOUR / 2);

      assert.equal(first.sweepExpiredSessions(now), 1);
      const old = { id: 'acme:old' };
      assert.deepEqual(await first.subscriptionsByClient(old), []);
      assert.deepEqual(await collect(first.outgoingStream(old)), []);
      await assert.rejects(first.incomingGetPacket(old, { messageId: 1 }));
      assert.equal(await first.getWill(old), undefined);
      assert.deepEqual((await first.subscriptionsByTopic('a/b')).map((s) => s.clientId), ['acme:recent']);
      assert.equal(first.stats().sessionsExpired, 1);
      await ws.close(first);

      // and the discard reached the disk
      const second = await ws.open({ sessionExpiryMs: HOUR });
      assert.deepEqual(await second.subscriptionsByClient(old), []);
      assert.equal(await second.getWill(old), undefined);
      assert.equal(second.stats().queued, 1);
      assert.equal((await second.subscriptionsByClient({ id: 'acme:recent' })).length, 1);
    });

    it('never expires a connected client', async () => {
      const broker = new FakeBroker('broker-1');
      const p = await ws.open({ sessionExpiryMs: HOUR }, broker);
      await sessionWithState(p, 'acme:live');
      broker.connect('acme:live');
      assert.equal(p.sweepExpiredSessions(Date.now() + 2 * HOUR), 0);
      assert.equal((await p.subscriptionsByClient({ id: 'acme:live' })).length, 1);
    });

    it("takes last-seen from aedes' client and clientDisconnect events", async () => {
      const broker = new FakeBroker('broker-1');
      const p = await ws.open({ sessionExpiryMs: HOUR }, broker);
      await sessionWithState(p, 'acme:x');
      p.touchClient('acme:x', 0);
      broker.disconnect('acme:x'); // aedes' clientDisconnect: seen now
      assert.equal(p.sweepExpiredSessions(Date.now()), 0);
      assert.equal(p.sweepExpiredSessions(Date.now() + 2 * HOUR), 1);
    });

    it('keeps last-seen across a restart', async () => {
      const first = await ws.open({ sessionExpiryMs: HOUR });
      await sessionWithState(first, 'acme:old');
      first.touchClient('acme:old', Date.now() - 2 * HOUR);
      await ws.close(first);
      const second = await ws.open({ sessionExpiryMs: HOUR });
      assert.equal(second.sweepExpiredSessions(), 1);
    });

    it('sweeps on its own timer', async () => {
      const p = await ws.open({ sessionExpiryMs: 1, sweepIntervalMs: 10 });
      await sessionWithState(p, 'acme:gone');
      const [clientId] = (await once(p, 'sessionExpired')) as [string];
      assert.equal(clientId, 'acme:gone');
      assert.deepEqual(await p.subscriptionsByClient({ id: 'acme:gone' }), []);
    });
  });

  describe('options and database handle', () => {
    it('rejects a flush interval outside 1..1000 ms', () => {
      assert.throws(() => createSqlitePersistence({ flushIntervalMs: 1001 }), RangeError);
      assert.throws(() => createSqlitePersistence({ flushIntervalMs: 0 }), RangeError);
      assert.throws(() => createSqlitePersistence({ maxOfflinePerClient: -1 }), RangeError);
    });

    it('opens its own file in WAL mode', async () => {
      await ws.open();
      const db = new BetterSqlite3(ws.file, { readonly: true });
      try {
        assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      } finally {
        db.close();
      }
    });

    it('shares an open handle: adds only persist_ tables and leaves the handle open', async () => {
      const db = new BetterSqlite3(ws.file);
      try {
        db.exec("CREATE TABLE tenants (name TEXT PRIMARY KEY); INSERT INTO tenants VALUES ('acme')");
        const p = new SqlitePersistence({ db });
        await p.setup(new FakeBroker('broker-1'));
        await p.storeRetained(retained('acme/x', 'v'));
        await p.destroy();
        assert.equal(db.open, true);
        const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>)
          .map((r) => r.name)
          .filter((name) => name !== 'tenants');
        assert.ok(tables.length > 0 && tables.every((name) => name.startsWith('persist_')), tables.join());
        assert.deepEqual(db.prepare('SELECT name FROM tenants').all(), [{ name: 'acme' }]);
        assert.equal(db.prepare('SELECT count(*) AS n FROM persist_retained').pluck().get(), 1);
      } finally {
        db.close();
      }
    });

    it('keeps the writes of a failed flush and commits them on the retry', async () => {
      const db = new BetterSqlite3(ws.file);
      try {
        const p = new SqlitePersistence({ db, flushIntervalMs: 10 });
        await p.setup(new FakeBroker('broker-1'));
        db.exec("CREATE TRIGGER fail_once BEFORE INSERT ON persist_retained BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
        await p.storeRetained(retained('a', '1'));
        const [err] = (await once(p, 'flushError')) as [Error];
        assert.match(err.message, /disk says no/);
        db.exec('DROP TRIGGER fail_once');
        await once(p, 'flush');
        assert.deepEqual(p.stats().flushErrors, 1);
        assert.equal(db.prepare('SELECT count(*) FROM persist_retained').pluck().get(), 1);
        await p.destroy();
      } finally {
        db.close();
      }
    });

    it('rejects use after destroy, and tolerates a second destroy', async () => {
      const p = await ws.open();
      await ws.close(p);
      await p.destroy();
      await assert.rejects(p.storeRetained(retained('x', 'y')), /destroyed/);
    });
  });
});
