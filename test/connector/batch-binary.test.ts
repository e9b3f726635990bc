/** The binary batch form (docs/batch-envelope.md): the documented bytes, every truncation and bad field refused with a code, fuzzed. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BATCH_BINARY_CONTENT_TYPE, type BatchEvent, decodeBatch, encodeBatch } from '../../connector/index.js';
import { WebhookError } from '../../core/index.js';
import { rejectsWith } from './helpers.js';

/** Fixed seed: a failure is reproducible. */
const FC = { seed: 0x5eed_b47c, numRuns: 500 } as const;

/** Big-endian helpers to write expected bytes by hand, independently of the encoder. */
const u16 = (n: number): number[] => [n >> 8, n & 0xff];
const u32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const u64 = (n: number): number[] => [...u32(Math.floor(n / 2 ** 32)), ...u32(n % 2 ** 32)];
const ascii = (text: string): number[] => [...Buffer.from(text, 'utf8')];
const header = (count: number): number[] => [...ascii('DHKB'), 1, 0, 0, 0, ...u32(count)];
function eventBytes(id: string, type: string, timestamp: number, headers: string, body: number[]): number[] {
  return [...u16(Buffer.byteLength(id)), ...ascii(id), ...u16(Buffer.byteLength(type)), ...ascii(type), ...u64(timestamp), ...u32(Buffer.byteLength(headers)), ...ascii(headers), ...u32(body.length), ...body];
}

const decode = (bytes: number[] | Buffer, maxEvents?: number): BatchEvent[] =>
  decodeBatch(Buffer.from(bytes), BATCH_BINARY_CONTENT_TYPE, maxEvents === undefined ? {} : { maxEvents });

// The example of docs/batch-envelope.md: {"ref":"main"} as JSON with a header, then the bytes 00 ff 10.
const DOC_EXAMPLE = [
  ...header(2),
  ...eventBytes('evt_1', 'push', 1_700_000_000, '{"content-type":"application/json"}', ascii('{"ref":"main"}')),
  ...eventBytes('evt_2', 'artifact.uploaded', 1_700_000_001, '', [0x00, 0xff, 0x10]),
];

describe('binary: the documented bytes', () => {
  test('encodeBatch writes exactly the bytes the format describes', () => {
    const { body, contentType } = encodeBatch([
      { id: 'evt_1', type: 'push', timestamp: 1_700_000_000, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"ref":"main"}') },
      { id: 'evt_2', type: 'artifact.uploaded', timestamp: 1_700_000_001, body: Buffer.from([0x00, 0xff, 0x10]) },
    ]);
    assert.equal(contentType, BATCH_BINARY_CONTENT_TYPE);
    assert.equal(body.toString('hex'), Buffer.from(DOC_EXAMPLE).toString('hex'));
  });

  test('docs/batch-envelope.md shows these very bytes', () => {
    const doc = readFileSync(new URL('../../../docs/batch-envelope.md', import.meta.url), 'utf8');
    const shown = doc.split('in binary form (two events; hex, with spaces added):')[1]?.split('```')[1]?.replace(/\s+/g, '');
    assert.equal(shown, Buffer.from(DOC_EXAMPLE).toString('hex'));
  });

  test('decodeBatch reads the hand-written bytes', () => {
    assert.deepEqual(decode(DOC_EXAMPLE), [
      { id: 'evt_1', type: 'push', timestamp: 1_700_000_000, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"ref":"main"}') },
      { id: 'evt_2', type: 'artifact.uploaded', timestamp: 1_700_000_001, body: Buffer.from([0x00, 0xff, 0x10]) },
    ]);
  });

  test('a timestamp above 2^32 keeps its high word', () => {
    const t = 2 ** 40 + 7;
    assert.equal(decode([...header(1), ...eventBytes('e', 't', t, '', [])])[0]?.timestamp, t);
  });

  test('bodies are views into the request bytes, not copies', () => {
    const bytes = Buffer.from(DOC_EXAMPLE);
    const [, second] = decode(bytes);
    assert.equal(second?.body.buffer, bytes.buffer);
  });
});

