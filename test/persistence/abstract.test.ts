// Runs aedes-persistence's own conformance suite (written for node:test)
// against the memory store alone (the broker's `memory` persistence), and
// against SqlitePersistence once on an in-memory database and once on a real
// WAL file per test, so the memory path and the flush/reopen path are held to
// the reference behaviour.
//
//   node --require esbuild-register --test test/persistence/abstract.test.ts
//
// aedes-persistence 11 is CommonJS (only aedes itself is ESM), so the suite is
// required directly; mqemitter, which it requires, resolves from its folder.
import { after, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import abstractPersistence = require('aedes-persistence/abstract.js');
import { createMemoryPersistence } from '../../src/persistence/memory-store';
import { createSqlitePersistence } from '../../src/persistence/sqlite-persistence';

const dir = mkdtempSync(join(tmpdir(), 'persist-abstract-'));
let files = 0;
after(() => rmSync(dir, { recursive: true, force: true }));

function variant(label: string, build: () => unknown): void {
  abstractPersistence({
    test: (name, fn) => test(`[${label}] ${name}`, fn),
    persistence: build,
    testAsync: true,
  });
}

variant('memory store', () => createMemoryPersistence());
variant('memory', () => createSqlitePersistence({ path: ':memory:' }));
// Each abstract test expects an empty store, hence one file per instance.
variant('file', () => createSqlitePersistence({ path: join(dir, `abstract-${++files}.db`) }));
