/** The outbox contract, run against both implementations: SqliteOutbox and the pure-JS FileOutbox. */
import assert from 'node:assert/strict';
import fs, { appendFileSync, closeSync, existsSync, openSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openOutbox } from '../../connector/sender/open-outbox.js';
import type { NewOutboxMessage, Outbox } from '../../connector/sender/outbox.js';
import { FileOutbox } from '../../connector/sender/outbox-file.js';
import { tempDir } from './helpers.js';

const IMPLEMENTATIONS = [
  { name: 'SqliteOutbox', file: 'outbox.db' },
  { name: 'FileOutbox', file: 'outbox.jsonl' },
] as const;

function message(n: number, extra: Partial<NewOutboxMessage> = {}): NewOutboxMessage {
  return { id: `msg_${n}`, type: 'test.event', body: Buffer.from(`{"n":${n}}`), headers: { 'content-type': 'application/json' }, createdAt: 1_000 + n, ...extra };
}

for (const impl of IMPLEMENTATIONS) {
  describe(`outbox contract: ${impl.name}`, () => {
    const fresh = async (t: { after: (fn: () => void) => void }): Promise<{ path: string; outbox: Outbox; reopen: () => Promise<Outbox> }> => {
      const tmp = tempDir();
      const path = join(tmp.dir, impl.file);
      let outbox = await openOutbox(path);
      t.after(() => {
        outbox.close();
        tmp.remove();
      });
      assert.equal(outbox.kind, impl.name === 'SqliteOutbox' ? 'sqlite' : 'file');
      return {
        path,
        get outbox() {
          return outbox;
        },
        reopen: async () => {
          outbox.close();
          outbox = await openOutbox(path);
          return outbox;
        },
      };
    };

    test('enqueued messages are listed in order with their exact bytes, headers and severity', async (t) => {
      const { outbox } = await fresh(t);
      const binary = Buffer.from([0, 255, 16, 10, 13]);
      await outbox.enqueue([message(1), message(2, { body: binary, severity: 'high', headers: { 'content-type': 'application/octet-stream', 'x-a': 'b' } })]);
      const all = outbox.list();
      assert.deepEqual(all.map((m) => m.id), ['msg_1', 'msg_2']);
      assert.deepEqual(all[1]!.body, binary);
      assert.equal(all[1]!.severity, 'high');
      assert.deepEqual(all[1]!.headers, { 'content-type': 'application/octet-stream', 'x-a': 'b' });
      assert.deepEqual(all.map((m) => [m.state, m.attempts]), [['pending', 0], ['pending', 0]]);
      assert.deepEqual(outbox.counts(), { pending: 2, inflight: 0, parked: 0 });
    });

    test('a duplicate id is refused and nothing of that enqueue is stored', async (t) => {
      const { outbox } = await fresh(t);
      await outbox.enqueue([message(1)]);
      await assert.rejects(outbox.enqueue([message(2), message(1)]), { code: 'ERR_SEND_DUPLICATE_ID' });
      assert.deepEqual(outbox.list().map((m) => m.id), ['msg_1']);
    });

    test('overlapping enqueues keep their call order; an id still being written is a duplicate', async (t) => {
      const { outbox } = await fresh(t);
      const first = outbox.enqueue([message(1), message(2)]);
      const second = outbox.enqueue([message(3)]);
      const dup = assert.rejects(outbox.enqueue([message(4), message(2)]), { code: 'ERR_SEND_DUPLICATE_ID' });
      await Promise.all([first, second, dup]);
      assert.deepEqual(outbox.list().map((m) => m.id), ['msg_1', 'msg_2', 'msg_3']);
    });

    test('nextBatch claims the oldest pending messages in order, up to the limit', async (t) => {
      const { outbox } = await fresh(t);
      await outbox.enqueue([1, 2, 3, 4, 5].map((n) => message(n)));
      assert.deepEqual(outbox.nextBatch(2, 10_000).map((m) => m.id), ['msg_1', 'msg_2']);
      assert.deepEqual(outbox.nextBatch(10, 10_000).map((m) => m.id), ['msg_3', 'msg_4', 'msg_5']);
      assert.deepEqual(outbox.nextBatch(10, 10_000), []);
      assert.deepEqual(outbox.counts(), { pending: 0, inflight: 5, parked: 0 });
    });

    test('pendingAtLeast and head look past claimed messages', async (t) => {
      const { outbox } = await fresh(t);
      await outbox.enqueue([1, 2, 3, 4].map((n) => message(n)));
      assert.equal(outbox.pendingAtLeast(4), true);
      assert.equal(outbox.pendingAtLeast(5), false);
      outbox.nextBatch(2, 10_000);
      assert.equal(outbox.pendingAtLeast(2), true);
      assert.equal(outbox.pendingAtLeast(3), false, 'claimed messages are not pending');
      assert.equal(outbox.head()?.createdAt, 1_003, 'the head is the oldest unclaimed message');
      outbox.release(['msg_1']);
      assert.equal(outbox.pendingAtLeast(3), true);
      assert.equal(outbox.head()?.createdAt, 1_001);
    });

    test('a retried message keeps its place: nothing behind it goes first', async (t) => {
      const { outbox } = await fresh(t);
      await outbox.enqueue([message(1), message(2)]);
      outbox.nextBatch(1, 5_000);
      outbox.markRetry(['msg_1'], 1_000, 'HTTP 503', 5_000);
      assert.deepEqual(outbox.head(), { createdAt: 1_001, attempts: 1, nextAttemptAt: 6_000 });
      assert.deepEqual(outbox.nextBatch(10, 5_999), [], 'msg_2 waits behind the retry');
      const due = outbox.nextBatch(10, 6_000);
      assert.deepEqual(due.map((m) => [m.id, m.attempts, m.lastError]), [['msg_1', 1, 'HTTP 503'], ['msg_2', 0, undefined]]);
    });

    test('inflight messages of a crashed process are pending again when reopened; release counts no attempt', async (t) => {
      const ctx = await fresh(t);
      await ctx.outbox.enqueue([message(1), message(2), message(3)]);
      ctx.outbox.nextBatch(3, 10_000);
      ctx.outbox.release(['msg_3']);
      assert.deepEqual(ctx.outbox.counts(), { pending: 1, inflight: 2, parked: 0 });
      const reopened = await ctx.reopen();
      assert.deepEqual(reopened.counts(), { pending: 3, inflight: 0, parked: 0 });
      assert.deepEqual(reopened.list().map((m) => [m.id, m.attempts]), [['msg_1', 0], ['msg_2', 0], ['msg_3', 0]]);
    });

    test('delivered messages are deleted; retries, parking and reasons survive a reopen', async (t) => {
      const ctx = await fresh(t);
      await ctx.outbox.enqueue([message(1), message(2), message(3)]);
      ctx.outbox.nextBatch(3, 10_000);
      ctx.outbox.markDelivered(['msg_1']);
      ctx.outbox.markRetry(['msg_2'], 500, 'ECONNREFUSED: connect refused', 10_000);
      ctx.outbox.park(['msg_3'], 'HTTP 401: signature mismatch');
      const reopened = await ctx.reopen();
      const rows = reopened.list();
      assert.deepEqual(
        rows.map((m) => [m.id, m.state, m.attempts, m.nextAttemptAt, m.lastError, m.parkedReason]),
        [
          ['msg_2', 'pending', 1, 10_500, 'ECONNREFUSED: connect refused', undefined],
          ['msg_3', 'parked', 0, 1_003, 'HTTP 401: signature mismatch', 'HTTP 401: signature mismatch'],
        ],
      );
      assert.deepEqual(reopened.list('parked').map((m) => m.id), ['msg_3']);
    });

    test('retryParked makes parked messages pending again with a fresh count; drop deletes any state', async (t) => {
      const { outbox } = await fresh(t);
      await outbox.enqueue([message(1), message(2), message(3)]);
      outbox.nextBatch(3, 10_000);
      outbox.markRetry(['msg_1', 'msg_2', 'msg_3'], 0, 'HTTP 500', 10_000);
      outbox.nextBatch(3, 20_000);
      outbox.park(['msg_1', 'msg_2', 'msg_3'], 'HTTP 403');
      assert.equal(outbox.retryParked(['msg_2', 'msg_nope']), 1);
      assert.equal(outbox.list().find((m) => m.id === 'msg_2')?.attempts, 0);
      assert.equal(outbox.retryParked(), 2);
      assert.deepEqual(outbox.counts(), { pending: 3, inflight: 0, parked: 0 });
      assert.equal(outbox.drop(['msg_1', 'msg_3', 'msg_nope']), 2);
      assert.deepEqual(outbox.list().map((m) => m.id), ['msg_2']);
    });

    test('counts() and pendingAtLeast agree with list() after every kind of change, and after a reopen', async (t) => {
      const ctx = await fresh(t);
      const check = (step: string): void => {
        const listed = { pending: 0, inflight: 0, parked: 0 };
        for (const m of ctx.outbox.list()) listed[m.state] += 1;
        assert.deepEqual(ctx.outbox.counts(), listed, step);
        assert.equal(ctx.outbox.pendingAtLeast(listed.pending), true, step);
        assert.equal(ctx.outbox.pendingAtLeast(listed.pending + 1), false, step);
      };
      await ctx.outbox.enqueue([1, 2, 3, 4, 5, 6].map((n) => message(n)));
      check('enqueue');
      ctx.outbox.nextBatch(4, 10_000);
      check('claim');
      ctx.outbox.release(['msg_4', 'msg_nope']);
      check('release');
      ctx.outbox.markRetry(['msg_1'], 0, 'HTTP 500', 10_000);
      check('retry');
      ctx.outbox.park(['msg_2', 'msg_5'], 'HTTP 403');
      check('park a claimed and a pending message');
      ctx.outbox.markDelivered(['msg_3']);
      check('delivered');
      ctx.outbox.retryParked(['msg_5']);
      check('unpark one');
      ctx.outbox.drop(['msg_2', 'msg_6']);
      check('drop a parked and a pending message');
      ctx.outbox.nextBatch(1, 20_000);
      await ctx.reopen();
      check('reopen with a claim outstanding');
    });

    test('a second open of the same outbox is refused while the first holds it', async (t) => {
      const ctx = await fresh(t);
      await assert.rejects(openOutbox(ctx.path), { code: 'ERR_SEND_OUTBOX_LOCKED' });
      ctx.outbox.close();
      const again = await openOutbox(ctx.path);
      again.close();
      await ctx.reopen();
    });

    test('a lock left by a dead process is taken over', async (t) => {
      const ctx = await fresh(t);
      ctx.outbox.close();
      // pid 2^22+1 is above Linux's default pid_max, so no live process has it.
      writeFileSync(`${ctx.path}.lock`, String(4_194_305));
      const reopened = await ctx.reopen();
      assert.deepEqual(reopened.counts(), { pending: 0, inflight: 0, parked: 0 });
    });
  });
}

