/** The loopback-only admin listener: health, Prometheus metrics, the message-log API and the admin page, behind a bearer token or a login session. */
import { isIP } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { constantTimeEqual } from '../../core/constant-time.js';
import { ConfigError, ReceiverError } from '../../core/index.js';
import type { AdminConfig } from '../config/config.js';
import { targetOf } from '../config/config.js';
import { answerFor } from '../ingest/answers.js';
import { checkSinkName, enqueueTestMessage, sinkOverview } from '../log/ops.js';
import type { MessageLog } from '../log/message-log.js';
import { createMetrics } from '../metrics/metrics.js';
import type { SinkConfig } from '../sinks/sink-config.js';
import type { SinkWorker } from '../sinks/worker.js';
import { ADMIN_CSP, loadPageAssets, type PageAsset } from './assets.js';
import { parseMessageQuery } from './query.js';
import { CSRF_HEADER, cookieValue, SESSION_COOKIE, type Session, SessionStore } from './session.js';
import { GuessThrottle } from './throttle.js';

/** What the admin listener serves. */
export interface AdminOptions {
  readonly config: AdminConfig;
  readonly store: MessageLog;
  readonly workers: ReadonlyMap<string, SinkWorker>;
  readonly sinks: readonly SinkConfig[];
  readonly log: Logger;
  readonly now: () => number;
  readonly deadlines: ReadonlyMap<string, number>;
  /** The page files (tests pass their own); default: receiver/admin/page/. */
  readonly assets?: ReadonlyMap<string, PageAsset>;
}

/** A running admin listener. */
export interface RunningAdmin {
  readonly app: FastifyInstance;
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

/** Largest body shown inline by the detail API, in bytes; larger ones are cut and flagged. */
export const MAX_INLINE_BODY_BYTES = 256 * 1024;

function isLoopback(host: string): boolean {
  return host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** The bearer token of a request, if any. */
function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  return typeof h === 'string' && h.startsWith('Bearer ') ? h.slice(7).trim() : undefined;
}

/** Routes anyone on loopback may fetch: health, the login form shell (no data) and its files, the login itself. */
const PUBLIC_ROUTES = new Set(['GET /healthz', 'GET /', 'GET /assets/app.js', 'GET /assets/app.css', 'POST /login']);
const SAFE_METHODS = new Set(['GET', 'HEAD']);

/**
 * Build the admin app (usable with `inject()`): every route but the public ones needs
 * `Authorization: Bearer <token>` or the page's session cookie (401 `ERR_RECEIVER_ADMIN_UNAUTHORIZED`
 * otherwise, nothing else said); with the cookie, state-changing requests also need the session's
 * CSRF token in `x-darkhook-csrf` (403 `ERR_RECEIVER_ADMIN_CSRF`).
 */
export function buildAdminApp(o: AdminOptions): FastifyInstance & { readonly closeMetrics: () => void } {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  const metrics = createMetrics(o.sinks.map((s) => s.name));
  // The gauge starts from the stored states (read once; a store down now only delays it to the next change).
  const initial = o.store.sinkStates().then((list) => {
    for (const s of list) if (o.workers.has(s.name)) metrics.setSinkActive(s.name, s.state === 'active');
  }, () => undefined);
  app.addHook('onReady', async () => initial);
  const sinkList = o.sinks.map((s) => ({ name: s.name, type: s.type, target: s.type === 'slack' ? 'slack (incoming webhook)' : targetOf(s.url) }));
  const fail = (reply: FastifyReply, err: unknown): FastifyReply => {
    const a = answerFor(err);
    if (a.fault) o.log.error({ err, code: a.code }, 'admin request failed');
    return reply.code(a.status).send({ code: a.code, message: a.message });
  };
  app.setErrorHandler((err, _req, reply) => fail(reply, err));
  app.setNotFoundHandler((req, reply) => fail(reply, new ReceiverError('ERR_RECEIVER_NOT_FOUND', `no admin route ${req.method} ${req.url.split('?')[0]}`, { statusCode: 404 })));
  const assets = o.assets ?? loadPageAssets();
  const sessions = new SessionStore(o.now);
  const sessionOf = new WeakMap<FastifyRequest, Session>();
  const unauthorized = (): ReceiverError => new ReceiverError('ERR_RECEIVER_ADMIN_UNAUTHORIZED', 'authentication required', { statusCode: 401 });
  const guesses = new GuessThrottle(o.now);
  let throttledLogged = false;
  /** True when `token` is the admin token; a wrong one counts as a guess; while guesses are limited, a ReceiverError 429 is thrown before any check. */
  const tokenMatches = (token: string, reply: FastifyReply): boolean => {
    const waitMs = guesses.retryAfterMs();
    if (waitMs > 0) {
      if (!throttledLogged) o.log.warn({ retryAfterMs: waitMs }, 'admin token guesses limited: too many wrong tokens');
      throttledLogged = true;
      reply.header('retry-after', String(Math.ceil(waitMs / 1000)));
      throw new ReceiverError('ERR_RECEIVER_ADMIN_THROTTLED', 'too many wrong admin tokens; try again later', { statusCode: 429 });
    }
    throttledLogged = false;
    if (constantTimeEqual(token, o.config.token)) return true;
    guesses.wrong();
    return false;
  };
  // HTML forms post urlencoded; the page itself posts JSON. Parsed here so the login works without script too.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  app.addHook('onRequest', async (req, reply) => {
    reply.header('cache-control', 'no-store');
    reply.header('content-security-policy', ADMIN_CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('cross-origin-opener-policy', 'same-origin');
    reply.header('cross-origin-resource-policy', 'same-origin');
    const path = req.url.split('?')[0];
    if (PUBLIC_ROUTES.has(`${req.method === 'HEAD' ? 'GET' : req.method} ${path}`)) return;
    const token = bearer(req);
    if (token !== undefined) {
      // Scripts: the bearer header is not sent by browsers on their own, so it needs no CSRF token.
      try {
        if (!tokenMatches(token, reply)) return fail(reply, unauthorized());
      } catch (err) {
        return fail(reply, err);
      }
      return;
    }
    const session = sessions.get(cookieValue(req.headers.cookie, SESSION_COOKIE));
    if (session === undefined) return fail(reply, unauthorized());
    if (!SAFE_METHODS.has(req.method) && !sessions.csrfMatches(session, req.headers[CSRF_HEADER])) {
      return fail(reply, new ReceiverError('ERR_RECEIVER_ADMIN_CSRF', `a state-changing request with the session cookie needs the ${CSRF_HEADER} header`, { statusCode: 403 }));
    }
    sessionOf.set(req, session);
  });

