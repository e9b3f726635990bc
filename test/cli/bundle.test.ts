/**
 * The bundled CLI (`npm run bundle:cli`): dist/darkhook.cjs, the launcher (scripts/cli-launcher.cjs) that turns on
 * Node's compile cache, and dist/darkhook-cli.cjs, the esbuild bundle it runs. Built fresh here; it runs the
 * commands as the unbundled build does.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from '../sender/helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);
/** Whether this Node has module.enableCompileCache (22.1+). */
const HAS_COMPILE_CACHE = typeof (createRequire(import.meta.url)('node:module') as { enableCompileCache?: unknown }).enableCompileCache === 'function';

describe('dist/darkhook.cjs', { timeout: 120_000 }, () => {
  const tmp = tempDir();
  // A package root of its own: package.json, node_modules (the native externals), dist/ and the admin page's
  // files (package.json "files" ships receiver/admin/page/ beside dist/).
  const bundle = join(tmp.dir, 'dist', 'darkhook.cjs');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    scripts: Record<string, string>;
    bin: Record<string, string>;
    files: string[];
  };
  let cacheHomes = 0;
  /** A new, not yet existing, $XDG_CACHE_HOME. */
  const newCacheHome = (): string => join(tmp.dir, `cache-${cacheHomes++}`);
  /** Run options whose environment puts the launcher's compile cache under `home` (default: a new one). */
  const withCache = (home = newCacheHome()): { env: NodeJS.ProcessEnv } => {
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: home };
    delete env['NODE_COMPILE_CACHE'];
    delete env['NODE_DISABLE_COMPILE_CACHE'];
    delete env['NODE_OPTIONS'];
    return { env };
  };
  const cacheIn = (home: string): string => join(home, 'darkhook', 'compile-cache');

  before(async () => {
    // The script's two steps, run here against the temporary package: esbuild into its dist/, then the copy of
    // the launcher (run in a directory holding scripts/cli-launcher.cjs and dist/).
    const [esbuild, copy, ...rest] = (pkg.scripts['bundle:cli'] ?? '').split(' && ');
    assert.equal(rest.length, 0);
    assert.match(esbuild ?? '', /^esbuild cli\/main\.ts .*--outfile=dist\/darkhook-cli\.cjs$/);
    const code = /^node -e "(.*)"$/.exec(copy ?? '')?.[1]?.replaceAll('\\"', '"');
    assert.ok(code !== undefined, copy);
    mkdirSync(join(tmp.dir, 'dist'));
    mkdirSync(join(tmp.dir, 'scripts'));
    copyFileSync(join(ROOT, 'package.json'), join(tmp.dir, 'package.json'));
    copyFileSync(join(ROOT, 'scripts', 'cli-launcher.cjs'), join(tmp.dir, 'scripts', 'cli-launcher.cjs'));
    symlinkSync(join(ROOT, 'node_modules'), join(tmp.dir, 'node_modules'));
    cpSync(join(ROOT, 'receiver', 'admin', 'page'), join(tmp.dir, 'receiver', 'admin', 'page'), { recursive: true });
    const args = esbuild!.split(/\s+/).slice(1).map((a) => (a === '--outfile=dist/darkhook-cli.cjs' ? `--outfile=${join(tmp.dir, 'dist', 'darkhook-cli.cjs')}` : a));
    await run(join(ROOT, 'node_modules', '.bin', 'esbuild'), args, { cwd: ROOT });
    await run(process.execPath, ['-e', code], { cwd: tmp.dir });
  });
  after(tmp.remove);

  it('is the package bin: a launcher that runs the bundle beside it, which holds all of darkhook (npm dependencies only, never the build/ tree); both are published', () => {
    assert.equal(pkg.bin['darkhook'], 'dist/darkhook.cjs');
    assert.ok(pkg.files.includes('dist/darkhook.cjs') && pkg.files.includes('dist/darkhook-cli.cjs'));
    const launcher = readFileSync(bundle, 'utf8');
    assert.ok(launcher.startsWith('#!/usr/bin/env node\n'));
    assert.match(launcher, /require\('\.\/darkhook-cli\.cjs'\)/);
    const text = readFileSync(join(tmp.dir, 'dist', 'darkhook-cli.cjs'), 'utf8');
    assert.doesNotMatch(text, /require\(["'][./]+(build|cli|connector)\//);
  });

  it('fills an empty compile cache on its first run and loads the bundle from it on the next (Node 22.1+), printing nothing extra either time', async () => {
    const home = newCacheHome();
    const cache = cacheIn(home);
    const first = await run(process.execPath, [bundle, '--version'], withCache(home));
    assert.deepEqual([first.stdout.trim(), first.stderr], [pkg.version, '']);
    if (!HAS_COMPILE_CACHE) {
      // Node 20: no compile cache, nothing written, the same output.
      assert.equal(existsSync(cache), false);
      return;
    }
    const [tagDir] = readdirSync(cache);
    assert.ok(tagDir !== undefined && readdirSync(join(cache, tagDir)).length > 0, 'cache entries written');
    const second = await run(process.execPath, [bundle, '--version'], { env: { ...withCache(home).env, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' } });
    assert.equal(second.stdout.trim(), pkg.version);
    assert.match(second.stderr, /cache for (CommonJS )?\S*darkhook-cli\.cjs was accepted/);
    const third = await run(process.execPath, [bundle, '--version'], withCache(home));
    assert.deepEqual([third.stdout.trim(), third.stderr], [pkg.version, '']);
  });

  it('runs uncached and silent when the cache directory cannot be made, or the cache is disabled', async () => {
    const blocker = join(tmp.dir, 'not-a-dir');
    writeFileSync(blocker, '');
    const blocked = await run(process.execPath, [bundle, '--version'], withCache(blocker));
    assert.deepEqual([blocked.stdout.trim(), blocked.stderr], [pkg.version, '']);
    const home = newCacheHome();
    const disabled = await run(process.execPath, [bundle, '--version'], { env: { ...withCache(home).env, NODE_DISABLE_COMPILE_CACHE: '1' } });
    assert.deepEqual([disabled.stdout.trim(), disabled.stderr], [pkg.version, '']);
    assert.equal(existsSync(cacheIn(home)), false);
  });

  it('passes exit codes, stdout and stderr through exactly as the unbundled CLI', async () => {
    const args = ['send', '--identity', join(tmp.dir, 'missing.json'), '--service', 's', '--event', 'push', '--payload', '/dev/null', '--secret', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'];
    const outcome = (cli: string) =>
      run(process.execPath, [cli, ...args], withCache()).then(
        () => assert.fail('exit 0'),
        (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
      );
    const bundled = await outcome(bundle);
    assert.deepEqual(bundled, await outcome(join(ROOT, 'build', 'cli', 'main.js')));
    assert.equal(bundled.code, 3);
    assert.match(bundled.stderr, /ERR_FILE_NOT_FOUND/);
  });

  it('reports the package version and lists every command in --help', async () => {
    const version = await run(process.execPath, [bundle, '--version'], withCache());
    assert.equal(version.stdout.trim(), pkg.version);
    const help = await run(process.execPath, [bundle, '--help'], withCache());
    for (const c of ['demo', 'enroll', 'dial', 'host', 'send', 'outbox', 'receive', 'messages', 'sinks', 'sign', 'verify', 'fabric', 'pki']) assert.match(help.stdout, new RegExp(`^  ${c}\\b`, 'm'), c);
  });

  it('runs the demo end to end (fabric, receiver with better-sqlite3, send) with no warning', async () => {
    const r = await run(process.execPath, [bundle, '--log-level', 'silent', '--json', 'demo', '--events', '3'], { cwd: tmp.dir, timeout: 100_000, ...withCache() });
    const result = JSON.parse(r.stdout.trim()) as { ok: boolean; checks: { name: string; ok: boolean }[] };
    assert.equal(result.checks.length, 6);
    for (const c of result.checks) assert.equal(c.ok, true, c.name);
    assert.equal(result.ok, true);
    assert.doesNotMatch(r.stderr, /Warning\b/);
  });

  it('a usage error names the command and suggests the near one, as the unbundled CLI does', async () => {
    const r = await run(process.execPath, [bundle, 'sned'], withCache()).then(
      () => assert.fail('exit 0'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /ERR_CLI_USAGE: unknown command 'sned'[\s\S]*Did you mean send\?/);
  });
});
