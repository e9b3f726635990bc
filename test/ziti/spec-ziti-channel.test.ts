/** Channel V2 framing, typed headers and reply semantics against PROTOCOL.md §3.2–§3.5 and channel's Go tests. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodeStringMap,
  decodeStringSlice,
  encodeMessage,
  encodeStringMap,
  encodeStringSlice,
  FrameDecoder,
  ZitiCodecError,
} from '../../connector/ziti/codec.js';
import {
  ContentType,
  EdgeFlag,
  HeaderId,
  HELLO_SEQUENCE,
  MAX_FRAME_BODY_BYTES,
  MAX_FRAME_HEADERS_BYTES,
  MAX_HEADER_COUNT,
} from '../../connector/ziti/constants.js';
import {
  createMessage,
  getHeaderBool,
  getHeaderBytes,
  getHeaderI32,
  getHeaderString,
  getHeaderU16,
  getHeaderU32,
  getHeaderU64,
  type Message,
  replyFor,
  setHeaderBool,
  setHeaderBytes,
  setHeaderI32,
  setHeaderString,
  setHeaderU16,
  setHeaderU32,
  setHeaderU64,
  setReplyFor,
} from '../../connector/ziti/message.js';
import { getStructuredError, parseStructuredError } from '../../connector/ziti/structured-error.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** The three example frames of PROTOCOL.md §3.2, with the fields the text says they carry. */
const GOLDEN = [
  {
    name: 'hello (§3.2: seq −1, header 1002="tok", body "abc")',
    bytes: hex('0306090c 00000000 ffffffff 0b000000 03000000 ea030000 03000000 746f6b 616263'),
    message: () => createMessage(ContentType.Hello, 'abc', [[HeaderId.SessionToken, Buffer.from('tok')]]),
    sequence: HELLO_SEQUENCE,
  },
  {
    name: 'hello reply (§3.2: Result, seq −1, ReplyFor=−1, ResultSuccess=1)',
    bytes: hex('0306090c 02000000 ffffffff 15000000 00000000 01000000 04000000 ffffffff 02000000 01000000 01'),
    message: () => {
      const m = createMessage(ContentType.Result);
      setHeaderI32(m, HeaderId.ReplyFor, -1);
      setHeaderBool(m, HeaderId.ResultSuccess, true);
      return m;
    },
    sequence: HELLO_SEQUENCE,
  },
  {
    name: 'data (§3.2: seq 7, ConnId=5, body "hi")',
    bytes: hex('0306090c 72ed0000 07000000 0c000000 02000000 e8030000 04000000 05000000 6869'),
    message: () => {
      const m = createMessage(ContentType.Data, 'hi');
      setHeaderU32(m, HeaderId.ConnId, 5);
      return m;
    },
    sequence: 7,
  },
];

/** A comparable view of a message: header order kept, buffers as hex. */
function plain(m: Message) {
  return {
    contentType: m.contentType,
    sequence: m.sequence,
    headers: [...m.headers].map(([id, v]) => [id, v.toString('hex')]),
    body: m.body.toString('hex'),
  };
}

function decodeChunks(chunks: Buffer[], decoder = new FrameDecoder()) {
  return chunks.flatMap((c) => decoder.push(c)).map(plain);
}

const bytewise = (b: Buffer): Buffer[] => [...b].map((x) => Buffer.from([x]));

/** Cuts `b` at the given offsets; copies each piece so no chunk aliases another. */
function splitAt(b: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let start = 0;
  for (const p of [...points, b.length]) {
    out.push(Buffer.from(b.subarray(start, p)));
    start = p;
  }
  return out;
}

const codec = (code: string) => (err: unknown) => err instanceof ZitiCodecError && err.code === code;

function frame(contentType: number, seq: number, headersLen: number, bodyLen: number, rest = ''): Buffer {
  const h = Buffer.alloc(20);
  hex('0306090c').copy(h);
  h.writeInt32LE(contentType, 4);
  h.writeInt32LE(seq, 8);
  h.writeUInt32LE(headersLen >>> 0, 12);
  h.writeUInt32LE(bodyLen >>> 0, 16);
  return Buffer.concat([h, hex(rest)]);
}

