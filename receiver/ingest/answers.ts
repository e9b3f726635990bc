/** How a thrown value becomes the receiver's coded answer (status, code, message), without leaking internals. */
import type { FastifyError } from 'fastify';
import { DarkhookError } from '../../core/index.js';

/** The answer to a refused or failed request. `fault`: the receiver's fault (5xx), logged at error. */
export interface Answer {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly fault: boolean;
  /** Seconds for a `Retry-After` header (a store that cannot be reached: 503). */
  readonly retryAfterSeconds?: number;
}

/** What callers are told of a store failure (the full text, naming the store, is logged). */
const STORE_ANSWERS: Readonly<Record<string, string>> = {
  ERR_RECEIVER_STORE_UNAVAILABLE: 'the message store cannot be reached; try again',
  ERR_RECEIVER_STORE_FAILED: 'the message store failed; try again',
};

/** A thrown value as the coded error the receiver answers with. */
export function answerFor(err: unknown): Answer {
  if (err instanceof DarkhookError) {
    const status = (err as { statusCode?: unknown }).statusCode;
    const retry = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    if (typeof status === 'number') {
      // A store error names the store (host, database, user): that is for the log, not for callers.
      const message = STORE_ANSWERS[err.code] ?? err.message;
      return { status, code: err.code, message, fault: status >= 500, ...(typeof retry === 'number' ? { retryAfterSeconds: retry } : {}) };
    }
    return { status: 500, code: err.code, message: err.message, fault: true };
  }
  const f = err as Partial<FastifyError>;
  if (f.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || f.statusCode === 413) {
    return { status: 413, code: 'ERR_RECEIVER_BODY_TOO_LARGE', message: 'the request body is over the receiver limit', fault: false };
  }
  if (typeof f.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500) {
    return { status: 400, code: 'ERR_RECEIVER_REQUEST_INVALID', message: `malformed request (${f.code ?? 'HTTP'})`, fault: false };
  }
  // Never echo an unexpected error's text to the caller; it goes to the log.
  return { status: 500, code: 'ERR_INTERNAL', message: 'the receiver failed; the message was not stored', fault: true };
}
