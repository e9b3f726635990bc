/** The one option checker every entry point uses: unknown keys and integer ranges, one message style. */
import { OptionError } from './errors.js';

/**
 * Throw `ERR_OPTION_UNKNOWN` when `options` has a key outside `known`. The message names the option
 * path: `<where>.<key> is not a known option`.
 *
 * @throws {OptionError} ERR_OPTION_UNKNOWN
 */
export function rejectUnknownKeys(options: object, known: readonly string[] | ReadonlySet<string>, where: string): void {
  const has = Array.isArray(known) ? (k: string) => known.includes(k) : (k: string) => (known as ReadonlySet<string>).has(k);
  for (const key of Object.keys(options)) {
    if (!has(key)) throw new OptionError('ERR_OPTION_UNKNOWN', `${where}.${key} is not a known option`);
  }
}

/**
 * Check that `value` is a plain object holding only `allowed` keys, and return it as a record.
 *
 * @throws {OptionError} ERR_OPTION_INVALID (not an object), ERR_OPTION_UNKNOWN (naming `path.key`)
 */
export function checkKeys(value: unknown, allowed: readonly string[] | ReadonlySet<string>, path: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new OptionError('ERR_OPTION_INVALID', `${path} must be an object`);
  }
  rejectUnknownKeys(value, allowed, path);
  return value as Record<string, unknown>;
}

/**
 * Return `value` when it is a safe integer ≥ `min`, `fallback` when undefined; otherwise throw.
 *
 * @throws {OptionError} ERR_OPTION_INVALID (the message names `path`)
 */
export function integerOption(value: unknown, fallback: number, min: number, path: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new OptionError('ERR_OPTION_INVALID', `${path} must be an integer ≥ ${min}`);
  }
  return value;
}
