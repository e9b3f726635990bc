/**
 * The bundled Action (`node dist/index.cjs`, INPUT_* as the runner sets them) against the embedded fabric and the receiver.
 * It runs on the Node running the tests (scripts/ci-node-matrix.sh runs it on Node 24, the runner's `node24`);
 * any process warning it prints (deprecation, experimental, …) fails the test.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import { serializeIdentity, type ZitiIdentity } from '../../pki/index.js';
import { type RunningReceiver, startReceiver } from '../../receiver/server.js';
import { startTestNet, type TestNet } from '../receiver/helpers.js';

const BUNDLE = fileURLToPath(new URL('../../../dist/index.cjs', import.meta.url));
const SERVICE = 'action-hooks';

/** Parse a GITHUB_OUTPUT file written in the `name<<DELIMITER` form. */
function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^([\w-]+)<<(\S+)\n([\s\S]*?)\n\2\n/gm)) out[m[1]!] = m[3]!;
  return out;
}

/** Every file under `dir`, recursively, with its content. */
function filesUnder(dir: string): { path: string; text: string }[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => {
      const path = join(e.parentPath, e.name);
      return { path, text: readFileSync(path, 'latin1') };
    });
}

describe('the bundled Action over the embedded fabric', { timeout: 120_000 }, () => {
  let net: TestNet;
  let receiver: RunningReceiver;
  let identity: ZitiIdentity;
  const secret = generateHmacSecret();

  before(async () => {
    net = await startTestNet();
    net.createService(SERVICE);
    const receiverZiti = await net.context('jenkins-receiver', ['receivers']);
    receiver = await startReceiver({ ziti: receiverZiti, service: SERVICE, secrets: [secret], allowedCallers: ['gha-sender'], storePath: join(net.dir, 'receiver.db') });
    identity = await net.identity('gha-sender', ['senders']);
  });
  after(async () => {
    await receiver?.close();
    await net?.close();
  });

  async function runAction(name: string, inputs: Record<string, string>) {
    const root = join(net.dir, name);
    const workspace = join(root, 'workspace');
    const runnerTemp = join(root, 'runner-temp');
    for (const d of [workspace, runnerTemp]) mkdirSync(d, { recursive: true });
    const outputFile = join(runnerTemp, 'github-output');
    const eventFile = join(runnerTemp, 'event.json');
    writeFileSync(outputFile, '');
    writeFileSync(eventFile, JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'acme/app' } }));
    const child = spawn(process.execPath, [BUNDLE], {
      cwd: workspace,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: root,
        GITHUB_OUTPUT: outputFile,
        GITHUB_EVENT_PATH: eventFile,
        GITHUB_EVENT_NAME: 'push',
        GITHUB_WORKSPACE: workspace,
        RUNNER_TEMP: runnerTemp,
        ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.doesNotMatch(stderr + stdout, /Warning\b/, `the Action printed a warning on Node ${process.version}`);
    return { code, stdout, stderr, outputs: parseOutputs(readFileSync(outputFile, 'utf8')), workspace, runnerTemp };
  }

  it('delivers one event with the identity JSON as input: outputs message-id and status; the identity never touches disk', async () => {
    const json = serializeIdentity(identity);
    const run = await runAction('json', { identity: json, service: SERVICE, secret, data: '{"build":"1234"}', 'deadline-seconds': '60' });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.outputs['message-id'] ?? '', /^msg_[0-9A-Z]{26}$/);
    assert.equal(run.outputs['status'], 'delivered');
    const id = run.outputs['message-id']!;
    const [row] = (await receiver.store.list({ limit: 100 })).filter((m) => m.id === id);
    assert.ok(row, 'the receiver stored the message');
    assert.equal(row.type, 'push');
    assert.equal(row.caller, 'gha-sender');
    assert.deepEqual(JSON.parse(row.body.toString('utf8')), { ref: 'refs/heads/main', repository: { full_name: 'acme/app' }, build: '1234' });
    assert.deepEqual(readdirSync(run.workspace), [], 'nothing written to the workspace');
    const keyBody = identity.key.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '').slice(0, 40);
    for (const f of [...filesUnder(run.runnerTemp), ...filesUnder(run.workspace)]) {
      assert.ok(!f.text.includes(keyBody) && !f.text.includes('"ztAPI"'), `${f.path} holds no identity`);
    }
    assert.ok(!filesUnder(run.runnerTemp).some((f) => f.path.endsWith('.jsonl')), 'the empty outbox was removed');
    // The only place the secret may appear is the ::add-mask:: command the runner consumes.
    const printed = run.stdout.replace(/^::add-mask::.*$/m, '') + run.stderr;
    assert.ok(!printed.includes(secret.slice(6)), 'the secret is printed only to mask it');
  });

  it('accepts the identity as base64 and runs the test event round trip', async () => {
    const b64 = Buffer.from(serializeIdentity(identity)).toString('base64');
    const run = await runAction('b64', { identity: b64, service: SERVICE, secret, test: 'true' });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.outputs['status'], 'delivered');
    assert.match(run.stdout, /darkhook: test event msg_[0-9A-Z]{26}: HTTP 200 in \d+ ms/);
    assert.ok((await receiver.store.has(run.outputs['message-id']!)));
    assert.deepEqual(readdirSync(run.workspace), []);
  });

  it('a wrong secret fails the step with the parked status and one ::error:: line', async () => {
    const run = await runAction('wrong', { identity: serializeIdentity(identity), service: SERVICE, secret: generateHmacSecret() });
    assert.equal(run.code, 5);
    assert.equal(run.outputs['status'], 'parked');
    assert.match(run.stdout, /^::error::darkhook: ERR_SEND_PARKED: .*HTTP 401/m);
    assert.equal((await receiver.store.has(run.outputs['message-id']!)), false);
  });
});
