/** The batch envelope (docs/batch-envelope.md): round trips byte-exactly, enforces limits, refuses malformed input. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BATCH_BINARY_CONTENT_TYPE,
  BATCH_CONTENT_TYPE,
  type BatchEvent,
  DEFAULT_MAX_BATCH_EVENTS,
  decodeBatch,
  encodeBatch,
  generateHmacSecret,
  signStandard,
  verifyStandard,
} from '../../connector/index.js';
import { rejectsWith } from './helpers.js';

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function event(n: number, body: Buffer = Buffer.from(`{"n":${n}}`)): BatchEvent {
  return { id: `evt_${n}`, type: 'push', timestamp: 1_700_000_000 + n, body };
}


/** Encode a hand-written envelope object as a request body. */
function raw(envelope: unknown): Buffer {
  return Buffer.from(JSON.stringify(envelope));
}

for (const format of ['binary', 'json'] as const) {
  describe(`${format}: round trip`, () => {
    test('ids, types, timestamps, headers and body bytes survive exactly', () => {
      const events: BatchEvent[] = [
        { ...event(1), headers: { 'content-type': 'application/json', 'x-github-event': 'push' } },
        event(2, ALL_BYTES),
        event(3, Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28])), // invalid UTF-8 on purpose
        event(4, Buffer.alloc(0)),
      ];
      const { body, contentType } = encodeBatch(events, { format });
      assert.equal(contentType, format === 'json' ? BATCH_CONTENT_TYPE : BATCH_BINARY_CONTENT_TYPE);
      const decoded = decodeBatch(body, contentType);
      assert.deepEqual(decoded, events);
      assert.ok(decoded[1]?.body.equals(ALL_BYTES));
      assert.equal(decoded[2]?.body.length, 5);
    });

    test('content-type parameters and case are tolerated on decode', () => {
      const { body, contentType } = encodeBatch([event(1)], { format });
      assert.equal(decodeBatch(body, `${contentType.toUpperCase()}; charset=utf-8`).length, 1);
    });

    test('the whole batch is signed with a batch id as webhook-id; each event keeps its own id', () => {
      const secret = generateHmacSecret();
      const { body, contentType } = encodeBatch([event(1), event(2)], { format });
      const signature = signStandard({ id: 'batch_01', timestamp: 1_700_000_100, body, secret });
      verifyStandard({ id: 'batch_01', timestamp: '1700000100', signature, body, secrets: [secret], now: 1_700_000_100 });
      assert.deepEqual(
        decodeBatch(body, contentType).map((e) => e.id),
        ['evt_1', 'evt_2'],
      );
    });
  });

  describe(`${format}: limits`, () => {
    test('the default event limit is 500', () => {
      assert.equal(DEFAULT_MAX_BATCH_EVENTS, 500);
      const many = Array.from({ length: 500 }, (_, i) => event(i));
      const { body, contentType } = encodeBatch(many, { format });
      assert.equal(decodeBatch(body, contentType).length, 500);
      rejectsWith(() => encodeBatch([...many, event(500)], { format }), 'ERR_WEBHOOK_BATCH_TOO_LARGE', 413);
    });

    test('maxEvents is enforced on both sides', () => {
      const { body, contentType } = encodeBatch([event(1), event(2), event(3)], { format });
      rejectsWith(() => decodeBatch(body, contentType, { maxEvents: 2 }), 'ERR_WEBHOOK_BATCH_TOO_LARGE', 413);
      rejectsWith(() => encodeBatch([event(1), event(2), event(3)], { maxEvents: 2, format }), 'ERR_WEBHOOK_BATCH_TOO_LARGE', 413);
    });

    test('maxBytes is enforced on both sides, before parsing on decode', () => {
      const { body, contentType } = encodeBatch([event(1, Buffer.alloc(1000))], { format });
      rejectsWith(() => decodeBatch(body, contentType, { maxBytes: 100 }), 'ERR_WEBHOOK_BATCH_TOO_LARGE', 413);
      rejectsWith(() => decodeBatch(Buffer.alloc(200, 0x7b), contentType, { maxBytes: 100 }), 'ERR_WEBHOOK_BATCH_TOO_LARGE', 413);
      rejectsWith(() => encodeBatch([event(1, Buffer.alloc(1000))], { maxBytes: 100, format }), 'ERR_WEBHOOK_BATCH_TOO_LARGE', 413);
    });

    test('bad limits are the caller’s mistake', () => {
      const { body } = encodeBatch([event(1)]);
      assert.throws(() => decodeBatch(body, BATCH_CONTENT_TYPE, { maxEvents: 0 }), { code: 'ERR_OPTION_INVALID' });
      assert.throws(() => decodeBatch(body, BATCH_CONTENT_TYPE, { max: 1 } as never), { code: 'ERR_OPTION_UNKNOWN' });
    });
  });
}

