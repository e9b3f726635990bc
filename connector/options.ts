/** Option checks shared by the webhook-format entry points: unknown keys and integer ranges. */
import { OptionError } from '../errors/index.js';

/**
 * Throw `ERR_OPTION_UNKNOWN` when `options` has a key outside `known`; `where` names the entry point.
 *
 * @throws {OptionError} ERR_OPTION_UNKNOWN
 */
export function rejectUnknownKeys(options: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new OptionError('ERR_OPTION_UNKNOWN', `${where}: unknown option "${key}"`);
  }
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