describe('binary: malformed input is 400 ERR_WEBHOOK_BATCH_INVALID', () => {
  const one = (id: string, type = 'push', timestamp = 1, headers = '', body: number[] = [1]): number[] => eventBytes(id, type, timestamp, headers, body);
  const cases: Array<[string, number[]]> = [
    ['empty', []],
    ['wrong magic', [...ascii('DHKC'), 1, 0, 0, 0, ...u32(1), ...one('e')]],
    ['another version', [...ascii('DHKB'), 2, 0, 0, 0, ...u32(1), ...one('e')]],
    ['a reserved byte set', [...ascii('DHKB'), 1, 0, 1, 0, ...u32(1), ...one('e')]],
    ['no events', header(0)],
    ['a count the body cannot hold', [...header(400), ...one('e')]],
    ['fewer events than counted', [...header(2), ...one('e'), ...Array(20).fill(0)]],
    ['bytes after the last event', [...header(1), ...one('e'), 0]],
    ['an empty id', [...header(1), ...one('')]],
    ['an id with "."', [...header(1), ...one('a.b')]],
    ['an id that is not UTF-8', [...header(1), ...u16(1), 0xff, ...u16(1), ...ascii('t'), ...u64(1), ...u32(0), ...u32(0)]],
    ['an empty type', [...header(1), ...one('e', '')]],
    ['a timestamp past 2^53', [...header(1), ...u16(1), ...ascii('e'), ...u16(1), ...ascii('t'), ...Array(8).fill(0xff), ...u32(0), ...u32(1), 1]],
    ['a timestamp of exactly 2^53', [...header(1), ...u16(1), ...ascii('e'), ...u16(1), ...ascii('t'), ...u32(2 ** 21), ...u32(0), ...u32(0), ...u32(1), 1]],
    ['headers that are not JSON', [...header(1), ...one('e', 't', 1, '{')]],
    ['headers as an array', [...header(1), ...one('e', 't', 1, '["a"]')]],
    ['headers as null', [...header(1), ...one('e', 't', 1, 'null')]],
    ['a numeric header value', [...header(1), ...one('e', 't', 1, '{"a":1}')]],
    ['a body longer than the batch', [...header(1), ...u16(1), ...ascii('e'), ...u16(1), ...ascii('t'), ...u64(1), ...u32(0), ...u32(10), 1, 2]],
    ['a repeated event id', [...header(2), ...one('e'), ...one('e')]],
    // Headers are parsed once per distinct run of bytes: a bad run after a good one of the same length is still checked.
    ['bad headers after good ones of the same length', [...header(2), ...one('e', 't', 1, '{"a":"b"}'), ...one('f', 't', 1, '{"a":100}')]],
  ];
  for (const [name, bytes] of cases) {
    test(name, () => rejectsWith(() => decode(bytes), 'ERR_WEBHOOK_BATCH_INVALID', 400));
  }

  test('every truncation of a valid batch is refused', () => {
    for (let end = 0; end < DOC_EXAMPLE.length; end++) {
      rejectsWith(() => decode(DOC_EXAMPLE.slice(0, end)), 'ERR_WEBHOOK_BATCH_INVALID', 400);
    }
  });

  test('the event count is checked against maxEvents before any event is read', () => {
    // Three events counted, garbage after the header: the limit answers first (413, not 400).
    rejectsWith(() => decode([...header(3), ...Array(100).fill(0xff)], 2), 'ERR_WEBHOOK_BATCH_TOO_LARGE', 413);
  });

  test('ids keep a leading U+FEFF; lone surrogates are refused in both forms (UTF-8 cannot carry them)', () => {
    const { body, contentType } = encodeBatch([{ id: '\uFEFFmsg_1', type: 't', timestamp: 1, body: Buffer.alloc(0) }, { id: 'msg_1', type: 't', timestamp: 1, body: Buffer.alloc(0) }]);
    assert.deepEqual(decodeBatch(body, contentType).map((e) => e.id), ['\uFEFFmsg_1', 'msg_1']);
    for (const format of ['binary', 'json'] as const) {
      rejectsWith(() => encodeBatch([{ id: 'msg_\uD800', type: 't', timestamp: 1, body: Buffer.alloc(0) }], { format }), 'ERR_WEBHOOK_BATCH_INVALID', 400);
      rejectsWith(() => encodeBatch([{ id: 'msg_1', type: '\uDC00', timestamp: 1, body: Buffer.alloc(0) }], { format }), 'ERR_WEBHOOK_BATCH_INVALID', 400);
    }
    // A surrogate pair is well-formed and survives.
    const pair = encodeBatch([{ id: 'msg_\u{1F600}', type: 't', timestamp: 1, body: Buffer.alloc(0) }]);
    assert.equal(decodeBatch(pair.body, pair.contentType)[0]?.id, 'msg_\u{1F600}');
  });

  test('events whose headers differ but have the same length each keep their own', () => {
    const events: BatchEvent[] = ['a', 'b', 'b', 'a'].map((value, i) => ({ id: `e${i}`, type: 't', timestamp: 1, headers: { h: value }, body: Buffer.alloc(0) }));
    const { body, contentType } = encodeBatch(events);
    const decoded = decodeBatch(body, contentType);
    assert.deepEqual(decoded.map((e) => e.headers), [{ h: 'a' }, { h: 'b' }, { h: 'b' }, { h: 'a' }]);
    // Each event has its own object, even when the bytes were parsed once.
    assert.notEqual(decoded[1]?.headers, decoded[2]?.headers);
  });

  test('an id or type over 65,535 bytes cannot be encoded', () => {
    const long = 'x'.repeat(65_536);
    rejectsWith(() => encodeBatch([{ id: long, type: 't', timestamp: 1, body: Buffer.alloc(0) }]), 'ERR_WEBHOOK_BATCH_INVALID', 400);
    rejectsWith(() => encodeBatch([{ id: 'e', type: long, timestamp: 1, body: Buffer.alloc(0) }]), 'ERR_WEBHOOK_BATCH_INVALID', 400);
  });
});

