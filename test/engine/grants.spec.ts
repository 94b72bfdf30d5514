import assert from 'node:assert/strict';
import { GrantIndex } from '../../src/tenancy/grants';
import { topicMatches } from '../../src/tenancy/topics';

/** The highest QoS by scanning every filter: what the index must agree with. */
function scan(grants: Map<string, 0 | 1 | 2>, topic: string): number {
  let best = -1;
  for (const [filter, qos] of grants) if (qos > best && topicMatches(filter, topic)) best = qos;
  return best;
}

describe('granted QoS index (pure)', () => {
  it('agrees with a scan of every filter, wildcards, `$` topics and empty levels included', () => {
    const levels = ['a', 'b', '', '+', '$x'];
    const filters: string[] = ['#', 'a/#', '+/#', '$x/#', '$x/+', 'a/+/#'];
    for (const x of levels) for (const y of levels) filters.push(`${x}/${y}`, `${x}/${y}/#`, `${x}/${y}/c`);
    const topics: string[] = ['a', 'b', '$x', '$x/a'];
    for (const x of ['a', 'b', '', '$x']) for (const y of ['a', 'b', '', 'c']) topics.push(`${x}/${y}`, `${x}/${y}/c`, `${x}/${y}/c/d`);
    const index = new GrantIndex();
    const held = new Map<string, 0 | 1 | 2>();
    let n = 0;
    for (const filter of filters) {
      const qos = (n++ % 3) as 0 | 1 | 2;
      index.hold(filter, qos);
      held.set(filter, qos);
      // an early lookup builds the tree: later holds and releases must keep it in step
      if (n === 5) index.highest('a/b');
    }
    for (const topic of topics) assert.equal(index.highest(topic), scan(held, topic), topic);
    for (const filter of filters.filter((_, i) => i % 2 === 0)) {
      index.release(filter);
      held.delete(filter);
    }
    index.hold('a/b', 2);
    held.set('a/b', 2);
    for (const topic of topics) assert.equal(index.highest(topic), scan(held, topic), `after release: ${topic}`);
  });

  it('a lookup does the same work with 10 or 20,000 filters that do not match (finding 5)', () => {
    const visits = (others: number) => {
      const index = new GrantIndex();
      for (let i = 0; i < others; i++) index.hold(`t/other/${i}/+`, 2);
      index.hold('t/hot/+', 1);
      assert.equal(index.highest('t/hot/x'), 1);
      return index.lastVisits;
    };
    assert.equal(visits(20_000), visits(10));
  });

  it('drops the levels a released filter alone kept: subscribe/unsubscribe churn does not grow it', () => {
    const index = new GrantIndex();
    index.hold('keep/+', 1);
    index.highest('x');
    const base = levelsOf(index);
    assert.equal(base, 3);
    for (let i = 0; i < 100; i++) {
      index.hold(`churn/${i}/+/#`, 2);
      index.release(`churn/${i}/+/#`);
    }
    assert.equal(levelsOf(index), base);
  });
});

type Level = { children: Map<string, Level> | null };
/** Levels in the index's tree (root included). */
function levelsOf(index: GrantIndex): number {
  const count = (level: Level): number => 1 + [...(level.children?.values() ?? [])].reduce((n, child) => n + count(child), 0);
  return count((index as unknown as { tree: Level }).tree);
}
