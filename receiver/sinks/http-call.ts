/** One HTTP request for a sink, and the mapping from its answer to a sink outcome. Never throws, never logs. */
import http from 'node:http';
import https from 'node:https';
import { parseRetryAfter } from '../../core/backoff.js';
import { shortError, type SinkOutcome } from './sink.js';

/** The answer's headers, read by name (a WHATWG `Headers` is one too). */
export interface AnswerHeaders {
  get(name: string): string | null;
}

/** What came back from one request: an answer, or a network fault / abort. */
export type HttpAnswer =
  | { readonly ok: true; readonly status: number; readonly headers: AnswerHeaders; readonly text: string }
  | { readonly ok: false; readonly error: string };

/** Longest answer text read into memory (the rest is dropped). */
const MAX_ANSWER_BYTES = 64 * 1024;

/** An idle kept-alive connection is closed after this, in milliseconds: before the 5 s at which Node servers (and many proxies) close theirs. */
const IDLE_SOCKET_MS = 4_000;

/**
 * Kept-alive connections per origin, shared by every sink (at most a sink's concurrency in use at
 * once). `lifo` reuses the warmest socket and lets the others time out when load drops.
 */
const AGENTS = {
  'http:': new http.Agent({ keepAlive: true, scheduling: 'lifo', timeout: IDLE_SOCKET_MS }),
  'https:': new https.Agent({ keepAlive: true, scheduling: 'lifo', timeout: IDLE_SOCKET_MS }),
} as const;

/**
 * Send one request with node:http(s) over a kept-alive agent. Redirects are not followed: a sink's
 * URL is exact. (Node's fetch cost about three times the CPU per request, and a WHATWG Request,
 * Response, Headers and streams in garbage per attempt, on the loop that acknowledges webhooks.)
 */
export function httpCall(url: string, init: { method?: string; headers: Record<string, string>; body?: Buffer | string }, signal: AbortSignal): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (answer: HttpAnswer): void => {
      if (settled) return;
      settled = true;
      resolve(answer);
    };
    const fail = (err: unknown): void => {
      if (signal.aborted) return settle({ ok: false, error: 'timed out (or the receiver is stopping)' });
      const e = err as Error & { code?: string };
      const message = e.message ?? String(err);
      settle({ ok: false, error: shortError(e.code !== undefined && !message.includes(e.code) ? `${e.code}: ${message}` : message) });
    };
    let target: URL;
    try {
      target = new URL(url);
    } catch (err) {
      return fail(err);
    }
    const agent = target.protocol === 'http:' || target.protocol === 'https:' ? AGENTS[target.protocol] : undefined;
    if (agent === undefined) return fail(new Error(`unsupported protocol ${target.protocol}`));
    const body = init.body === undefined ? undefined : typeof init.body === 'string' ? Buffer.from(init.body, 'utf8') : init.body;
    const headers: Record<string, string> = { ...init.headers };
    if (body !== undefined) headers['content-length'] = String(body.length);
    const request = target.protocol === 'https:' ? https.request : http.request;
    const send = (mayRetry: boolean): void => {
      try {
        const req = request(target, { method: init.method ?? 'POST', headers, agent, signal }, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            if (size < MAX_ANSWER_BYTES) chunks.push(c);
            size += c.length;
          });
          res.on('error', fail);
          res.on('end', () => {
            const raw = res.headers;
            settle({
              ok: true,
              status: res.statusCode ?? 0,
              headers: {
                get: (name) => {
                  const v = raw[name.toLowerCase()];
                  return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
                },
              },
              text: Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES).toString('utf8'),
            });
          });
        });
        req.on('error', (err: Error & { code?: string }) => {
          // A pooled connection reset: most often the server closed it while idle (the keep-alive race)
          // and the request never reached it, so send it once more on a fresh connection, as node:http's
          // docs advise. If the server did get it and then reset, this is a second delivery: at-least-once,
          // as every retry (Jenkins and Jira dedupe by the message id; Slack may post twice).
          if (mayRetry && req.reusedSocket && err.code === 'ECONNRESET' && !signal.aborted) send(false);
          else fail(err);
        });
        req.end(body);
      } catch (err) {
        // A header value node:http refuses (a newline in a configured header, say): this attempt fails.
        fail(err);
      }
    };
    send(true);
  });
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