describe('golden frames (PROTOCOL.md §3.2)', () => {
  for (const g of GOLDEN) {
    test(`${g.name}: encode reproduces the exact bytes`, () => {
      const m = g.message();
      m.sequence = g.sequence;
      assert.equal(encodeMessage(m).toString('hex'), g.bytes.toString('hex'));
    });

    test(`${g.name}: decodes whole, byte by byte and under random splits to the same message`, () => {
      const expected = g.message();
      expected.sequence = g.sequence;
      const whole = decodeChunks([g.bytes]);
      assert.deepEqual(whole, [plain(expected)]);
      assert.deepEqual(decodeChunks(bytewise(g.bytes)), whole);
      fc.assert(
        fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
          assert.deepEqual(decodeChunks(splitAt(g.bytes, cuts)), whole);
        }),
        { seed: 20260821, numRuns: 300 },
      );
    });
  }

  test('all three frames in one stream decode in order under any split', () => {
    const stream = Buffer.concat(GOLDEN.map((g) => g.bytes));
    const whole = decodeChunks([stream]);
    assert.deepEqual(
      whole.map((m) => m.contentType),
      [ContentType.Hello, ContentType.Result, ContentType.Data],
    );
    assert.deepEqual(decodeChunks(bytewise(stream)), whole);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 20 }), (cuts) => {
        assert.deepEqual(decodeChunks(splitAt(stream, cuts)), whole);
      }),
      { seed: 20260822, numRuns: 500 },
    );
  });

  test('the decoded frames read back as documented', () => {
    const [hello, reply, data] = new FrameDecoder().push(Buffer.concat(GOLDEN.map((g) => g.bytes)));
    assert.equal(getHeaderString(hello!, HeaderId.SessionToken), 'tok');
    assert.equal(hello!.body.toString(), 'abc');
    assert.equal(reply!.sequence, -1);
    assert.equal(getHeaderI32(reply!, HeaderId.ReplyFor), -1);
    assert.equal(replyFor(reply!), undefined, 'ReplyFor −1 is "not a reply" (§3.5)');
    assert.equal(getHeaderBool(reply!, HeaderId.ResultSuccess), true);
    assert.equal(data!.contentType, 0xed72);
    assert.equal(getHeaderU32(data!, HeaderId.ConnId), 5);
    assert.equal(data!.body.toString(), 'hi');
  });
});

describe('frame format details (§3.2)', () => {
  test('an empty frame decodes; a partial frame stays buffered', () => {
    const decoder = new FrameDecoder();
    const empty = frame(ContentType.Latency, 3, 0, 0);
    assert.deepEqual(decoder.push(empty.subarray(0, 19)), []);
    assert.equal(decoder.bufferedBytes, 19);
    const [m] = decoder.push(empty.subarray(19));
    assert.deepEqual(plain(m!), { contentType: 3, sequence: 3, headers: [], body: '' });
    assert.equal(decoder.bufferedBytes, 0);
  });

  test('a duplicate header key: last value wins', () => {
    const bytes = frame(ContentType.Data, 1, 18, 0, 'e8030000 01000000 aa e8030000 01000000 bb');
    const [m] = new FrameDecoder().push(bytes);
    assert.equal(getHeaderBytes(m!, HeaderId.ConnId)!.toString('hex'), 'bb');
  });

  test('header order on the wire is Map insertion order', () => {
    const m = createMessage(ContentType.Data, undefined, [
      [HeaderId.Flags, Buffer.from([1, 0, 0, 0])],
      [HeaderId.ConnId, Buffer.from([2, 0, 0, 0])],
    ]);
    const [back] = new FrameDecoder().push(encodeMessage(m));
    assert.deepEqual([...back!.headers.keys()], [HeaderId.Flags, HeaderId.ConnId]);
  });

  test('edge numbers match the hex given in §4.1 and the flag bits of §4.7', () => {
    assert.deepEqual(
      [ContentType.Connect, ContentType.Data, ContentType.Bind, ContentType.UpdateToken, ContentType.ConnectV2],
      [0xed6f, 0xed72, 0xed76, 0xed83, 0xed86],
    );
    assert.equal(EdgeFlag.FIN | EdgeFlag.TRACE_UUID | EdgeFlag.MULTIPART | EdgeFlag.STREAM | EdgeFlag.MULTIPART_MSG, 31);
  });
});

