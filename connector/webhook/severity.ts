/** Event severities (low < medium < high < critical) and the minimum-severity filter. */
import { SendError } from '../../core/index.js';

/** The severities, lowest first. */
export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
/** One severity. */
export type Severity = (typeof SEVERITIES)[number];

/** True when `value` is one of `SEVERITIES`. */
export function isSeverity(value: unknown): value is Severity {
  return typeof value === 'string' && (SEVERITIES as readonly string[]).includes(value);
}

/**
 * Why an event of `severity` is dropped under `minimum`, or undefined when it passes. An event
 * without a severity always passes: an unclassified alert is never dropped silently.
 */
export function severityDropReason(severity: Severity | undefined, minimum: Severity | undefined): string | undefined {
  if (minimum === undefined || severity === undefined) return undefined;
  if (SEVERITIES.indexOf(severity) >= SEVERITIES.indexOf(minimum)) return undefined;
  return `severity ${severity} is below the minimum ${minimum}`;
}

/**
 * Check a severity given by a caller.
 *
 * @throws {SendError} ERR_SEND_EVENT_INVALID
 */
export function checkSeverity(value: unknown, where: string): Severity | undefined {
  if (value === undefined) return undefined;
  if (!isSeverity(value)) throw new SendError('ERR_SEND_EVENT_INVALID', `${where} must be one of ${SEVERITIES.join(', ')}`);
  return value;
}
