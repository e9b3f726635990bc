/** The one constant-time comparison every MAC, signature, token and secret check goes through. */
import { timingSafeEqual } from 'node:crypto';

const encoder = new TextEncoder();

function toBytes(value: Uint8Array | string): Uint8Array {
  return typeof value === 'string' ? encoder.encode(value) : value;
}

/**
 * True when `a` and `b` hold the same bytes (strings compare as UTF-8). The time taken depends only
 * on the lengths, never on where the first difference is. Inputs of different length return false
 * at once: that reveals the length, which for MACs and encoded signatures is public anyway.
 *
 * @example
 * constantTimeEqual(received, expected); // true or false, never throws
 */
export function constantTimeEqual(a: Uint8Array | string, b: Uint8Array | string): boolean {
  const left = toBytes(a);
  const right = toBytes(b);
  if (left.byteLength !== right.byteLength) return false;
  return timingSafeEqual(left, right);
}