describe('typed header values (little-endian, §3.2 conventions)', () => {
  test('each setter writes the documented bytes and the getter reads them back', () => {
    const m = createMessage(ContentType.Bind);
    setHeaderU16(m, HeaderId.Cost, 0x0102);
    setHeaderU32(m, HeaderId.ConnId, 0xfffffffe);
    setHeaderI32(m, HeaderId.ReplyFor, -2);
    setHeaderU64(m, HeaderId.Timestamp, 0x0102030405060708n);
    setHeaderBool(m, HeaderId.SupportsInspect, true);
    setHeaderString(m, HeaderId.ListenerId, 'é');
    setHeaderBytes(m, HeaderId.PublicKey, Buffer.alloc(32, 7));
    const [d] = new FrameDecoder().push(encodeMessage(m));
    const raw = (id: number) => getHeaderBytes(d!, id)!.toString('hex');
    assert.equal(raw(HeaderId.Cost), '0201');
    assert.equal(raw(HeaderId.ConnId), 'feffffff');
    assert.equal(raw(HeaderId.ReplyFor), 'feffffff');
    assert.equal(raw(HeaderId.Timestamp), '0807060504030201');
    assert.equal(raw(HeaderId.SupportsInspect), '01');
    assert.equal(raw(HeaderId.ListenerId), 'c3a9');
    assert.equal(getHeaderU16(d!, HeaderId.Cost), 0x0102);
    assert.equal(getHeaderU32(d!, HeaderId.ConnId), 0xfffffffe);
    assert.equal(getHeaderI32(d!, HeaderId.ReplyFor), -2);
    assert.equal(getHeaderU64(d!, HeaderId.Timestamp), 0x0102030405060708n);
    assert.equal(getHeaderBool(d!, HeaderId.SupportsInspect), true);
    assert.equal(getHeaderString(d!, HeaderId.ListenerId), 'é');
    assert.equal(getHeaderBytes(d!, HeaderId.PublicKey)!.length, 32);
  });

  test('absent headers read as undefined; a bool is true for any nonzero byte', () => {
    const m = createMessage(ContentType.Data);
    for (const get of [getHeaderU16, getHeaderU32, getHeaderI32, getHeaderU64, getHeaderBool, getHeaderString, getHeaderBytes]) {
      assert.equal(get(m, HeaderId.Flags), undefined);
    }
    m.headers.set(HeaderId.HealthStatus, Buffer.from([2]));
    assert.equal(getHeaderBool(m, HeaderId.HealthStatus), true);
    setHeaderBool(m, HeaderId.HealthStatus, false);
    assert.equal(getHeaderBool(m, HeaderId.HealthStatus), false);
  });

  test('a present header of the wrong size is ERR_ZITI_CODEC_HEADER_INVALID', () => {
    const m = createMessage(ContentType.Data, undefined, [[HeaderId.ConnId, Buffer.from([1, 2, 3])]]);
    assert.throws(() => getHeaderU32(m, HeaderId.ConnId), codec('ERR_ZITI_CODEC_HEADER_INVALID'));
    assert.throws(() => getHeaderI32(m, HeaderId.ConnId), codec('ERR_ZITI_CODEC_HEADER_INVALID'));
    assert.throws(() => getHeaderU16(m, HeaderId.ConnId), codec('ERR_ZITI_CODEC_HEADER_INVALID'));
    assert.throws(() => getHeaderU64(m, HeaderId.ConnId), codec('ERR_ZITI_CODEC_HEADER_INVALID'));
    assert.throws(() => getHeaderBool(m, HeaderId.ConnId), codec('ERR_ZITI_CODEC_HEADER_INVALID'));
    m.headers.set(HeaderId.ReplyFor, Buffer.alloc(0));
    assert.throws(() => replyFor(m), codec('ERR_ZITI_CODEC_HEADER_INVALID'));
  });

  test('setters and the encoder refuse values outside their wire type', () => {
    const m = createMessage(ContentType.Data);
    const bad = codec('ERR_ZITI_CODEC_VALUE_INVALID');
    assert.throws(() => setHeaderU32(m, HeaderId.ConnId, -1), bad);
    assert.throws(() => setHeaderU32(m, HeaderId.ConnId, 2 ** 32), bad);
    assert.throws(() => setHeaderU32(m, HeaderId.ConnId, 1.5), bad);
    assert.throws(() => setHeaderI32(m, HeaderId.ReplyFor, 2 ** 31), bad);
    assert.throws(() => setHeaderU16(m, HeaderId.Cost, 65536), bad);
    assert.throws(() => setHeaderU64(m, HeaderId.Timestamp, -1n), bad);
    assert.throws(() => setHeaderU64(m, HeaderId.Timestamp, 2n ** 64n), bad);
    assert.throws(() => setHeaderString(m, 2 ** 31, 'x'), bad);
    assert.equal(m.headers.size, 0, 'a refused value is not stored');
    assert.throws(() => encodeMessage({ ...m, sequence: 2 ** 31 }), bad);
    assert.throws(() => encodeMessage({ ...m, contentType: Number.NaN }), bad);
  });
});

