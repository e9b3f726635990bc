/** Retry timing shared by the sender and the receiver's sinks: jittered exponential backoff and `Retry-After`. */

/** Largest `Retry-After` honoured, in milliseconds (a day); beyond it the deadline decides anyway. */
export const MAX_RETRY_AFTER_MS = 86_400_000;

/**
 * `Retry-After` in milliseconds from `now`: delta seconds (`120`) or an HTTP date; undefined when
 * absent or unreadable. A date in the past is 0.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  const at = Date.parse(text);
  if (Number.isNaN(at) || !/[a-z]/i.test(text)) return undefined;
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}

/**
 * Delay before retry number `attempt` (1 = the first retry): exponential from `minMs`, capped at
 * `maxMs`, with "equal jitter" (half fixed, half random) so many senders do not retry in step.
 */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

