/** The GitHub Action: the committed bundle equals a fresh build, and `node dist/index.cjs` parses inputs, keeps the identity off disk, writes outputs and fails loudly. */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir, unreachableIdentity } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BUNDLE = join(ROOT, 'dist', 'index.cjs');
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly outputs: Record<string, string>;
  readonly workspace: string;
  readonly runnerTemp: string;
}

/** Parse a GITHUB_OUTPUT file written in the `name<<DELIMITER` form. */
function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /^([\w-]+)<<(\S+)\n([\s\S]*?)\n\2\n/gm;
  for (const m of text.matchAll(re)) out[m[1]!] = m[3]!;
  return out;
}

/** Run the bundle as the runner would: INPUT_* env, GITHUB_* files, cwd = the workspace. */
async function runAction(t: { after: (fn: () => void) => void }, inputs: Record<string, string>, env: Record<string, string> = {}): Promise<Run> {
  const tmp = tempDir();
  t.after(tmp.remove);
  const workspace = join(tmp.dir, 'workspace');
  const runnerTemp = join(tmp.dir, 'runner-temp');
  for (const d of [workspace, runnerTemp]) mkdirSync(d);
  const outputFile = join(runnerTemp, 'github-output');
  const eventFile = join(runnerTemp, 'event.json');
  writeFileSync(outputFile, '');
  writeFileSync(eventFile, JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'acme/app' } }));
  const inputEnv = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v]));
  const child = spawn(process.execPath, [BUNDLE], {
    cwd: workspace,
    env: {
      PATH: process.env['PATH'] ?? '',
      GITHUB_OUTPUT: outputFile,
      GITHUB_EVENT_PATH: eventFile,
      GITHUB_EVENT_NAME: 'push',
      GITHUB_WORKSPACE: workspace,
      RUNNER_TEMP: runnerTemp,
      HOME: tmp.dir,
      ...inputEnv,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return {
    code,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    outputs: parseOutputs(readFileSync(outputFile, 'utf8')),
    workspace,
    runnerTemp,
  };
}

test('the committed dist/index.cjs is exactly what `npm run bundle` builds from this source', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const script = pkg.scripts['bundle'] ?? '';
  assert.match(script, /^esbuild .*--outfile=dist\/index\.cjs$/);
  const tmp = tempDir();
  t.after(tmp.remove);
  const fresh = join(tmp.dir, 'index.cjs');
  const args = script.split(/\s+/).slice(1).map((a) => (a === '--outfile=dist/index.cjs' ? `--outfile=${fresh}` : a));
  await promisify(execFile)(join(ROOT, 'node_modules', '.bin', 'esbuild'), args, { cwd: ROOT });
  assert.ok(readFileSync(fresh).equals(readFileSync(BUNDLE)), 'dist/index.cjs is stale: run `npm run bundle` and commit it');
});

test('action.yml runs the bundle on a current Node runtime and declares the inputs and outputs', () => {
  const yml = readFileSync(join(ROOT, 'action.yml'), 'utf8');
  assert.match(yml, /^ {2}using: node(20|24)$/m);
  assert.match(yml, /^ {2}main: dist\/index\.cjs$/m);
  for (const name of ['identity', 'service', 'secret', 'event', 'payload', 'data']) assert.match(yml, new RegExp(`^  ${name}:$`, 'm'), name);
  for (const name of ['message-id', 'status']) assert.match(yml, new RegExp(`^  ${name}:$`, 'm'), name);
});

test('the bundle needs no native module: better-sqlite3 is nowhere in it', () => {
  const bundle = readFileSync(BUNDLE, 'utf8');
  assert.doesNotMatch(bundle, /better-sqlite3/);
  assert.doesNotMatch(bundle, /\.node['"]\)/, 'no .node addon is required');
});

test('unreachable controller: coded failure, ::error:: line, outputs, non-zero exit; the identity never touches disk', async (t) => {
  const { json, keyPem } = await unreachableIdentity();
  const r = await runAction(t, {
    identity: Buffer.from(json).toString('base64'),
    service: 'jenkins-hooks',
    secret: SECRET,
    data: '{"build":42}',
    severity: 'high',
    'deadline-seconds': '1',
  });
  assert.equal(r.code, 5, r.stdout + r.stderr);
  assert.match(r.stdout, /^::add-mask::whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw$/m);
  assert.match(r.stdout, /^::error::darkhook: ERR_SEND_DEADLINE_EXCEEDED: message msg_\w{26} not delivered within 1 s; last error ERR_ZITI_CONTROLLER_UNAVAILABLE/m);
  assert.match(r.outputs['message-id'] ?? '', /^msg_[0-9A-Z]{26}$/);
  assert.equal(r.outputs['status'], 'pending');
  // The identity is parsed in memory: nothing in the workspace, and no file anywhere holds the key.
  assert.deepEqual(readdirSync(r.workspace), []);
  const leftovers = readdirSync(r.runnerTemp);
  for (const name of leftovers) assert.ok(!readFileSync(join(r.runnerTemp, name), 'utf8').includes(keyPem.trim().split('\n')[1]!), `${name} holds the key`);
  assert.ok(!(r.stdout + r.stderr).includes('PRIVATE KEY'));
  // The pending message kept in the runner's temp outbox shows how the inputs were read.
  const outbox = leftovers.find((n) => n.startsWith('darkhook-outbox-') && n.endsWith('.jsonl'));
  assert.ok(outbox !== undefined, `outbox in RUNNER_TEMP: ${leftovers.join(', ')}`);
  const record = JSON.parse(readFileSync(join(r.runnerTemp, outbox), 'utf8').split('\n')[0]!) as { id: string; type: string; body: string; severity: string };
  assert.equal(record.id, r.outputs['message-id']);
  assert.equal(record.type, 'push', 'event defaults to GITHUB_EVENT_NAME');
  assert.equal(record.severity, 'high');
  assert.deepEqual(JSON.parse(Buffer.from(record.body, 'base64').toString()), { ref: 'refs/heads/main', repository: { full_name: 'acme/app' }, build: 42 });
});

test('test mode with identity JSON given raw: the Ziti error code is reported and the step fails', async (t) => {
  const { json } = await unreachableIdentity();
  const r = await runAction(t, { identity: json, service: 'jenkins-hooks', secret: SECRET, test: 'true' });
  assert.equal(r.code, 4);
  assert.match(r.stdout, /^::error::darkhook: ERR_ZITI_CONTROLLER_UNAVAILABLE: /m);
  assert.equal(r.outputs['status'], 'failed');
  assert.deepEqual(readdirSync(r.workspace), []);
});

test('bad inputs are coded failures naming the input', async (t) => {
  const missing = await runAction(t, { secret: SECRET, identity: '{}' });
  assert.equal(missing.code, 2);
  assert.match(missing.stdout, /^::error::darkhook: ERR_OPTION_INVALID: input "service" is required/m);
  const garbage = await runAction(t, { secret: SECRET, service: 's', identity: 'not base64 at all!' });
  assert.match(garbage.stdout, /^::error::darkhook: ERR_OPTION_INVALID: input "identity" is neither identity JSON nor its base64/m);
  const badIdentity = await runAction(t, { secret: SECRET, service: 's', identity: '{"ztAPI":"https://x"}' });
  assert.equal(badIdentity.code, 3);
  assert.match(badIdentity.stdout, /^::error::darkhook: ERR_PKI_IDENTITY_INVALID: /m);
  const multiLine = await runAction(t, { secret: SECRET, service: 's', identity: (await unreachableIdentity()).json, payload: '[1]', data: '{"a":1}', 'deadline-seconds': '1' });
  assert.match(multiLine.stdout, /^::error::darkhook: ERR_OPTION_INVALID: input "data" and the payload must both be JSON objects/m);
});
