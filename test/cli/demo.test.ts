/** `darkhook demo` (the README's main job) runs end to end and proves what it prints. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from './helpers.js';

test('darkhook demo delivers every event, encrypted, to a receiver with no listening port', async () => {
  const r = await runCli(['--log-level', 'silent', '--json', 'demo', '--events', '12'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
  assert.equal(result['sent'], 12);
  assert.equal(result['delivered'], 12);
  assert.equal(result['stored'], 12);
  assert.equal(result['encrypted'], true);
  assert.equal(result['caller'], 'demo-sender');
  assert.deepEqual(result['receiverListeningPorts'], []);
  assert.equal(result['home'], undefined, 'the temporary home is removed');
});

test('darkhook demo narrates its steps for a person', async () => {
  const r = await runCli(['--log-level', 'silent', 'demo', '--events', '3'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  for (const step of ['1/6 fabric', '2/6 policy', '3/6 enroll', '4/6 receiver', '5/6 send', '6/6 verify']) assert.match(r.stdout, new RegExp(step));
  assert.match(r.stdout, /new listening TCP ports: none/);
  assert.match(r.stdout, /demo complete in [\d.]+ s: 3\/3 delivered, 3 stored/);
});

test('darkhook demo refuses a bad --events with a coded usage error', async () => {
  const r = await runCli(['demo', '--events', '0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /darkhook: ERR_OPTION_INVALID: --events/);
});
