/** Option checks shared by the pki entry points: unknown keys, strings, integers, string lists. */
import { OptionError } from '../core/index.js';

export { checkKeys } from '../core/options.js';

/**
 * A required non-empty string of at most `max` characters.
 * @throws ERR_OPTION_INVALID otherwise.
 */
export function requiredString(value: unknown, path: string, max = 256): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > max) {
    throw new OptionError('ERR_OPTION_INVALID', `${path} must be a non-empty string of at most ${max} characters`);
  }
  return value;
}

/**
 * An optional string (see {@link requiredString}); `undefined` stays `undefined`.
 * @throws ERR_OPTION_INVALID otherwise.
 */
export function optionalString(value: unknown, path: string, max = 256): string | undefined {
  return value === undefined ? undefined : requiredString(value, path, max);
}

/**
 * An optional integer in `[min, max]`, `fallback` when undefined.
 * @throws ERR_OPTION_INVALID otherwise.
 */
export function optionalInt(value: unknown, path: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new OptionError('ERR_OPTION_INVALID', `${path} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/**
 * An optional array of strings, each checked by `check` (which throws naming `path[i]`); `[]` when undefined.
 * @throws ERR_OPTION_INVALID when it is not an array, or from `check`.
 */
export function optionalStrings(value: unknown, path: string, check: (item: unknown, itemPath: string) => string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new OptionError('ERR_OPTION_INVALID', `${path} must be an array of strings`);
  return value.map((item, i) => check(item, `${path}[${i}]`));
}
