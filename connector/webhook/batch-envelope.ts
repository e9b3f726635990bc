/** The batch envelope: one signed HTTP request carrying many events, each with its own id, type, time and exact body bytes. */
import { OptionError } from '../../core/index.js';
import { decodeBase64Strict } from '../../core/base64.js';
import { decodeBinaryBatch, encodeBinaryBatch } from './batch-binary.js';
import {
  batchInvalid as invalid,
  batchTooLarge as tooLarge,
  checkEventHeaders,
  checkEventId,
  checkEventTimestamp,
  checkEventType,
  checkUniqueIds,
  isPlainObject,
  type BatchEvent,
} from './batch-rules.js';
import { integerOption, rejectUnknownKeys } from '../../core/options.js';

/** Media type of a JSON batch body (each event body in base64, so any bytes survive). */
export const BATCH_CONTENT_TYPE = 'application/vnd.darkhook.batch+json';
/** Media type of a binary batch body (length-prefixed fields, raw body bytes): the sender's default. */
export const BATCH_BINARY_CONTENT_TYPE = 'application/vnd.darkhook.batch';
/** JSON envelope version written by `encodeBatch` and the only one `decodeBatch` accepts. */
export const BATCH_ENVELOPE_VERSION = 1;
/** The two wire forms: `binary` (compact and fast, the default) and `json` (readable with any tool). */
export type BatchFormat = 'binary' | 'json';
/** The wire form `encodeBatch` writes unless told otherwise. */
export const DEFAULT_BATCH_FORMAT: BatchFormat = 'binary';
/** Most events in one batch unless configured otherwise (the sender flushes at this many). */
export const DEFAULT_MAX_BATCH_EVENTS = 500;
/** Largest encoded batch in bytes unless configured otherwise: 16 MiB. */
export const DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024;

export type { BatchEvent };

/** Options of `encodeBatch`. */
export interface EncodeBatchOptions {
  /** Most events allowed; default `DEFAULT_MAX_BATCH_EVENTS` (500). */
  readonly maxEvents?: number;
  /** Largest encoded body in bytes; default `DEFAULT_MAX_BATCH_BYTES` (16 MiB). */
  readonly maxBytes?: number;
  /** Wire form; default `DEFAULT_BATCH_FORMAT` (`binary`). */
  readonly format?: BatchFormat;
}

/** Limits of `decodeBatch`; a receiver sets them from its route configuration. */
export interface DecodeBatchLimits {
  /** Most events accepted; default `DEFAULT_MAX_BATCH_EVENTS` (500). */
  readonly maxEvents?: number;
  /** Largest body accepted in bytes, checked before parsing; default `DEFAULT_MAX_BATCH_BYTES` (16 MiB). */
  readonly maxBytes?: number;
}

const LIMIT_KEYS = ['maxEvents', 'maxBytes'] as const;
const ENCODE_KEYS = ['maxEvents', 'maxBytes', 'format'] as const;
const ENVELOPE_KEYS = ['version', 'events'];
const EVENT_KEYS = ['id', 'type', 'timestamp', 'headers', 'body'];

function normaliseLimits(limits: EncodeBatchOptions | DecodeBatchLimits, where: string, known: readonly string[]): { maxEvents: number; maxBytes: number } {
  rejectUnknownKeys(limits, known, where);
  return {
    maxEvents: integerOption(limits.maxEvents, DEFAULT_MAX_BATCH_EVENTS, 1, `${where}: maxEvents`),
    maxBytes: integerOption(limits.maxBytes, DEFAULT_MAX_BATCH_BYTES, 1, `${where}: maxBytes`),
  };
}

/** Check the fields every event must have (the body is checked by the caller); `index` names the event in errors. */
function checkEventFields(event: Record<string, unknown>, index: number): void {
  for (const key of Object.keys(event)) if (!EVENT_KEYS.includes(key)) throw invalid(`events[${index}] has unknown field "${key}"`);
  checkEventId(event.id, index);
  checkEventType(event.type, index);
  checkEventTimestamp(event.timestamp, index);
  checkEventHeaders(event.headers, index);
}

/** The media type of a batch body (`binary` or `json`), or undefined when `contentType` names neither. */
export function batchFormatOf(contentType: string): BatchFormat | undefined {
  const mediaType = String(contentType).split(';')[0]?.trim().toLowerCase();
  if (mediaType === BATCH_BINARY_CONTENT_TYPE) return 'binary';
  if (mediaType === BATCH_CONTENT_TYPE) return 'json';
  return undefined;
}

/** The wire form asked for; anything else is ERR_OPTION_INVALID. */
function formatOption(value: unknown, where: string): BatchFormat {
  if (value === undefined) return DEFAULT_BATCH_FORMAT;
  if (value !== 'binary' && value !== 'json') throw new OptionError('ERR_OPTION_INVALID', `${where}: format must be "binary" or "json"`);
  return value;
}

