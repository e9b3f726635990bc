/** `darkhook send` and `darkhook outbox` as real processes: exit codes a CI step can trust, outbox management. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openOutbox } from '../../connector/sender/open-outbox.js';
import { runCli } from '../cli/helpers.js';
import { tempDir, unreachableIdentity } from './helpers.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

async function identityFile(dir: string): Promise<string> {
  const path = join(dir, 'sender.json');
  writeFileSync(path, (await unreachableIdentity()).json, { mode: 0o600 });
  return path;
}

for (const file of ['outbox.db', 'outbox.jsonl']) {
  test(`outbox list, retry and drop manage parked and pending messages (${file})`, async (t) => {
    const tmp = tempDir();
    t.after(tmp.remove);
    const path = join(tmp.dir, file);
    const outbox = await openOutbox(path);
    const msg = (id: string) => ({ id, type: 'alert', body: Buffer.from('{}'), headers: { 'content-type': 'application/json' }, createdAt: Date.now() });
    await outbox.enqueue([msg('msg_a'), msg('msg_b'), msg('msg_c')]);
    outbox.nextBatch(2);
    outbox.park(['msg_a', 'msg_b'], 'HTTP 401: signature mismatch');
    outbox.close();

    const list = await runCli(['--json', 'outbox', 'list', '--outbox', path]);
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as { id: string; state: string; lastError: string | null; bytes: number }[];
    assert.deepEqual(rows.map((r) => [r.id, r.state, r.lastError]), [
      ['msg_a', 'parked', 'HTTP 401: signature mismatch'],
      ['msg_b', 'parked', 'HTTP 401: signature mismatch'],
      ['msg_c', 'pending', null],
    ]);
    assert.ok(!list.stdout.includes('"body"'), 'bodies are never listed');

    const parkedOnly = await runCli(['--json', 'outbox', 'list', '--state', 'parked', '--outbox', path]);
    assert.equal((JSON.parse(parkedOnly.stdout) as unknown[]).length, 2);
    const retry = await runCli(['outbox', 'retry', 'msg_a', '--outbox', path]);
    assert.equal(retry.code, 0, retry.stderr);
    assert.match(retry.stdout, /1 message\(s\) pending again/);
    const usage = await runCli(['outbox', 'retry', '--outbox', path]);
    assert.equal(usage.code, 2);
    const drop = await runCli(['--json', 'outbox', 'drop', 'msg_b', 'msg_c', 'msg_zzz', '--outbox', path]);
    assert.deepEqual(JSON.parse(drop.stdout), { dropped: 2 });
    const after = await runCli(['--json', 'outbox', 'list', '--outbox', path]);
    assert.deepEqual((JSON.parse(after.stdout) as { id: string; state: string }[]).map((r) => [r.id, r.state]), [['msg_a', 'pending']]);
  });
}

test('send: nothing reachable → exit 5 (deadline), the message stays pending in the outbox', async (t) => {
  const tmp = tempDir();
  t.after(tmp.remove);
  const outbox = join(tmp.dir, 'outbox.jsonl');
  const args = ['send', '--identity', await identityFile(tmp.dir), '--service', 'hooks', '--payload', '-', '--outbox', outbox, '--deadline', '1'];
  const r = await runCli(['--json', ...args], { input: '{"severity":"high","rule":"ssh"}', env: { DARKHOOK_SECRET: SECRET } });
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.stderr, /darkhook: ERR_SEND_DEADLINE_EXCEEDED: 1 message\(s\) still pending after 1 s; last error ERR_ZITI_CONTROLLER_UNAVAILABLE/);
  assert.ok(!r.stderr.includes(SECRET) && !r.stdout.includes(SECRET), 'the secret is never printed');
  const summary = JSON.parse(r.stdout) as { ids: string[]; delivered: number; pending: number };
  assert.equal(summary.delivered, 0);
  assert.equal(summary.pending, 1);
  const list = await runCli(['--json', 'outbox', 'list', '--outbox', outbox]);
  const rows = JSON.parse(list.stdout) as { id: string; severity: string; attempts: number }[];
  assert.deepEqual(rows.map((x) => [x.id, x.severity]), [[summary.ids[0], 'high']], 'severity read from the JSON body');
  assert.ok(rows[0]!.attempts >= 1);

  const filtered = await runCli(['--json', ...args, '--min-severity', 'critical'], { input: '{"severity":"low"}', env: { DARKHOOK_SECRET: SECRET } });
  assert.equal(filtered.code, 5, 'the earlier message is still pending and undeliverable');
  assert.equal((JSON.parse(filtered.stdout) as { filtered: unknown[] }).filtered.length, 1);
});

test('send --test reports the Ziti failure with exit 4; a missing secret is a usage error (exit 2)', async (t) => {
  const tmp = tempDir();
  t.after(tmp.remove);
  const identity = await identityFile(tmp.dir);
  const r = await runCli(['send', '--identity', identity, '--service', 'hooks', '--test', '--secret', SECRET]);
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /darkhook: ERR_ZITI_CONTROLLER_UNAVAILABLE: /);
  const noSecret = await runCli(['send', '--identity', identity, '--service', 'hooks'], { env: { DARKHOOK_SECRET: '' } });
  assert.equal(noSecret.code, 2);
  assert.match(noSecret.stderr, /ERR_CLI_USAGE: --secret \(or DARKHOOK_SECRET\) is required/);
  const badIdentity = await runCli(['send', '--identity', join(tmp.dir, 'nope.json'), '--service', 'hooks', '--secret', SECRET]);
  assert.equal(badIdentity.code, 3);
});
