/** The decoder's `keepFrames` mode (used by the embedded router to forward Data frames) decodes exactly like the default. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodedFrame, encodeMessage, FrameDecoder } from '../../connector/ziti/codec.js';
import { ContentType, HeaderId } from '../../connector/ziti/constants.js';
import { createMessage, getHeaderU32, setHeaderU32, type Message } from '../../connector/ziti/message.js';

/** Split `bytes` at the given cut points and feed the pieces to `decoder`. */
function feed(decoder: FrameDecoder, bytes: Buffer, cuts: number[]): Message[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Message[] = [];
  let at = 0;
  for (const p of [...points, bytes.length]) {
    out.push(...decoder.push(bytes.subarray(at, p)));
    at = p;
  }
  return out;
}

const frameArb = fc.record({
  type: fc.constantFrom(ContentType.Data, ContentType.Connect, ContentType.StateClosed),
  seq: fc.integer({ min: 1, max: 0x7fffffff }),
  connId: fc.integer({ min: 0, max: 0xffffffff }),
  flags: fc.option(fc.integer({ min: 0, max: 31 }), { nil: undefined }),
  body: fc.uint8Array({ maxLength: 3000 }),
});

test('keepFrames yields the same messages as the default decoder under any split, and keeps each exact frame', () => {
  fc.assert(
    fc.property(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 25 }), (frames, cuts) => {
      const encoded = frames.map((f) => {
        const m = createMessage(f.type, Buffer.from(f.body));
        m.sequence = f.seq;
        setHeaderU32(m, HeaderId.ConnId, f.connId);
        if (f.flags !== undefined) setHeaderU32(m, HeaderId.Flags, f.flags);
        return encodeMessage(m);
      });
      const stream = Buffer.concat(encoded);
      const plain = feed(new FrameDecoder(), stream, cuts);
      const kept = feed(new FrameDecoder(undefined, { keepFrames: true }), stream, cuts);
      assert.equal(kept.length, frames.length);
      for (const [i, m] of kept.entries()) {
        const p = plain[i]!;
        assert.equal(m.contentType, p.contentType);
        assert.equal(m.sequence, p.sequence);
        assert.deepEqual([...m.headers.entries()], [...p.headers.entries()]);
        assert.deepEqual(m.body, p.body);
        assert.deepEqual(decodedFrame(m), encoded[i], 'the kept frame is the frame on the wire');
        assert.equal(decodedFrame(p), undefined, 'the default decoder keeps no frames');
      }
    }),
    { seed: 20261122, numRuns: 300 },
  );
});

test('a header value patched in place changes the kept frame (how the router rewrites ConnId)', () => {
  const m = createMessage(ContentType.Data, 'payload');
  m.sequence = 7;
  setHeaderU32(m, HeaderId.ConnId, 5);
  const [decoded] = new FrameDecoder(undefined, { keepFrames: true }).push(encodeMessage(m));
  decoded!.headers.get(HeaderId.ConnId)!.writeUInt32LE(0x80000001);
  const [again] = new FrameDecoder().push(decodedFrame(decoded!)!);
  assert.equal(getHeaderU32(again!, HeaderId.ConnId), 0x80000001);
  assert.equal(again!.body.toString(), 'payload');
});

test('an unknown decoder option is refused with a coded error', () => {
  assert.throws(() => new FrameDecoder(undefined, { keep: true } as never), { code: 'ERR_OPTION_UNKNOWN' });
});
