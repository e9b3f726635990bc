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
});
