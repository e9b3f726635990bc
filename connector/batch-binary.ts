/** The binary batch wire form (docs/batch-envelope.md): length-prefixed fields, bodies as raw bytes, no base64. */
import type { BatchEvent } from './batch-envelope.js';
import {
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

function isAscii(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! > 0x7f) return false;
  return true;
}

/** A bounds-checked reader over the request bytes; every overrun is ERR_WEBHOOK_BATCH_INVALID. */
class Reader {
  #at: number;

  constructor(readonly bytes: Buffer, start: number) {
    this.#at = start;
  }

  get remaining(): number {
    return this.bytes.length - this.#at;
  }

  take(length: number, what: string): Buffer {
    if (length > this.remaining) throw batchInvalid(`the batch ends inside ${what}`);
    const view = this.bytes.subarray(this.#at, this.#at + length);
    this.#at += length;
    return view;
  }

  u16(what: string): number {
    return this.take(2, what).readUInt16BE(0);
  }

  u32(what: string): number {
    return this.take(4, what).readUInt32BE(0);
  }

  text(length: number, what: string): string {
    const bytes = this.take(length, what);
    // Ids and types are ASCII nearly always: latin1 is the same text then, and far cheaper than a fatal UTF-8 decode.
    if (isAscii(bytes)) return bytes.toString('latin1');
    try {
      return utf8.decode(bytes);
    } catch (cause) {
      throw batchInvalid(`${what} is not UTF-8`, cause);
    }
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
  // Events of one batch usually carry identical headers: parse and check each distinct text once.
  let lastHeadersText: string | undefined;
  let lastHeaders: Record<string, string> | undefined;
  for (let i = 0; i < count; i++) {
    const at = `events[${i}]`;
    const id = r.text(r.u16(`${at}.id length`), `${at}.id`);
    checkEventId(id, at);
    const type = r.text(r.u16(`${at}.type length`), `${at}.type`);
    checkEventType(type, at);
    const high = r.u32(`${at}.timestamp`);
    // Past 2^53 the sum is no longer a safe integer, which the check below refuses.
    const timestamp = high * TWO_32 + r.u32(`${at}.timestamp`);
    checkEventTimestamp(timestamp, at);
    const headersLength = r.u32(`${at}.headers length`);
    let headers: Record<string, string> | undefined;
    if (headersLength > 0) {
      const text = r.text(headersLength, `${at}.headers`);
      if (text !== lastHeadersText) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (cause) {
          throw batchInvalid(`${at}.headers is not JSON`, cause);
        }
        checkEventHeaders(parsed, at);
        lastHeadersText = text;
        lastHeaders = parsed as Record<string, string>;
      }
      // Each event gets its own object: a caller changing one event's headers changes no other.
      headers = { ...lastHeaders! };
    }
    const bytes = r.take(r.u32(`${at}.body length`), `${at}.body`);
    events[i] = headers === undefined ? { id, type, timestamp, body: bytes } : { id, type, timestamp, body: bytes, headers };
  }
  if (r.remaining !== 0) throw batchInvalid(`${r.remaining} bytes follow the last event`);
  checkUniqueIds(events.map((e) => e.id));
  return events;
}
