/**
 * A stand-in for a Slack incoming webhook: `POST` JSON with `text` or `blocks` → 200 `ok`; bad JSON
 * or neither field → 400 `invalid_payload`. It can be told to answer as Slack does when things go
 * wrong: 429 with `Retry-After`, 403 `action_prohibited` / `invalid_token`, 404 `channel_not_found`,
 * 410 `channel_is_archived`, 500, or a 400 `invalid_payload` (as for malformed blocks).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { answer, readBody, serve, type ListenOptions } from './serve.js';

/** Slack refuses bodies beyond about this size. */
const MAX_BODY_BYTES = 1024 * 1024;
/** The webhook path the stand-in serves (any other path answers 404 `no_service`). */
export const SLACK_HOOK_PATH = '/services/T00000000/B00000000/standin';

/** Answers the stand-in can be told to give instead of `ok`. */
const FAULTS = {
  rate_limited: 429,
  action_prohibited: 403,
  invalid_token: 403,
  channel_not_found: 404,
  channel_is_archived: 410,
  internal_error: 500,
  invalid_payload: 400,
} as const;
/** One scripted fault. */
export type SlackFault = keyof typeof FAULTS;

/** How the stand-in answers: normally, or with `fault` for the next `count` requests (default: until told otherwise). */
export type SlackMode =
  | { readonly type: 'ok' }
  | { readonly type: SlackFault; readonly count?: number; /** For `rate_limited`: the `Retry-After` seconds. */ readonly retryAfterSeconds?: number };

/** One accepted post. */
export interface SlackPost {
  readonly body: Buffer;
  readonly text: string | undefined;
  readonly blocks: unknown[] | undefined;
}

/** A running stand-in. */
export interface SlackStandin {
  /** The incoming-webhook URL. */
  readonly url: string;
  readonly port: number;
  readonly received: SlackPost[];
  /** Every request's status, in order (accepted and refused). */
  readonly answers: number[];
  setMode(mode: SlackMode): void;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Start a Slack stand-in. */
export async function startSlack(options: ListenOptions = {}): Promise<SlackStandin> {
  const received: SlackPost[] = [];
  const answers: number[] = [];
  let mode: SlackMode = { type: 'ok' };
  let left = Infinity;
  const reply = (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void => {
    answers.push(status);
    answer(res, status, text, { 'content-type': 'text/html', ...headers });
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req, MAX_BODY_BYTES);
    if ((req.url ?? '').split('?')[0] !== SLACK_HOOK_PATH) return reply(res, 404, 'no_service');
    if (req.method !== 'POST') return reply(res, 405, 'invalid_method');
    if (mode.type !== 'ok' && left > 0) {
      const fault = mode;
      if (--left === 0) mode = { type: 'ok' };
      const headers: Record<string, string> = fault.type === 'rate_limited' ? { 'retry-after': String(fault.retryAfterSeconds ?? 1) } : {};
      return reply(res, FAULTS[fault.type], fault.type, headers);
    }
    if (body === undefined) return reply(res, 413, 'request_too_large');
    const json = parse(body);
    const text = typeof json?.text === 'string' && json.text !== '' ? json.text : undefined;
    const blocks = Array.isArray(json?.blocks) && json.blocks.length > 0 ? (json.blocks as unknown[]) : undefined;
    if (text === undefined && blocks === undefined) return reply(res, 400, 'invalid_payload');
    received.push({ body, text, blocks });
    reply(res, 200, 'ok');
  };
  const served = await serve(handle, options);
  return {
    url: `${served.origin}${SLACK_HOOK_PATH}`,
    port: served.port,
    received,
    answers,
    setMode(next) {
      mode = next;
      left = next.type === 'ok' ? Infinity : (next.count ?? Infinity);
    },
    stop: () => served.stop(),
    start: () => served.start(),
  };
}

function parse(body: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
