/**
 * Group commit of the SQLite message log on a real file: `ingest` calls made in one event-loop turn
 * share one transaction, yet each resolves with exactly what it added alone (an id in two calls is
 * the first's), keeps its own receive time, is visible to another connection once resolved, and a
 * bad call fails only itself. Calls pending at close are committed, not dropped. The delivery
 * worker's writes (claims, attempt records, releases) join the same group.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteMessageLog } from '../../receiver/log/sqlite-log.js';
import { MessageStore } from '../../receiver/log/store.js';
import type { RoutedMessage } from '../../receiver/log/types.js';

const T0 = 1_800_000_000_000;
const dir = mkdtempSync(join(tmpdir(), 'darkhook-group-commit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function routed(id: string, body: Buffer = Buffer.from(`{"id":"${id}"}`)): RoutedMessage {
  return { id, type: 'push', timestamp: Math.floor(T0 / 1000), body, headers: {}, caller: 'ci', batchId: undefined, route: '/github', severity: undefined, sinks: ['jenkins'], filteredReason: undefined };
}

describe('SQLite message log: group commit', () => {
  it('30 calls in one turn: each gets what it added alone, in call order; own receive times; visible to another connection once resolved', async () => {
    const path = join(dir, 'many.db');
    const log = SqliteMessageLog.open(path);
    try {
      const calls = Array.from({ length: 30 }, (_, i) => {
        const ids = [`g_${i}a`, `g_${i}b`, ...(i === 5 || i === 20 ? ['g_shared'] : []), ...(i === 7 ? [`g_6a`] : [])];
        return log.ingest(ids.map((id) => routed(id)), T0 + i, new Map([['jenkins', 3_600_000]]));
      });
      const results = await Promise.all(calls);
      assert.deepEqual(results[5], ['g_5a', 'g_5b', 'g_shared'], 'the first call with an id adds it');
      assert.deepEqual(results[20], ['g_20a', 'g_20b'], 'a later call in the same group sees it stored');
      assert.deepEqual(results[7], ['g_7a', 'g_7b'], 'an id an earlier call of the group added is a duplicate');
      assert.deepEqual(results[0], ['g_0a', 'g_0b']);
      // Another connection sees every row: committed, not just done in memory.
      const other = MessageStore.open(path, { readOnly: true });
      try {
        assert.equal(other.count(), 61);
        assert.equal(other.get('g_20a')!.message.receivedAt, T0 + 20, 'each call keeps its receive time');
        const d = other.get('g_shared')!.deliveries;
        assert.deepEqual(d.map((x) => [x.sink, x.state, x.deadlineAt]), [['jenkins', 'pending', T0 + 5 + 3_600_000]], 'one delivery, from the call that added it');
      } finally {
        other.close();
      }
      // Calls in separate turns are not held back by each other.
      assert.deepEqual(await log.ingest([routed('g_next')], T0 + 100), ['g_next']);
      assert.deepEqual(await log.ingest([routed('g_next')], T0 + 101), []);
    } finally {
      await log.close();
    }
  });

  it('one commit for the calls of a turn: the write-ahead log grows a fraction of what the same calls write one turn at a time', async () => {
    const walBytes = async (name: string, together: boolean): Promise<number> => {
      const path = join(dir, `${name}.db`);
      const log = SqliteMessageLog.open(path);
      try {
        const batch = (i: number): RoutedMessage[] => [routed(`w_${i}`)];
        if (together) await Promise.all(Array.from({ length: 30 }, (_, i) => log.ingest(batch(i), T0)));
        else for (let i = 0; i < 30; i++) await log.ingest(batch(i), T0);
        return statSync(`${path}-wal`).size;
      } finally {
        await log.close();
      }
    };
    const apart = await walBytes('apart', false);
    const together = await walBytes('together', true);
    // Each commit appends the pages it changed: 30 commits write the same pages 30 times.
    assert.ok(together * 5 < apart, `WAL ${together} B for one turn vs ${apart} B one at a time`);
  });

  it('a bad call in a group fails alone; the others are stored', async () => {
    const log = SqliteMessageLog.open(join(dir, 'bad.db'));
    try {
      const bad = routed('b_bad', { not: 'bytes' } as unknown as Buffer);
      const settled = await Promise.allSettled([log.ingest([routed('b_1')], T0), log.ingest([bad], T0), log.ingest([routed('b_2')], T0)]);
      assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'rejected', 'fulfilled']);
      assert.equal((settled[1] as PromiseRejectedResult).reason.code, 'ERR_RECEIVER_STORE_FAILED');
      assert.deepEqual([await log.has('b_1'), await log.has('b_bad'), await log.has('b_2')], [true, false, true]);
    } finally {
      await log.close();
    }
  });

  it('calls still waiting when the log closes are committed first', async () => {
    const path = join(dir, 'close.db');
    const log = SqliteMessageLog.open(path);
    const pending = log.ingest([routed('c_1'), routed('c_2')], T0);
    await log.close();
    assert.deepEqual(await pending, ['c_1', 'c_2']);
    const reopened = MessageStore.open(path, { readOnly: true });
    try {
      assert.equal(reopened.count(), 2);
    } finally {
      reopened.close();
    }
  });

  it('claims of one turn share its commit yet never hand out a delivery twice, each within its limit', async () => {
    const path = join(dir, 'claims.db');
    const log = SqliteMessageLog.open(path);
    try {
      await log.ingest(['k1', 'k2', 'k3', 'k4', 'k5'].map((id) => routed(id)), T0);
      const claims = await Promise.all([log.claimDue('jenkins', T0, 2), log.claimDue('jenkins', T0, 2), log.claimDue('jenkins', T0, 2)]);
      assert.deepEqual(claims.map((c) => c.length), [2, 2, 1]);
      const ids = claims.flat().map((j) => j.message.id);
      assert.deepEqual([...ids].sort(), ['k1', 'k2', 'k3', 'k4', 'k5'], 'each delivery once');
      assert.equal(claims[0]![0]!.message.body.toString(), '{"id":"k1"}', 'with its message');
      const other = MessageStore.open(path, { readOnly: true });
      try {
        assert.deepEqual(other.deliveryCounts(), { jenkins: { inflight: 5 } }, 'the claims are committed before they resolve');
      } finally {
        other.close();
      }
    } finally {
      await log.close();
    }
  });

  it('attempts recorded in one turn commit together; one that cannot be recorded fails alone', async () => {
    const path = join(dir, 'attempts.db');
    const log = SqliteMessageLog.open(path);
    try {
      await log.ingest(['a1', 'a2', 'a3'].map((id) => routed(id)), T0);
      const jobs = await log.claimDue('jenkins', T0, 3);
      const result = (state: 'delivered' | 'pending') => ({
        startedAt: T0 + 1, durationMs: 5, outcome: state === 'delivered' ? 'delivered' : 'retry', status: state === 'delivered' ? 200 : 500,
        error: state === 'delivered' ? undefined : 'HTTP 500', state, ...(state === 'pending' ? { nextAttemptAt: T0 + 1_000 } : {}),
      });
      const settled = await Promise.allSettled([
        log.finishAttempt(jobs[0]!.delivery.id, result('delivered')),
        // No such delivery: its attempt row breaks the foreign key, in its own savepoint.
        log.finishAttempt(999_999, result('delivered')),
        log.finishAttempt(jobs[1]!.delivery.id, result('pending')),
        log.release(jobs[2]!.delivery.id, T0 + 2),
      ]);
      assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      assert.equal((settled[1] as PromiseRejectedResult).reason.code, 'ERR_RECEIVER_STORE_FAILED');
      const other = MessageStore.open(path, { readOnly: true });
      try {
        const state = (id: string) => {
          const d = other.get(id)!;
          return [d.message.status, d.deliveries[0]!.state, d.deliveries[0]!.attempts, d.deliveries[0]!.attemptLog.map((a) => a.outcome)];
        };
        assert.deepEqual(state('a1'), ['delivered', 'delivered', 1, ['delivered']]);
        assert.deepEqual(state('a2'), ['pending', 'pending', 1, ['retry']]);
        assert.deepEqual(state('a3'), ['pending', 'pending', 0, []], 'released without an attempt');
      } finally {
        other.close();
      }
    } finally {
      await log.close();
    }
  });

  it('a group whose transaction fails reports no success: every write of it is retried alone and fails', async () => {
    const log = SqliteMessageLog.open(join(dir, 'closed.db'));
    await log.ingest([routed('x1')], T0);
    const [job] = await log.claimDue('jenkins', T0, 1);
    // The file is gone from under the log (as a store that cannot be written): the group and each retry fail.
    log.sqlite.close();
    const settled = await Promise.allSettled([
      log.finishAttempt(job!.delivery.id, { startedAt: T0, durationMs: 1, outcome: 'delivered', status: 200, state: 'delivered' }),
      log.ingest([routed('x2')], T0),
      log.claimDue('jenkins', T0, 1),
    ]);
    assert.deepEqual(settled.map((s) => s.status), ['rejected', 'rejected', 'rejected']);
    for (const s of settled) assert.equal((s as PromiseRejectedResult).reason.code, 'ERR_RECEIVER_STORE_FAILED');
    await log.close();
  });
});
