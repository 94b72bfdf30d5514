import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { AccessRule } from '../../src/tenancy/rules';
import { startEngine, type RunningEngine } from '../helpers/engine';
import { closed, connackCode, connect, type TestClient } from '../helpers/mqtt';

/**
 * Tenant isolation with devices: a device of one tenant against the devices
 * and the login of another, in every pairing of styles and with multi-level
 * namespaces, across every path test/engine/isolation.spec.ts covers for
 * tenant logins (which stays the proof for login against login).
 *
 * The attacking device holds the broadest rules a role can give, `allow all #`
 * first, then every reserved `$` tree: rules are written in the tenant's own
 * view, so none of them may reach outside its namespace.
 *
 * Each path is proven the same way: the victim's message is shown to exist
 * (a legitimate subscriber gets it), then a sentinel is published to every
 * client checked, and only once it has arrived is the inbox searched. Every
 * payload a tenant's client sends carries `@<tenant>#`, so a client holding a
 * tagged payload of another tenant is a leak, whichever test sent it (the
 * engine is shared by the whole matrix).
 */

interface TenantSpec {
  name: string;
  namespace: string;
  isolation: 'prefix' | 'mountpoint';
}

const TENANTS: TenantSpec[] = [
  { name: 'acme', namespace: 'acme', isolation: 'prefix' },
  { name: 'globex', namespace: 'globex', isolation: 'mountpoint' },
  { name: 'deep', namespace: 'tenants/deep', isolation: 'mountpoint' },
  { name: 'deepx', namespace: 'tenants/deepx', isolation: 'prefix' },
];

/** The broadest a role can be: everything of the view, and each reserved `$` tree named outright. */
const GREEDY: AccessRule[] = [
  { permission: 'allow', action: 'all', topic: '#' },
  ...['$SYS/#', '$share/#', '$events/#', '$tenant-broker/#', '+/#'].map((topic): AccessRule => ({ permission: 'allow', action: 'all', topic })),
];

/** One login of one tenant, and how it sees the topic tree. */
class Party {
  constructor(
    readonly tenant: TenantSpec,
    readonly kind: 'tenant' | 'device',
  ) {}
  get login(): string {
    return this.kind === 'tenant' ? this.tenant.name : `${this.tenant.name}-dev`;
  }
  get label(): string {
    const style = `${this.tenant.isolation}${this.tenant.namespace.includes('/') ? `, "${this.tenant.namespace}"` : ''}`;
    return this.kind === 'tenant' ? `${this.tenant.name}'s login (${style})` : `a device of ${this.tenant.name} with allow all # (${style})`;
  }
  /** A topic of this tenant (relative to its namespace) as this login writes it. */
  own(rel: string): string {
    return this.tenant.isolation === 'prefix' ? `${this.tenant.namespace}/${rel}` : rel;
  }
  full(rel: string): string {
    return `${this.tenant.namespace}/${rel}`;
  }
  /** A payload this tenant's client sends, recognisable anywhere as this tenant's. */
  tag(kind: string, nonce: string): string {
    return `${kind}@${this.tenant.name}#${nonce}`;
  }
}

