/** The single-file CLI (`npm run bundle:cli` → dist/darkhook.cjs): built fresh here, it runs the commands as the unbundled build does. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from '../sender/helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);

describe('dist/darkhook.cjs', { timeout: 120_000 }, () => {
  const tmp = tempDir();
  // A package root of its own: package.json, node_modules (the native externals), dist/darkhook.cjs and the
  // admin page's files (package.json "files" ships receiver/admin/page/ beside dist/).
  const bundle = join(tmp.dir, 'dist', 'darkhook.cjs');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; scripts: Record<string, string>; bin: Record<string, string> };

  before(async () => {
    const script = pkg.scripts['bundle:cli'] ?? '';
    assert.match(script, /^esbuild cli\/main\.ts .*--outfile=dist\/darkhook\.cjs$/);
    mkdirSync(join(tmp.dir, 'dist'));
    copyFileSync(join(ROOT, 'package.json'), join(tmp.dir, 'package.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(tmp.dir, 'node_modules'));
    cpSync(join(ROOT, 'receiver', 'admin', 'page'), join(tmp.dir, 'receiver', 'admin', 'page'), { recursive: true });
    const args = script.split(/\s+/).slice(1).map((a) => (a === '--outfile=dist/darkhook.cjs' ? `--outfile=${bundle}` : a));
    await run(join(ROOT, 'node_modules', '.bin', 'esbuild'), args, { cwd: ROOT });
  });
  after(tmp.remove);

  it('is the package bin and holds all of darkhook: it requires npm dependencies only, never the build/ tree', () => {
    assert.equal(pkg.bin['darkhook'], 'dist/darkhook.cjs');
    const text = readFileSync(bundle, 'utf8');
    assert.doesNotMatch(text, /require\(["'][./]+(build|cli|connector)\//);
  });

  it('reports the package version and lists every command in --help', async () => {
    const version = await run(process.execPath, [bundle, '--version']);
    assert.equal(version.stdout.trim(), pkg.version);
    const help = await run(process.execPath, [bundle, '--help']);
    for (const c of ['demo', 'enroll', 'dial', 'host', 'send', 'outbox', 'receive', 'messages', 'sinks', 'sign', 'verify', 'fabric', 'pki']) assert.match(help.stdout, new RegExp(`^  ${c}\\b`, 'm'), c);
  });

  it('runs the demo end to end (fabric, receiver with better-sqlite3, send) with no warning', async () => {
    const r = await run(process.execPath, [bundle, '--log-level', 'silent', '--json', 'demo', '--events', '3'], { cwd: tmp.dir, timeout: 100_000 });
    const result = JSON.parse(r.stdout.trim()) as { ok: boolean; checks: { name: string; ok: boolean }[] };
    assert.equal(result.checks.length, 6);
    for (const c of result.checks) assert.equal(c.ok, true, c.name);
    assert.equal(result.ok, true);
    assert.doesNotMatch(r.stderr, /Warning\b/);
  });

  it('a usage error names the command and suggests the near one, as the unbundled CLI does', async () => {
    const r = await run(process.execPath, [bundle, 'sned']).then(
      () => assert.fail('exit 0'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /ERR_CLI_USAGE: unknown command 'sned'[\s\S]*Did you mean send\?/);
  });
});
