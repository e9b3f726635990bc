/** One HTTP POST for a sink, and the mapping from its answer to a sink outcome. Never throws, never logs. */
import { parseRetryAfter } from '../../core/backoff.js';
import { shortError, type SinkOutcome } from './sink.js';

/** What came back from one request: an answer, or a network fault / abort. */
export type HttpAnswer =
  | { readonly ok: true; readonly status: number; readonly headers: Headers; readonly text: string }
  | { readonly ok: false; readonly error: string };

/** Longest answer text read into memory (the rest is dropped). */
const MAX_ANSWER_BYTES = 64 * 1024;

/** Send one request with Node's fetch (undici). Redirects are not followed: a sink's URL is exact. */
export async function httpCall(url: string, init: { method?: string; headers: Record<string, string>; body?: Buffer | string }, signal: AbortSignal): Promise<HttpAnswer> {
  try {
    const res = await fetch(url, { method: init.method ?? 'POST', headers: init.headers, body: init.body ?? null, signal, redirect: 'manual' });
    const text = await readText(res);
    return { ok: true, status: res.status, headers: res.headers, text };
  } catch (err) {
    if (signal.aborted) return { ok: false, error: 'timed out (or the receiver is stopping)' };
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const cause = e.cause?.code ?? e.cause?.message;
    return { ok: false, error: shortError(cause === undefined ? e.message : `${e.message}: ${cause}`) };
  }
}

async function readText(res: Response): Promise<string> {
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size < MAX_ANSWER_BYTES) chunks.push(value);
    size += value.byteLength;
  }
  return Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES).toString('utf8');
}

/**
 * The usual reading of an answer: 2xx delivered; 401/403 disable the sink (its credentials are
 * refused); 408, 425, 429 and 5xx retry (honouring `Retry-After`); a redirect or another 4xx is dead.
 */
export function outcomeOf(answer: HttpAnswer, now: number = Date.now()): SinkOutcome {
  if (!answer.ok) return { type: 'retry', error: answer.error };
  const { status, text } = answer;
  const what = `HTTP ${status}${text === '' ? '' : `: ${shortError(text, 120)}`}`;
  if (status >= 200 && status < 300) return { type: 'delivered', status };
  if (status === 401 || status === 403) return { type: 'disable', status, error: what };
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(answer.headers.get('retry-after') ?? undefined, now);
    return retryAfterMs === undefined ? { type: 'retry', status, error: what } : { type: 'retry', status, error: what, retryAfterMs };
  }
  return { type: 'failed', status, error: what };
}

/** The content type the sender gave, or JSON. */
export function contentTypeOf(headers: Readonly<Record<string, string>>): string {
  return headers['content-type'] ?? 'application/json';
}
