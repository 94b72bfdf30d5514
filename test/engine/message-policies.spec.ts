import assert from 'node:assert/strict';
import { renderMetrics } from '../../src/admin/metrics';
import { checkMessage, compilePolicies, policyProblem } from '../../src/tenancy/message-policies';
import { engineFixture } from '../helpers/engine';
import { closed } from '../helpers/mqtt';

const schema = { type: 'object', properties: { t: { type: 'number' }, unit: { enum: ['C', 'F'] }, id: { type: 'string' }, ok: { type: 'boolean' }, at: { type: 'integer' } }, required: ['t', 'unit'] };

describe('message policies', () => {
  describe('the checks (pure)', () => {
    it('refuses a malformed schema and a pattern that needs backtracking, naming the problem', () => {
      assert.match(policyProblem({ topic_filter: 'a', json_schema: { type: 'nope' }, action: 'drop' })!, /json_schema/);
      assert.match(policyProblem({ topic_filter: 'a', patterns: ['(a)\\1'], action: 'drop' })!, /patterns\[0\]/);
      assert.match(policyProblem({ topic_filter: 'a', patterns: ['(?=x)'], action: 'drop' })!, /patterns\[0\]/);
      assert.match(policyProblem({ topic_filter: 'a/#/b', max_payload_bytes: 1, action: 'drop' })!, /topic_filter/);
      assert.match(policyProblem({ topic_filter: 'a', action: 'drop' })!, /needs/);
      assert.match(policyProblem({ topic_filter: 'a', inspect: ['nope' as never], action: 'drop' })!, /unknown set/);
      assert.equal(policyProblem({ topic_filter: 'a', patterns: ['(a+)+b'], action: 'detect' }), null);
    });

    it('runs a catastrophic pattern in linear time (RE2): 200,000 characters that would never finish with backtracking', () => {
      const set = compilePolicies([{ id: 1, tenant: 't', topic_filter: '#', patterns: ['^(a+)+$'], action: 'drop' }]);
      assert.equal(checkMessage(set, 'x', Buffer.from('a'.repeat(200_000) + '!')), null);
      assert.equal(checkMessage(set, 'x', Buffer.from('aaaa'))?.action, 'drop');
    });

    it('evaluates every matching policy; the strongest action wins; a non-JSON payload violates a schema', () => {
      const set = compilePolicies([
        { id: 1, tenant: 't', topic_filter: 'sensors/#', json_schema: schema, action: 'detect' },
        { id: 2, tenant: 't', topic_filter: '#', inspect: ['xss'], action: 'drop' },
        { id: 3, tenant: 't', topic_filter: 'other/#', max_payload_bytes: 1, action: 'close' },
      ]);
      assert.equal(checkMessage(set, 'sensors/a', Buffer.from('{"t":1,"unit":"C"}')), null);
      assert.deepEqual(checkMessage(set, 'sensors/a', Buffer.from('<script>x</script>')), {
        action: 'drop',
        violations: [
          { policy: 1, reason: 'not-json', detail: 'the payload is not JSON' },
          { policy: 2, reason: 'xss', detail: 'xss' },
        ],
      });
      assert.equal(checkMessage(set, 'other/a', Buffer.from('12'))?.action, 'close');
    });

    it('inspection sets catch what the README lists', () => {
      const set = compilePolicies([{ id: 1, tenant: 't', topic_filter: '#', inspect: ['sql-injection', 'command-injection', 'xss', 'path-traversal'], action: 'detect' }]);
      const reason = (text: string) => checkMessage(set, 'x', Buffer.from(text))?.violations[0].reason ?? null;
      assert.equal(reason("' OR '1'='1"), 'sql-injection');
      assert.equal(reason('1; DROP TABLE users'), 'sql-injection');
      assert.equal(reason('x; rm -rf /'), 'command-injection');
      assert.equal(reason('$(curl evil)'), 'command-injection');
      assert.equal(reason('<img src=x onerror=alert(1)>'), 'xss');
      assert.equal(reason('javascript:alert(1)'), 'xss');
      assert.equal(reason('../../etc/passwd'), 'path-traversal');
      assert.equal(reason('%2e%2e%2fsecret'), 'path-traversal');
      assert.equal(reason('{"t": 21.5, "unit": "C", "note": "select the best"}'), null);
    });
  });

  describe('in the broker', () => {
    const fixture = engineFixture();

    it('drop: acknowledges and discards; close: closes; detect: delivers; each counted and audited without the payload', async () => {
      const { host } = fixture.engine;
      const drop = host.registry.policies.add('globex', { topic_filter: 'sensors/#', json_schema: schema, action: 'drop' });
      const close = host.registry.policies.add('globex', { topic_filter: 'cmd/#', patterns: ['shutdown'], action: 'close' });
      const detect = host.registry.policies.add('globex', { topic_filter: 'notes/#', inspect: ['xss'], action: 'detect' });
      const own = await fixture.as('globex');
      await own.subscribe('#', 1);
      const device = await fixture.as('globex');
      await device.publish('sensors/t', '{"t":"warm"}', { qos: 1 }); // PUBACK arrives: dropped quietly
      await device.publish('sensors/t', '{"t":21,"unit":"C"}', { qos: 1 });
      await device.publish('notes/n', '<script>hi</script>', { qos: 1 });
      await own.waitFor((m) => m.payload === '<script>hi</script>');
      assert.deepEqual(own.inbox.map((m) => m.topic), ['sensors/t', 'notes/n']);
      const gone = closed(device.client);
      device.client.publish('cmd/x', 'please shutdown', { qos: 1 });
      await gone;
      const metrics = renderMetrics(host);
      for (const [policy, reason] of [[drop.id, 'schema'], [close.id, 'pattern'], [detect.id, 'xss']]) {
        assert.match(metrics, new RegExp(`tenant_broker_policy_violations_total\\{tenant="globex",policy="${policy}",reason="${reason}"\\} 1`));
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      host.registry.audit.flush();
      const audited = host.registry.audit.list({ tenant: 'globex', limit: 100 }).filter((e) => e.action === 'policy.violation');
      assert.equal(audited.length, 3);
      assert.ok(audited.every((e) => !JSON.stringify(e).includes('shutdown') && !JSON.stringify(e).includes('warm')));
    });

    it('holds for flows (tenant-out: drop and close are an error) and for root', async () => {
      const { host } = fixture.engine;
      host.registry.policies.add('acme', { topic_filter: '#', max_payload_bytes: 4, action: 'drop' });
      assert.throws(() => host.publish('acme', { topic: 'x', payload: 'too long' }), (err: { key?: string }) => err.key === 'errors.policy-violation');
      await host.publish('acme', { topic: 'x', payload: 'ok' });
      const root = await fixture.as('root');
      const watcher = await fixture.as('acme');
      await watcher.subscribe('acme/#', 1);
      await root.publish('acme/y', 'too long for acme', { qos: 1 });
      await root.publish('acme/y', 'fine', { qos: 1 });
      await watcher.waitFor((m) => m.payload === 'fine');
      assert.equal(watcher.inbox.some((m) => m.payload === 'too long for acme'), false);
    });

    it('a topic without a policy is not checked, and a removed tenant takes its policies', async () => {
      const { host } = fixture.engine;
      host.registry.policies.add('acme', { topic_filter: 'only/here', max_payload_bytes: 1, action: 'close' });
      const c = await fixture.as('acme');
      await c.publish('acme/elsewhere', 'long payload', { qos: 1 });
      host.registry.removeTenant('acme');
      assert.deepEqual(host.registry.policies.list('acme'), []);
      assert.equal((host.registry.db.prepare('SELECT COUNT(*) AS n FROM policies').get() as { n: number }).n, 0);
    });
  });
});
