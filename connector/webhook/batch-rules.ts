/** Rules every batch event obeys, whatever the wire form: the checks and coded errors both codecs share. */
import { WebhookError } from '../../core/index.js';

/** One event inside a batch. */
export interface BatchEvent {
  /** The event's own id (idempotency key): non-empty, no `.`, the same rule as `webhook-id`. */
  id: string;
  /** Event type, e.g. `push` or `invoice.paid`; non-empty. */
  type: string;
  /** When the event happened: integer seconds since the epoch. */
  timestamp: number;
  /** The event body, byte for byte (may be binary). */
  body: Buffer;
  /** Optional per-event headers to replay downstream, e.g. `content-type` or `x-github-event`. */
  headers?: Record<string, string>;
}

/** 400 ERR_WEBHOOK_BATCH_INVALID with `message`. */
export function batchInvalid(message: string, cause?: unknown): WebhookError {
  return new WebhookError('ERR_WEBHOOK_BATCH_INVALID', message, { statusCode: 400, cause });
}

/** 413 ERR_WEBHOOK_BATCH_TOO_LARGE with `message`. */
export function batchTooLarge(message: string): WebhookError {
  return new WebhookError('ERR_WEBHOOK_BATCH_TOO_LARGE', message, { statusCode: 413 });
}

/** True for a non-null, non-array object. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** With the `u` flag a surrogate pair is one code point, so this matches only a lone (ill-formed) half. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * The checks below take the event's index, not a ready-made `events[i]` label: the label is built
 * only for an error, since a batch of 500 would otherwise make thousands of strings no one reads.
 */

/** `id` is usable as an event id: non-empty, no `.` (the `webhook-id` rule), well-formed Unicode. */
export function checkEventId(id: unknown, index: number): asserts id is string {
  if (typeof id !== 'string' || id.length === 0 || id.includes('.') || LONE_SURROGATE.test(id)) {
    throw batchInvalid(`events[${index}].id must be a non-empty, well-formed string without "."`);
  }
}

/** `type` is a non-empty, well-formed string (UTF-8 cannot carry a lone surrogate unchanged). */
export function checkEventType(type: unknown, index: number): asserts type is string {
  if (typeof type !== 'string' || type.length === 0 || LONE_SURROGATE.test(type)) {
    throw batchInvalid(`events[${index}].type must be a non-empty, well-formed string`);
  }
}

/** `timestamp` is integer seconds since the epoch. */
export function checkEventTimestamp(timestamp: unknown, index: number): asserts timestamp is number {
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw batchInvalid(`events[${index}].timestamp must be integer seconds since the epoch`);
  }
}

/** `headers` is absent or an object of non-empty names to string values. */
export function checkEventHeaders(headers: unknown, index: number): asserts headers is Record<string, string> | undefined {
  if (headers === undefined) return;
  if (!isPlainObject(headers)) throw batchInvalid(`events[${index}].headers must be an object of strings`);
  for (const [name, value] of Object.entries(headers)) {
    if (name.length === 0 || typeof value !== 'string') throw batchInvalid(`events[${index}].headers values must be strings`);
  }
}

/** Every id appears once. */
export function checkUniqueIds(ids: readonly string[]): void {
  const seen = new Set<string>();
  for (const [index, id] of ids.entries()) {
    if (seen.has(id)) throw batchInvalid(`events[${index}].id repeats an earlier event id`);
    seen.add(id);
  }
}
