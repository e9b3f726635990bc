/** Channel V2 frame encoder and incremental decoder (PROTOCOL.md §3.2); pure: no sockets, timers or logs. */
import { type DarkhookErrorOptions, type ErrorCode, OptionError, ZitiError } from '../../core/index.js';
import { FRAME_HEADER_BYTES, MAX_FRAME_BODY_BYTES, MAX_FRAME_HEADERS_BYTES, MAX_HEADER_COUNT, type Message } from './constants.js';
import { rejectUnknownKeys } from '../../core/options.js';

/** Caps the decoder (and encoder) apply to one frame. Each defaults to the same-named constant. */
export interface FrameLimits {
  /** Largest header section, in bytes. Default {@link MAX_FRAME_HEADERS_BYTES} (64 KiB). */
  readonly maxHeadersBytes?: number;
  /** Largest body, in bytes. Default {@link MAX_FRAME_BODY_BYTES} (16 MiB). */
  readonly maxBodyBytes?: number;
  /** Most header entries in one frame. Default {@link MAX_HEADER_COUNT} (256). */
  readonly maxHeaderCount?: number;
}

/**
 * A frame could not be encoded or decoded. `unsupportedVersion` is true when the peer answered with
 * the listener's "unsupported version" reply (`03 06 09 0A`, §3.2); `peerVersions` then lists the
 * channel versions it offered.
 */
export class ZitiCodecError extends ZitiError {
  readonly unsupportedVersion: boolean;
  readonly peerVersions: readonly number[];

  constructor(
    code: ErrorCode,
    message: string,
    options: DarkhookErrorOptions & { readonly peerVersions?: readonly number[] } = {},
  ) {
    super(code, message, options);
    this.unsupportedVersion = options.peerVersions !== undefined;
    this.peerVersions = Object.freeze([...(options.peerVersions ?? [])]);
  }
}

const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;
const EMPTY = Buffer.alloc(0);
/** An "unsupported version" reply listing more versions than this is garbage, not a reply. */
const MAX_PEER_VERSIONS = 16;

type Limits = Readonly<Required<FrameLimits>>;
const DEFAULT_LIMITS: Limits = Object.freeze({
  maxHeadersBytes: MAX_FRAME_HEADERS_BYTES,
  maxBodyBytes: MAX_FRAME_BODY_BYTES,
  maxHeaderCount: MAX_HEADER_COUNT,
});
const LIMIT_KEYS = Object.keys(DEFAULT_LIMITS);

function normaliseLimits(limits: FrameLimits | undefined, path: string): Limits {
  if (limits === undefined) return DEFAULT_LIMITS;
  if (typeof limits !== 'object' || limits === null) {
    throw new OptionError('ERR_OPTION_INVALID', `${path} must be an object`);
  }
  const out: Record<string, number> = { ...DEFAULT_LIMITS };
  rejectUnknownKeys(limits, LIMIT_KEYS, path);
  for (const [key, value] of Object.entries(limits)) {
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0 || value > INT32_MAX) {
      throw new OptionError('ERR_OPTION_INVALID', `${path}.${key} must be an integer from 0 to ${INT32_MAX}`);
    }
    out[key] = value;
  }
  return Object.freeze(out) as unknown as Limits;
}

function isInt32(n: unknown): n is number {
  return Number.isInteger(n) && (n as number) >= INT32_MIN && (n as number) <= INT32_MAX;
}

function valueError(message: string): ZitiCodecError {
  return new ZitiCodecError('ERR_ZITI_CODEC_VALUE_INVALID', message);
}

/**
 * Encodes one message as a channel V2 frame in a single allocation; headers go out in the Map's
 * insertion order.
 * @throws ERR_ZITI_CODEC_VALUE_INVALID when content type, sequence or a header id is not an int32, or
 *   a header value or the body is not a Buffer.
 * @throws ERR_ZITI_CODEC_TOO_MANY_HEADERS, ERR_ZITI_CODEC_HEADERS_TOO_LARGE, ERR_ZITI_CODEC_FRAME_TOO_LARGE
 *   when the frame exceeds `limits` (the peer would refuse it).
 * @example
 * const msg = createMessage(ContentType.Data, 'hi');
 * setHeaderU32(msg, HeaderId.ConnId, 5);
 * msg.sequence = 7; // the link assigns sequences
 * socket.write(encodeMessage(msg));
 */
