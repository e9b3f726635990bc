/** Bounded fuzzing of the channel decoder: only coded errors, same outcome under any split, valid frames round-trip. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeMessage, FrameDecoder, ZitiCodecError } from '../../connector/ziti/codec.js';
import type { Message } from '../../connector/ziti/message.js';

/** Fixed seed: a failure is reproducible; fast-check also prints the seed and counterexample path. */
const SEED = 0x0d4c_0dec;
const RUNS = 2000;
const OPTS = { seed: SEED, numRuns: RUNS } as const;
/** Wall-clock guard: a decoder that loops forever fails this instead of hanging the suite. */
const TIMEOUT_MS = 60_000;

type Outcome = { messages: unknown[]; code?: string };

function plain(m: Message) {
  return [m.contentType, m.sequence, [...m.headers].map(([k, v]) => [k, v.toString('hex')]), m.body.toString('hex')];
}

/**
 * Pushes `chunks` and records what comes out. Any throw that is not a coded ZitiCodecError fails the
 * test; after a coded error, a further push must throw the same code (poisoned).
 */
function run(chunks: Buffer[]): Outcome {
  const decoder = new FrameDecoder({ maxBodyBytes: 4096, maxHeadersBytes: 1024, maxHeaderCount: 16 });
  const messages: unknown[] = [];
  for (const chunk of chunks) {
    try {
      messages.push(...decoder.push(chunk).map(plain));
    } catch (err) {
      assert.ok(err instanceof ZitiCodecError, `seed ${SEED}: uncoded throw ${String(err)}`);
      assert.match(err.code, /^ERR_ZITI_CODEC_/, `seed ${SEED}`);
      assert.throws(() => decoder.push(Buffer.from([0x03])), { code: err.code });
      return { messages, code: err.code };
    }
  }
  return { messages };
}

function split(bytes: Uint8Array, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let start = 0, i = 0; start < bytes.length; i++) {
    const size = sizes.length === 0 ? bytes.length : sizes[i % sizes.length]!;
    out.push(Buffer.from(bytes.subarray(start, start + size)));
    start += size;
  }
  return out;
}

/** Same result whole and split: errors by code; without an error, the same messages. */
function checkSplitInvariant(bytes: Uint8Array, sizes: number[]): void {
  const whole = run([Buffer.from(bytes)]);
  const parts = run(split(bytes, sizes));
  assert.equal(parts.code, whole.code, `seed ${SEED}`);
  if (whole.code === undefined) assert.deepEqual(parts.messages, whole.messages, `seed ${SEED}`);
}

const sizes = fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 8 });

const arbMessage = fc.record({
  contentType: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  sequence: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  headers: fc
    .uniqueArray(fc.tuple(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.uint8Array({ maxLength: 40 })), {
      maxLength: 10,
      selector: ([id]) => id,
    })
    .map((entries) => new Map(entries.map(([id, v]) => [id, Buffer.from(v)]))),
  body: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
});

/** A plausible frame: real magic and small lengths, so fuzzing reaches the header parser. */
const arbNearFrame = fc
  .record({ h: fc.integer({ min: 0, max: 80 }), b: fc.integer({ min: 0, max: 40 }), slack: fc.integer({ min: -8, max: 8 }) })
  .chain(({ h, b, slack }) =>
    fc.uint8Array({ minLength: Math.max(0, h + b + slack), maxLength: Math.max(0, h + b + slack) }).map((rest) => {
      const head = Buffer.alloc(20);
      head.set([3, 6, 9, 12]);
      head.writeUInt32LE(h, 12);
      head.writeUInt32LE(b, 16);
      return Buffer.concat([head, rest]);
    }),
  );

test(`${RUNS} random byte strings: only coded errors, same outcome under any split`, { timeout: TIMEOUT_MS }, () => {
  const arbBytes = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([Buffer.from([3, 6, 9, 12]), b])),
    fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.concat([Buffer.from([3, 6, 9, 10]), b])),
    arbNearFrame,
  );
  fc.assert(
    fc.property(arbBytes, sizes, (bytes, s) => checkSplitInvariant(bytes, s)),
    OPTS,
  );
});

test(`${RUNS} mutated valid frames: only coded errors, same outcome under any split`, { timeout: TIMEOUT_MS }, () => {
  const mutation = fc.tuple(fc.constantFrom('flip', 'insert', 'delete', 'truncate'), fc.nat(), fc.integer({ min: 0, max: 255 }));
  fc.assert(
    fc.property(fc.array(arbMessage, { minLength: 1, maxLength: 3 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), sizes, (msgs, muts, s) => {
      const bytes = [...Buffer.concat(msgs.map((m) => encodeMessage(m)))];
      for (const [kind, at, value] of muts) {
        const i = at % (bytes.length + 1);
        if (kind === 'flip' && i < bytes.length) bytes[i] = value;
        else if (kind === 'insert') bytes.splice(i, 0, value);
        else if (kind === 'delete') bytes.splice(i, 1);
        else if (kind === 'truncate') bytes.length = i;
      }
      checkSplitInvariant(Uint8Array.from(bytes), s);
    }),
    OPTS,
  );
});

test(`${RUNS} valid message sequences round-trip under any split`, { timeout: TIMEOUT_MS }, () => {
  fc.assert(
    fc.property(fc.array(arbMessage, { minLength: 1, maxLength: 5 }), sizes, (msgs, s) => {
      const stream = Buffer.concat(msgs.map((m) => encodeMessage(m)));
      const out = run(split(stream, s));
      assert.equal(out.code, undefined, `seed ${SEED}`);
      assert.deepEqual(out.messages, msgs.map(plain), `seed ${SEED}`);
    }),
    OPTS,
  );
});