/**
 * Encode events as one batch request body, binary by default (`format: 'json'` for the readable
 * form). Sign the returned `body` with `signStandard`, using a batch id (not any event id) as
 * `webhook-id`; each event keeps its own id inside. Send `contentType` with it: it tells the
 * receiver which form it is.
 *
 * @throws {WebhookError} ERR_WEBHOOK_BATCH_INVALID (no events, a malformed event, a repeated id),
 *   ERR_WEBHOOK_BATCH_TOO_LARGE (more than `maxEvents`, or over `maxBytes` once encoded)
 * @throws {OptionError} ERR_OPTION_INVALID, ERR_OPTION_UNKNOWN
 * @example
 * const { body, contentType } = encodeBatch([
 *   { id: 'evt_1', type: 'push', timestamp: 1614265330, body: Buffer.from('{"ref":"main"}') },
 * ]);
 */
export function encodeBatch(
  events: readonly BatchEvent[],
  options: EncodeBatchOptions = {},
): { body: Buffer; contentType: string } {
  const { maxEvents, maxBytes } = normaliseLimits(options, 'encodeBatch', ENCODE_KEYS);
  const format = formatOption(options.format, 'encodeBatch');
  if (!Array.isArray(events) || events.length === 0) throw invalid('a batch needs at least one event');
  if (events.length > maxEvents) throw tooLarge(`a batch holds at most ${maxEvents} events; got ${events.length}`);
  for (let index = 0; index < events.length; index++) {
    const event = events[index];
    if (!isPlainObject(event)) throw invalid(`events[${index}] must be an object`);
    checkEventFields(event as unknown as Record<string, unknown>, index);
    if (!(event.body instanceof Uint8Array)) throw invalid(`events[${index}].body must be a Buffer`);
  }
  checkUniqueIds(events.map((e) => e.id));
  if (format === 'binary') return { body: encodeBinaryBatch(events, maxBytes), contentType: BATCH_BINARY_CONTENT_TYPE };
  const wire = events.map((event) => {
    const body = Buffer.from(event.body.buffer, event.body.byteOffset, event.body.byteLength).toString('base64');
    return event.headers === undefined
      ? { id: event.id, type: event.type, timestamp: event.timestamp, body }
      : { id: event.id, type: event.type, timestamp: event.timestamp, headers: event.headers, body };
  });
  const body = Buffer.from(JSON.stringify({ version: BATCH_ENVELOPE_VERSION, events: wire }), 'utf8');
  if (body.length > maxBytes) throw tooLarge(`the encoded batch is ${body.length} bytes; the limit is ${maxBytes}`);
  return { body, contentType: BATCH_CONTENT_TYPE };
}

/**
 * Decode a batch request body (after its signature has been verified), binary or JSON as
 * `contentType` says. The size limit is checked before parsing, the event limit before any event
 * is examined. Bodies of a binary batch are views into `body` (no copy).
 *
 * @throws {WebhookError} ERR_WEBHOOK_BATCH_INVALID (400: neither batch content type, malformed
 *   bytes or JSON, wrong version, malformed or repeated events), ERR_WEBHOOK_BATCH_TOO_LARGE (413)
 * @throws {OptionError} ERR_OPTION_INVALID, ERR_OPTION_UNKNOWN
 * @example
 * const events = decodeBatch(rawBody, req.headers['content-type'] ?? '', { maxEvents: 100 });
 */
export function decodeBatch(body: Buffer, contentType: string, limits: DecodeBatchLimits = {}): BatchEvent[] {
  const { maxEvents, maxBytes } = normaliseLimits(limits, 'decodeBatch', LIMIT_KEYS);
  const format = batchFormatOf(contentType);
  if (format === undefined) throw invalid(`content type must be ${BATCH_BINARY_CONTENT_TYPE} or ${BATCH_CONTENT_TYPE}`);
  if (body.length > maxBytes) throw tooLarge(`the batch is ${body.length} bytes; the limit is ${maxBytes}`);
  if (format === 'binary') return decodeBinaryBatch(body, maxEvents);

  let envelope: unknown;
  try {
    envelope = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (cause) {
    throw invalid('the batch is not UTF-8 JSON', cause);
  }
  if (!isPlainObject(envelope)) throw invalid('the batch must be a JSON object');
  for (const key of Object.keys(envelope)) if (!ENVELOPE_KEYS.includes(key)) throw invalid(`the batch has unknown field "${key}"`);
  if (envelope.version !== BATCH_ENVELOPE_VERSION) throw invalid(`the batch version must be ${BATCH_ENVELOPE_VERSION}`);
  const { events } = envelope;
  if (!Array.isArray(events) || events.length === 0) throw invalid('the batch must have a non-empty events array');
  if (events.length > maxEvents) throw tooLarge(`a batch holds at most ${maxEvents} events; got ${events.length}`);

  const decoded = events.map((raw: unknown, index): BatchEvent => {
    if (!isPlainObject(raw)) throw invalid(`events[${index}] must be an object`);
    checkEventFields(raw, index);
    const bytes = typeof raw.body === 'string' ? decodeBase64Strict(raw.body) : undefined;
    if (bytes === undefined) throw invalid(`events[${index}].body must be a base64 string`);
    const event: BatchEvent = { id: raw.id as string, type: raw.type as string, timestamp: raw.timestamp as number, body: bytes };
    if (raw.headers !== undefined) event.headers = { ...(raw.headers as Record<string, string>) };
    return event;
  });
  checkUniqueIds(decoded.map((e) => e.id));
  return decoded;
}
