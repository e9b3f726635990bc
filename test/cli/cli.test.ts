/** The darkhook command's global behaviour: help, version, usage errors and exit codes. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runCli } from './helpers.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

test('--version prints the package version', async () => {
  const r = await runCli(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), pkg.version);
});

test('--help lists every subcommand group', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  for (const group of ['pki', 'fabric', 'enroll', 'send', 'receive', 'messages', 'demo']) {
    assert.match(r.stdout, new RegExp(`^\\s+${group}\\b`, 'm'), group);
  }
});

test('an unknown command is one coded line on stderr and exit 2', async () => {
  const r = await runCli(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /darkhook: ERR_CLI_USAGE: unknown command 'frobnicate'/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(r.stderr.trim().split('\n').length, 1, `exactly one line: ${r.stderr}`);
});

test('a missing required option is one coded line too', async () => {
  const r = await runCli(['enroll', '--out', 'x.json']);
  assert.equal(r.code, 2);
  assert.deepEqual(r.stderr.trim().split('\n'), ["darkhook: ERR_CLI_USAGE: required option '--jwt <file>' not specified (hint: see `darkhook --help`)"]);
});

test('a reader that stops early (| head) ends darkhook quietly, with no stack trace', async () => {
  const { spawn } = await import('node:child_process');
  const { CLI } = await import('./helpers.js');
  const child = spawn(process.execPath, [CLI, 'send', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // the reader goes away before darkhook writes
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  assert.equal(stderr, '');
});
