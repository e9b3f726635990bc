/** The binary batch wire form (docs/batch-envelope.md): length-prefixed fields, bodies as raw bytes, no base64. */
import {
  type BatchEvent,
  batchInvalid,
  batchTooLarge,
  checkEventHeaders,
  checkEventId,
  checkEventTimestamp,
  checkEventType,
  checkUniqueIds,
} from './batch-rules.js';

/** First four bytes of a binary batch: ASCII `DHKB`. */
export const BINARY_BATCH_MAGIC = Buffer.from('DHKB', 'latin1');
/** Version byte written after the magic, and the only one accepted. */
export const BINARY_BATCH_VERSION = 1;
/** Magic (4), version (1), three zero bytes, event count (uint32). */
const HEADER_BYTES = 12;
/** Fixed bytes per event: id length (2), type length (2), timestamp (8), headers length (4), body length (4). */
const EVENT_FIXED_BYTES = 20;
const MAX_SHORT = 0xffff;
const TWO_32 = 2 ** 32;

// ignoreBOM: a leading U+FEFF is part of the id, not a marker to strip (it would make two ids one).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Bytes `encodeBinaryBatch` would produce for these (already checked) events. */
function sizeOf(ids: Buffer[], types: Buffer[], headers: (Buffer | undefined)[], events: readonly BatchEvent[]): number {
  let total = HEADER_BYTES;
  for (let i = 0; i < events.length; i++) {
    total += EVENT_FIXED_BYTES + ids[i]!.length + types[i]!.length + (headers[i]?.length ?? 0) + events[i]!.body.byteLength;
  }
  return total;
}

/**
 * Write checked events (see `encodeBatch`) in the binary form. Refuses an id or type over 65,535
 * UTF-8 bytes and a body that would not fit `maxBytes`.
 *
 * @throws {WebhookError} ERR_WEBHOOK_BATCH_INVALID, ERR_WEBHOOK_BATCH_TOO_LARGE
 */
export function encodeBinaryBatch(events: readonly BatchEvent[], maxBytes: number): Buffer {
  const ids = events.map((e) => Buffer.from(e.id, 'utf8'));
  const types = events.map((e) => Buffer.from(e.type, 'utf8'));
  const headers = events.map((e) => (e.headers === undefined ? undefined : Buffer.from(JSON.stringify(e.headers), 'utf8')));
  for (let i = 0; i < events.length; i++) {
    if (ids[i]!.length > MAX_SHORT) throw batchInvalid(`events[${i}].id is over ${MAX_SHORT} bytes`);
    if (types[i]!.length > MAX_SHORT) throw batchInvalid(`events[${i}].type is over ${MAX_SHORT} bytes`);
  }
  const size = sizeOf(ids, types, headers, events);
  if (size > maxBytes) throw batchTooLarge(`the encoded batch is ${size} bytes; the limit is ${maxBytes}`);
  const out = Buffer.allocUnsafe(size);
  BINARY_BATCH_MAGIC.copy(out, 0);
  out.writeUInt8(BINARY_BATCH_VERSION, 4);
  out.fill(0, 5, 8);
  out.writeUInt32BE(events.length, 8);
  let at = HEADER_BYTES;
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    at = out.writeUInt16BE(ids[i]!.length, at);
    at += ids[i]!.copy(out, at);
    at = out.writeUInt16BE(types[i]!.length, at);
    at += types[i]!.copy(out, at);
    at = out.writeUInt32BE(Math.floor(event.timestamp / TWO_32), at);
    at = out.writeUInt32BE(event.timestamp % TWO_32, at);
    const h = headers[i];
    at = out.writeUInt32BE(h?.length ?? 0, at);
    if (h !== undefined) at += h.copy(out, at);
    at = out.writeUInt32BE(event.body.byteLength, at);
    out.set(event.body, at);
    at += event.body.byteLength;
  }
  return out;
}

function isAscii(bytes: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i]! > 0x7f) return false;
  return true;
}

/** Names of the fields, for the "ends inside" error (built only when the batch is bad). */
type Field = 'id length' | 'id' | 'type length' | 'type' | 'timestamp' | 'headers length' | 'headers' | 'body length' | 'body';

/**
 * A bounds-checked reader over the request bytes; every overrun is ERR_WEBHOOK_BATCH_INVALID. It
 * reads integers in place (no view per field) and names the event and field only on error.
 */
class Reader {
  #at: number;

  constructor(readonly bytes: Buffer, start: number) {
    this.#at = start;
  }

  get remaining(): number {
    return this.bytes.length - this.#at;
  }

  /** Claim `length` bytes and return where they start. */
  #claim(length: number, index: number, field: Field): number {
    if (length > this.bytes.length - this.#at) throw batchInvalid(`the batch ends inside events[${index}].${field}`);
    const start = this.#at;
    this.#at += length;
    return start;
  }