describe('binary: fuzz', () => {
  const arbEvent = fc.record(
    {
      id: fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes('.')),
      type: fc.string({ minLength: 1, maxLength: 20 }),
      timestamp: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      headers: fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 20 }), { maxKeys: 3 }),
      body: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    },
    { requiredKeys: ['id', 'type', 'timestamp', 'body'] },
  ).map((e): BatchEvent => (e.headers === undefined ? { ...e } : { ...e, headers: { ...e.headers } }));
  const arbBatch = fc.uniqueArray(arbEvent, { minLength: 1, maxLength: 8, selector: (e) => e.id });

  test('any valid batch round trips exactly', () => {
    fc.assert(
      fc.property(arbBatch, (events) => {
        const { body, contentType } = encodeBatch(events);
        assert.deepEqual(decodeBatch(body, contentType), events);
      }),
      FC,
    );
  });

  test('random and mutated bytes give a batch or a coded error, nothing else', () => {
    const valid = encodeBatch([{ id: 'evt_1', type: 'push', timestamp: 5, headers: { a: 'b' }, body: Buffer.from('hello') }]).body;
    const mutated = fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
      const copy = Buffer.from(valid);
      copy[at] = byte;
      return copy;
    });
    const random = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.concat([Buffer.from(valid.subarray(0, 12)), Buffer.from(a)]));
    fc.assert(
      fc.property(fc.oneof(mutated, random), (bytes) => {
        try {
          decodeBatch(bytes, BATCH_BINARY_CONTENT_TYPE);
        } catch (err) {
          assert.ok(err instanceof WebhookError, `uncoded ${String(err)}`);
          assert.ok(err.code === 'ERR_WEBHOOK_BATCH_INVALID' || err.code === 'ERR_WEBHOOK_BATCH_TOO_LARGE', err.code);
        }
      }),
      FC,
    );
  });
});