describe('sequence and reply semantics (§3.3, §3.5, §3.6)', () => {
  test('setReplyFor sets ReplyFor to the request sequence and reflects ids 128–255 only', () => {
    const request = createMessage(ContentType.Latency);
    request.sequence = 42;
    for (const id of [127, 128, 200, 255, 256, HeaderId.ConnId]) request.headers.set(id, Buffer.from([id & 0xff]));
    setHeaderU64(request, HeaderId.Reflected, 1_700_000_000_000_000_000n);
    const reply = createMessage(ContentType.Result);
    setReplyFor(reply, request);
    const [back] = new FrameDecoder().push(encodeMessage(reply));
    assert.equal(replyFor(back!), 42);
    assert.equal(getHeaderBytes(back!, HeaderId.ReplyFor)!.toString('hex'), '2a000000');
    assert.deepEqual([...back!.headers.keys()].sort((a, b) => a - b), [1, 128, 200, 255]);
    assert.equal(getHeaderU64(back!, HeaderId.Reflected), 1_700_000_000_000_000_000n, 'latency probe time echoed');
  });

  test('a reply to the hello (sequence −1) is not a reply by ReplyFor, and plain messages are not replies', () => {
    const hello = createMessage(ContentType.Hello);
    hello.sequence = HELLO_SEQUENCE;
    const reply = createMessage(ContentType.Result);
    setReplyFor(reply, hello);
    assert.equal(replyFor(reply), undefined);
    assert.equal(replyFor(createMessage(ContentType.Data)), undefined);
  });
});

