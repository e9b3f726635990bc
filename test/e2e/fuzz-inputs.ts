/**
 * Seeded hostile inputs for the process fuzz (fuzz.test.ts): channel frames for the router, HTTP
 * requests for the receiver. Every case is made from (seed, index) alone, so one case can be replayed.
 */
import { encodeBatch } from '../../connector/webhook/batch-envelope.js';
import { signStandard } from '../../connector/webhook/signature-standard.js';
import { encodeMessage } from '../../connector/ziti/codec.js';
import { ContentType, FRAME_MAGIC, HeaderId, HELLO_SEQUENCE } from '../../connector/ziti/constants.js';
import { createMessage, setHeaderString, setHeaderU32 } from '../../connector/ziti/message.js';

/** The seed of this run: `FUZZ_SEED` (decimal or 0x hex) or a fresh one. */
export function fuzzSeed(): number {
  const env = process.env['FUZZ_SEED'];
  if (env !== undefined && env !== '') return Number(env) >>> 0;
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}

/** A small deterministic PRNG (mulberry32) with the helpers the generators need. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }
  /** Flip 1–8 random bytes of a copy of `b`. */
  mutate(b: Buffer): Buffer {
    const out = Buffer.from(b);
    if (out.length === 0) return out;
    for (let i = this.int(1, 8); i > 0; i--) out[this.int(0, out.length - 1)] = this.int(0, 255);
    return out;
  }
  /** Cut `b` into 1–6 chunks at random places (how the bytes reach the socket). */
  split(b: Buffer): Buffer[] {
    const cuts = Array.from({ length: this.int(0, 5) }, () => this.int(0, b.length)).sort((x, y) => x - y);
    const out: Buffer[] = [];
    let start = 0;
    for (const c of [...cuts, b.length]) {
      if (c > start) out.push(b.subarray(start, c));
      start = Math.max(start, c);
    }
    return out;
  }
}

/** The rng of case `index` of a run with `seed`. */
export function caseRng(seed: number, index: number): Rng {
  return new Rng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
}

// --- channel frames ------------------------------------------------------------------------------

/** What one codec case sends after the TLS handshake. */
export interface FrameCase {
  readonly kind: string;
  /** Send a hello with the real API session token first (the case then attacks an authenticated channel). */
  readonly hello: boolean;
  readonly bytes: Buffer;
}

const EDGE_TYPES = Object.values(ContentType);
const HEADER_IDS = [...Object.values(HeaderId), 3, 5, 127, 129, 999, 2000, -1, 0x7fff_ffff];

/** A frame header of 20 bytes with chosen fields (little-endian, as the codec). */
function rawHeader(magic: Buffer, type: number, seq: number, headersLen: number, bodyLen: number): Buffer {
  const h = Buffer.alloc(20);
  magic.copy(h, 0);
  h.writeInt32LE(type | 0, 4);
  h.writeInt32LE(seq | 0, 8);
  h.writeInt32LE(headersLen | 0, 12);
  h.writeInt32LE(bodyLen | 0, 16);
  return h;
}

/** A well-formed frame of a random edge type with random headers and body. */
function randomFrame(r: Rng): Buffer {
  const m = createMessage(r.pick(EDGE_TYPES), r.bytes(r.int(0, 64)));
  m.sequence = r.int(-2, 1000);
  for (let i = r.int(0, 6); i > 0; i--) m.headers.set(r.pick(HEADER_IDS), r.bytes(r.pick([0, 1, 2, 4, 8, 32, r.int(0, 300)])));
  if (r.next() < 0.5) setHeaderU32(m, HeaderId.ConnId, r.int(0, 20));
  return encodeMessage(m);
}

/** A hello as the SDK sends it; `token` may be a real API session token or junk. */
export function helloFrame(token: string): Buffer {
  const hello = createMessage(ContentType.Hello, 'fuzzer');
  hello.sequence = HELLO_SEQUENCE;
  setHeaderString(hello, HeaderId.SessionToken, token);
  return encodeMessage(hello);
}

