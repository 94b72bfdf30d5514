import assert from 'node:assert/strict';
import type { Scope } from '../../src/model';
import { filterProblem, publishTopicProblem, tenantNameProblem, topicMatches } from '../../src/tenancy/topics';
import { mountFilter as inboundFilter, mountTopic as inboundTopic, viewOf as outboundTopic } from '../../src/tenancy/views';

describe('topics (pure)', () => {
  it('validates tenant names', () => {
    for (const good of ['a', 'tenant1', 'A.b-c_d', 'x'.repeat(64)]) assert.equal(tenantNameProblem(good), null, good);
    for (const bad of ['', 'root', '-a', '.a', 'a/b', 'a+b', 'a#', 'a b', 'a:b', 'x'.repeat(65), 'ä']) assert.notEqual(tenantNameProblem(bad), null, bad);
  });

  it('matches MQTT 3.1.1 wildcards [MQTT-4.7]', () => {
    const cases: Array<[string, string, boolean]> = [
      ['a/b', 'a/b', true],
      ['a/+', 'a/b', true],
      ['a/+', 'a/b/c', false],
      ['a/+', 'a', false],
      ['a/+', 'a/', true],
      ['a/#', 'a', true],
      ['a/#', 'a/b/c', true],
      ['a/#', 'ab', false],
      ['#', 'a/b', true],
      ['+/+', 'a/b', true],
      ['+', '/a', false],
      ['+/a', '/a', true],
      ['#', '$SYS/x', false],
      ['+/x', '$SYS/x', false],
      ['$SYS/#', '$SYS/x', true],
      ['a/b', 'a/c', false],
      ['tenant1/sensors/+', 'tenant1/sensors/temp', true],
      ['tenant1/sensors/+', 'tenant10/sensors/temp', false],
    ];
    for (const [filter, topic, expected] of cases) assert.equal(topicMatches(filter, topic), expected, `${filter} ~ ${topic}`);
  });

  it('checks topics and filters', () => {
    assert.equal(publishTopicProblem('a/b'), null);
    assert.notEqual(publishTopicProblem('a/+'), null);
    assert.notEqual(publishTopicProblem(''), null);
    assert.notEqual(publishTopicProblem('a\u0000'), null);
    assert.equal(filterProblem('a/+/#'), null);
    for (const bad of ['a/#/b', 'a#', 'a/b+', '', '+a']) assert.notEqual(filterProblem(bad), null, bad);
  });

  it('maps each scope inbound and outbound', () => {
    const prefix: Scope = { kind: 'tenant', tenant: 't1', namespace: 't1', isolation: 'prefix' };
    const mount: Scope = { kind: 'tenant', tenant: 't2', namespace: 't2', isolation: 'mountpoint' };
    assert.deepEqual(inboundTopic(prefix, 't1/a'), { ok: true, topic: 't1/a' });
    assert.deepEqual(inboundTopic(prefix, 't10/a'), { ok: false, reason: 'outside-namespace' });
    assert.deepEqual(inboundTopic(prefix, 't1'), { ok: false, reason: 'outside-namespace' });
    assert.deepEqual(inboundTopic(mount, 'a'), { ok: true, topic: 't2/a' });
    assert.deepEqual(inboundTopic(mount, '$SYS/a'), { ok: false, reason: 'reserved-topic' });
    assert.deepEqual(inboundTopic(mount, 'x'.repeat(65534)), { ok: false, reason: 'topic-too-long' });
    assert.deepEqual(inboundFilter(prefix, 't1/#'), { ok: true, topic: 't1/#' });
    assert.deepEqual(inboundFilter(prefix, '+/#'), { ok: false, reason: 'outside-namespace' });
    assert.deepEqual(inboundFilter(mount, '#'), { ok: true, topic: 't2/#' });
    assert.equal(outboundTopic(mount, 't2/a/b'), 'a/b');
    assert.equal(outboundTopic(mount, 't1/a'), null);
    assert.equal(outboundTopic(mount, 't2'), null);
    assert.equal(outboundTopic(prefix, 't1/a'), 't1/a');
    assert.equal(outboundTopic({ kind: 'root' }, '$SYS/x'), '$SYS/x');
  });
});
