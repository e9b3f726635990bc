/** The channel message model and its typed little-endian header accessors (PROTOCOL.md §3.2–§3.3). */
import { ZitiCodecError } from './codec.js';
import { HeaderId, type Message } from './constants.js';

export type { Message };

/**
 * Creates a message with sequence 0 (a placeholder: the link assigns sequences). A string body is
 * UTF-8 encoded; Buffers are kept, not copied.
 * @example
 * const hello = createMessage(ContentType.Hello, identityName);
 * setHeaderString(hello, HeaderId.SessionToken, token);
 * hello.sequence = HELLO_SEQUENCE;
 */
export function createMessage(contentType: number, body?: Buffer | string, headers?: Iterable<[number, Buffer]>): Message {
  return {
    contentType,
    sequence: 0,
    headers: new Map(headers ?? []),
    body: typeof body === 'string' ? Buffer.from(body, 'utf8') : (body ?? Buffer.alloc(0)),
  };
}

function checkId(id: number): void {
  if (!Number.isInteger(id) || id < -0x8000_0000 || id > 0x7fff_ffff) {
    throw new ZitiCodecError('ERR_ZITI_CODEC_VALUE_INVALID', `header id ${id} is not an int32`);
  }
}

function checkRange(id: number, value: number, min: number, max: number, type: string): void {
  checkId(id);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ZitiCodecError('ERR_ZITI_CODEC_VALUE_INVALID', `header ${id}: ${value} is not a ${type}`);
  }
}

/** Sets a uint32 header. @throws ERR_ZITI_CODEC_VALUE_INVALID when `value` is not a uint32. */
export function setHeaderU32(msg: Message, id: number, value: number): void {
  checkRange(id, value, 0, 0xffff_ffff, 'uint32');
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(value, 0);
  msg.headers.set(id, b);
}

/** Sets an int32 header. @throws ERR_ZITI_CODEC_VALUE_INVALID when `value` is not an int32. */
export function setHeaderI32(msg: Message, id: number, value: number): void {
  checkRange(id, value, -0x8000_0000, 0x7fff_ffff, 'int32');
  const b = Buffer.allocUnsafe(4);
  b.writeInt32LE(value, 0);
  msg.headers.set(id, b);
}

/** Sets a uint16 header. @throws ERR_ZITI_CODEC_VALUE_INVALID when `value` is not a uint16. */
export function setHeaderU16(msg: Message, id: number, value: number): void {
  checkRange(id, value, 0, 0xffff, 'uint16');
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16LE(value, 0);
  msg.headers.set(id, b);
}

/** Sets a uint64 header. @throws ERR_ZITI_CODEC_VALUE_INVALID when `value` is not a uint64 bigint. */
export function setHeaderU64(msg: Message, id: number, value: bigint): void {
  checkId(id);
  if (typeof value !== 'bigint' || value < 0n || value > 0xffff_ffff_ffff_ffffn) {
    throw new ZitiCodecError('ERR_ZITI_CODEC_VALUE_INVALID', `header ${id}: ${String(value)} is not a uint64 bigint`);
  }
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64LE(value, 0);
  msg.headers.set(id, b);
}

/** Sets a bool header: one byte, 01 or 00. @throws ERR_ZITI_CODEC_VALUE_INVALID for a bad id. */
export function setHeaderBool(msg: Message, id: number, value: boolean): void {
  checkId(id);
  msg.headers.set(id, Buffer.from([value ? 1 : 0]));
}

/** Sets a string header: raw UTF-8, no length prefix. @throws ERR_ZITI_CODEC_VALUE_INVALID for a bad id. */
export function setHeaderString(msg: Message, id: number, value: string): void {
  checkId(id);
  msg.headers.set(id, Buffer.from(value, 'utf8'));
}

/** Sets a raw header value; the Buffer is kept, not copied. @throws ERR_ZITI_CODEC_VALUE_INVALID for a bad id. */
export function setHeaderBytes(msg: Message, id: number, value: Buffer): void {
  checkId(id);
  msg.headers.set(id, value);
}

function fixed(msg: Message, id: number, size: number, type: string): Buffer | undefined {
  const value = msg.headers.get(id);
  if (value !== undefined && value.length !== size) {
    throw new ZitiCodecError('ERR_ZITI_CODEC_HEADER_INVALID', `header ${id} should be a ${size}-byte ${type}, got ${value.length} bytes`);
  }
  return value;
}

/** Reads a uint32 header; undefined when absent. @throws ERR_ZITI_CODEC_HEADER_INVALID unless 4 bytes. */
export function getHeaderU32(msg: Message, id: number): number | undefined {
  return fixed(msg, id, 4, 'uint32')?.readUInt32LE(0);
}

/** Reads an int32 header; undefined when absent. @throws ERR_ZITI_CODEC_HEADER_INVALID unless 4 bytes. */
export function getHeaderI32(msg: Message, id: number): number | undefined {
  return fixed(msg, id, 4, 'int32')?.readInt32LE(0);
}

/** Reads a uint16 header; undefined when absent. @throws ERR_ZITI_CODEC_HEADER_INVALID unless 2 bytes. */
export function getHeaderU16(msg: Message, id: number): number | undefined {
  return fixed(msg, id, 2, 'uint16')?.readUInt16LE(0);
}

/** Reads a uint64 header; undefined when absent. @throws ERR_ZITI_CODEC_HEADER_INVALID unless 8 bytes. */
export function getHeaderU64(msg: Message, id: number): bigint | undefined {
  return fixed(msg, id, 8, 'uint64')?.readBigUInt64LE(0);
}

/**
 * Reads a bool header (any nonzero byte is true); undefined when absent.
 * @throws ERR_ZITI_CODEC_HEADER_INVALID unless 1 byte.
 */
export function getHeaderBool(msg: Message, id: number): boolean | undefined {
  const value = fixed(msg, id, 1, 'bool');
  return value === undefined ? undefined : value[0] !== 0;
}

/** Reads a string header (UTF-8; invalid sequences become U+FFFD); undefined when absent. */
export function getHeaderString(msg: Message, id: number): string | undefined {
  return msg.headers.get(id)?.toString('utf8');
}

/** Reads a raw header value (may alias the received chunk); undefined when absent. */
export function getHeaderBytes(msg: Message, id: number): Buffer | undefined {
  return msg.headers.get(id);
}

/**
 * The sequence this message answers (ReplyFor header), or undefined when it is not a reply: the
 * header is absent or −1, which is what the hello reply carries (§3.5).
 * @throws ERR_ZITI_CODEC_HEADER_INVALID when ReplyFor is present but not 4 bytes.
 */
export function replyFor(msg: Message): number | undefined {
  const seq = getHeaderI32(msg, HeaderId.ReplyFor);
  return seq === -1 ? undefined : seq;
}

/**
 * Makes `reply` answer `request`: ReplyFor = request.sequence, and the request's reflected headers
 * (ids 128–255, e.g. a latency timestamp or trace UUID) are copied over (§3.3).
 * @throws ERR_ZITI_CODEC_VALUE_INVALID when request.sequence is not an int32.
 */
export function setReplyFor(reply: Message, request: Message): void {
  setHeaderI32(reply, HeaderId.ReplyFor, request.sequence);
  for (const [id, value] of request.headers) {
    if (id >= 128 && id <= 255) reply.headers.set(id, value);
  }
}
