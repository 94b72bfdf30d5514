// `npm run package`: the tarball to publish. `npm pack` ships package.json as
// it is, and the repository's scripts (prepare, build, start, bench) run files
// the package does not ship (build.mjs, scripts/, bench/). This packs the
// built project with npm's own file list, removes `scripts` from the packed
// package.json (an installed package needs none) and packs that again.
// npm publish reads the manifest from the directory again after packing, so
// a package.json rewritten for the duration of `npm pack` would not reach the
// registry: publish the tarball itself.
//
//   npm run package [-- --pack-destination <dir>] [-- --json]
//   npm publish ./node-red-contrib-tenant-broker-<version>.tgz
//
// `--refuse-publish` (the prepublishOnly script) stops a `npm publish` of the
// repository directory and says what to do instead.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const project = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);

if (args.includes('--refuse-publish')) {
  console.error('Publish the tarball that `npm run package` makes, not the repository directory:\n  npm run package && npm publish ./node-red-contrib-tenant-broker-<version>.tgz');
  process.exit(1);
}

const destIndex = args.indexOf('--pack-destination');
const destination = resolve(destIndex >= 0 ? args[destIndex + 1] : process.cwd());
const json = args.includes('--json');

if (!existsSync(join(project, 'dist', 'nodes', 'tenant-broker.js'))) {
  console.error('dist/ is missing: run `npm run build` first.');
  process.exit(1);
}

/** npm, the one running this script when there is one, with npm's per-run settings for the project left out. */
function npm(argv, cwd) {
  const cli = process.env.npm_execpath;
  const [file, rest] = cli && /npm-cli\.js$/.test(cli) ? [process.execPath, [cli, ...argv]] : ['npm', argv];
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_(config_local_prefix|package_|lifecycle_|command$)/i.test(key)));
  return execFileSync(file, rest, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

const tmp = mkdtempSync(join(tmpdir(), 'tenant-broker-pack-'));
try {
  // scripts off: dist/ is built already, and prepare would rebuild it under the feet of anything reading it
  const [first] = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], project));
  execFileSync('tar', ['-xzf', join(tmp, first.filename), '-C', tmp]);
  const dir = join(tmp, 'package');
  const manifestFile = join(dir, 'package.json');
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
  delete manifest.scripts;
  writeFileSync(manifestFile, JSON.stringify(manifest, null, 2) + '\n');
  const [packed] = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', destination, dir], project));
  const files = packed.files.map((f) => f.path).sort();
  const expected = first.files.map((f) => f.path).sort();
  if (JSON.stringify(files) !== JSON.stringify(expected)) throw new Error(`the repacked tarball has other files than npm packed:\n${files.join('\n')}`);
  const tarball = join(destination, packed.filename);
  if (json) console.log(JSON.stringify({ tarball, files }, null, 2));
  else console.log(`${tarball}: ${files.length} files, package.json without scripts`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
