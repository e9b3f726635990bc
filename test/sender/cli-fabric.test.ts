/** `darkhook send` → `darkhook receive`, both real processes over the embedded fabric: exit 0, stored, `--test`, `messages list`. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import { CLI, runCli } from '../cli/helpers.js';
import { listeningTcpPorts, startTestNet, until } from '../receiver/helpers.js';

const SERVICE = 'jenkins-hooks';

test('darkhook send delivers to darkhook receive over the fabric; --test round-trips; messages list shows what was stored', { timeout: 120_000 }, async (t) => {
  const net = await startTestNet();
  t.after(() => net.close());
  net.createService(SERVICE);
  const [receiverId, senderId] = await Promise.all([net.identityFile('jenkins-receiver', ['receivers']), net.identityFile('ci-sender', ['senders'])]);
  const secret = generateHmacSecret();
  const store = join(net.dir, 'receiver.db');

  const receiver = spawn(
    process.execPath,
    [CLI, 'receive', '--identity', receiverId, '--service', SERVICE, '--allow', 'ci-sender', '--store', store],
    { env: { ...process.env, DARKHOOK_SECRET: secret }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  receiver.stdout.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  receiver.stderr.on('data', (c: Buffer) => {
    err += c.toString('utf8');
  });
  const exited = once(receiver, 'close');
  t.after(() => {
    if (receiver.exitCode === null) receiver.kill('SIGKILL');
  });
  await until(() => /receiving on service "jenkins-hooks"/.test(out) || receiver.exitCode !== null, 30_000, 'the receiver readiness line');
  assert.equal(receiver.exitCode, null, err);
  const ports = listeningTcpPorts(receiver.pid!);
  if (ports !== undefined) assert.deepEqual(ports, [], 'the receive process listens on no TCP port');

  const payload = join(net.dir, 'payload.json');
  writeFileSync(payload, '{"ref":"refs/heads/main","build":42}');
  const sent = await runCli(['--json', 'send', '--identity', senderId, '--service', SERVICE, '--secret', secret, '--payload', payload, '--event', 'push', '--outbox', join(net.dir, 'outbox.db')]);
  assert.equal(sent.code, 0, sent.stderr);
  const summary = JSON.parse(sent.stdout) as { ids: string[]; delivered: number; pending: number };
  assert.equal(summary.delivered, 1);
  const [id] = summary.ids;
  await until(() => out.includes(`stored ${id} push ci-sender`), 10_000, 'the receiver to print the stored message');

  const probe = await runCli(['send', '--identity', senderId, '--service', SERVICE, '--test'], { env: { DARKHOOK_SECRET: secret } });
  assert.equal(probe.code, 0, probe.stderr);
  assert.match(probe.stdout, /^test event msg_[0-9A-Z]{26}: HTTP 200 in \d+ ms$/m);
  const testId = /test event (msg_\w+)/.exec(probe.stdout)![1]!;
  await until(() => out.includes(`stored ${testId} darkhook.test ci-sender`), 10_000, 'the test event to be stored');

  // Read by another process while the receiver runs (WAL).
  const list = await runCli(['--json', 'messages', 'list', '--store', store]);
  assert.equal(list.code, 0, list.stderr);
  const rows = JSON.parse(list.stdout) as { id: string; type: string; caller: string; bytes: number }[];
  assert.deepEqual(rows.map((r) => [r.id, r.type, r.caller]), [[id, 'push', 'ci-sender'], [testId, 'darkhook.test', 'ci-sender']]);
  assert.equal(rows[0]!.bytes, 36);
  assert.ok(!list.stdout.includes('refs/heads/main'), 'bodies are never listed');

  receiver.kill('SIGTERM');
  const [code] = (await exited) as [number];
  assert.equal(code, 0, err);
  assert.ok(!out.includes(secret) && !err.includes(secret), 'the secret is never printed');
  const text = await runCli(['messages', 'list', '--store', store, '--limit', '1']);
  assert.match(text.stdout, new RegExp(`^${id}  push  ci-sender  36 B  `));
  assert.equal(text.stdout.trim().split('\n').length, 1);
  const missing = await runCli(['messages', 'list', '--store', join(net.dir, 'nope.db')]);
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /ERR_FILE_NOT_FOUND/);
});

test('darkhook receive refuses to start without a secret (exit 2) or with a malformed one (exit 5)', async () => {
  const noSecret = await runCli(['receive', '--identity', '/nonexistent.json', '--service', SERVICE], { env: { DARKHOOK_SECRET: '' } });
  assert.equal(noSecret.code, 2);
  assert.match(noSecret.stderr, /ERR_CLI_USAGE: --secret \(or DARKHOOK_SECRET\) is required/);
  const bad = await runCli(['receive', '--identity', '/nonexistent.json', '--service', SERVICE, '--secret', 'whsec_c2hvcnQ=']);
  assert.equal(bad.code, 5);
  assert.match(bad.stderr, /ERR_WEBHOOK_SECRET_INVALID/);
  assert.ok(!bad.stderr.includes('whsec_c2hvcnQ='), 'the secret is never printed');
});
