/** `darkhook sign` / `darkhook verify` as real child processes: output, exit codes, stdin bodies and the secret via env. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { generateEd25519Keys } from '../../connector/index.js';
import { runCli } from '../cli/helpers.js';

// Standard Webhooks reference vector (libraries/*: "sign function works").
const REF = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: '1614265330',
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
// GitHub's documented example.
const GH = {
  secret: "It's a Secret to Everybody",
  body: 'Hello, World!',
  signature: 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
};
const REF_ARGS = ['--id', REF.id, '--timestamp', REF.timestamp];
const VERIFY_REF = ['verify', ...REF_ARGS, '--signature', REF.signature, '--now', REF.timestamp];

describe('darkhook sign', () => {
  test('prints the reference signature for a body on stdin', async () => {
    const r = await runCli(['sign', '--secret', REF.secret, ...REF_ARGS], { input: REF.body });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${REF.signature}\n`);
  });

  test('reads the body from --body-file byte-exactly', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'darkhook-sign-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'body.json');
    writeFileSync(file, REF.body);
    const r = await runCli(['sign', '--secret', REF.secret, ...REF_ARGS, '--body-file', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), REF.signature);
  });

  test('takes the secret from DARKHOOK_SECRET, and --help says so', async () => {
    const r = await runCli(['sign', ...REF_ARGS], { input: REF.body, env: { DARKHOOK_SECRET: REF.secret } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), REF.signature);
    const help = await runCli(['sign', '--help']);
    assert.match(help.stdout, /DARKHOOK_SECRET/);
  });

  test('a whsk_ key prints a v1a signature that verify accepts with the whpk_', async () => {
    const { signingKey, publicKey } = generateEd25519Keys();
    const s = await runCli(['sign', ...REF_ARGS], { input: REF.body, env: { DARKHOOK_SECRET: signingKey } });
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout.trim(), /^v1a,[A-Za-z0-9+/]{86}==$/);
    const v = await runCli(['verify', ...REF_ARGS, '--signature', s.stdout.trim(), '--now', REF.timestamp], {
      input: REF.body,
      env: { DARKHOOK_SECRET: publicKey },
    });
    assert.equal(v.code, 0, v.stderr);
  });

  test('--scheme github prints the documented sha256= value', async () => {
    const r = await runCli(['sign', '--scheme', 'github', '--secret', GH.secret], { input: GH.body });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), GH.signature);
  });

  test('an empty stdin is an empty body', async () => {
    const r = await runCli(['sign', '--scheme', 'github', '--secret', GH.secret], { input: '' });
    assert.equal(r.code, 0, r.stderr);
    // `printf '' | openssl dgst -sha256 -hmac "It's a Secret to Everybody"`
    assert.equal(r.stdout.trim(), 'sha256=66a0c074deaa0f489ead6537e0d32f9a344b90bbeda705b6ed45ecd3b413fb40');
  });

  test('missing --id/--timestamp or a missing secret is a usage error (exit 2)', async () => {
    const noId = await runCli(['sign', '--secret', REF.secret, '--timestamp', REF.timestamp]);
    assert.equal(noId.code, 2);
    assert.match(noId.stderr, /^darkhook: ERR_CLI_USAGE: /);
    const noSecret = await runCli(['sign', ...REF_ARGS], { env: { DARKHOOK_SECRET: '' } });
    assert.equal(noSecret.code, 2);
    assert.match(noSecret.stderr, /ERR_CLI_USAGE: --secret \(or DARKHOOK_SECRET\) is required/);
  });

  test('a bad secret is a coded line that does not echo the secret', async () => {
    const secret = 'whsec_c2hvcnQ=';
    const r = await runCli(['sign', '--secret', secret, ...REF_ARGS]);
    assert.equal(r.code, 5);
    assert.match(r.stderr, /^darkhook: ERR_WEBHOOK_SECRET_INVALID: .*\(hint: .*\)\n$/);
    assert.ok(!r.stderr.includes('c2hvcnQ'));
  });

  test('an unreadable --body-file is ERR_FILE_NOT_FOUND (exit 3)', async () => {
    const r = await runCli(['sign', '--secret', REF.secret, ...REF_ARGS, '--body-file', '/nonexistent/darkhook/body']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /ERR_FILE_NOT_FOUND/);
  });
});

describe('darkhook verify', () => {
  test('a valid reference signature exits 0 and prints "valid"', async () => {
    const r = await runCli([...VERIFY_REF, '--secret', REF.secret], { input: REF.body });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'valid\n');
  });

  test('a tampered body exits 5 with one coded line', async () => {
    const r = await runCli([...VERIFY_REF, '--secret', REF.secret], { input: `${REF.body} ` });
    assert.equal(r.code, 5);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^darkhook: ERR_WEBHOOK_SIGNATURE_MISMATCH: [^\n]+ \(hint: [^\n]+\)\n$/);
  });

  test('an old timestamp exits 5 with ERR_WEBHOOK_TIMESTAMP_TOO_OLD; --tolerance widens the window', async () => {
    const later = String(Number(REF.timestamp) + 301);
    const args = ['verify', ...REF_ARGS, '--signature', REF.signature, '--secret', REF.secret, '--now', later];
    const old = await runCli(args, { input: REF.body });
    assert.equal(old.code, 5);
    assert.match(old.stderr, /^darkhook: ERR_WEBHOOK_TIMESTAMP_TOO_OLD: /);
    const wide = await runCli([...args, '--tolerance', '301'], { input: REF.body });
    assert.equal(wide.code, 0, wide.stderr);
  });

  test('without --now the real clock applies', async () => {
    const r = await runCli(['verify', ...REF_ARGS, '--signature', REF.signature, '--secret', REF.secret], { input: REF.body });
    assert.equal(r.code, 5);
    assert.match(r.stderr, /ERR_WEBHOOK_TIMESTAMP_TOO_OLD/);
  });

  test('a non-integer --timestamp is ERR_WEBHOOK_TIMESTAMP_INVALID; a bad --now is a usage error', async () => {
    const bad = await runCli(['verify', '--id', REF.id, '--timestamp', '1614265330.5', '--signature', REF.signature, '--secret', REF.secret]);
    assert.equal(bad.code, 5);
    assert.match(bad.stderr, /ERR_WEBHOOK_TIMESTAMP_INVALID/);
    const badNow = await runCli([...VERIFY_REF.slice(0, -1), 'yesterday', '--secret', REF.secret]);
    assert.equal(badNow.code, 2);
    assert.match(badNow.stderr, /ERR_OPTION_INVALID: --now/);
  });

  test('the secret may come from DARKHOOK_SECRET', async () => {
    const r = await runCli(VERIFY_REF, { input: REF.body, env: { DARKHOOK_SECRET: REF.secret } });
    assert.equal(r.code, 0, r.stderr);
  });

  test('--scheme github verifies the documented example, and rejects a wrong one', async () => {
    const ok = await runCli(['verify', '--scheme', 'github', '--secret', GH.secret, '--signature', GH.signature], { input: GH.body });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), 'valid');
    const bad = await runCli(['verify', '--scheme', 'github', '--signature', GH.signature], {
      input: 'Hello, World?',
      env: { DARKHOOK_SECRET: GH.secret },
    });
    assert.equal(bad.code, 5);
    assert.match(bad.stderr, /^darkhook: ERR_WEBHOOK_SIGNATURE_MISMATCH: /);
  });

  test('--scheme github refuses Standard Webhooks flags', async () => {
    const r = await runCli(['verify', '--scheme', 'github', '--secret', GH.secret, '--signature', GH.signature, '--id', 'x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /ERR_CLI_USAGE: --id does not apply/);
  });

  test('--json prints a machine-readable result', async () => {
    const r = await runCli(['--json', ...VERIFY_REF, '--secret', REF.secret], { input: REF.body });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { valid: true, scheme: 'standard' });
  });
});