describe('limits and peer errors (each with its own code)', () => {
  const cases: Array<[string, string, Buffer, ConstructorParameters<typeof FrameDecoder>[0]?]> = [
    ['garbage magic', 'ERR_ZITI_CODEC_BAD_MAGIC', Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')],
    ['V3 magic (test-only, §3.2)', 'ERR_ZITI_CODEC_BAD_MAGIC', hex('0306090d 00000000 01000000 00000000 00000000')],
    ['header section over 64 KiB', 'ERR_ZITI_CODEC_HEADERS_TOO_LARGE', frame(0, 1, MAX_FRAME_HEADERS_BYTES + 1, 0)],
    ['negative header section length', 'ERR_ZITI_CODEC_HEADERS_TOO_LARGE', frame(0, 1, -1, 0)],
    ['body over 16 MiB (announced, never sent)', 'ERR_ZITI_CODEC_FRAME_TOO_LARGE', frame(0, 1, 0, MAX_FRAME_BODY_BYTES + 1)],
    ['negative body length', 'ERR_ZITI_CODEC_FRAME_TOO_LARGE', frame(0, 1, 0, -5)],
    ['more than 256 headers', 'ERR_ZITI_CODEC_TOO_MANY_HEADERS', Buffer.concat([frame(0, 1, 8 * 257, 0), Buffer.alloc(8 * 257)])],
    ['header value overruns the section', 'ERR_ZITI_CODEC_HEADER_INVALID', frame(0, 1, 11, 0, 'ea030000 04000000 746f6b')],
    ['negative header value length', 'ERR_ZITI_CODEC_HEADER_INVALID', frame(0, 1, 8, 0, 'ea030000 ffffffff')],
    ['truncated header entry', 'ERR_ZITI_CODEC_HEADER_INVALID', frame(0, 1, 4, 0, 'ea030000')],
    ['custom maxHeadersBytes', 'ERR_ZITI_CODEC_HEADERS_TOO_LARGE', GOLDEN[0]!.bytes, { maxHeadersBytes: 10 }],
    ['custom maxBodyBytes', 'ERR_ZITI_CODEC_FRAME_TOO_LARGE', GOLDEN[2]!.bytes, { maxBodyBytes: 1 }],
    ['custom maxHeaderCount', 'ERR_ZITI_CODEC_TOO_MANY_HEADERS', GOLDEN[1]!.bytes, { maxHeaderCount: 1 }],
  ];
  for (const [name, code, bytes, limits] of cases) {
    test(`${name} → ${code}, whole or byte by byte, then the decoder stays poisoned`, () => {
      assert.throws(() => new FrameDecoder(limits).push(bytes), codec(code));
      const decoder = new FrameDecoder(limits);
      assert.throws(() => {
        for (const b of bytewise(bytes)) decoder.push(b);
      }, codec(code));
      assert.throws(() => decoder.push(GOLDEN[2]!.bytes), codec(code));
      assert.equal(decoder.bufferedBytes, 0, 'a poisoned decoder holds no data');
    });
  }

  test('a default-limit frame at exactly the limits and 256 headers decodes', () => {
    const m = createMessage(ContentType.Data, Buffer.alloc(MAX_FRAME_BODY_BYTES));
    for (let i = 0; i < MAX_HEADER_COUNT; i++) m.headers.set(2000 + i, Buffer.alloc(0));
    assert.equal(new FrameDecoder().push(encodeMessage(m)).length, 1);
  });

  test('the unsupported-version reply 03 06 09 0A (§3.2) is BAD_MAGIC flagged with the offered versions', () => {
    const reply = hex('0306090a 02000000 01000000 02000000');
    const decoder = new FrameDecoder();
    assert.deepEqual(decoder.push(reply.subarray(0, 15)), [], 'waits for the whole reply');
    assert.throws(
      () => decoder.push(reply.subarray(15)),
      (err: unknown) =>
        err instanceof ZitiCodecError &&
        err.code === 'ERR_ZITI_CODEC_BAD_MAGIC' &&
        err.unsupportedVersion &&
        err.peerVersions.join() === '1,2',
    );
    assert.throws(() => new FrameDecoder().push(reply), (err: unknown) => (err as ZitiCodecError).peerVersions.join() === '1,2');
    assert.throws(() => new FrameDecoder().push(hex('0306090a ffffffff')), (err: unknown) => {
      const e = err as ZitiCodecError;
      return e.unsupportedVersion && e.peerVersions.length === 0;
    });
    assert.throws(() => new FrameDecoder().push(Buffer.from('HTTP')), (err: unknown) => !(err as ZitiCodecError).unsupportedVersion);
  });

  test('frames before a bad one in earlier pushes are delivered', () => {
    const decoder = new FrameDecoder();
    assert.equal(decoder.push(GOLDEN[2]!.bytes).length, 1);
    assert.throws(() => decoder.push(hex('00000000')), codec('ERR_ZITI_CODEC_BAD_MAGIC'));
  });

  test('the encoder enforces the same limits', () => {
    const body = createMessage(ContentType.Data, Buffer.alloc(11));
    assert.throws(() => encodeMessage(body, { maxBodyBytes: 10 }), codec('ERR_ZITI_CODEC_FRAME_TOO_LARGE'));
    const many = createMessage(ContentType.Data);
    for (let i = 0; i < 3; i++) many.headers.set(i, Buffer.alloc(4));
    assert.throws(() => encodeMessage(many, { maxHeaderCount: 2 }), codec('ERR_ZITI_CODEC_TOO_MANY_HEADERS'));
    assert.throws(() => encodeMessage(many, { maxHeadersBytes: 35 }), codec('ERR_ZITI_CODEC_HEADERS_TOO_LARGE'));
    assert.equal(encodeMessage(many, { maxHeadersBytes: 36 }).length, 56);
  });

  test('bad limits are option errors naming the option path', () => {
    assert.throws(() => new FrameDecoder({ maxBodyBytes: -1 }), { code: 'ERR_OPTION_INVALID', message: /limits\.maxBodyBytes/ });
    assert.throws(() => new FrameDecoder({ maxBodyBytes: 2 ** 31 }), { code: 'ERR_OPTION_INVALID' });
    assert.throws(() => new FrameDecoder({ maxBody: 1 } as never), { code: 'ERR_OPTION_UNKNOWN', message: /limits\.maxBody/ });
  });
});

describe('string slice and string map values (§3.2; channel message_test.go)', () => {
  // The cases of Test_StrSliceEncodeDecode and Test_StringToStringMapEncodeDecode.
  const slices = [[], [''], ['hello'], ['hello', ''], ['', 'hello'], ['hello', 'how are you!', 'i hope things are ok']];
  for (const s of slices) {
    test(`string slice ${JSON.stringify(s)} round-trips`, () => assert.deepEqual(decodeStringSlice(encodeStringSlice(s)), s));
  }

  test('layouts: uint32 count, then uint32 length + bytes; empty is no bytes', () => {
    assert.equal(encodeStringSlice(['a', 'bc']).toString('hex'), '02000000' + '01000000' + '61' + '02000000' + '6263');
    assert.equal(encodeStringSlice([]).length, 0);
    assert.equal(encodeStringMap({ k: 'v' }).toString('hex'), '01000000' + '01000000' + '6b' + '01000000' + '76');
  });

  const maps: Record<string, string>[] = [{}, { one: '' }, { one: '', two: 'hello' }, { 'one hundred': '', other: 'hello', different: 'good bye there' }];
  for (const m of maps) {
    test(`string map ${JSON.stringify(m)} round-trips`, () => {
      assert.deepEqual(decodeStringMap(encodeStringMap(m)), new Map(Object.entries(m)));
      assert.deepEqual(decodeStringMap(encodeStringMap(new Map(Object.entries(m)))), new Map(Object.entries(m)));
    });
  }

  test('malformed or oversized values are ERR_ZITI_CODEC_HEADER_INVALID; oversized input is refused', () => {
    const invalid = codec('ERR_ZITI_CODEC_HEADER_INVALID');
    assert.throws(() => decodeStringSlice(hex('0200')), invalid);
    assert.throws(() => decodeStringSlice(hex('01000000 05000000 6869')), invalid);
    assert.throws(() => decodeStringSlice(hex('81000000')), invalid, 'over 128 entries');
    assert.throws(() => decodeStringSlice(hex('01000000 01200000')), invalid, 'string over 8192 bytes');
    assert.throws(() => decodeStringMap(hex('01000000 01000000 6b')), invalid, 'key without value');
    assert.throws(() => encodeStringSlice(new Array(129).fill('')), codec('ERR_ZITI_CODEC_VALUE_INVALID'));
    assert.throws(() => encodeStringMap({ k: 'x'.repeat(8193) }), codec('ERR_ZITI_CODEC_VALUE_INVALID'));
    assert.equal(decodeStringMap(hex('01000000 09000000 5f5f70726f746f5f5f 00000000')).get('__proto__'), '');
  });
});

describe('StructuredError header (§4.2, §4.6)', () => {
  test('a 2.0.x error (cause null) and a 2.1 error (failingPostureCheckIds) parse', () => {
    const v20 = '{"message":"invalid api session","code":2,"cause":null,"retryHint":2}';
    assert.deepEqual(parseStructuredError(v20), { message: 'invalid api session', code: 2, retryHint: 2 });
    const m = createMessage(ContentType.StateClosed);
    setHeaderString(m, HeaderId.StructuredError, '{"message":"posture","code":15,"retryHint":3,"failingPostureCheckIds":["a"]}');
    assert.deepEqual(getStructuredError(m), { message: 'posture', code: 15, retryHint: 3 });
    assert.equal(getStructuredError(createMessage(ContentType.StateClosed)), undefined);
  });

  test('missing fields take Go zero values; malformed input yields undefined, never a throw', () => {
    assert.deepEqual(parseStructuredError('{"code":14}'), { message: '', code: 14, retryHint: 0 });
    for (const bad of ['', 'not json', '[]', 'null', '"x"', '{"code":"2"}', '{"code":-1}', '{"message":7}', '{"retryHint":256}']) {
      assert.equal(parseStructuredError(Buffer.from(bad)), undefined, bad);
    }
    assert.equal(parseStructuredError(`{"message":"${'x'.repeat(20000)}"}`), undefined);
  });
});
