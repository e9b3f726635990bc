/** The file outbox's journal, byte by byte: the line format, replay and its torn tail, compaction, appends, restart. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { encodeLines, Journal, type JournalRecord, type PutRecord, replayJournal } from '../../connector/sender/outbox-journal.js';
import { tempDir } from './helpers.js';

function put(id: string, extra: Partial<PutRecord> = {}): PutRecord {
  return { op: 'put', id, type: 't.e', body: Buffer.from(`{"id":"${id}"}`).toString('base64'), headers: { 'content-type': 'application/json' }, createdAt: 7, state: 'pending', attempts: 0, nextAttemptAt: 7, ...extra };
}

/** Every record `replayJournal` hands over, in order. */
function replayed(path: string): JournalRecord[] {
  const out: JournalRecord[] = [];
  replayJournal(path, (r) => out.push(r));
  return out;
}

function scratch(t: { after: (fn: () => void) => void }): string {
  const tmp = tempDir();
  t.after(tmp.remove);
  return join(tmp.dir, 'o.jsonl');
}

describe('outbox journal: line format', () => {
  test('a put line is the exact JSON text, the base64 body spliced in last; other records are JSON.stringify', () => {
    const p = put('a', { severity: 'high', lastError: 'HTTP 503 "busy"', headers: { 'x-ü': 'ünï' } });
    const bytes = encodeLines([p, { op: 'del', ids: ['a', 'b'] }]);
    const expected =
      '{"op":"put","id":"a","type":"t.e","headers":{"x-ü":"ünï"},"createdAt":7,"state":"pending","attempts":0,"nextAttemptAt":7,' +
      `"severity":"high","lastError":"HTTP 503 \\"busy\\"","body":"${p.body}"}\n` +
      '{"op":"del","ids":["a","b"]}\n';
    assert.equal(bytes.toString('utf8'), expected);
    assert.equal(bytes.length, Buffer.byteLength(expected, 'utf8'), 'multi-byte header text is counted in bytes');
    const [first] = bytes.toString('utf8').split('\n');
    assert.deepEqual(JSON.parse(first!), p, 'the same JSON as JSON.stringify would give');
  });

  test('no records encode to no bytes', () => {
    assert.equal(encodeLines([]).length, 0);
  });
});

describe('outbox journal: replay', () => {
  test('a missing file holds nothing; records come back in file order', (t) => {
    const path = scratch(t);
    assert.deepEqual(replayed(path), []);
    const records: JournalRecord[] = [put('a'), { op: 'retry', ids: ['a'], at: 9, error: 'x' }, { op: 'park', ids: ['a'], reason: 'r' }, { op: 'unpark', ids: ['a'], at: 10 }, { op: 'del', ids: ['a'] }];
    writeFileSync(path, encodeLines(records));
    assert.deepEqual(replayed(path), records);
  });

  test('a torn last line is ignored, at every cut point of the final record', (t) => {
    const path = scratch(t);
    const whole = encodeLines([put('a'), put('b')]);
    const firstLength = whole.indexOf(0x0a) + 1;
    for (let cut = firstLength + 1; cut < whole.length - 1; cut++) {
      writeFileSync(path, whole.subarray(0, cut));
      assert.deepEqual(replayed(path).map((r) => (r as PutRecord).id), ['a'], `cut at byte ${cut}`);
    }
    // The whole record without its newline parses: it was fully written, so it counts.
    writeFileSync(path, whole.subarray(0, whole.length - 1));
    assert.deepEqual(replayed(path).map((r) => (r as PutRecord).id), ['a', 'b']);
  });

  test('an unfinished last line that apply refuses is a torn append; a finished one, or an earlier one, is ERR_SEND_OUTBOX_CORRUPT naming its line', (t) => {
    const path = scratch(t);
    const refuse = (r: JournalRecord): void => {
      if ((r as { op: string }).op === 'bogus') throw new TypeError('unknown op');
    };
    writeFileSync(path, Buffer.concat([encodeLines([put('a')]), Buffer.from('{"op":"bogus"}')]));
    assert.doesNotThrow(() => replayJournal(path, refuse));
    const corrupt = (line: number) => (err: Error & { code?: string }) => err.code === 'ERR_SEND_OUTBOX_CORRUPT' && new RegExp(`line ${line}$`).test(err.message);
    // Its newline was written after it, so the record was whole when it went down: damage, not a torn append.
    writeFileSync(path, Buffer.concat([encodeLines([put('a')]), Buffer.from('{"op":"bogus"}\n')]));
    assert.throws(() => replayJournal(path, refuse), corrupt(2));
    writeFileSync(path, Buffer.concat([Buffer.from('{"op":"put","id'), Buffer.from('\n'), encodeLines([put('b')])]));
    assert.throws(() => replayed(path), corrupt(1));
  });
});