describe('tenant isolation with devices (every pairing of device and login, styles and multi-level namespaces)', () => {
  let engine: RunningEngine;
  const open: TestClient[] = [];

  before(async () => {
    engine = await startEngine();
    const registry = engine.host.registry;
    for (const t of TENANTS) {
      if (!registry.getTenant(t.name)) await registry.addTenant({ username: t.name, password: `${t.name}-pw`, isolation: t.isolation, namespace: t.namespace });
      registry.devices.setRole(t.name, 'greedy', GREEDY, 'add');
      await registry.devices.add({ tenant: t.name, username: `${t.name}-dev`, password: `${t.name}-dev-pw`, roles: ['greedy'] });
    }
  });
  after(async () => {
    await engine?.stop();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.end().catch(() => undefined)));
  });

  async function as(party: Party | 'root', options: Record<string, unknown> = {}): Promise<TestClient> {
    const username = party === 'root' ? 'root' : party.login;
    const client = await connect(engine.mqttUrl, { username, password: party === 'root' ? 'rootpw' : `${username}-pw`, ...options });
    open.push(client);
    return client;
  }

  /** Publishes a marker as root under `rel` of the party's tenant and waits until the client has it (it must hold a matching filter). */
  async function sentinel(client: TestClient, party: Party, rel = 'own/sentinel'): Promise<void> {
    const marker = `sentinel-${randomUUID()}`;
    await engine.host.publish('root', { topic: party.full(rel), payload: marker, qos: 1 });
    await client.waitFor((m) => m.payload === marker);
  }

  /** No payload tagged by another tenant than the party's own has reached the client. */
  function assertNoLeak(client: TestClient, party: Party, what: string): void {
    const foreign = client.inbox.filter((m) => {
      const tag = /@([^#]+)#/.exec(m.payload);
      return tag !== null && tag[1] !== party.tenant.name;
    });
    assert.deepEqual(foreign, [], `${what} (${party.label}) received another tenant's messages`);
    assert.deepEqual(client.inbox.filter((m) => m.topic.startsWith('$SYS')), [], `${what} received $SYS`);
    // lifecycle events name their tenant: only the party's own
    const events = client.inbox.filter((m) => m.topic.startsWith('$events')).map((m) => (JSON.parse(m.payload) as { tenant: string }).tenant);
    assert.deepEqual(events.filter((t) => t !== party.tenant.name), [], `${what} received another tenant's lifecycle events`);
  }

  const byName = (name: string) => TENANTS.find((t) => t.name === name)!;
  const pairs: Array<[string, string]> = [
    ['acme', 'globex'], // prefix against mountpoint
    ['globex', 'acme'], // mountpoint against prefix
    ['globex', 'deep'], // mountpoint against a multi-level mountpoint
    ['deep', 'deepx'], // multi-level mountpoint against its multi-level prefix sibling
    ['deepx', 'deep'], // multi-level prefix against its mountpoint sibling
    ['acme', 'deepx'], // prefix against a multi-level prefix
  ];
  const combos: Array<['tenant' | 'device', 'tenant' | 'device']> = [
    ['device', 'device'],
    ['device', 'tenant'],
    ['tenant', 'device'],
  ];

  for (const [attackerName, victimName] of pairs) {
    for (const [attackerKind, victimKind] of combos) {
      const A = new Party(byName(attackerName), attackerKind);
      const V = new Party(byName(victimName), victimKind);

      describe(`${A.label} against ${V.label}`, () => {
        /** Every filter an attacker might try for the victim's messages, in its own view. */
        const attackFilters = (): string[] => {
          const first = V.tenant.namespace.split('/')[0];
          // one of each: mqtt.js drops a repeated filter from the SUBSCRIBE
          return [...new Set([
            '#',
            '+/#',
            '+/+/#',
            '/#',
            `${V.tenant.namespace}/#`,
            `${V.tenant.namespace}/secret/kept`,
            `+/${V.tenant.namespace}/#`,
            `${first}/#`,
            `${first}/+/#`,
            `../${V.tenant.namespace}/#`,
            '$SYS/#',
            `$share/g/${V.tenant.namespace}/#`,
            '$share/g/#',
            '$events/#',
            `$events/${V.tenant.namespace}/#`,
            '$events/+/#',
            '$tenant-broker/#',
            A.own('own/#'),
          ])];
        };

        it('sees no live or retained message of the victim, whatever filter it tries', async () => {
          const nonce = randomUUID();
          const filters = attackFilters();
          const attacker = await as(A);
          const granted = await attacker.subscribe(filters, 1);
          filters.forEach((filter, i) => {
            // the reserved trees are refused outright; a prefix login gets nothing outside its namespace;
            // $events/... of a mountpoint view is its own events subtree (mounted after $events/<its namespace>)
            if (A.tenant.isolation === 'mountpoint' && filter.startsWith('$events/')) return;
            if (/^\$(SYS|share|events)\//.test(filter) || (A.tenant.isolation === 'prefix' && !filter.startsWith(`${A.tenant.namespace}/`))) assert.equal(granted[i], 128, filter);
          });
          const victim = await as(V);
          await victim.subscribe(V.own('secret/#'), 1);
          await victim.publish(V.own('secret/live'), V.tag('live', nonce), { qos: 1 });
          await victim.publish(V.own('secret/kept'), V.tag('kept', nonce), { qos: 1, retain: true });
          await victim.waitFor((m) => m.payload === V.tag('live', nonce));
          await victim.waitFor((m) => m.payload === V.tag('kept', nonce));
          // a late subscriber gets retained messages at SUBSCRIBE time
          const late = await as(A);
          await late.subscribe(filters, 1);
          await sentinel(attacker, A);
          await sentinel(late, A);
          assertNoLeak(attacker, A, 'the attacker');
          assertNoLeak(late, A, 'a late attacker');
        });

        it('cannot publish into the victim\'s namespace by naming it', async () => {
          const nonce = randomUUID();
          const victim = await as(V);
          await victim.subscribe(V.own('#'), 1);
          const forged = [`${V.tenant.namespace}/cmd`, `../${V.tenant.namespace}/cmd`, `/${V.tenant.namespace}/cmd`, V.own('cmd')];
          if (A.tenant.isolation === 'prefix') {
            // outside its namespace: the connection is closed (denied_publish "close")
            for (const topic of forged) {
              const attacker = await as(A);
              const gone = closed(attacker.client);
              attacker.client.publish(topic, A.tag('forged', nonce), { qos: 1 });
              await gone;
            }
          } else {
            // mounted into its own namespace, where root finds it
            const r = await as('root');
            await r.subscribe(`${A.tenant.namespace}/#`, 1);
            const attacker = await as(A);
            for (const topic of forged) await attacker.publish(topic, A.tag('forged', nonce), { qos: 1 });
            await r.waitFor((m) => m.topic === A.full(`${V.tenant.namespace}/cmd`));
          }
          await sentinel(victim, V);
          assertNoLeak(victim, V, 'the victim');
        });

        it('a will naming the victim\'s topics never reaches it', async () => {
          const nonce = randomUUID();
          const victim = await as(V);
          await victim.subscribe(V.own('#'), 1);
          const will = { topic: `${V.tenant.namespace}/status`, payload: Buffer.from(A.tag('will', nonce)), qos: 1 as const, retain: true };
          if (A.tenant.isolation === 'prefix') {
            assert.equal(await connackCode(engine.mqttUrl, { username: A.login, password: `${A.login}-pw`, will }), 5);
          } else {
            const r = await as('root');
            await r.subscribe(`${A.tenant.namespace}/#`, 1);
            const dying = await as(A, { will });
            dying.client.stream.destroy();
            assert.equal((await r.waitFor((m) => m.payload === A.tag('will', nonce))).topic, A.full(will.topic));
          }
          const late = await as(V);
          await late.subscribe(V.own('#'), 1);
          await sentinel(victim, V);
          await sentinel(late, V);
          assertNoLeak(victim, V, 'the victim');
          assertNoLeak(late, V, 'a late victim');
        });

        it('the same client identifier: neither disturbs the other', async () => {
          const clientId = `shared-${randomUUID()}`;
          const victim = await as(V, { clientId });
          await victim.subscribe(V.own('own/#'), 1);
          let victimClosed = false;
          victim.client.on('close', () => (victimClosed = true));
          const attacker = await as(A, { clientId });
          await attacker.subscribe(A.own('own/#'), 1);
          const persistent = await as(A, { clientId, clean: false });
          await persistent.subscribe(A.own('own/#'), 1);
          await sentinel(victim, V);
          await sentinel(persistent, A);
          assert.equal(victimClosed, false);
          assert.equal(victim.client.connected, true);
          assertNoLeak(victim, V, 'the victim');
          assertNoLeak(persistent, A, 'the attacker');
        });

        it('cannot resume the victim\'s persistent session with its client identifier', async () => {
          const nonce = randomUUID();
          const clientId = `session-${randomUUID()}`;
          const owner = await as(V, { clientId, clean: false });
          await owner.subscribe(V.own('queue/#'), 1);
          await owner.end();
          await engine.host.publish('root', { topic: V.full('queue/1'), payload: V.tag('queued', nonce), qos: 1 });
          const thief = await as(A, { clientId, clean: false });
          assert.equal(thief.sessionPresent, false);
          await thief.subscribe(A.own('own/#'), 1);
          await sentinel(thief, A);
          assertNoLeak(thief, A, 'the attacker');
          await thief.end();
          const back = await as(V, { clientId, clean: false });
          assert.equal(back.sessionPresent, true);
          assert.equal((await back.waitFor((m) => m.payload === V.tag('queued', nonce))).topic, V.own('queue/1'));
        });

        it('one message fanned out to both tenants\' subscribers: each sees its own view, the attacker nothing', async () => {
          const nonce = randomUUID();
          // the victim's topic reads like the attacker's namespace once the victim's is stripped
          const rel = `${A.tenant.namespace}/fan`;
          const victimSide = [await as(new Party(V.tenant, 'tenant')), await as(new Party(V.tenant, 'device')), await as(V)];
          for (const c of victimSide) await c.subscribe(V.own(`${A.tenant.namespace}/#`), 1);
          const r = await as('root');
          await r.subscribe('#', 1);
          const attackers = [await as(A), await as(new Party(A.tenant, A.kind === 'tenant' ? 'device' : 'tenant'))];
          for (const c of attackers) await c.subscribe(A.tenant.isolation === 'prefix' ? [A.own('#'), A.own('own/#')] : ['#', rel, 'own/#'], 1);
          await victimSide[2].publish(V.own(rel), V.tag('fan', nonce), { qos: 1 });
          for (const c of victimSide) assert.equal((await c.waitFor((m) => m.payload === V.tag('fan', nonce))).topic, V.own(rel));
          assert.equal((await r.waitFor((m) => m.payload === V.tag('fan', nonce))).topic, V.full(rel));
          for (const c of attackers) {
            await sentinel(c, A);
            assertNoLeak(c, A, 'an attacker');
          }
        });
      });
    }
  }
});
