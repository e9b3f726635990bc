/** What the sender does with each answer or failure: deliver, retry (when), split, park or stop. */
import { DarkhookError } from '../../core/index.js';
import { acknowledgedEvents } from '../webhook/receipt.js';
import { backoffDelay, parseRetryAfter } from '../../core/backoff.js';

export { backoffDelay, parseRetryAfter };

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

/** The first line of a response body, short, for a reason text. */
function snippet(body: Buffer): string {
  const text = body.subarray(0, 200).toString('utf8').replace(/\s+/g, ' ').trim();
  return text === '' ? '' : `: ${text}`;
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
