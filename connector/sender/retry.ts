/** What the sender does with each answer or failure: deliver, retry (when), split, park or stop. */
import { DarkhookError } from '../../errors/index.js';

/** The decision for one attempt. */
export type Outcome =
  | { readonly type: 'delivered' }
  | { readonly type: 'retry'; readonly reason: string; readonly retryAfterMs?: number | undefined }
  | { readonly type: 'split'; readonly reason: string }
  | { readonly type: 'park'; readonly reason: string }
  | { readonly type: 'fatal'; readonly error: Error };

/** 4xx answers that are worth repeating: timeout, too early, too many requests. */
const RETRIABLE_4XX = new Set([408, 425, 429]);
/** 5xx answers that no retry can fix. */
const PERMANENT_5XX = new Set([501, 505]);
/** Coded failures of the connection that pass with time (receiver down, router restart, …). */
const RETRIABLE_CODES = new Set([
  'ERR_ZITI_CONTROLLER_UNAVAILABLE',
  'ERR_ZITI_CONTROLLER_ERROR',
  'ERR_ZITI_ROUTER_UNAVAILABLE',
  'ERR_ZITI_NO_EDGE_ROUTER',
  'ERR_ZITI_HELLO_REJECTED',
  'ERR_ZITI_LINK_CLOSED',
  'ERR_ZITI_TIMEOUT',
  'ERR_ZITI_DIAL_REFUSED',
  // No host bound right now (receiver down or restarting): it comes back, so wait for it.
  'ERR_ZITI_SERVICE_UNAVAILABLE',
  'ERR_ZITI_CONN_CLOSED',
  'ERR_SEND_TIMEOUT',
  'ERR_SEND_RESPONSE_TOO_LARGE',
]);

/** Largest `Retry-After` honoured, in milliseconds (a day); beyond it the deadline decides anyway. */
const MAX_RETRY_AFTER_MS = 86_400_000;

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

/** The first line of a response body, short, for a reason text. */
function snippet(body: Buffer): string {
  const text = body.subarray(0, 200).toString('utf8').replace(/\s+/g, ' ').trim();
  return text === '' ? '' : `: ${text}`;
}

/**
 * The events a darkhook receiver says it took (`stored + duplicates` of its JSON answer), or
 * undefined when the answer does not say (another kind of receiver).
 */
function acknowledgedEvents(body: Buffer): number | undefined {
  try {
    const answer = JSON.parse(body.toString('utf8')) as { stored?: unknown; duplicates?: unknown };
    const { stored, duplicates } = answer ?? {};
    return Number.isSafeInteger(stored) && Number.isSafeInteger(duplicates) ? (stored as number) + (duplicates as number) : undefined;
  } catch {
    return undefined;
  }
}

/** Decide on an HTTP answer to a request that carried `events` events. */
export function classifyResponse(status: number, headers: Record<string, string | string[] | undefined>, body: Buffer, events: number, now: number = Date.now()): Outcome {
  const reason = `HTTP ${status}${snippet(body)}`;
  if (status >= 200 && status < 300) {
    // A receiver that took a batch for a single event (one that predates this batch form) answers 2xx
    // for 1 of N events: deleting them would lose the rest. Park instead, and say why.
    const taken = events > 1 ? acknowledgedEvents(body) : undefined;
    if (taken !== undefined && taken !== events) {
      return { type: 'park', reason: `${reason}: the receiver acknowledged ${taken} of ${events} events (does it know this batch form? try --batch-format json)` };
    }
    return { type: 'delivered' };
  }
  if (status === 413 && events > 1) return { type: 'split', reason };
  if (status === 429 || status === 503) return { type: 'retry', reason, retryAfterMs: parseRetryAfter(headers['retry-after'], now) };
  if (RETRIABLE_4XX.has(status) || (status >= 500 && !PERMANENT_5XX.has(status))) return { type: 'retry', reason };
  // 400, 401, 403, 404, 410, 413 and the rest: repeating the same bytes cannot succeed.
  return { type: 'park', reason };
}

/** Decide on a failure to get any answer: connection faults are retried, configuration faults stop the sender. */
export function classifyError(err: unknown): Outcome {
  if (err instanceof DarkhookError) {
    if (RETRIABLE_CODES.has(err.code)) return { type: 'retry', reason: `${err.code}: ${err.message}` };
    return { type: 'fatal', error: err };
  }
  // Socket-level faults (ECONNREFUSED, ECONNRESET, EPIPE, TLS resets): the receiver may come back.
  const e = err as NodeJS.ErrnoException;
  return { type: 'retry', reason: `${e.code ?? e.name ?? 'Error'}: ${e.message ?? String(err)}` };
}
