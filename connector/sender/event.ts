/** What `send()` accepts, and how an event becomes the message stored in the outbox. */
import { SendError } from '../../core/index.js';
import { EVENT_TYPE_HEADER, SEVERITY_HEADER } from '../webhook/headers.js';
import { newMessageId } from './ids.js';
import type { NewOutboxMessage } from './outbox.js';
import { checkSeverity, type Severity } from '../webhook/severity.js';


export { EVENT_TYPE_HEADER };

/** A JSON value, sent as `application/json`. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** One event to send. */
export interface SenderEvent {
  /** Event type, e.g. `security.alert` or `push`; 1–200 visible characters. */
  readonly type: string;
  /**
   * The body: bytes are sent as they are (default content type `application/octet-stream`), a
   * string as UTF-8 (`text/plain; charset=utf-8`), any other JSON value serialised (`application/json`).
   */
  readonly body: Uint8Array | JsonValue;
  /** Overrides the content type chosen from the body. */
  readonly contentType?: string;
  /** Extra headers for this event (lower-cased); they override the sender's `headers`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Severity, checked against the sender's `minSeverity`. */
  readonly severity?: Severity;
  /** The message id (`webhook-id`); default a new `msg_` ULID. No `.`, visible ASCII, at most 128 characters. */
  readonly id?: string;
}

const EVENT_KEYS = ['type', 'body', 'contentType', 'headers', 'severity', 'id'];
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const ID = /^[\x21-\x2d\x2f-\x7e]{1,128}$/;
const TYPE = /^[\x21-\x7e][\x20-\x7e]{0,199}$/;
/** Headers the sender sets itself, or that belong to the connection. */
const RESERVED = new Set([
  'webhook-id', 'webhook-timestamp', 'webhook-signature', EVENT_TYPE_HEADER, SEVERITY_HEADER, 'content-type', 'content-length', 'host',
  'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect',
]);

function invalidEvent(message: string): SendError {
  return new SendError('ERR_SEND_EVENT_INVALID', message);
}

/** Lower-cased copy of `headers`, checked: token names, no CR/LF, none reserved. */
export function checkHeaders(headers: unknown, where: string, fail: (message: string) => Error = invalidEvent): Record<string, string> {
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) throw fail(`${where} must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [rawName, value] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (!TOKEN.test(name)) throw fail(`${where}: "${rawName}" is not a valid header name`);
    if (RESERVED.has(name)) throw fail(`${where}: "${name}" is set by darkhook and cannot be given`);
    if (typeof value !== 'string' || !HEADER_VALUE.test(value)) throw fail(`${where}.${name} must be a string without CR, LF or NUL`);
    out[name] = value;
  }
  return out;
}

function bodyBytes(body: SenderEvent['body']): { bytes: Buffer; contentType: string } {
  if (body instanceof Uint8Array) return { bytes: Buffer.from(body), contentType: 'application/octet-stream' };
  if (typeof body === 'string') return { bytes: Buffer.from(body, 'utf8'), contentType: 'text/plain; charset=utf-8' };
  let text: string | undefined;
  try {
    text = JSON.stringify(body);
  } catch (cause) {
    throw new SendError('ERR_SEND_EVENT_INVALID', 'event.body is not serialisable JSON', { cause });
  }
  if (text === undefined) throw invalidEvent('event.body must be bytes, a string or a JSON value');
  return { bytes: Buffer.from(text, 'utf8'), contentType: 'application/json' };
}

/** The checked event, ready for the outbox (not yet filtered by severity). */
export function toOutboxMessage(event: SenderEvent, defaults: Readonly<Record<string, string>>, now: number = Date.now()): NewOutboxMessage {
  if (event === null || typeof event !== 'object') throw invalidEvent('an event must be an object');
  for (const key of Object.keys(event)) if (!EVENT_KEYS.includes(key)) throw invalidEvent(`event has unknown field "${key}"`);
  if (typeof event.type !== 'string' || !TYPE.test(event.type)) throw invalidEvent('event.type must be 1–200 visible ASCII characters');
  if (event.id !== undefined && (typeof event.id !== 'string' || !ID.test(event.id))) {
    throw invalidEvent('event.id must be 1–128 visible ASCII characters without "."');
  }
  const severity = checkSeverity(event.severity, 'event.severity');
  const { bytes, contentType } = bodyBytes(event.body);
  const type = event.contentType ?? contentType;
  if (typeof type !== 'string' || type.length === 0 || !HEADER_VALUE.test(type)) throw invalidEvent('event.contentType must be a header value');
  const headers: Record<string, string> = { ...defaults, ...(event.headers === undefined ? {} : checkHeaders(event.headers, 'event.headers')), 'content-type': type };
  // The receiver's routes filter on it; inside a batch it travels signed with the event.
  if (severity !== undefined) headers[SEVERITY_HEADER] = severity;
  return { id: event.id ?? newMessageId(now), type: event.type, body: bytes, headers, severity, createdAt: now };
}
