/**
 * One suite, two stores: every case runs against the SQLite file store and against a real
 * PostgreSQL (a throw-away cluster), through the `MessageLog` interface the receiver uses —
 * messages, deliveries, replay ids, retention, resubmit, sink state, attempts, refusals.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MessageLog, StoreKind } from '../../receiver/log/message-log.js';
import { openMessageLog } from '../../receiver/log/open.js';
import type { PgMessageLog } from '../../receiver/log/pg-log.js';
import type { RoutedMessage } from '../../receiver/log/types.js';
import { pgSkipReason, startPgCluster, type PgCluster } from './pg-cluster.js';

const T0 = 1_700_000_000_000;
const DAY_MS = 86_400_000;
/** The lease the PostgreSQL store is opened with here (SQLite has none: a restart recovers every claim). */
const LEASE_MS = 1_000;

function routed(id: string, over: Partial<RoutedMessage> = {}): RoutedMessage {
  return {
    id, type: 'push', timestamp: Math.floor(T0 / 1000), body: Buffer.from(`{"id":"${id}"}`), headers: { 'content-type': 'application/json' },
    caller: 'ci', batchId: undefined, route: '/github', severity: undefined, sinks: ['jenkins'], filteredReason: undefined, ...over,
  };
}

const pgSkip = pgSkipReason();
let cluster: PgCluster | undefined;
const dirs: string[] = [];
const opened: MessageLog[] = [];

