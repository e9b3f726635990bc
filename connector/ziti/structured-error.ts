/** Reads the StructuredError header (1033) that 2.0+ routers attach to some refusals (PROTOCOL.md §4.2). */
import { HeaderId } from './constants.js';
import type { Message } from './message.js';

/** The fields of a router's structured error that the SDK acts on; `cause` is ignored on purpose. */
export interface StructuredError {
  /** Human-readable reason from the router. */
  readonly message: string;
  /** An `EdgeErrorCode` value (uint32). */
  readonly code: number;
  /** A `RetryHint` value (0–255 on the wire; 0–3 defined). */
  readonly retryHint: number;
}

/** Larger than any router-built error; anything bigger is not parsed. */
const MAX_STRUCTURED_ERROR_BYTES = 16 * 1024;

/**
 * Parses StructuredError JSON. Missing fields take Go's zero values ("", 0, 0), as the Go SDK reads
 * them; malformed JSON, a non-object, or a field of the wrong type yields undefined. Never throws.
 */
export function parseStructuredError(json: Buffer | string): StructuredError | undefined {
  const text = typeof json === 'string' ? json : json.toString('utf8');
  if (text.length > MAX_STRUCTURED_ERROR_BYTES) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const fields = parsed as Record<string, unknown>;
  // Go's json decoder leaves a missing or null field at its zero value.
  const message = fields['message'] ?? '';
  const code = fields['code'] ?? 0;
  const retryHint = fields['retryHint'] ?? 0;
  if (typeof message !== 'string') return undefined;
  if (!isUint(code, 0xffff_ffff) || !isUint(retryHint, 0xff)) return undefined;
  return Object.freeze({ message, code, retryHint });
}

/** Parses the StructuredError header of `msg`; undefined when absent or unreadable. Never throws. */
export function getStructuredError(msg: Message): StructuredError | undefined {
  const value = msg.headers.get(HeaderId.StructuredError);
  return value === undefined ? undefined : parseStructuredError(value);
}

function isUint(n: unknown, max: number): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= max;
}
