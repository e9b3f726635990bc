/**
 * A stand-in for Jenkins' GitHub plugin endpoint (`POST /github-webhook/`), answering as the plugin
 * does: POST only, `X-GitHub-Event` required, a JSON or form (`payload=`) body, and
 * `X-Hub-Signature-256` checked against its own secret (a missing or wrong one is a 400, as the
 * plugin's "Provided signature [...] did not match" is). Every accepted delivery is recorded.
 */
import { createHmac } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constantTimeEqual } from '../core/constant-time.js';
import { answer, header, readBody, serve, type ListenOptions } from './serve.js';

/** GitHub caps a delivery at 25 MB. */
const MAX_BODY_BYTES = 25 * 1024 * 1024;
/** The plugin's path, with its trailing slash. */
export const JENKINS_HOOK_PATH = '/github-webhook/';

/** What the stand-in is told at start. */
export interface JenkinsStandinOptions extends ListenOptions {
  /** The secret "configured in Jenkins". Required: the stand-in never accepts unsigned requests. */
  readonly secret: string;
}

/** One accepted delivery. */
export interface JenkinsDelivery {
  readonly event: string;
  /** `X-GitHub-Delivery`, or undefined when absent. */
  readonly deliveryId: string | undefined;
  readonly contentType: string;
  /** The request body bytes as received. */
  readonly body: Buffer;
  /** The JSON text of the event (the body, or the form's `payload` field). */
  readonly payload: string;
}

/** A refused request: its status and the plugin-like reason. */
export interface JenkinsRefusal {
  readonly status: number;
  readonly reason: string;
}

/** How the stand-in answers: normally, or a server error for the next `count` requests (default: until told otherwise). */
export type JenkinsMode = { readonly type: 'ok' } | { readonly type: 'error'; readonly status: 500 | 502 | 503; readonly count?: number };

/** A running stand-in. */
export interface JenkinsStandin {
  /** The hook URL: `http://127.0.0.1:<port>/github-webhook/`. */
  readonly url: string;
  readonly port: number;
  readonly received: JenkinsDelivery[];
  readonly refused: JenkinsRefusal[];
  setMode(mode: JenkinsMode): void;
  /** Stop listening (connections refused) until `start()`. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Start a Jenkins stand-in. */
export async function startJenkins(options: JenkinsStandinOptions): Promise<JenkinsStandin> {
  const received: JenkinsDelivery[] = [];
  const refused: JenkinsRefusal[] = [];
  let mode: JenkinsMode = { type: 'ok' };
  let left = Infinity;
  const refuse = (res: ServerResponse, status: number, reason: string): void => {
    refused.push({ status, reason });
    answer(res, status, `Error: ${reason}\n`);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/github-webhook') return answer(res, 302, '', { location: JENKINS_HOOK_PATH });
    if (path !== JENKINS_HOOK_PATH) return answer(res, 404, 'Not Found\n');
    const body = await readBody(req, MAX_BODY_BYTES);
    if (mode.type === 'error' && left > 0) {
      const { status } = mode;
      if (--left === 0) mode = { type: 'ok' };
      return refuse(res, status, 'Jenkins is not available');
    }
    if (req.method !== 'POST') return refuse(res, 405, `Method ${req.method ?? ''} not allowed`);
    if (body === undefined) return refuse(res, 413, 'payload too large');
    const event = header(req, 'x-github-event');
    if (event === undefined || event === '') return refuse(res, 400, 'Hook should contain event type');
    const contentType = header(req, 'content-type') ?? '';
    const payload = payloadOf(contentType, body);
    if (payload === undefined) return refuse(res, 400, `Not intended to be browsed interactively (must specify payload parameter); content type: ${contentType}`);
    const signature = header(req, 'x-hub-signature-256');
    if (signature === undefined) return refuse(res, 400, 'Signature was expected, but not provided');
    const expected = `sha256=${createHmac('sha256', options.secret).update(body).digest('hex')}`;
    if (!constantTimeEqual(signature, expected)) return refuse(res, 400, `Provided signature [${signature}] did not match to calculated`);
    received.push({ event, deliveryId: header(req, 'x-github-delivery'), contentType, body, payload });
    answer(res, 200, event === 'ping' ? 'pong\n' : '');
  };
  const served = await serve(handle, options);
  return {
    url: `${served.origin}${JENKINS_HOOK_PATH}`,
    port: served.port,
    received,
    refused,
    setMode(next) {
      mode = next;
      left = next.type === 'error' ? (next.count ?? Infinity) : Infinity;
    },
    stop: () => served.stop(),
    start: () => served.start(),
  };
}

/** The event JSON of a request body, by content type (as the plugin reads it), or undefined. */
function payloadOf(contentType: string, body: Buffer): string | undefined {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json') return body.length > 0 ? body.toString('utf8') : undefined;
  if (type === 'application/x-www-form-urlencoded') return new URLSearchParams(body.toString('utf8')).get('payload') ?? undefined;
  return undefined;
}