  for (const [url, asset] of assets) app.get(url, async (_req, reply) => reply.type(asset.type).send(asset.body));
  app.post('/login', async (req, reply) => {
    const body = req.body as { token?: unknown } | undefined;
    const token = typeof body?.token === 'string' ? body.token.trim() : '';
    if (token === '' || !tokenMatches(token, reply)) {
      o.log.info({ route: '/login' }, 'admin login refused');
      throw unauthorized();
    }
    const s = sessions.create();
    reply.header('set-cookie', `${SESSION_COOKIE}=${s.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${sessions.maxAgeSeconds}`);
    o.log.info({}, 'admin login');
    if (req.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) return reply.code(303).header('location', '/').send();
    return { csrf: s.csrf, expiresAt: s.expiresAt };
  });
  app.post('/logout', async (req, reply) => {
    const s = sessionOf.get(req);
    if (s !== undefined) sessions.delete(s.id);
    reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
    return { ok: true };
  });
  app.get('/api/session', async (req) => {
    const s = sessionOf.get(req);
    return s === undefined ? { csrf: null, expiresAt: null } : { csrf: s.csrf, expiresAt: s.expiresAt };
  });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  app.get('/api/messages', async (req) => {
    const q = parseMessageQuery(req.query as Record<string, unknown>, o.now());
    const page = await o.store.query(q);
    // `after` reads oldest first from the cursor; the answer is always newest first.
    const messages = q.afterSeq === undefined ? page : page.reverse();
    const first = messages[0];
    const last = messages.at(-1);
    // One-row probes (indexed like the page) say exactly whether an older or newer page exists.
    const base = { ...q, beforeSeq: undefined, afterSeq: undefined, order: undefined, limit: 1 };
    const older = last !== undefined && (await o.store.query({ ...base, beforeSeq: last.seq })).length > 0;
    const newer = first !== undefined && (await o.store.query({ ...base, afterSeq: first.seq, order: 'asc' })).length > 0;
    return { messages, counts: await o.store.countByStatus(q), next: older ? last.seq : null, prev: newer ? first.seq : null };
  });
  app.get('/api/messages/:id', async (req) => {
    const { id } = req.params as { id: string };
    const found = await o.store.get(id);
    if (found === undefined) throw new ReceiverError('ERR_RECEIVER_MESSAGE_NOT_FOUND', `no message ${id}`, { statusCode: 404 });
    const { body, ...message } = found.message;
    return {
      message,
      body: { bytes: body.length, truncated: body.length > MAX_INLINE_BODY_BYTES, base64: body.subarray(0, MAX_INLINE_BODY_BYTES).toString('base64') },
      deliveries: found.deliveries,
    };
  });
  app.post('/api/messages/:id/resubmit', async (req) => {
    const { id } = req.params as { id: string };
    const sink = (req.body as { sink?: unknown } | undefined)?.sink;
    if (sink !== undefined && typeof sink !== 'string') throw new ReceiverError('ERR_RECEIVER_REQUEST_INVALID', 'sink must be a string', { statusCode: 400 });
    if (sink !== undefined) checkSinkName(sink, o.sinks);
    if (!(await o.store.has(id))) throw new ReceiverError('ERR_RECEIVER_MESSAGE_NOT_FOUND', `no message ${id}`, { statusCode: 404 });
    const resubmitted = await o.store.resubmit({ ids: [id], ...(sink === undefined ? {} : { sink }) }, o.now(), deadlineOf(o, sink));
    for (const w of o.workers.values()) w.wake();
    return { resubmitted };
  });
  app.post('/api/resubmit-dead', async (req) => {
    const sink = (req.body as { sink?: unknown } | undefined)?.sink;
    if (sink !== undefined && typeof sink !== 'string') throw new ReceiverError('ERR_RECEIVER_REQUEST_INVALID', 'sink must be a string', { statusCode: 400 });
    if (sink !== undefined) checkSinkName(sink, o.sinks);
    const resubmitted = await o.store.resubmit({ states: ['dead'], ...(sink === undefined ? {} : { sink }) }, o.now(), deadlineOf(o, sink));
    for (const w of o.workers.values()) w.wake();
    return { resubmitted };
  });
  app.get('/api/rejections', async () => ({ rejections: await o.store.rejections({ limit: 100 }) }));
  app.get('/api/sinks', async () => ({
    sinks: (await sinkOverview(o.store, sinkList)).map((s) => ({ ...s, worker: o.workers.get(s.name)?.status() })),
  }));
  app.post('/api/sinks/:name/:action', async (req) => {
    const { name, action } = req.params as { name: string; action: string };
    checkSinkName(name, o.sinks);
    const now = o.now();
    switch (action) {
      case 'enable':
        await o.store.setSinkState(name, 'active', undefined, now);
        metrics.setSinkActive(name, true);
        o.log.info({ sink: name }, 'sink enabled');
        break;
      case 'disable':
        await o.store.setSinkState(name, 'disabled', 'disabled by an operator', now);
        metrics.setSinkActive(name, false);
        o.log.warn({ sink: name }, 'sink disabled by an operator');
        break;
      case 'test':
        return { id: await enqueueTestMessage(o.store, name, now, deadlineOf(o, name)) };
      default:
        throw new ReceiverError('ERR_RECEIVER_NOT_FOUND', `no sink action ${action}`, { statusCode: 404 });
    }
    o.workers.get(name)?.wake();
    return { name, state: action === 'enable' ? 'active' : 'disabled' };
  });
  return Object.assign(app, { closeMetrics: () => metrics.close() });
}

function deadlineOf(o: AdminOptions, sink: string | undefined): number {
  return (sink === undefined ? undefined : o.deadlines.get(sink)) ?? Math.max(86_400_000, ...o.deadlines.values());
}

/**
 * Start the admin listener on its loopback address.
 *
 * @throws {ConfigError} ERR_CONFIG_NOT_LOOPBACK (a non-loopback host)
 */
export async function startAdmin(o: AdminOptions): Promise<RunningAdmin> {
  // config/ refuses other hosts; checked again here because this opens the only listening socket.
  if (!isLoopback(o.config.host)) throw new ConfigError('ERR_CONFIG_NOT_LOOPBACK', `admin.listen host ${o.config.host} is not loopback`);
  const app = buildAdminApp(o);
  await app.listen({ host: o.config.host, port: o.config.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : o.config.port;
  return {
    app,
    address: { host: o.config.host, port },
    close: async () => {
      app.closeMetrics();
      await app.close();
    },
  };
}
