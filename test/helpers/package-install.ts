import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const projectRoot = resolve(__dirname, '..', '..');

/**
 * The environment for a nested npm: the caller's, less what `npm test` sets
 * for the project itself (npm_config_local_prefix would point the nested
 * install back at the project).
 */
function npmEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_userconfig', 'npm_config_globalconfig', 'npm_config_registry', 'npm_config_nodedir', 'npm_config_cafile', 'npm_config_node_gyp']);
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) && !keep.has(key.toLowerCase())) continue;
    if (key === 'INIT_CWD') continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** Runs npm (the one running `npm test` when there is one) and resolves with its stdout. */
export function npm(args: string[], cwd: string, extra: Record<string, string> = {}, timeoutMs = 150_000): Promise<string> {
  const cli = process.env.npm_execpath;
  const [file, argv] = cli && /npm-cli\.js$/.test(cli) ? [process.execPath, [cli, ...args]] : ['npm', args];
  return new Promise((resolvePromise, reject) => {
    execFile(file, argv, { cwd, env: npmEnv(extra), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(Object.assign(new Error(`npm ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`), { stdout, stderr }));
      resolvePromise(stdout);
    });
  });
}

/**
 * The tarball `npm run package` makes of the project as it stands (what is
 * published: npm's file list, package.json without the repository's scripts).
 * The build is not repeated: `npm test` has just built dist/ (pretest).
 */
export async function packProject(destination: string): Promise<{ tarball: string; files: string[] }> {
  if (!existsSync(join(projectRoot, 'dist', 'nodes', 'tenant-broker.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const cli = process.env.npm_execpath;
  const out = await new Promise<string>((resolvePromise, reject) => {
    execFile(process.execPath, [join(projectRoot, 'scripts', 'pack.mjs'), '--json', '--pack-destination', destination], { cwd: projectRoot, env: npmEnv(cli ? { npm_execpath: cli } : {}), timeout: 150_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`npm run package failed: ${err.message}\n${stdout}\n${stderr}`));
      resolvePromise(stdout);
    });
  });
  return JSON.parse(out) as { tarball: string; files: string[] };
}

/**
 * better-sqlite3's install script runs `prebuild-install || node-gyp rebuild`.
 * prebuild-install cannot download here (only the npm registry is reachable),
 * so it would compile SQLite: a minute or more on two cores. The project's
 * own node_modules already holds that very binary, built for this Node by
 * `npm ci`; packed as a local prebuild, the install script takes it instead.
 * Returns the environment that points prebuild-install at it and the
 * better-sqlite3 version to pin, or nothing (then npm compiles as usual).
 */
const sqliteDir = join(projectRoot, 'node_modules', 'better-sqlite3');

/** Whether the install can reuse the project's better-sqlite3 binary instead of compiling one. */
export function nativePrebuildAvailable(): boolean {
  return existsSync(join(sqliteDir, 'build', 'Release', 'better_sqlite3.node'));
}

export async function localNativePrebuilds(dir: string): Promise<{ env: Record<string, string>; overrides: Record<string, string> } | undefined> {
  const pkgDir = sqliteDir;
  if (!nativePrebuildAvailable()) return undefined;
  const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  // the name prebuild-install looks for: {name}-v{version}-{runtime}-v{abi}-{platform}{libc}-{arch}.tar.gz
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  mkdirSync(dir, { recursive: true });
  try {
    await new Promise<void>((res, rej) => execFile('tar', ['-czf', join(dir, name), '-C', pkgDir, 'build/Release/better_sqlite3.node'], (err) => (err ? rej(err) : res())));
  } catch {
    return undefined;
  }
  return {
    // prebuild-install's per-package setting (npm warns that it does not know
    // it as an npm config, and passes it to the install script all the same)
    env: { npm_config_better_sqlite3_local_prebuilds: dir },
    // the same better-sqlite3 the project tests with, so that the prebuild matches
    overrides: { 'better-sqlite3': version },
  };
}

/**
 * A fresh Node-RED user directory with `tarball` installed into it as the
 * palette manager would (production dependencies only). The user directory
 * approves better-sqlite3's install script as the README tells palette users
 * to, and the install is strict: any other install script of ours that npm
 * would ask about fails it (npm 11.16+ reads allowScripts from the installing
 * project; older npm ignores both).
 */
export async function installTarball(userDir: string, tarball: string, prebuildDir: string, timeoutMs = 150_000): Promise<{ nativeFromPrebuild: boolean }> {
  const prebuild = await localNativePrebuilds(prebuildDir);
  const manifest = { name: 'node-red-project', private: true, version: '0.0.1', allowScripts: { 'better-sqlite3': true }, ...(prebuild ? { overrides: prebuild.overrides } : {}) };
  writeFileSync(join(userDir, 'package.json'), JSON.stringify(manifest, null, 2));
  await npm(['install', tarball, '--no-audit', '--no-fund', '--omit=dev', '--prefer-offline', '--no-update-notifier', '--strict-allow-scripts'], userDir, prebuild?.env, timeoutMs);
  // a compiled build leaves its object files behind; an unpacked prebuild does not
  const nativeFromPrebuild = !existsSync(join(userDir, 'node_modules', 'better-sqlite3', 'build', 'Release', 'obj.target'));
  return { nativeFromPrebuild };
}
