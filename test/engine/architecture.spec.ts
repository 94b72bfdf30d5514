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

describe('architecture: the house', () => {
  /** Every relative import of a file (`import`, `import type`, `export ... from`, `import()`), resolved to a file. */
  function relativeImports(file: string): string[] {
    const text = readFileSync(file, 'utf8');
    const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g)].map((m) => m[1] ?? m[2]);
    return specs
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => {
        const base = join(file, '..', spec);
        for (const candidate of [base + '.ts', join(base, 'index.ts'), base]) {
          try {
            readFileSync(candidate);
            return candidate;
          } catch {
            // next candidate
          }
        }
        return base;
      });
  }

  it('has no import cycle in src/ or nodes/, import type included', () => {
    const files = [...sources(join(root, 'src')), ...sources(join(root, 'nodes'))].filter((f) => !f.endsWith('.d.ts'));
    const graph = new Map(files.map((f) => [f, relativeImports(f)]));
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const walk = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(root, f)).join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) walk(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of files) walk(file, []);
    assert.deepEqual(cycles, []);
  });

  it('touches private state of aedes, mqtt-packet and ws only in src/aedes-seam.ts', () => {
    const seam = join(root, 'src', 'aedes-seam.ts');
    // private fields the engine relies on, and casts that would reach past aedes' types
    const privateState = /\b(_will|_parser|_parseLength|_parseString|_emitError|_list|_pos|_queue|_nextBatch|_parsingBatch|_inboundInflight|_disconnected|connackSent|_receiver|_maxPayload)\b|\.clients\s*\[|\bbroker\.counter\b|as unknown as \{[^}]*\b(clients|persistence|subscriptions|will)\b/;
    const offenders = [...sources(join(root, 'src')), ...sources(join(root, 'nodes'))]
      .filter((file) => file !== seam)
      .flatMap((file) =>
        readFileSync(file, 'utf8')
          .split('\n')
          .map((line, i) => [line, i + 1] as const)
          .filter(([line]) => privateState.test(line) || /from '(aedes|mqtt-packet)\/|from 'mqtt-packet'/.test(line))
          .map(([line, n]) => `${relative(root, file)}:${n}: ${line.trim()}`),
      );
    assert.deepEqual(offenders, []);
  });
});