  /** Step over `length` bytes; returns where they start. */
  skip(length: number, index: number, field: Field): number {
    return this.#claim(length, index, field);
  }

  take(length: number, index: number, field: Field): Buffer {
    const start = this.#claim(length, index, field);
    return this.bytes.subarray(start, start + length);
  }

  u16(index: number, field: Field): number {
    return this.bytes.readUInt16BE(this.#claim(2, index, field));
  }

  u32(index: number, field: Field): number {
    return this.bytes.readUInt32BE(this.#claim(4, index, field));
  }

  text(length: number, index: number, field: Field): string {
    const start = this.#claim(length, index, field);
    return textOf(this.bytes, start, start + length, index, field);
  }
}

/** Bytes `start..end` as text: ids and types are ASCII nearly always, and latin1 is the same text then, far cheaper than a fatal UTF-8 decode. */
function textOf(bytes: Buffer, start: number, end: number, index: number, field: Field): string {
  if (isAscii(bytes, start, end)) return bytes.toString('latin1', start, end);
  try {
    return utf8.decode(bytes.subarray(start, end));
  } catch (cause) {
    throw batchInvalid(`events[${index}].${field} is not UTF-8`, cause);
  }
}

/**
 * Read a binary batch. Event bodies are views into `body` (no copy): copy them before changing
 * `body`. The event count is checked against `maxEvents` before any event is read.
 *
 * @throws {WebhookError} ERR_WEBHOOK_BATCH_INVALID (400), ERR_WEBHOOK_BATCH_TOO_LARGE (413)
 */
export function decodeBinaryBatch(body: Buffer, maxEvents: number): BatchEvent[] {
  if (body.length < HEADER_BYTES || !body.subarray(0, 4).equals(BINARY_BATCH_MAGIC)) throw batchInvalid('the batch does not start with DHKB');
  if (body[4] !== BINARY_BATCH_VERSION) throw batchInvalid(`the binary batch version must be ${BINARY_BATCH_VERSION}`);
  if (body[5] !== 0 || body[6] !== 0 || body[7] !== 0) throw batchInvalid('the reserved header bytes must be zero');
  const count = body.readUInt32BE(8);
  if (count === 0) throw batchInvalid('the batch must hold at least one event');
  if (count > maxEvents) throw batchTooLarge(`a batch holds at most ${maxEvents} events; got ${count}`);
  // Every event takes at least its fixed fields: a count the body cannot hold is refused before any work.
  if (count * EVENT_FIXED_BYTES > body.length - HEADER_BYTES) throw batchInvalid(`the batch is too short for ${count} events`);

  const r = new Reader(body, HEADER_BYTES);
  const events: BatchEvent[] = new Array<BatchEvent>(count);
  // Events of one batch usually carry identical headers: each distinct run of header bytes is
  // decoded, parsed and checked once (compared as bytes, before any decoding).
  let lastHeaderStart = -1;
  let lastHeaderLength = 0;
  let lastHeaders: Record<string, string> | undefined;
  for (let i = 0; i < count; i++) {
    const id = r.text(r.u16(i, 'id length'), i, 'id');
    checkEventId(id, i);
    const type = r.text(r.u16(i, 'type length'), i, 'type');
    checkEventType(type, i);
    const high = r.u32(i, 'timestamp');
    // Past 2^53 the sum is no longer a safe integer, which the check below refuses.
    const timestamp = high * TWO_32 + r.u32(i, 'timestamp');
    checkEventTimestamp(timestamp, i);
    const headersLength = r.u32(i, 'headers length');
    let headers: Record<string, string> | undefined;
    if (headersLength > 0) {
      const start = r.skip(headersLength, i, 'headers');
      const same = headersLength === lastHeaderLength && body.compare(body, lastHeaderStart, lastHeaderStart + headersLength, start, start + headersLength) === 0;
      if (!same) {
        const text = textOf(body, start, start + headersLength, i, 'headers');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (cause) {
          throw batchInvalid(`events[${i}].headers is not JSON`, cause);
        }
        checkEventHeaders(parsed, i);
        lastHeaderStart = start;
        lastHeaderLength = headersLength;
        lastHeaders = parsed as Record<string, string>;
      }
      // Each event gets its own object: a caller changing one event's headers changes no other.
      headers = { ...lastHeaders! };
    }
    const bytes = r.take(r.u32(i, 'body length'), i, 'body');
    events[i] = headers === undefined ? { id, type, timestamp, body: bytes } : { id, type, timestamp, body: bytes, headers };
  }
  if (r.remaining !== 0) throw batchInvalid(`${r.remaining} bytes follow the last event`);
  checkUniqueIds(events.map((e) => e.id));
  return events;
}