describe('outbox journal: compaction and appends', () => {
  test('compact writes exactly the given records (mode 0600), removes a stray .new, leaves no .tmp', (t) => {
    const path = scratch(t);
    writeFileSync(path, encodeLines([put('old1'), put('old2'), { op: 'del', ids: ['old1'] }]));
    writeFileSync(`${path}.new`, 'left by a crash before its rename');
    const live = [put('old2', { state: 'parked', parkedReason: 'HTTP 401' })];
    const journal = Journal.compact(path, live);
    t.after(() => journal.close(() => []));
    assert.deepEqual(readFileSync(path), encodeLines(live));
    assert.equal(journal.bytes, encodeLines(live).length);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(existsSync(`${path}.new`), false);
    assert.equal(existsSync(`${path}.tmp`), false);
  });

  test('append and appendLater add their bytes at the end, in call order; bytes tracks the file size', async (t) => {
    const path = scratch(t);
    const journal = Journal.compact(path, [put('a')]);
    t.after(() => journal.close(() => []));
    const later1 = journal.appendLater(() => [put('b')]);
    const later2 = journal.appendLater(() => [put('c')]);
    await Promise.all([later1, later2]);
    journal.append([{ op: 'del', ids: ['a'] }]);
    const expected = encodeLines([put('a'), put('b'), put('c'), { op: 'del', ids: ['a'] }]);
    assert.deepEqual(readFileSync(path), expected);
    assert.equal(journal.bytes, expected.length);
    assert.equal(statSync(path).size, expected.length);
  });

  test('restart swaps in an empty file; later appends land in it alone', async (t) => {
    const path = scratch(t);
    const journal = Journal.compact(path, [put('a'), put('b')]);
    t.after(() => journal.close(() => []));
    assert.equal(journal.restart(), true);
    assert.equal(journal.bytes, 0);
    assert.equal(readFileSync(path).length, 0);
    await journal.appendLater(() => [put('c')]);
    journal.append([{ op: 'del', ids: ['c'] }]);
    assert.deepEqual(readFileSync(path), encodeLines([put('c'), { op: 'del', ids: ['c'] }]));
    assert.equal(existsSync(`${path}.new`), false);
  });

  test('close writes the records it is handed last, then refuses every call; a second close does nothing', async (t) => {
    const path = scratch(t);
    const journal = Journal.compact(path, [put('a')]);
    const pending = journal.appendLater(() => [put('b')]);
    journal.close(() => [{ op: 'del', ids: ['a'] }]);
    await pending;
    assert.deepEqual(readFileSync(path), encodeLines([put('a'), put('b'), { op: 'del', ids: ['a'] }]));
    assert.throws(() => journal.check(), { code: 'ERR_SEND_OUTBOX_UNAVAILABLE' });
    assert.throws(() => journal.append([put('c')]), { code: 'ERR_SEND_OUTBOX_UNAVAILABLE' });
    await assert.rejects(journal.appendLater(() => [put('c')]), { code: 'ERR_SEND_OUTBOX_UNAVAILABLE' });
    let asked = false;
    journal.close(() => {
      asked = true;
      return [];
    });
    assert.equal(asked, false);
    assert.deepEqual(replayed(path).map((r) => r.op), ['put', 'put', 'del']);
  });
});