export function encodeMessage(msg: Message, limits?: FrameLimits): Buffer {
  const lim = normaliseLimits(limits, 'limits');
  if (!isInt32(msg.contentType)) throw valueError(`contentType ${msg.contentType} is not an int32`);
  if (!isInt32(msg.sequence)) throw valueError(`sequence ${msg.sequence} is not an int32`);
  if (!(msg.body instanceof Uint8Array)) throw valueError('body must be a Buffer');
  let headersBytes = 0;
  for (const [id, value] of msg.headers) {
    if (!isInt32(id)) throw valueError(`header id ${id} is not an int32`);
    if (!(value instanceof Uint8Array)) throw valueError(`header ${id} value must be a Buffer`);
    headersBytes += 8 + value.length;
  }
  checkFrameSizes(msg.headers.size, headersBytes, msg.body.length, lim);

  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + headersBytes + msg.body.length);
  out[0] = 0x03;
  out[1] = 0x06;
  out[2] = 0x09;
  out[3] = 0x0c;
  out.writeInt32LE(msg.contentType, 4);
  out.writeInt32LE(msg.sequence, 8);
  out.writeInt32LE(headersBytes, 12);
  out.writeInt32LE(msg.body.length, 16);
  let offset = FRAME_HEADER_BYTES;
  for (const [id, value] of msg.headers) {
    out.writeInt32LE(id, offset);
    out.writeInt32LE(value.length, offset + 4);
    out.set(value, offset + 8);
    offset += 8 + value.length;
  }
  out.set(msg.body, offset);
  return out;
}

function checkFrameSizes(count: number, headersBytes: number, bodyBytes: number, lim: Limits): void {
  if (count > lim.maxHeaderCount) {
    throw new ZitiCodecError('ERR_ZITI_CODEC_TOO_MANY_HEADERS', `frame has ${count} headers; the limit is ${lim.maxHeaderCount}`);
  }
  if (headersBytes > lim.maxHeadersBytes) {
    throw new ZitiCodecError(
      'ERR_ZITI_CODEC_HEADERS_TOO_LARGE',
      `header section of ${headersBytes} bytes exceeds the limit of ${lim.maxHeadersBytes}`,
    );
  }
  if (bodyBytes > lim.maxBodyBytes) {
    throw new ZitiCodecError('ERR_ZITI_CODEC_FRAME_TOO_LARGE', `body of ${bodyBytes} bytes exceeds the limit of ${lim.maxBodyBytes}`);
  }
}

/** Options of a {@link FrameDecoder} other than its limits. */
export interface FrameDecoderOptions {
  /**
   * Keep each message's complete frame as one contiguous Buffer, readable with {@link decodedFrame}
   * (for a relay that forwards frames with a patched header instead of re-encoding them). Header
   * entries and body are then views into that frame, and a frame is only parsed once it has fully
   * arrived. Default false.
   */
  readonly keepFrames?: boolean;
}

/** The frames kept by decoders with `keepFrames`, by message; weak so they go with their message. */
const keptFrames = new WeakMap<Message, Buffer>();

/**
 * The complete frame (magic to last body byte) that a decoder created with `keepFrames` built `msg`
 * from; undefined for any other message. Its header values and body are views into it, so writing
 * a header value in place (same length) patches the frame.
 */
export function decodedFrame(msg: Message): Buffer | undefined {
  return keptFrames.get(msg);
}

interface PendingFrame {
  readonly contentType: number;
  readonly sequence: number;
  readonly headersBytes: number;
  readonly bodyBytes: number;
  headers: Map<number, Buffer> | undefined;
}

/**
 * Turns a byte stream into messages. Accepts chunks of any size, from one byte to many frames.
 *
 * Zero-copy: when a header section or body lies inside one pushed chunk, the message holds a
 * `subarray` view of that chunk; otherwise it holds a fresh copy. So never mutate a chunk after
 * pushing it (Node socket chunks are never reused, so socket data is safe), and know that a kept
 * message pins its chunk's memory. Lengths are checked against the limits before anything is
 * allocated for them.
 *
 * A protocol error poisons the decoder: the push that meets it throws, frames completed earlier in
 * that same push are dropped (the connection is going down anyway), and every later push throws the
 * same error.
 * @example
 * const decoder = new FrameDecoder();
 * socket.on('data', (chunk) => { for (const msg of decoder.push(chunk)) dispatch(msg); });
 */
export class FrameDecoder {
  readonly #limits: Limits;
  readonly #keepFrames: boolean;
  #chunks: Buffer[] = [];
  /** Bytes of `#chunks[0]` already consumed. */
  #offset = 0;
  #buffered = 0;
  #frame: PendingFrame | undefined;
  #failure: ZitiCodecError | undefined;

