/**
 * `darkhook messages list|show|purge` and `darkhook sinks list` as real processes on a real SQLite
 * message store: the text and JSON output, purge keeping what is still pending, coded usage errors.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MessageStore } from '../../receiver/log/store.js';
import { runCli } from './helpers.js';

const DAY_MS = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), 'darkhook-messages-'));
const storePath = join(dir, 'receiver.db');
const now = Date.now();

before(() => {
  const store = MessageStore.open(storePath);
  const message = (id: string, sinks: string[]) => ({
    id, type: 'push', timestamp: Math.floor(now / 1000), body: Buffer.from(`{"id":"${id}"}`), headers: { 'content-type': 'application/json' },
    caller: 'ci-sender', batchId: undefined, route: '/github', severity: undefined, sinks, filteredReason: undefined,
  });
  try {
    // Eight days old and delivered: past a 7-day retention, finished.
    store.ingest([message('msg_old_done', ['jenkins'])], now - 8 * DAY_MS);
    const [job] = store.claimDue('jenkins', now, 1);
    assert.equal(job?.message.id, 'msg_old_done');
    store.finishAttempt(job.delivery.id, { startedAt: now, durationMs: 7, outcome: 'delivered', status: 200, state: 'delivered' });
    // Eight days old and still pending: kept. Eight days old with no sink: finished. New: kept.
    store.ingest([message('msg_old_pending', ['jenkins']), message('msg_old_nosink', [])], now - 8 * DAY_MS);
    store.ingest([message('msg_new', ['jenkins'])], now);
  } finally {
    store.close();
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('messages list: one line per message in arrival order (id, type, caller, size, time, status, route); --status filters; --json', async () => {
  const text = await runCli(['messages', 'list', '--store', storePath]);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.trimEnd().split('\n');
  assert.deepEqual(lines.map((l) => l.split('  ')[0]), ['msg_old_done', 'msg_old_pending', 'msg_old_nosink', 'msg_new']);
  assert.match(lines[0]!, /^msg_old_done {2}push {2}ci-sender {2}21 B {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}delivered {2}\/github$/);
  assert.match(lines[2]!, / {2}stored {2}\/github$/);
  const pending = await runCli(['--json', 'messages', 'list', '--store', storePath, '--status', 'pending']);
  assert.equal(pending.code, 0, pending.stderr);
  assert.deepEqual((JSON.parse(pending.stdout) as { id: string }[]).map((m) => m.id), ['msg_old_pending', 'msg_new']);
  const recent = await runCli(['--json', 'messages', 'list', '--store', storePath, '--since', '24h']);
  assert.deepEqual((JSON.parse(recent.stdout) as { id: string }[]).map((m) => m.id), ['msg_new']);
});

test('messages show: the attempts per sink; an unknown id is one coded usage line', async () => {
  const shown = await runCli(['messages', 'show', 'msg_old_done', '--store', storePath, '--body']);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^msg_old_done {2}push {2}delivered\n {2}caller ci-sender {2}route \/github {2}severity - {2}21 B {2}received /);
  assert.match(shown.stdout, /^ {2}content-type: application\/json$/m);
  assert.match(shown.stdout, /^ {2}→ jenkins: delivered, 1 attempt\(s\)$/m);
  assert.match(shown.stdout, /^ {6}\S+ {2}delivered HTTP 200 {2}7 ms$/m);
  assert.match(shown.stdout, /^\{"id":"msg_old_done"\}$/m);
  const missing = await runCli(['messages', 'show', 'msg_nope', '--store', storePath]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^darkhook: ERR_CLI_USAGE: no message msg_nope in /);
  assert.equal(missing.stderr.trimEnd().split('\n').length, 1);
});

test('sinks list without a config: the sinks the store has seen, with their queue', async () => {
  const r = await runCli(['sinks', 'list', '--store', storePath]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'jenkins  ?  active  pending 2  delivered 1  dead 0  ?\n');
});

test('messages purge: removes finished messages past the age, keeps pending ones and says so', async () => {
  const r = await runCli(['messages', 'purge', '--older-than', '7d', '--store', storePath]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'removed 2 message(s) and 0 refusal(s); kept 1 older message(s) whose deliveries are still pending\n');
  const left = await runCli(['--json', 'messages', 'list', '--store', storePath]);
  assert.deepEqual((JSON.parse(left.stdout) as { id: string }[]).map((m) => m.id), ['msg_old_pending', 'msg_new']);
  const bad = await runCli(['messages', 'purge', '--older-than', 'soon', '--store', storePath]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^darkhook: ERR_OPTION_INVALID: --older-than must be a duration/);
});