before(async () => {
  if (pgSkip === undefined) cluster = await startPgCluster();
});
after(async () => {
  for (const log of opened) await log.close();
  cluster?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh, empty store of `kind`. */
async function fresh(kind: StoreKind): Promise<MessageLog> {
  let log: MessageLog;
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'darkhook-log-'));
    dirs.push(dir);
    log = await openMessageLog(join(dir, 'receiver.db'));
  } else {
    const db = await cluster!.createDatabase();
    log = await openMessageLog(cluster!.url(db), { env: { DARKHOOK_TEST_PG_PASSWORD: cluster!.password }, leaseMs: LEASE_MS });
  }
  opened.push(log);
  return log;
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`message log on ${kind}`, { skip: kind === 'postgres' ? pgSkip : undefined }, () => {
    it('stores messages with one pending delivery per sink; a replayed id is skipped and the first write wins', async () => {
      const log = await fresh(kind);
      assert.equal(log.kind, kind);
      assert.deepEqual((await log.ingest([routed('m1', { sinks: ['jenkins', 'slack'] }), routed('m2', { sinks: [] })], T0)).sort(), ['m1', 'm2']);
      assert.deepEqual(await log.ingest([routed('m1', { body: Buffer.from('second') }), routed('m3')], T0 + 1), ['m3']);
      assert.equal(await log.count(), 3);
      assert.equal(await log.has('m1'), true);
      assert.equal(await log.has('nope'), false);
      const m1 = (await log.get('m1'))!;
      assert.equal(m1.message.body.toString(), '{"id":"m1"}');
      assert.deepEqual(m1.message.headers, { 'content-type': 'application/json' });
      assert.equal(m1.message.status, 'pending');
      assert.deepEqual(m1.deliveries.map((d) => [d.sink, d.state, d.attempts, d.deadlineAt]), [['jenkins', 'pending', 0, T0 + DAY_MS], ['slack', 'pending', 0, T0 + DAY_MS]]);
      assert.equal((await log.get('m2'))!.message.status, 'stored');
      assert.deepEqual(await log.insert([{ id: 'm4', type: 't', timestamp: 1, body: Buffer.alloc(0), headers: {}, caller: undefined, batchId: 'b1' }], T0 + 2), ['m4']);
      assert.equal((await log.get('m4'))!.message.batchId, 'b1');
      assert.equal(await log.get('nope'), undefined);
    });

    it('a filtered message is stored without deliveries', async () => {
      const log = await fresh(kind);
      await log.ingest([routed('f1', { filteredReason: 'below medium', severity: 'low' })], T0);
      const f1 = (await log.get('f1'))!;
      assert.deepEqual([f1.message.status, f1.message.filteredReason, f1.message.severity, f1.deliveries.length], ['filtered', 'below medium', 'low', 0]);
    });

    it('lists in arrival order and queries with filters, paging cursors and per-status counts', async () => {
      const log = await fresh(kind);
      for (let i = 0; i < 12; i++) {
        await log.ingest([routed(`msg_${String(i).padStart(2, '0')}`, i % 3 === 0 ? { type: 'alert', route: '/alerts', sinks: [] } : {})], T0 + i * 1000);
      }
      assert.deepEqual((await log.list({ limit: 3 })).map((m) => m.id), ['msg_00', 'msg_01', 'msg_02']);
      assert.deepEqual((await log.list({ limit: 2, after: 'msg_10' })).map((m) => m.id), ['msg_11']);
      const newest = await log.query({ limit: 5 });
      assert.deepEqual(newest.map((m) => m.id), ['msg_11', 'msg_10', 'msg_09', 'msg_08', 'msg_07']);
      const older = await log.query({ limit: 5, beforeSeq: newest.at(-1)!.seq });
      assert.deepEqual(older.map((m) => m.id), ['msg_06', 'msg_05', 'msg_04', 'msg_03', 'msg_02']);
      assert.deepEqual((await log.query({ afterSeq: newest[1]!.seq, order: 'asc' })).map((m) => m.id), ['msg_11']);
      assert.deepEqual((await log.query({ type: 'alert' })).map((m) => m.id), ['msg_09', 'msg_06', 'msg_03', 'msg_00']);
      assert.deepEqual((await log.query({ route: '/alerts', since: T0 + 4_000, until: T0 + 9_500 })).map((m) => m.id), ['msg_09', 'msg_06']);
      assert.deepEqual((await log.query({ sink: 'jenkins', limit: 2 })).map((m) => m.id), ['msg_11', 'msg_10']);
      assert.deepEqual((await log.query({ idPrefix: 'msg_1' })).map((m) => m.id), ['msg_11', 'msg_10']);
      assert.deepEqual((await log.query({ status: 'stored' })).length, 4);
      const first = (await log.query({ idPrefix: 'msg_01' }))[0]!;
      assert.deepEqual([first.bytes, first.caller, first.route, first.receivedAt], [Buffer.byteLength('{"id":"msg_01"}'), 'ci', '/github', T0 + 1000]);
      assert.deepEqual(await log.countByStatus({}), { stored: 4, pending: 8, delivered: 0, dead: 0, filtered: 0 });
      assert.deepEqual(await log.countByStatus({ type: 'alert', status: 'pending' }), { stored: 4, pending: 0, delivered: 0, dead: 0, filtered: 0 });
      await assert.rejects(log.query({ limit: 0 }), { code: 'ERR_OPTION_INVALID' });
    });

    it('claims due deliveries once, records attempts and the next state, and keeps the message status in step', async () => {
      const log = await fresh(kind);
      await log.ingest([routed('a'), routed('b'), routed('later')], T0);
      await log.resubmit({ ids: ['later'] }, T0 + 60_000, DAY_MS);
      const jobs = await log.claimDue('jenkins', T0, 10);
      assert.deepEqual(jobs.map((j) => j.message.id), ['a', 'b']);
      assert.deepEqual(jobs.map((j) => j.delivery.state), ['inflight', 'inflight']);
      assert.equal(jobs[0]!.message.body.toString(), '{"id":"a"}');
      assert.deepEqual(await log.claimDue('jenkins', T0, 10), [], 'a claimed delivery is not handed out twice');
      assert.equal(await log.nextDueAt('jenkins'), T0 + 60_000);
      assert.equal(await log.pendingCount('jenkins'), 1);
      const [a, b] = jobs as [typeof jobs[0], typeof jobs[0]];
      await log.finishAttempt(a.delivery.id, { startedAt: T0, durationMs: 12, outcome: 'delivered', status: 200, state: 'delivered' });
      await log.finishAttempt(b.delivery.id, { startedAt: T0, durationMs: 30, outcome: 'retry', status: 503, error: 'HTTP 503', state: 'pending', nextAttemptAt: T0 + 1_000 });
      const ga = (await log.get('a'))!;
      assert.deepEqual([ga.message.status, ga.deliveries[0]!.state, ga.deliveries[0]!.attempts, ga.deliveries[0]!.deliveredAt], ['delivered', 'delivered', 1, T0 + 12]);
      assert.deepEqual(ga.deliveries[0]!.attemptLog.map((x) => [x.outcome, x.status, x.durationMs]), [['delivered', 200, 12]]);
      const gb = (await log.get('b'))!;
      assert.deepEqual([gb.message.status, gb.deliveries[0]!.state, gb.deliveries[0]!.nextAttemptAt, gb.deliveries[0]!.lastError], ['pending', 'pending', T0 + 1_000, 'HTTP 503']);
      assert.deepEqual(await log.lastErrors(), { jenkins: { at: T0, error: 'HTTP 503' } });
      assert.deepEqual(await log.deliveryCounts(), { jenkins: { delivered: 1, pending: 2 } });
      const again = await log.claimDue('jenkins', T0 + 1_000, 10);
      assert.deepEqual(again.map((j) => [j.message.id, j.delivery.attempts]), [['b', 1]]);
      await log.release(again[0]!.delivery.id, T0 + 1_001);
      assert.equal((await log.get('b'))!.deliveries[0]!.state, 'pending');
      const last = (await log.claimDue('jenkins', T0 + 2_000, 10))[0]!;
      await log.finishAttempt(last.delivery.id, { startedAt: T0 + 2_000, durationMs: 5, outcome: 'failed', status: 400, error: 'HTTP 400', state: 'dead' });
      assert.equal((await log.get('b'))!.message.status, 'dead');
    });

    it('attempts finished together are each recorded (one commit for the group); one that cannot be recorded fails alone', async () => {
      const log = await fresh(kind);
      await log.ingest([routed('g1'), routed('g2'), routed('g3')], T0);
      const jobs = await log.claimDue('jenkins', T0, 10);
      assert.equal(jobs.length, 3);
      const settled = await Promise.allSettled([
        log.finishAttempt(jobs[0]!.delivery.id, { startedAt: T0, durationMs: 7, outcome: 'delivered', status: 200, state: 'delivered' }),
        // No such delivery: its attempt row breaks the foreign key.
        log.finishAttempt(987_654, { startedAt: T0, durationMs: 1, outcome: 'delivered', status: 200, state: 'delivered' }),
        log.finishAttempt(jobs[1]!.delivery.id, { startedAt: T0, durationMs: 9, outcome: 'retry', status: 503, error: 'HTTP 503', state: 'pending', nextAttemptAt: T0 + 1_000 }),
        log.finishAttempt(jobs[2]!.delivery.id, { startedAt: T0, durationMs: 3, outcome: 'failed', status: 400, error: 'HTTP 400', state: 'dead' }),
      ]);
      assert.deepEqual(settled.map((x) => x.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      assert.equal((settled[1] as PromiseRejectedResult).reason.code, 'ERR_RECEIVER_STORE_FAILED');
      const view = async (id: string): Promise<unknown[]> => {
        const g = (await log.get(id))!;
        const d = g.deliveries[0]!;
        return [g.message.status, d.state, d.attempts, d.attemptLog.map((x) => [x.outcome, x.status, x.durationMs])];
      };
      assert.deepEqual(await view('g1'), ['delivered', 'delivered', 1, [['delivered', 200, 7]]]);
      assert.deepEqual(await view('g2'), ['pending', 'pending', 1, [['retry', 503, 9]]]);
      assert.deepEqual(await view('g3'), ['dead', 'dead', 1, [['failed', 400, 3]]]);
      assert.deepEqual(await log.deliveryCounts(), { jenkins: { delivered: 1, pending: 1, dead: 1 } });
    });

    it('after a crash, a claim left in flight goes back to pending as a possible duplicate', async () => {
      const log = await fresh(kind);
      await log.ingest([routed('c1'), routed('c2')], T0);
      assert.equal((await log.claimDue('jenkins', T0, 1)).length, 1);
      // Past any lease: a restarted receiver (SQLite) or any replica (PostgreSQL) takes it back.
      assert.equal(await log.recoverInflight(T0 + LEASE_MS + 1), 1);
      const d = (await log.get('c1'))!.deliveries[0]!;
      assert.deepEqual([d.state, d.possibleDuplicate], ['pending', true]);
      assert.equal((await log.get('c2'))!.deliveries[0]!.possibleDuplicate, false);
    });

    it('resubmits by id, by time, by sink and dead only, with a fresh deadline; never in-flight ones', async () => {
      const log = await fresh(kind);
      await log.ingest([routed('r1', { sinks: ['jenkins', 'slack'] })], T0);
      await log.ingest([routed('r2')], T0 + 10_000);
      for (const j of await log.claimDue('jenkins', T0 + 20_000, 10)) {
        await log.finishAttempt(j.delivery.id, { startedAt: T0 + 20_000, durationMs: 1, outcome: 'failed', status: 400, error: 'x', state: 'dead' });
      }
      assert.equal(await log.resubmit({ states: ['dead'], sink: 'jenkins' }, T0 + 30_000, 1_000), 2);
      const r1 = (await log.get('r1'))!.deliveries.find((d) => d.sink === 'jenkins')!;
      assert.deepEqual([r1.state, r1.nextAttemptAt, r1.deadlineAt], ['pending', T0 + 30_000, T0 + 31_000]);
      assert.equal(await log.resubmit({ since: T0 + 5_000 }, T0 + 40_000, DAY_MS), 1);
      assert.equal(await log.resubmit({ ids: ['r1'], sink: 'slack' }, T0 + 40_000, DAY_MS), 1);
      assert.equal(await log.resubmit({ ids: ['nope'] }, T0 + 40_000, DAY_MS), 0);
      await assert.rejects(log.resubmit({ states: ['inflight'] }, T0, DAY_MS), { code: 'ERR_OPTION_INVALID' });
      await log.addDelivery('r2', 'jira', T0 + 50_000, DAY_MS);
      assert.deepEqual((await log.get('r2'))!.deliveries.map((d) => [d.sink, d.state]), [['jenkins', 'pending'], ['jira', 'pending']]);
    });

    it('retention removes finished old messages with their deliveries and old refusals, and keeps unfinished ones', async () => {
      const log = await fresh(kind);
      await log.ingest([routed('done'), routed('waiting'), routed('none', { sinks: [] })], T0);
      await log.ingest([routed('recent', { sinks: [] })], T0 + 5 * DAY_MS);
      const [done] = await log.claimDue('jenkins', T0, 1);
      await log.finishAttempt(done!.delivery.id, { startedAt: T0, durationMs: 1, outcome: 'delivered', status: 200, state: 'delivered' });
      await log.recordRejections([{ at: T0, requestId: 'q1', caller: 'x', route: '/github', status: 401, code: 'ERR_WEBHOOK_SIGNATURE_MISMATCH' }]);
      assert.deepEqual(await log.purge(T0 + DAY_MS), { removed: 2, keptPending: 1, rejections: 1 });
      assert.deepEqual(await Promise.all(['done', 'waiting', 'none', 'recent'].map((id) => log.has(id))), [false, true, false, true]);
      assert.deepEqual(await log.purge(T0 + DAY_MS), { removed: 0, keptPending: 1, rejections: 0 });
    });

    it('keeps sink states and refusals', async () => {
      const log = await fresh(kind);
      assert.equal(await log.sinkState('jenkins'), undefined);
      await log.setSinkState('jenkins', 'disabled', 'HTTP 401', T0);
      await log.setSinkState('alpha', 'active', undefined, T0 + 1);
      await log.setSinkState('jenkins', 'disabled', 'HTTP 403', T0 + 2);
      assert.deepEqual(await log.sinkStates(), [
        { name: 'alpha', state: 'active', reason: undefined, changedAt: T0 + 1 },
        { name: 'jenkins', state: 'disabled', reason: 'HTTP 403', changedAt: T0 + 2 },
      ]);
      await log.recordRejections([
        { at: T0, requestId: 'q1', caller: 'intruder', route: '/github', status: 403, code: 'ERR_RECEIVER_CALLER_FORBIDDEN' },
        { at: T0 + 5, requestId: undefined, caller: undefined, route: undefined, status: 404, code: 'ERR_RECEIVER_NOT_FOUND' },
      ]);
      assert.deepEqual((await log.rejections()).map((r) => [r.code, r.requestId, r.caller]), [['ERR_RECEIVER_NOT_FOUND', undefined, undefined], ['ERR_RECEIVER_CALLER_FORBIDDEN', 'q1', 'intruder']]);
      assert.deepEqual((await log.rejections({ since: T0 + 1 })).length, 1);
    });

    it('a closed store rejects with a coded error', async () => {
      const log = await fresh(kind);
      await log.close();
      await log.close();
      await assert.rejects(log.count(), { code: 'ERR_RECEIVER_STORE_FAILED' });
    });
  });
}

describe('PostgreSQL migrations', { skip: pgSkip }, () => {
  it('are recorded in schema_migrations and applied once, also by replicas opening together', async () => {
    const db = await cluster!.createDatabase('mig');
    const env = { DARKHOOK_TEST_PG_PASSWORD: cluster!.password };
    const logs = await Promise.all([openMessageLog(cluster!.url(db), { env }), openMessageLog(cluster!.url(db), { env }), openMessageLog(cluster!.url(db), { env })]);
    opened.push(...logs);
    for (const log of logs) assert.deepEqual(await (log as PgMessageLog).migrations(), [1]);
    const again = (await openMessageLog(cluster!.url(db), { env })) as PgMessageLog;
    opened.push(again);
    assert.deepEqual(await again.migrations(), [1]);
    assert.equal(again.location, `postgres://darkhook@127.0.0.1:${cluster!.port}/${db}`);
  });
});
