/**
 * The README stays true: every test its security model cites exists under that name in that file, and
 * every `darkhook` and `ziti` command of its tutorial uses subcommands and flags the real CLIs have
 * (their `--help`; the `ziti` half runs when ZITI_BIN is set).
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLI } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const README = readFileSync(`${ROOT}README.md`, 'utf8');

function section(title: string): string {
  const start = README.indexOf(`## ${title}`);
  assert.ok(start >= 0, `README has a "${title}" section`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

/** Shell commands of the fenced bash blocks of `text` that start with `tool`, comments and `VAR=… ` prefixes removed. */
function commands(text: string, tool: string): string[][] {
  const out: string[][] = [];
  for (const block of text.matchAll(/```bash\n([\s\S]*?)```/g)) {
    for (const raw of block[1]!.split('\n')) {
      for (const part of raw.replace(/\s+#.*$/, '').split(/&&|\|/)) {
        const words = part.trim().replace(/^(?:[A-Z_]+=(?:'[^']*'|"[^"]*"|\S+)\s+)+/, '').split(/\s+/);
        if (words[0] === tool) out.push(words.slice(1));
      }
    }
  }
  return out;
}

/** The subcommand words (before the first flag or argument placeholder) and the long flags of one command. */
function shape(args: readonly string[], subcommandWords: number): { sub: string[]; flags: string[] } {
  return { sub: args.slice(0, subcommandWords), flags: args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]!) };
}

test('every test the security model cites exists under that name', () => {
  const table = section('Security model');
  let cited = 0;
  for (const row of table.split('\n').filter((l) => l.startsWith('| **'))) {
    const proof = row.split('|')[3]!;
    for (const m of proof.matchAll(/`(test\/[^`]+)`(.*?)(?=`test\/|$)/g)) {
      const file = `${ROOT}${m[1]!}`;
      assert.ok(existsSync(file), `${m[1]} exists`);
      const source = readFileSync(file, 'utf8');
      for (const name of m[2]!.matchAll(/"([^"]+)"/g)) {
        cited++;
        assert.ok(source.includes(name[1]!), `${m[1]} has a test named "${name[1]}"`);
      }
    }
  }
  assert.ok(cited >= 16, `the table cites tests (${cited})`);
});

test('the tutorial’s darkhook commands use real subcommands and flags', () => {
  const tutorial = section('Tutorial');
  const cmds = commands(tutorial, 'darkhook');
  assert.ok(cmds.length >= 6, `darkhook commands found: ${cmds.length}`);
  for (const args of cmds) {
    const words = ['messages', 'sinks', 'outbox', 'fabric', 'pki'].includes(args[0]!) ? 2 : 1;
    const { sub, flags } = shape(args, words);
    const help = spawnSync(process.execPath, [CLI, ...sub, '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, `darkhook ${sub.join(' ')} --help: ${help.stderr}`);
    assert.match(help.stdout, new RegExp(`Usage: darkhook ${sub.join(' ')} `), `darkhook ${sub.join(' ')} is a command`);
    for (const flag of flags) assert.ok(help.stdout.includes(`${flag} `) || help.stdout.includes(`${flag}\n`), `darkhook ${sub.join(' ')} has ${flag}`);
  }
});

test('the tutorial’s ziti commands use real subcommands and flags', (t) => {
  const bin = process.env['ZITI_BIN'];
  if (bin === undefined || bin === '' || !existsSync(bin)) {
    t.skip('no ZITI_BIN: the ziti CLI is not here to ask');
    return;
  }
  const cmds = commands(section('Tutorial'), 'ziti');
  assert.ok(cmds.length >= 8, `ziti commands found: ${cmds.length}`);
  for (const args of cmds) {
    // `ziti edge create <kind> <name> …`, `ziti edge login <host>`, `ziti edge quickstart …`
    const words = args[1] === 'create' ? 3 : 2;
    const { sub, flags } = shape(args, words);
    const help: SpawnSyncReturns<string> = spawnSync(bin, [...sub, '--help'], { encoding: 'utf8', env: { ...process.env, HOME: '/nonexistent' } });
    assert.equal(help.status, 0, `ziti ${sub.join(' ')} --help: ${help.stderr}`);
    assert.match(help.stdout, new RegExp(`ziti ${sub.join(' ')}\\b`), `ziti ${sub.join(' ')} is a command`);
    for (const flag of flags) assert.ok(help.stdout.includes(`${flag} `), `ziti ${sub.join(' ')} has ${flag}`);
  }
});
