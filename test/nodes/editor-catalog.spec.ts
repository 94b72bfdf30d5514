import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ISOLATION_STYLES, LIMIT_FIELDS } from '../../src';

const root = join(__dirname, '..', '..');
const catalog = JSON.parse(readFileSync(join(root, 'locales', 'en-US', 'tenant-broker.json'), 'utf8')) as { 'tenant-broker': Record<string, unknown> };

/** The editor code: nodes/*.editor.ts and nodes/editor/. */
const editorFiles = [
  ...readdirSync(join(root, 'nodes')).filter((f) => f.endsWith('.editor.ts')).map((f) => join(root, 'nodes', f)),
  ...readdirSync(join(root, 'nodes', 'editor')).map((f) => join(root, 'nodes', 'editor', f)),
];
const editorCode = editorFiles.map((file) => readFileSync(file, 'utf8')).join('\n');

function text(key: string): unknown {
  return key.split('.').reduce<unknown>((node, part) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined), catalog['tenant-broker']);
}

/**
 * The editor shows a key it cannot translate as the key itself: every text
 * the sidebar and its forms ask for is in the catalog, including the ones
 * made from a value (a limit's label, a choice, a section, a transport).
 */
describe('editor catalog', () => {
  it('has a text for every literal key the editor code asks for', () => {
    const keys = [...editorCode.matchAll(/\bt\('([^']+)'/g)].map((m) => m[1]);
    assert.ok(keys.length > 100, `found only ${keys.length} keys: is this test still reading the editor code?`);
    assert.deepEqual([...new Set(keys)].filter((key) => typeof text(key) !== 'string'), []);
  });

  it('has a label for every limit the engine declares, and for each of its choices', () => {
    const missing: string[] = [];
    for (const field of LIMIT_FIELDS) {
      if (typeof text(`fields.${field.column}`) !== 'string') missing.push(`fields.${field.column}`);
      for (const choice of field.choices ?? []) if (typeof text(`choices.${field.column}.${choice}`) !== 'string') missing.push(`choices.${field.column}.${choice}`);
    }
    assert.deepEqual(missing, []);
  });

  it('has a text for every key the editor builds from a value', () => {
    const families: Record<string, readonly string[]> = {
      'isolation-short': ISOLATION_STYLES,
      isolation: ISOLATION_STYLES,
      sections: ['devices', 'roles', 'clients', 'connect'],
      'clients.transport': ['tcp', 'tls', 'ws', 'wss'],
      rules: ['allow', 'deny', 'all', 'publish', 'subscribe', 'permission', 'action', 'topic', 'max-qos'],
      tabs: ['connection', 'security', 'authentication', 'limits', 'storage', 'tenants'],
    };
    const missing = Object.entries(families).flatMap(([prefix, values]) => values.map((v) => `${prefix}.${v}`).filter((key) => typeof text(key) !== 'string'));
    assert.deepEqual(missing, []);
    // a family not listed here would go unchecked
    const built = [...editorCode.matchAll(/\bt\(`([a-z-]+(?:\.[a-z-]+)*)\.\$\{/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(built)].filter((prefix) => !(prefix in families) && !['fields', 'choices', 'choices.device_default_access'].includes(prefix)), []);
  });
});