/** Garbage that follows a valid prefix: one of the pre-hello attacks, or random frames. */
function garbage(r: Rng): Buffer {
  switch (r.int(0, 4)) {
    case 0:
      return r.bytes(r.int(1, 2048));
    case 1:
      return rawHeader(FRAME_MAGIC, r.pick(EDGE_TYPES), 1, r.pick([0x7fff_ffff, -1, 70_000]), r.pick([0x7fff_ffff, -5, 17 * 1024 * 1024]));
    case 2:
      return r.mutate(randomFrame(r));
    case 3:
      return randomFrame(r).subarray(0, r.int(1, 19));
    default:
      return Buffer.concat(Array.from({ length: r.int(1, 8) }, () => randomFrame(r)));
  }
}

/** Case `index` of the codec fuzz. */
export function frameCase(seed: number, index: number): FrameCase {
  const r = caseRng(seed, index);
  const kinds = ['bad-magic', 'huge-lengths', 'truncated-header', 'random-bytes', 'hello-then-garbage', 'junk-hello', 'authenticated-frames'] as const;
  const kind = kinds[index % kinds.length]!;
  switch (kind) {
    case 'bad-magic': {
      let magic = r.bytes(4);
      if (magic.equals(FRAME_MAGIC)) magic = Buffer.from([0, 0, 0, 0]);
      return { kind, hello: false, bytes: Buffer.concat([rawHeader(magic, 0, -1, r.int(0, 100), r.int(0, 100)), r.bytes(r.int(0, 200))]) };
    }
    case 'huge-lengths':
      return { kind, hello: false, bytes: rawHeader(FRAME_MAGIC, 0, -1, r.pick([0x7fff_ffff, -1, 1 << 20, 16385]), r.pick([0x7fff_ffff, -0x8000_0000, 1 << 24, 4193])) };
    case 'truncated-header':
      return { kind, hello: false, bytes: helloFrame('x').subarray(0, r.int(1, 19)) };
    case 'random-bytes':
      return { kind, hello: false, bytes: r.bytes(r.int(1, 8192)) };
    case 'junk-hello': {
      const junk = r.next() < 0.5 ? r.bytes(r.int(0, 64)).toString('latin1') : '';
      return { kind, hello: false, bytes: Buffer.concat([r.next() < 0.5 ? helloFrame(junk) : r.mutate(helloFrame(junk)), garbage(r)]) };
    }
    case 'hello-then-garbage':
      return { kind, hello: true, bytes: garbage(r) };
    case 'authenticated-frames':
      return { kind, hello: true, bytes: Buffer.concat(Array.from({ length: r.int(1, 12) }, () => randomFrame(r))) };
  }
}

// --- HTTP requests -------------------------------------------------------------------------------

/** What one HTTP case sends over a fresh Ziti connection, then half-closes. */
export interface HttpCase {
  readonly kind: string;
  readonly bytes: Buffer;
}

/** Wire bytes of one request. */
export function request(method: string, path: string, headers: Record<string, string>, body: Buffer = Buffer.alloc(0)): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, 'host: hooks', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

/** Standard Webhooks headers signed with `secret`. */
export function signed(id: string, body: Buffer, secret: string, contentType = 'application/json', timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  return {
    'content-type': contentType,
    'content-length': String(body.length),
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signStandard({ id, timestamp, body, secret }),
  };
}

/** A valid signed push to `path`: answered 200 (or 202 when repeated). */
export function validRequest(id: string, secret: string, path: string): Buffer {
  const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', fuzz: id }));
  return request('POST', path, { ...signed(id, body, secret), 'x-github-event': 'push' }, body);
}

