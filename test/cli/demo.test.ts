/** `darkhook demo` (the README's main job) runs the whole story end to end and proves what it prints. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from './helpers.js';

interface Result {
  ok: boolean;
  checks: { name: string; ok: boolean; detail: string }[];
  pushId: string;
  alerts: { sent: number; forwarded: number; filtered: number };
  jenkinsDeliveries: number;
  slackPosts: number;
  tamperedStatus: number | null;
  replayedStatus: number | null;
  strangerCode: string | null;
  sidecarListening: { address: string; port: number }[] | null;
  home?: string;
}

test('darkhook demo: push to Jenkins, alerts ≥ medium to Slack, tampered/replayed/stranger refused, sidecar listens on loopback only', async () => {
  const r = await runCli(['--log-level', 'silent', '--json', 'demo', '--events', '12'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim()) as Result;
  assert.equal(result.ok, true);
  assert.deepEqual(result.checks.filter((c) => !c.ok), []);
  assert.deepEqual(result.checks.map((c) => c.name), [
    'push reached Jenkins byte-exact, signed',
    'alerts ≥ medium reached Slack, low ones did not',
    'tampered event refused (401)',
    'replayed event refused, not forwarded twice',
    'stranger identity refused by the fabric',
    'sidecar has no listening socket outside loopback',
  ]);
  assert.match(result.pushId, /^msg_[0-9A-Z]{26}$/);
  // 12 alerts cycling critical, high, medium, low: 9 forwarded, 3 filtered; the push went to Jenkins once.
  assert.deepEqual(result.alerts, { sent: 12, forwarded: 9, filtered: 3 });
  assert.equal(result.slackPosts, 9);
  assert.equal(result.jenkinsDeliveries, 1, 'the replay was not forwarded a second time');
  assert.equal(result.tamperedStatus, 401);
  assert.equal(result.replayedStatus, 202);
  assert.ok(result.strangerCode === 'ERR_ZITI_SERVICE_NOT_FOUND' || result.strangerCode === 'ERR_ZITI_SERVICE_NOT_PERMITTED', String(result.strangerCode));
  if (result.sidecarListening !== null && result.sidecarListening !== undefined) {
    assert.equal(result.sidecarListening.length, 1, 'only the admin listener');
    assert.equal(result.sidecarListening[0]!.address, '127.0.0.1');
  }
  assert.equal(result.home, undefined, 'the temporary home is removed');
});

test('darkhook demo narrates its steps for a person', async () => {
  const r = await runCli(['--log-level', 'silent', 'demo', '--events', '4'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  for (const step of ['1/8 fabric', '2/8 identity', '3/8 stand-ins', '4/8 sidecar', '5/8 push', '6/8 alerts', '7/8 attacks', '8/8 checks']) assert.match(r.stdout, new RegExp(step));
  assert.match(r.stdout, /tampered → 401, replayed → 202 \(not forwarded\), stranger → ERR_ZITI_SERVICE_NOT_(FOUND|PERMITTED)/);
  assert.equal((r.stdout.match(/✔/g) ?? []).length, 6);
  assert.doesNotMatch(r.stdout, /✘/);
  assert.match(r.stdout, /demo complete in [\d.]+ s: 6\/6 checks passed/);
});

test('darkhook demo refuses a bad --events with a coded usage error', async () => {
  const r = await runCli(['demo', '--events', '0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /darkhook: ERR_OPTION_INVALID: --events/);
});
