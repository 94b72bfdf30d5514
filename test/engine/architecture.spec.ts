import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(__dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sources(path) : entry.name.endsWith('.ts') ? [path] : [];
  });
}

const importsOf = (file: string) => [...readFileSync(file, 'utf8').matchAll(/(?:from|import\()\s*'([^']+)'/g)].map((m) => m[1]);

describe('architecture', () => {
  it('the engine in src/ never imports Node-RED', () => {
    const offenders = sources(join(root, 'src')).filter((file) => importsOf(file).some((spec) => spec === 'node-red' || spec.startsWith('node-red/') || spec.startsWith('@node-red/')));
    assert.deepEqual(offenders.map((file) => relative(root, file)), []);
  });

  it('nodes/ reach the engine only through src/index.ts', () => {
    const deep = sources(join(root, 'nodes')).flatMap((file) =>
      importsOf(file)
        .filter((spec) => /(^|\/)src\//.test(spec))
        .map((spec) => `${relative(root, file)} -> ${spec}`),
    );
    assert.deepEqual(deep, []);
  });

  it('every engine error key has an English text', () => {
    const catalog = JSON.parse(readFileSync(join(root, 'locales', 'en-US', 'tenant-broker.json'), 'utf8')) as { errors: Record<string, string> };
    const used = new Set(
      [...sources(join(root, 'src')), ...sources(join(root, 'nodes'))].flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/'errors\.([a-z-]+)'/g)].map((m) => m[1])),
    );
    assert.deepEqual([...used].filter((key) => !(key in catalog.errors)).sort(), []);
  });
});
