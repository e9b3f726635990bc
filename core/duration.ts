/** Durations and points in time as people type them: `90s`, `15m`, `24h`, `7d`, or an ISO 8601 date. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds of `30s`, `15m`, `24h`, `7d`, `2w` (an integer and a unit), or undefined when unreadable. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d{1,9})(ms|s|m|h|d|w)$/.exec(text.trim());
  return m === null ? undefined : Number(m[1]) * UNIT_MS[m[2]!]!;
}

/**
 * A point in time: a duration back from `now` (`24h` = a day ago) or an ISO 8601 date; ms since
 * the epoch, or undefined when unreadable.
 */
export function parseSince(text: string, now: number): number | undefined {
  const d = parseDuration(text);
  if (d !== undefined) return now - d;
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : at;
}