/** Case `index` of the HTTP fuzz; `maxBodyBytes` is the receiver's limit. */
export function httpCase(seed: number, index: number, secret: string, path: string, maxBodyBytes: number): HttpCase {
  const r = caseRng(seed, index);
  const id = `fuzz_${seed.toString(16)}_${index}`;
  const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', n: index }));
  const kinds = ['random-bytes', 'mutated-request', 'malformed-http', 'bad-envelope', 'bad-signature', 'oversized', 'valid-then-garbage'] as const;
  const kind = kinds[index % kinds.length]!;
  switch (kind) {
    case 'random-bytes':
      return { kind, bytes: Buffer.concat([r.next() < 0.5 ? Buffer.from(`POST ${path} HTTP/1.1\r\n`) : Buffer.alloc(0), r.bytes(r.int(1, 4096))]) };
    case 'mutated-request':
      return { kind, bytes: r.mutate(request('POST', path, signed(id, body, secret), body)) };
    case 'malformed-http': {
      const bad: Buffer[] = [
        Buffer.from(`POST ${path} HTTP/1.1\r\nhost: h\r\ncontent-length: -5\r\n\r\n`),
        Buffer.from(`POST ${path} HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\ncontent-length: 7\r\n\r\nhello`),
        Buffer.from(`POST ${path} HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n`),
        Buffer.from(`POST ${path} HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n`),
        Buffer.from(`POST ${path} HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffff\r\nabc\r\n`),
        Buffer.from(`POST ${path} HTTP/1.1\r\nno colon here\r\n\r\n`),
        Buffer.from(`POST ${path} HTTP/9.9\r\nhost: h\r\n\r\n`),
        Buffer.from(`${r.bytes(6).toString('latin1')} ${path} HTTP/1.1\r\nhost: h\r\n\r\n`),
        Buffer.from(`POST /${'a'.repeat(r.int(100, 20_000))} HTTP/1.1\r\nhost: h\r\n\r\n`),
        Buffer.from(`POST ${path} HTTP/1.1\r\nhost: h\r\nx-big: ${'b'.repeat(r.int(17_000, 40_000))}\r\n\r\n`),
        Buffer.from(`GET ${path}/../../admin HTTP/1.1\r\nhost: h\r\n\r\n`),
        Buffer.from(`POST ${path} HTTP/1.1\r\nhost: h\r\ncontent-length: 99999999999999999999\r\n\r\n`),
      ];
      return { kind, bytes: r.pick(bad) };
    }
    case 'bad-envelope': {
      const events = [{ id: `${id}_e`, type: 'push', timestamp: Math.floor(Date.now() / 1000), body }];
      const format = r.pick(['binary', 'json'] as const);
      const batch = encodeBatch(events, { format });
      // Each is invalid whatever the rng draws (a flipped byte could land in an event's opaque body and
      // leave the envelope valid, so mutation is not used here).
      const options = [
        batch.body.subarray(0, r.int(0, batch.body.length - 1)),
        Buffer.concat([batch.body, Buffer.from('x'), r.bytes(r.int(0, 64))]),
        Buffer.from('{"version":1,"events":[]}'),
        Buffer.from(JSON.stringify({ version: 1, events: [{ ...events[0], body: body.toString('base64') }, { ...events[0], body: '' }] })),
        Buffer.from(JSON.stringify({ version: r.int(2, 99), events: [{ ...events[0], body: body.toString('base64') }] })),
        Buffer.concat([Buffer.from('DHKB\x01\x00\x00\x00', 'latin1'), r.bytes(4), r.bytes(r.int(0, 300))]),
        Buffer.concat([Buffer.from('DHKB', 'latin1'), Buffer.from([r.int(2, 255)]), r.bytes(r.int(7, 300))]),
      ];
      const evil = format === 'json' && r.next() < 0.3 ? Buffer.from('{"version":1,"events":[{') : r.pick(options);
      return { kind, bytes: request('POST', path, signed(id, evil, secret, batch.contentType), evil) };
    }
    case 'bad-signature': {
      const h = signed(id, body, secret);
      const variants: Record<string, string>[] = [
        { ...h, 'webhook-signature': `v1,${r.bytes(32).toString('base64')}` },
        { ...h, 'webhook-signature': r.bytes(r.int(0, 200)).toString('latin1').replace(/[\r\n]/g, '') },
        { ...h, 'webhook-timestamp': String(Math.floor(Date.now() / 1000) - 3600) },
        { ...h, 'webhook-timestamp': 'not-a-number' },
        { ...h, 'webhook-id': '' },
        { ...h, 'webhook-signature': `v1a,${r.bytes(64).toString('base64')}` },
        { 'content-type': 'application/json', 'content-length': String(body.length) },
      ];
      return { kind, bytes: request('POST', path, r.pick(variants), r.next() < 0.3 ? r.mutate(body) : body) };
    }
    case 'oversized': {
      const big = Buffer.alloc(maxBodyBytes + r.int(1, 4096), 0x61);
      return r.next() < 0.5
        ? { kind, bytes: request('POST', path, signed(id, big, secret), big) }
        : { kind, bytes: request('POST', path, { ...signed(id, body, secret), 'content-length': String(maxBodyBytes * 64) }, body) };
    }
    case 'valid-then-garbage':
      return { kind, bytes: Buffer.concat([validRequest(id, secret, path), r.bytes(r.int(1, 1024))]) };
  }
}
