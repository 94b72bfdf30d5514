import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import BetterSqlite3 from 'better-sqlite3';
import { collect, FakeBroker, Workspace } from './helpers';

const CHILD = join(__dirname, 'fixtures', 'crash-child.ts');
const FLUSH_INTERVAL_MS = 200;

describe('SqlitePersistence after kill -9', () => {
  let ws: Workspace;
  beforeEach(() => {
    ws = new Workspace();
  });
  afterEach(async () => {
    await ws.cleanup();
  });

  it('keeps every write older than one flush interval, and loses only a whole tail of batches', async () => {
    const child = spawn(process.execPath, ['--require', 'esbuild-register', CHILD, ws.file, String(FLUSH_INTERVAL_MS)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    let ready = false;
    try {
      for await (const line of createInterface({ input: child.stdout })) {
        if (line === 'READY') ready = true;
        if (line === 'AFTER 300') break;
      }
    } finally {
      child.kill('SIGKILL');
    }
    assert.ok(ready, 'the child reported that the first batch is older than 1.5 flush intervals');
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    assert.equal(signal, 'SIGKILL', `child exited on its own (code ${code}) before it was killed`);

    const integrity = new BetterSqlite3(ws.file);
    try {
      assert.equal(integrity.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      integrity.close();
    }

    const p = await ws.open({}, new FakeBroker('after-crash'));
    const topics = new Set((await collect(p.createRetainedStream('#'))).map((packet) => packet.topic as string));
    for (let i = 0; i < 100; i++) assert.ok(topics.has(`before/${i}`), `before/${i} was stored > 1 interval before the kill`);
    // Each flush commits everything written so far in one transaction, so
    // what survived of the later writes is a prefix: no gaps.
    const after = [...topics].filter((t) => t.startsWith('after/')).map((t) => Number(t.slice(6)));
    after.sort((a, b) => a - b);
    assert.deepEqual(after, after.map((_, i) => i));
  });
});