describe('json wire form', () => {
  test('the wire form is versioned JSON with base64 bodies', () => {
    const { body } = encodeBatch([event(1, Buffer.from([0, 1, 2]))], { format: 'json' });
    assert.deepEqual(JSON.parse(body.toString('utf8')), {
      version: 1,
      events: [{ id: 'evt_1', type: 'push', timestamp: 1_700_000_001, body: 'AAEC' }],
    });
  });
});

describe('json: malformed input is 400 ERR_WEBHOOK_BATCH_INVALID', () => {
  const good = { id: 'evt_1', type: 'push', timestamp: 1, body: 'AAEC' };
  const cases: Array<[string, Buffer, string?]> = [
    ['wrong content type', raw({ version: 1, events: [good] }), 'application/json'],
    ['not JSON', Buffer.from('{"version":1,'), undefined],
    ['not UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), undefined],
    ['a JSON array', raw([good]), undefined],
    ['a wrong version', raw({ version: 2, events: [good] }), undefined],
    ['a missing version', raw({ events: [good] }), undefined],
    ['an unknown top-level field', raw({ version: 1, events: [good], extra: true }), undefined],
    ['no events', raw({ version: 1, events: [] }), undefined],
    ['events not an array', raw({ version: 1, events: {} }), undefined],
    ['an event that is not an object', raw({ version: 1, events: ['x'] }), undefined],
    ['a missing id', raw({ version: 1, events: [{ ...good, id: undefined }] }), undefined],
    ['an id with "."', raw({ version: 1, events: [{ ...good, id: 'a.b' }] }), undefined],
    ['an empty type', raw({ version: 1, events: [{ ...good, type: '' }] }), undefined],
    ['a fractional timestamp', raw({ version: 1, events: [{ ...good, timestamp: 1.5 }] }), undefined],
    ['a string timestamp', raw({ version: 1, events: [{ ...good, timestamp: '1' }] }), undefined],
    ['a negative timestamp', raw({ version: 1, events: [{ ...good, timestamp: -1 }] }), undefined],
    ['a body that is not base64', raw({ version: 1, events: [{ ...good, body: 'not base64!' }] }), undefined],
    ['a missing body', raw({ version: 1, events: [{ ...good, body: undefined }] }), undefined],
    ['a numeric header value', raw({ version: 1, events: [{ ...good, headers: { a: 1 } }] }), undefined],
    ['headers as an array', raw({ version: 1, events: [{ ...good, headers: ['a'] }] }), undefined],
    ['an unknown event field', raw({ version: 1, events: [{ ...good, data: {} }] }), undefined],
    ['a repeated event id', raw({ version: 1, events: [good, good] }), undefined],
  ];
  for (const [name, body, contentType] of cases) {
    test(name, () => {
      rejectsWith(() => decodeBatch(body, contentType ?? BATCH_CONTENT_TYPE), 'ERR_WEBHOOK_BATCH_INVALID', 400);
    });
  }

  for (const format of ['binary', 'json'] as const) {
    test(`encodeBatch (${format}) refuses what decodeBatch would refuse`, () => {
      rejectsWith(() => encodeBatch([], { format }), 'ERR_WEBHOOK_BATCH_INVALID', 400);
      rejectsWith(() => encodeBatch([event(1), event(1)], { format }), 'ERR_WEBHOOK_BATCH_INVALID', 400);
      rejectsWith(() => encodeBatch([{ ...event(1), id: 'a.b' }], { format }), 'ERR_WEBHOOK_BATCH_INVALID', 400);
      rejectsWith(() => encodeBatch([{ ...event(1), body: 'text' as unknown as Buffer }], { format }), 'ERR_WEBHOOK_BATCH_INVALID', 400);
    });
  }

  test('an unknown format is the caller’s mistake', () => {
    assert.throws(() => encodeBatch([event(1)], { format: 'xml' as never }), { code: 'ERR_OPTION_INVALID' });
  });
});
