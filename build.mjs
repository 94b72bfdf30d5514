// Builds what Node-RED loads: one .js per .ts (no bundling, so each engine
// module exists once at runtime and every node file shares it), plus the
// editor .html, locales/ and icons/ copied beside the built nodes because
// Node-RED looks for them next to each node's .js file.
import { build } from 'esbuild';
import { cp, mkdir, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

async function listFiles(dir, suffix) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path, suffix)));
    else if (entry.name.endsWith(suffix) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

await rm('dist', { recursive: true, force: true });
await build({
  entryPoints: [...(await listFiles('src', '.ts')), ...(await listFiles('nodes', '.ts'))],
  outdir: 'dist',
  outbase: '.',
  bundle: false,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
});
await mkdir('dist/nodes', { recursive: true });
for (const html of await listFiles('nodes', '.html')) {
  await cp(html, join('dist', html));
}
for (const dir of ['locales', 'icons']) {
  if (existsSync(dir)) await cp(dir, join('dist/nodes', dir), { recursive: true });
}