describe('FileOutbox journal', () => {
  test('a torn last line (a crash mid-append) is ignored; the records before it are kept', async (t) => {
    const tmp = tempDir();
    t.after(tmp.remove);
    const path = join(tmp.dir, 'o.jsonl');
    const a = FileOutbox.open(path);
    await a.enqueue([message(1), message(2)]);
    a.close();
    appendFileSync(path, '{"op":"del","ids":["msg_1"');
    const b = FileOutbox.open(path);
    t.after(() => b.close());
    assert.deepEqual(b.list().map((m) => m.id), ['msg_1', 'msg_2']);
    assert.equal(readFileSync(path, 'utf8').split('\n').filter(Boolean).length, 2, 'compacted to the live messages');
  });

  test('damage before the last line is ERR_SEND_OUTBOX_CORRUPT', async (t) => {
    const tmp = tempDir();
    t.after(tmp.remove);
    const path = join(tmp.dir, 'o.jsonl');
    const a = FileOutbox.open(path);
    await a.enqueue([message(1)]);
    a.close();
    writeFileSync(path, `garbage\n${readFileSync(path, 'utf8')}`);
    assert.throws(() => FileOutbox.open(path), { code: 'ERR_SEND_OUTBOX_CORRUPT' });
  });

  test('close() writes the deletions markDelivered had queued behind an append still syncing', async (t) => {
    const tmp = tempDir();
    t.after(tmp.remove);
    const path = join(tmp.dir, 'o.jsonl');
    const a = FileOutbox.open(path);
    await a.enqueue([message(1), message(2), message(3)]);
    a.nextBatch(3, 10_000);
    const late = a.enqueue([message(4)]); // written now, its sync on the thread pool
    a.markDelivered(['msg_1', 'msg_2', 'msg_3']); // queued behind it
    a.close();
    await late;
    const b = FileOutbox.open(path);
    t.after(() => b.close());
    assert.deepEqual(b.list().map((m) => m.id), ['msg_4'], 'delivered messages stay deleted');
    assert.throws(() => a.markDelivered(['msg_4']), { code: 'ERR_SEND_OUTBOX_UNAVAILABLE' }, 'a closed outbox refuses');
  });

  test('messages are not visible before their sync, and close() makes a pending enqueue durable', async (t) => {
    const tmp = tempDir();
    t.after(tmp.remove);
    const path = join(tmp.dir, 'o.jsonl');
    const a = FileOutbox.open(path);
    const pending = a.enqueue([message(1), message(2)]);
    // The write is done, the fdatasync runs on the thread pool: nothing may be claimed yet.
    assert.deepEqual(a.nextBatch(10, 10_000), []);
    assert.deepEqual(a.counts(), { pending: 0, inflight: 0, parked: 0 });
    a.close();
    await pending;
    const b = FileOutbox.open(path);
    t.after(() => b.close());
    assert.deepEqual(b.list().map((m) => m.id), ['msg_1', 'msg_2']);
  });

  test('an emptied journal over 1 MiB is replaced by a new file; later messages land in it and survive a reopen', async (t) => {
    const tmp = tempDir();
    t.after(tmp.remove);
    const path = join(tmp.dir, 'o.jsonl');
    const a = FileOutbox.open(path);
    const big = Buffer.alloc(1024, 0x61);
    const first = Array.from({ length: 1000 }, (_, n) => message(n, { body: big }));
    await a.enqueue(first);
    const before = statSync(path);
    assert.ok(before.size > 1024 * 1024, `journal is ${before.size} bytes`);
    a.nextBatch(1000, 10_000);
    a.markDelivered(first.map((m) => m.id));
    // The same journal path now names a new, empty file; the next enqueue waits for the folder sync and goes there.
    await a.enqueue([message(5000)]);
    const after = statSync(path);
    assert.notEqual(after.ino, before.ino, 'a new file took the old one\'s place');
    assert.ok(after.size < 1024, `new journal is ${after.size} bytes`);
    assert.equal(existsSync(`${path}.new`), false);
    a.close();
    const b = FileOutbox.open(path);
    t.after(() => b.close());
    assert.deepEqual(b.list().map((m) => m.id), ['msg_5000']);
  });

  test('close() keeps the descriptor until a sync still queued in the thread pool has run on it', async (t) => {
    const tmp = tempDir();
    t.after(tmp.remove);
    const path = join(tmp.dir, 'o.jsonl');
    // A busy thread pool: every asynchronous fdatasync starts 50 ms late. Record what its descriptor names then.
    const real = fs.fdatasync;
    const seen: string[] = [];
    fs.fdatasync = ((fd: number, callback: (err: NodeJS.ErrnoException | null) => void) => {
      setTimeout(() => {
        try {
          seen.push(readlinkSync(`/proc/self/fd/${fd}`));
        } catch {
          seen.push('(closed)');
        }
        real(fd, callback);
      }, 50);
    }) as typeof fs.fdatasync;
    syncBuiltinESMExports();
    t.after(() => {
      fs.fdatasync = real;
      syncBuiltinESMExports();
    });
    const a = FileOutbox.open(path);
    const pending = a.enqueue([message(1)]);
    a.close();
    // Another file opened now would take the journal's descriptor number if close() had released it.
    const other = openSync(join(tmp.dir, 'unrelated'), 'w');
    t.after(() => closeSync(other));
    await pending;
    assert.deepEqual(seen, [path], 'the late sync ran on the journal, not on a reused descriptor');
    const b = FileOutbox.open(path);
    t.after(() => b.close());
    assert.deepEqual(b.list().map((m) => m.id), ['msg_1']);
  });
});