  /** @throws ERR_OPTION_INVALID, ERR_OPTION_UNKNOWN for a bad `limits` or `options` object. */
  constructor(limits?: FrameLimits, options: FrameDecoderOptions = {}) {
    this.#limits = normaliseLimits(limits, 'limits');
    rejectUnknownKeys(options, ['keepFrames'], 'options');
    this.#keepFrames = options.keepFrames === true;
  }

  /** Bytes received but not yet returned as messages (a partial frame). Non-zero at EOF = truncated. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Adds a chunk and returns every message it completes, in order.
   * @throws ERR_ZITI_CODEC_BAD_MAGIC, ERR_ZITI_CODEC_HEADERS_TOO_LARGE, ERR_ZITI_CODEC_FRAME_TOO_LARGE,
   *   ERR_ZITI_CODEC_TOO_MANY_HEADERS, ERR_ZITI_CODEC_HEADER_INVALID (all {@link ZitiCodecError}).
   * @throws ERR_OPTION_INVALID when `chunk` is not a Buffer.
   */
  push(chunk: Buffer): Message[] {
    if (this.#failure !== undefined) throw this.#failure;
    const bytes: unknown = chunk;
    if (!(bytes instanceof Uint8Array)) throw new OptionError('ERR_OPTION_INVALID', 'push(chunk): chunk must be a Buffer');
    if (bytes.length > 0) {
      // A plain Uint8Array is viewed as a Buffer (no copy) so the rest of the decoder sees one type.
      this.#chunks.push(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
      this.#buffered += bytes.length;
    }
    const out: Message[] = [];
    try {
      for (let msg = this.#next(); msg !== undefined; msg = this.#next()) out.push(msg);
    } catch (err) {
      if (err instanceof ZitiCodecError) {
        this.#failure = err;
        this.#chunks = [];
        this.#buffered = 0;
        this.#offset = 0;
      }
      throw err;
    }
    return out;
  }

  /** Decodes the next complete message, or returns undefined when more bytes are needed. */
  #next(): Message | undefined {
    if (this.#frame === undefined) {
      if (this.#buffered < 4) return undefined;
      if (!this.#startsWith(0x03, 0x06, 0x09, 0x0c)) return this.#badMagic();
      if (this.#buffered < FRAME_HEADER_BYTES) return undefined;
      // Keeping frames, the head stays buffered so that the whole frame is taken in one piece below.
      const head = this.#keepFrames ? this.#peek(FRAME_HEADER_BYTES) : this.#take(FRAME_HEADER_BYTES);
      // Lengths are read unsigned, as the Go reader does: a "negative" int32 is over 2 GiB, so it
      // fails the limit checks below instead of reaching an allocation.
      const headersBytes = head.readUInt32LE(12);
      const bodyBytes = head.readUInt32LE(16);
      checkFrameSizes(0, headersBytes, bodyBytes, this.#limits);
      const contentType = head.readInt32LE(4);
      const sequence = head.readInt32LE(8);
      this.#frame = { contentType, sequence, headersBytes, bodyBytes, headers: undefined };
    }
    const frame = this.#frame;
    if (this.#keepFrames) return this.#nextWhole(frame);
    if (frame.headers === undefined) {
      if (this.#buffered < frame.headersBytes) return undefined;
      frame.headers = parseHeaders(this.#take(frame.headersBytes), this.#limits.maxHeaderCount);
    }
    if (this.#buffered < frame.bodyBytes) return undefined;
    const body = this.#take(frame.bodyBytes);
    this.#frame = undefined;
    return { contentType: frame.contentType, sequence: frame.sequence, headers: frame.headers, body };
  }

  /** The pending frame as one Buffer (one copy at most) once all of it is buffered. */
  #nextWhole(frame: PendingFrame): Message | undefined {
    const end = FRAME_HEADER_BYTES + frame.headersBytes;
    if (this.#buffered < end + frame.bodyBytes) return undefined;
    const raw = this.#take(end + frame.bodyBytes);
    const headers = parseHeaders(raw.subarray(FRAME_HEADER_BYTES, end), this.#limits.maxHeaderCount);
    this.#frame = undefined;
    const msg: Message = { contentType: frame.contentType, sequence: frame.sequence, headers, body: raw.subarray(end) };
    keptFrames.set(msg, raw);
    return msg;
  }

  /** The next `n` buffered bytes (n ≤ #buffered) without consuming them: a view, or a copy across chunks. */
  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length - this.#offset >= n) return first.subarray(this.#offset, this.#offset + n);
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.#byteAt(i);
    return out;
  }

  #badMagic(): undefined {
    const got = [0, 1, 2, 3].map((i) => this.#byteAt(i));
    if (!this.#startsWith(0x03, 0x06, 0x09, 0x0a)) {
      const hex = Buffer.from(got).toString('hex');
      const http = Buffer.from(got).toString('latin1') === 'HTTP' ? ' (an HTTP server answered)' : '';
      throw new ZitiCodecError('ERR_ZITI_CODEC_BAD_MAGIC', `frame starts with ${hex}, not 0306090c${http}`);
    }
    // "Unsupported version" reply: uint32 count, then count uint32 versions. Wait for all of it so
    // the error is the same however the bytes were split (the router sends it in one write).
    if (this.#buffered < 8) return undefined;
    const count = this.#u32At(4);
    const versions: number[] = [];
    if (count <= MAX_PEER_VERSIONS) {
      if (this.#buffered < 8 + 4 * count) return undefined;
      for (let i = 0; i < count; i++) versions.push(this.#u32At(8 + 4 * i));
    }
    throw new ZitiCodecError(
      'ERR_ZITI_CODEC_BAD_MAGIC',
      `peer rejected channel version 2 (unsupported version reply; it offers [${versions.join(', ')}])`,
      {
        peerVersions: versions,
        hint: 'the peer does not speak channel V2; check the address is an OpenZiti edge router listener of a supported version',
      },
    );
  }

  #startsWith(a: number, b: number, c: number, d: number): boolean {
    return this.#byteAt(0) === a && this.#byteAt(1) === b && this.#byteAt(2) === c && this.#byteAt(3) === d;
  }

  /** Byte `index` positions past the read point; index < #buffered. Walks chunks: only for a few bytes. */
  #byteAt(index: number): number {
    let i = index + this.#offset;
    for (const chunk of this.#chunks) {
      if (i < chunk.length) return chunk[i]!;
      i -= chunk.length;
    }
    return -1;
  }

  #u32At(index: number): number {
    const b = [0, 1, 2, 3].map((k) => this.#byteAt(index + k));
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  }

  /** Removes `n` buffered bytes (n ≤ #buffered): a view when they sit in one chunk, else one copy. */
  #take(n: number): Buffer {
    if (n === 0) return EMPTY;
    this.#buffered -= n;
    const first = this.#chunks[0]!;
    if (first.length - this.#offset >= n) {
      const view = first.subarray(this.#offset, this.#offset + n);
      this.#offset += n;
      if (this.#offset === first.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let used = 0;
    while (filled < n) {
      const chunk = this.#chunks[used]!;
      const start = used === 0 ? this.#offset : 0;
      const count = Math.min(chunk.length - start, n - filled);
      chunk.copy(out, filled, start, start + count);
      filled += count;
      if (start + count === chunk.length) {
        used++;
        this.#offset = 0;
      } else {
        this.#offset = start + count;
      }
    }
    this.#chunks.splice(0, used);
    return out;
  }
}

/** Parses `key i32 | length i32 | bytes` entries filling `section` exactly; duplicate key: last wins. */
function parseHeaders(section: Buffer, maxCount: number): Map<number, Buffer> {
  const headers = new Map<number, Buffer>();
  let offset = 0;
  let count = 0;
  while (offset < section.length) {
    if (section.length - offset < 8) {
      throw new ZitiCodecError('ERR_ZITI_CODEC_HEADER_INVALID', `header entry at offset ${offset} is truncated`);
    }
    if (++count > maxCount) {
      throw new ZitiCodecError('ERR_ZITI_CODEC_TOO_MANY_HEADERS', `frame has more than ${maxCount} headers`);
    }
    const key = section.readInt32LE(offset);
    const length = section.readInt32LE(offset + 4);
    if (length < 0 || length > section.length - offset - 8) {
      throw new ZitiCodecError(
        'ERR_ZITI_CODEC_HEADER_INVALID',
        `header ${key} declares ${length} bytes; ${section.length - offset - 8} remain in the header section`,
      );
    }
    headers.set(key, section.subarray(offset + 8, offset + 8 + length));
    offset += 8 + length;
  }
  return headers;
}

/** Longest string inside a slice or map value, in bytes, and most entries: the Go decoder's caps. */
const MAX_TYPED_STRING_BYTES = 8192;
const MAX_TYPED_ENTRIES = 128;

/**
 * Encodes a string slice header value: uint32 count, then uint32 length + UTF-8 bytes per string.
 * An empty slice encodes as no bytes (as Go does).
 * @throws ERR_ZITI_CODEC_VALUE_INVALID over 128 strings or a string over 8192 bytes (Go would refuse it).
 */
export function encodeStringSlice(values: readonly string[]): Buffer {
  if (values.length === 0) return Buffer.alloc(0);
  if (values.length > MAX_TYPED_ENTRIES) throw valueError(`string slice has ${values.length} entries; the limit is 128`);
  const parts = values.map(typedString);
  const out = Buffer.allocUnsafe(4 + parts.reduce((sum, p) => sum + 4 + p.length, 0));
  out.writeUInt32LE(values.length, 0);
  let offset = 4;
  for (const part of parts) offset = putLengthPrefixed(out, offset, part);
  return out;
}

/**
 * Decodes a string slice header value. Trailing bytes are ignored, as the Go decoder does.
 * @throws ERR_ZITI_CODEC_HEADER_INVALID when the value is truncated or over the Go caps.
 */
export function decodeStringSlice(value: Buffer): string[] {
  const reader = new TypedReader(value, 'string slice');
  const count = reader.count();
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(reader.string());
  return out;
}

/**
 * Encodes a string→string map header value: uint32 count, then length-prefixed key and value per entry.
 * @throws ERR_ZITI_CODEC_VALUE_INVALID over 128 entries or a key/value over 8192 bytes.
 */
export function encodeStringMap(map: ReadonlyMap<string, string> | Readonly<Record<string, string>>): Buffer {
  const entries = map instanceof Map ? [...map] : Object.entries(map);
  if (entries.length === 0) return Buffer.alloc(0);
  if (entries.length > MAX_TYPED_ENTRIES) throw valueError(`string map has ${entries.length} entries; the limit is 128`);
  const parts = entries.flatMap(([k, v]) => [typedString(k), typedString(v)]);
  const out = Buffer.allocUnsafe(4 + parts.reduce((sum, p) => sum + 4 + p.length, 0));
  out.writeUInt32LE(entries.length, 0);
  let offset = 4;
  for (const part of parts) offset = putLengthPrefixed(out, offset, part);
  return out;
}

/**
 * Decodes a string→string map header value into a Map (safe for any key, `__proto__` included).
 * @throws ERR_ZITI_CODEC_HEADER_INVALID when the value is truncated or over the Go caps.
 */
export function decodeStringMap(value: Buffer): Map<string, string> {
  const reader = new TypedReader(value, 'string map');
  const count = reader.count();
  const out = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const key = reader.string();
    out.set(key, reader.string());
  }
  return out;
}

function typedString(s: string): Buffer {
  if (typeof s !== 'string') throw valueError('typed header values hold strings only');
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length > MAX_TYPED_STRING_BYTES) throw valueError(`string of ${bytes.length} bytes exceeds 8192`);
  return bytes;
}

function putLengthPrefixed(out: Buffer, offset: number, part: Buffer): number {
  out.writeUInt32LE(part.length, offset);
  out.set(part, offset + 4);
  return offset + 4 + part.length;
}

/** Cursor over a slice/map value; every read is bounds-checked. */
class TypedReader {
  #offset = 0;
  constructor(
    readonly value: Buffer,
    readonly what: string,
  ) {}

  count(): number {
    if (this.value.length === 0) return 0;
    const n = this.#u32('count');
    if (n > MAX_TYPED_ENTRIES) this.#fail(`declares ${n} entries; the limit is ${MAX_TYPED_ENTRIES}`);
    return n;
  }

  string(): string {
    const length = this.#u32('string length');
    if (length > MAX_TYPED_STRING_BYTES) this.#fail(`has a string of ${length} bytes; the limit is 8192`);
    if (length > this.value.length - this.#offset) this.#fail('has a string longer than the remaining bytes');
    const s = this.value.toString('utf8', this.#offset, this.#offset + length);
    this.#offset += length;
    return s;
  }

  #u32(field: string): number {
    if (this.value.length - this.#offset < 4) this.#fail(`is truncated at its ${field}`);
    const n = this.value.readUInt32LE(this.#offset);
    this.#offset += 4;
    return n;
  }

  #fail(detail: string): never {
    throw new ZitiCodecError('ERR_ZITI_CODEC_HEADER_INVALID', `${this.what} ${detail}`);
  }
}
