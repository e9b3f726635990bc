/** Retention: messages older than the configured days whose deliveries are all finished are removed, hourly. */
import type { Logger } from 'pino';
import type { MessageLog, PurgeResult } from './message-log.js';

/** How often retention runs, in milliseconds (also once at start). */
export const DEFAULT_RETENTION_INTERVAL_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** A running retention timer. */
export interface RetentionHandle {
  /** Run once now; returns what was removed and kept. */
  runOnce(): Promise<PurgeResult>;
  stop(): void;
}

/**
 * Remove finished messages older than `days` now and every `intervalMs`. Messages with a delivery
 * still pending stay (nothing undelivered is dropped) and are reported in the log.
 */
export function startRetention(
  store: MessageLog,
  o: { readonly days: number; readonly now?: () => number; readonly intervalMs?: number; readonly log?: Logger },
): RetentionHandle {
  const now = o.now ?? Date.now;
  const runOnce = async (): Promise<PurgeResult> => {
    const result = await store.purge(now() - o.days * DAY_MS);
    if (result.removed > 0 || result.keptPending > 0) o.log?.info({ ...result, days: o.days }, 'retention');
    if (result.keptPending > 0) o.log?.warn({ messages: result.keptPending, days: o.days }, 'messages past retention kept: deliveries still pending');
    return result;
  };
  const tick = (): void => {
    runOnce().catch((err: unknown) => o.log?.error({ err }, 'retention failed'));
  };
  tick();
  const timer = setInterval(tick, o.intervalMs ?? DEFAULT_RETENTION_INTERVAL_MS).unref();
  return { runOnce, stop: () => clearInterval(timer) };
}
