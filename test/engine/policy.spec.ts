import assert from 'node:assert/strict';
import type { Scope, TenantPolicy } from '../../src/model';
import { admit, connectionsAfterChange, decideDelivery, decidePublish, decideRestore, decideSubscribe, decideUnsubscribe, decideWill, holdFilter, identifierProblem, newClientPolicyState, storedWillAllowed, type ClientPolicyState } from '../../src/tenancy/policy';
import { decideFlowPublish, decideFlowSubscribe, decideWebhookFilter, messageOwner } from '../../src/tenancy/flows';
import { TenantBuckets } from '../../src/tenancy/rate';

/** The policy core alone: verdicts from plain values, no socket, no aedes. */
describe('policy core (pure verdicts)', () => {
  const tenant = (over: Partial<TenantPolicy> = {}): TenantPolicy => ({
    username: 'acme',
    namespace: over.username ?? 'acme',
    isolation: 'prefix',
    enabled: true,
    maxConnections: 0,
    maxMsgsPerSec: 0,
    maxTenantMsgsPerSec: 0,
    maxPayloadBytes: 0,
    maxQos: 2,
    allowRetain: true,
    maxSubscriptions: 0,
    deniedPublish: 'close',
    deviceDefaultAccess: 'allow',
    maxQueuedMessages: 0,
    maxQueuedBytes: 0,
    maxRetainedMessages: 0,
    maxRetainedBytes: 0,
    ...over,
  });
  const prefix: Scope = { kind: 'tenant', tenant: 'acme', namespace: 'acme', isolation: 'prefix' };
  const mount: Scope = { kind: 'tenant', tenant: 'globex', namespace: 'globex', isolation: 'mountpoint' };
  const root: Scope = { kind: 'root' };
  const state = (scope: Scope): ClientPolicyState => ({ ...newClientPolicyState(), scope });
  const rate = (scope: Scope) => ({ client: state(scope), tenants: new TenantBuckets() });

  describe('CONNECT', () => {
    it('refuses identifiers by [MQTT-3.1.3-8] and the MQTT 3.1 length', () => {
      assert.equal(identifierProblem({ clientId: '', clean: false, protocolVersion: 4 }), 'identifier-rejected');
      assert.equal(identifierProblem({ clientId: '', clean: true, protocolVersion: 4 }), null);
      assert.equal(identifierProblem({ clientId: 'x'.repeat(24), clean: true, protocolVersion: 3 }), 'identifier-rejected');
      assert.equal(identifierProblem({ clientId: 'x'.repeat(24), clean: true, protocolVersion: 4 }), null);
    });

    it('admits by password, enabled flag and quota, root only with a root password', () => {
      const facts = { username: 'acme', clientId: 'c1', passwordOk: true, throttled: false, rootEnabled: true, tenant: tenant(), liveConnections: 0 };
      assert.deepEqual(admit(facts), { kind: 'allow', scope: prefix });
      assert.deepEqual(admit({ ...facts, passwordOk: false }), { kind: 'refuse', reason: 'bad-credentials' });
      assert.deepEqual(admit({ ...facts, tenant: undefined }), { kind: 'refuse', reason: 'bad-credentials' });
      assert.deepEqual(admit({ ...facts, tenant: tenant({ enabled: false }) }), { kind: 'refuse', reason: 'tenant-disabled' });
      assert.deepEqual(admit({ ...facts, tenant: tenant({ maxConnections: 2 }), liveConnections: 2 }), { kind: 'refuse', reason: 'over-quota' });
      assert.deepEqual(admit({ ...facts, username: 'root', rootEnabled: false }), { kind: 'refuse', reason: 'root-disabled' });
      assert.deepEqual(admit({ ...facts, username: 'root' }), { kind: 'allow', scope: root });
    });

    it('counts live connections only for a quota that needs them', () => {
      const counted: string[] = [];
      const count = (what: string, n: number) => () => (counted.push(what), n);
      const facts = { username: 'acme', clientId: 'c1', passwordOk: true, throttled: false, rootEnabled: true, liveConnections: count('tenant', 5) };
      assert.deepEqual(admit({ ...facts, tenant: tenant() }), { kind: 'allow', scope: prefix });
      assert.deepEqual(counted, []);
      assert.deepEqual(admit({ ...facts, tenant: tenant({ maxConnections: 5 }) }), { kind: 'refuse', reason: 'over-quota' });
      assert.deepEqual(admit({ ...facts, tenant: tenant({ maxConnections: 6 }) }), { kind: 'allow', scope: prefix });
      assert.deepEqual(counted, ['tenant', 'tenant']);
    });

    it('mounts a will once, refuses one outside, and checks a stored will against its owner', () => {
      assert.deepEqual(decideWill(mount, { topic: 'status', payloadBytes: 1, retain: false }, tenant({ isolation: 'mountpoint' })), { kind: 'allow', topic: 'globex/status', retain: false, applied: [] });
      assert.deepEqual(decideWill(prefix, { topic: 'globex/x', payloadBytes: 1, retain: false }, tenant()), { kind: 'refuse', reason: 'will-denied' });
      assert.equal(storedWillAllowed(mount, 'globex/status'), true);
      assert.equal(storedWillAllowed(mount, 'acme/status'), false);
      assert.equal(storedWillAllowed(null, 'acme/status'), false);
      assert.equal(storedWillAllowed(root, '$SYS/x'), false);
    });
  });

  describe('PUBLISH', () => {
    it('mounts, refuses outside the namespace and reserved topics, and allows own $-topics of a mountpoint view', () => {
      const publish = (scope: Scope, topic: string) => decidePublish(scope, { topic, payloadBytes: 1, retain: false }, tenant({ username: scope.kind === 'tenant' ? scope.tenant : 'x' }), null);
      assert.equal((publish(mount, 'a/b') as { topic: string }).topic, 'globex/a/b');
      assert.equal((publish(mount, '$TopicA/B') as { topic: string }).topic, 'globex/$TopicA/B');
      assert.deepEqual(publish(mount, '$SYS/x'), { kind: 'refuse', reason: 'reserved-topic' });
      assert.deepEqual(publish(mount, '$events/x'), { kind: 'refuse', reason: 'reserved-topic' });
      assert.deepEqual(publish(prefix, 'acme/$SYS/x'), { kind: 'refuse', reason: 'reserved-topic' });
      assert.equal(publish(prefix, 'acme/$x').kind, 'allow');
      assert.deepEqual(publish(prefix, 'globex/x'), { kind: 'refuse', reason: 'outside-namespace' });
      assert.deepEqual(publish(mount, Array(100).fill('l').join('/')), { kind: 'refuse', reason: 'too-many-levels' });
      assert.deepEqual(publish(root, '$SYS/x'), { kind: 'refuse', reason: 'reserved-topic' });
    });

    it('applies payload size and retain, and turns refusals into discards with denied_publish "drop"', () => {
      const limits = tenant({ maxPayloadBytes: 4, allowRetain: false });
      assert.deepEqual(decidePublish(prefix, { topic: 'acme/x', payloadBytes: 5, retain: false }, limits, null), { kind: 'refuse', reason: 'payload-too-large' });
      assert.deepEqual(decidePublish(prefix, { topic: 'acme/x', payloadBytes: 4, retain: true }, limits, null), { kind: 'allow', topic: 'acme/x', retain: false, wait: 0, applied: ['retain'] });
      const drop = tenant({ deniedPublish: 'drop', maxPayloadBytes: 4 });
      assert.deepEqual(decidePublish(prefix, { topic: 'acme/x', payloadBytes: 5, retain: false }, drop, null), { kind: 'discard', reason: 'payload-too-large' });
      assert.deepEqual(decidePublish(prefix, { topic: 'globex/x', payloadBytes: 1, retain: false }, drop, null), { kind: 'discard', reason: 'outside-namespace' });
    });

    it('waits for the rate, and refuses a client that would wait past the cap', () => {
      const limits = tenant({ maxMsgsPerSec: 1 });
      const r = rate(prefix);
      const first = decidePublish(prefix, { topic: 'acme/x', payloadBytes: 1, retain: false }, limits, r);
      assert.deepEqual([first.kind, (first as { wait: number }).wait], ['allow', 0]);
      const second = decidePublish(prefix, { topic: 'acme/x', payloadBytes: 1, retain: false }, limits, r) as { wait: number; applied: readonly string[] };
      assert.ok(second.wait > 0 && second.applied.includes('rate'));
      let verdict = decidePublish(prefix, { topic: 'acme/x', payloadBytes: 1, retain: false }, limits, r);
      for (let i = 0; i < 10 && verdict.kind === 'allow'; i++) verdict = decidePublish(prefix, { topic: 'acme/x', payloadBytes: 1, retain: false }, limits, r);
      assert.deepEqual(verdict, { kind: 'refuse', reason: 'rate-limit' });
    });
  });

  describe('SUBSCRIBE, UNSUBSCRIBE, restore', () => {
    it('mounts, caps QoS, counts subscriptions (a replacement counts once) and refuses reserved filters', () => {
      const limits = tenant({ username: 'globex', maxQos: 1, maxSubscriptions: 1 });
      assert.deepEqual(decideSubscribe(mount, 'a/#', 2, limits, new Set()), { kind: 'allow', filter: 'globex/a/#', qos: 1, applied: ['qos'] });
      assert.deepEqual(decideSubscribe(mount, 'b', 0, limits, new Set(['globex/a/#'])), { kind: 'refuse', reason: 'too-many-subscriptions' });
      assert.equal(decideSubscribe(mount, 'a/#', 0, limits, new Set(['globex/a/#'])).kind, 'allow');
      for (const filter of ['$SYS/#', '$share/g/x', '$events']) assert.deepEqual(decideSubscribe(mount, filter, 0, tenant(), new Set()), { kind: 'refuse', reason: 'reserved-topic' });
      // a tenant's own lifecycle events: mounted after the $events level
      assert.equal((decideSubscribe(mount, '$events/#', 0, tenant(), new Set()) as { filter: string }).filter, '$events/globex/#');
      assert.equal(decideSubscribe(prefix, '$events/globex/#', 0, tenant(), new Set()).kind, 'refuse');
      assert.deepEqual(decideSubscribe(prefix, '#', 0, tenant(), new Set()), { kind: 'refuse', reason: 'outside-namespace' });
      assert.deepEqual(decideSubscribe(root, '$tenant-broker/#', 0, undefined, new Set()), { kind: 'refuse', reason: 'reserved-topic' });
      assert.equal(decideSubscribe(root, '$SYS/#', 0, undefined, new Set()).kind, 'allow');
    });

    it('mounts UNSUBSCRIBE filters and checks restored ones', () => {
      assert.equal(decideUnsubscribe(mount, 'a/+'), 'globex/a/+');
      assert.equal(decideUnsubscribe(mount, '$SYS/#'), '$SYS/#');
      assert.equal(decideRestore(mount, 'globex/a/+'), true);
      assert.equal(decideRestore(mount, 'acme/a/+'), false);
      assert.equal(decideRestore(mount, 'globex/$SYS/#'), false);
      assert.equal(decideRestore(root, 'anything/#'), true);
    });
  });

  describe('delivery', () => {
    it('shows the view, drops what is outside, caps QoS by subscription and tenant', () => {
      const client = state(mount);
      holdFilter(client, 'globex/a', 'a', 1);
      holdFilter(client, 'globex/b', 'b', 2);
      assert.deepEqual(decideDelivery(client, 'globex/a', 2, tenant({ maxQos: 2 })), { topic: 'a', qos: 1 });
      assert.deepEqual(decideDelivery(client, 'globex/b', 2, tenant({ maxQos: 0 })), { topic: 'b', qos: 0 });
      assert.equal(decideDelivery(client, 'acme/a', 0, tenant()), null);
      assert.equal(decideDelivery(newClientPolicyState(), 'globex/a', 0, tenant()), null);
    });

    it('[MQTT-4.7.2-1] delivers a $-topic of a mountpoint view only to a client holding an explicit $ filter', () => {
      const wildcardOnly = state(mount);
      holdFilter(wildcardOnly, 'globex/#', '#', 2);
      assert.equal(decideDelivery(wildcardOnly, 'globex/$TopicA/B', 1, tenant()), null);
      const explicit = state(mount);
      holdFilter(explicit, 'globex/$TopicA/+', '$TopicA/+', 2);
      assert.deepEqual(decideDelivery(explicit, 'globex/$TopicA/B', 1, tenant()), { topic: '$TopicA/B', qos: 1 });
      // a prefix view begins with the namespace: plain MQTT
      assert.deepEqual(decideDelivery(state(prefix), 'acme/$x', 0, tenant()), { topic: 'acme/$x', qos: 0 });
    });
  });

  describe('messages, flows, webhooks, changes', () => {
    const acme = tenant();
    const globex = tenant({ username: 'globex', isolation: 'mountpoint' });
    const isTenant = {
      tenant: (name: string) => [acme, globex].find((t) => t.username === name),
      tenantOfTopic: (topic: string) => [acme, globex].find((t) => topic.startsWith(t.namespace + '/')),
      all: () => [acme, globex],
    };

    it('says whose a message is', () => {
      assert.equal(messageOwner(mount, 'globex/a', isTenant), 'globex');
      assert.equal(messageOwner(root, 'acme/a', isTenant), 'acme');
      assert.equal(messageOwner(root, 'stray/a', isTenant), null);
      assert.equal(messageOwner(root, 'acme', isTenant), null);
      assert.equal(messageOwner(null, '$SYS/x', isTenant), null);
    });

    it('decides flows\' publishes and subscriptions in the mountpoint view', () => {
      assert.deepEqual(decideFlowPublish('acme', tenant(), 'x'), { kind: 'allow', topic: 'acme/x', scope: { kind: 'tenant', tenant: 'acme', namespace: 'acme', isolation: 'mountpoint' } });
      assert.equal(decideFlowPublish('nobody', undefined, 'x').kind, 'refuse');
      assert.deepEqual(decideFlowPublish('acme', tenant({ enabled: false }), 'x'), { kind: 'refuse', reason: 'tenant-disabled' });
      assert.equal((decideFlowPublish('acme', tenant(), 'a/+') as { reason: string }).reason, 'bad-topic');
      const all = decideFlowSubscribe('*', 'sensors/#', isTenant) as unknown as { filters: () => string[]; view: (t: string) => unknown };
      assert.deepEqual(all.filters(), ['acme/sensors/#', 'globex/sensors/#']);
      assert.deepEqual(all.view('acme/sensors/t'), { tenant: 'acme', topic: 'sensors/t' });
      assert.equal(all.view('stray/sensors/t'), null);
      const hash = decideFlowSubscribe('globex', '#', isTenant) as { view: (t: string) => unknown };
      assert.equal(hash.view('globex/$x'), null);
      const rootHash = decideFlowSubscribe('root', '#', isTenant) as { view: (t: string) => unknown };
      assert.equal(rootHash.view('$SYS/x'), null);
      assert.equal((decideFlowSubscribe('globex', '$SYS/#', isTenant) as { reason: string }).reason, 'reserved-topic');
    });

    it('mounts webhook filters of both kinds', () => {
      assert.deepEqual(decideWebhookFilter('registry', 'acme', 'acme/+'), { kind: 'allow', filter: 'acme/+', inView: false });
      assert.equal((decideWebhookFilter('registry', 'acme', 'globex/#') as { outside?: boolean }).outside, true);
      assert.deepEqual(decideWebhookFilter('flow', 'acme', 'sensors/+'), { kind: 'allow', filter: 'sensors/+', inView: true });
      assert.deepEqual(decideWebhookFilter('flow', '*', 'sensors/+'), { kind: 'allow', filter: 'sensors/+', inView: true });
      assert.equal(decideWebhookFilter('flow', 'acme', 'a/#/b').kind, 'refuse');
    });

    it('says what a tenant change does to its connections', () => {
      assert.deepEqual(connectionsAfterChange(tenant(), null, false), { kind: 'kick' });
      assert.deepEqual(connectionsAfterChange(tenant(), tenant({ enabled: false }), false), { kind: 'kick' });
      assert.deepEqual(connectionsAfterChange(tenant(), tenant(), true), { kind: 'kick' });
      assert.deepEqual(connectionsAfterChange(tenant(), tenant({ isolation: 'mountpoint' }), false), { kind: 'kick' });
      assert.deepEqual(connectionsAfterChange(tenant({ maxConnections: 5 }), tenant({ maxConnections: 2 }), false), { kind: 'trim', max: 2 });
      assert.equal(connectionsAfterChange(tenant(), tenant({ maxQos: 1 }), false), null);
    });
  });
});
