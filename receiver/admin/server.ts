/** The loopback-only admin listener: health, Prometheus metrics, and the message-log API behind a bearer token. */
import { isIP } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { constantTimeEqual } from '../../core/constant-time.js';
import { ConfigError, ReceiverError } from '../../core/index.js';
import type { AdminConfig } from '../config/config.js';
import { targetOf } from '../config/config.js';
import { answerFor } from '../ingest/answers.js';
import { checkSinkName, enqueueTestMessage, sinkOverview } from '../log/ops.js';
import type { MessageStore } from '../log/store.js';
import { createMetrics } from '../metrics/metrics.js';
import type { SinkConfig } from '../sinks/sink-config.js';
import type { SinkWorker } from '../sinks/worker.js';
import { parseMessageQuery } from './query.js';

/** What the admin listener serves. */
export interface AdminOptions {
  readonly config: AdminConfig;
  readonly store: MessageStore;
  readonly workers: ReadonlyMap<string, SinkWorker>;
  readonly sinks: readonly SinkConfig[];
  readonly log: Logger;
  readonly now: () => number;
  readonly deadlines: ReadonlyMap<string, number>;
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

/**
 * Build the admin app (usable with `inject()`): every route but `GET /healthz` needs
 * `Authorization: Bearer <token>` (401 `ERR_RECEIVER_ADMIN_UNAUTHORIZED` otherwise, nothing else said).
 */
export function buildAdminApp(o: AdminOptions): FastifyInstance & { readonly closeMetrics: () => void } {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  const metrics = createMetrics(o.sinks.map((s) => s.name));
  for (const s of o.store.sinkStates()) if (o.workers.has(s.name)) metrics.setSinkActive(s.name, s.state === 'active');
  const sinkList = o.sinks.map((s) => ({ name: s.name, type: s.type, target: s.type === 'slack' ? 'slack (incoming webhook)' : targetOf(s.url) }));
  const fail = (reply: FastifyReply, err: unknown): FastifyReply => {
    const a = answerFor(err);
    if (a.fault) o.log.error({ err, code: a.code }, 'admin request failed');
    return reply.code(a.status).send({ code: a.code, message: a.message });
  };
  app.setErrorHandler((err, _req, reply) => fail(reply, err));
  app.setNotFoundHandler((req, reply) => fail(reply, new ReceiverError('ERR_RECEIVER_NOT_FOUND', `no admin route ${req.method} ${req.url.split('?')[0]}`, { statusCode: 404 })));
  app.addHook('onRequest', async (req, reply) => {
    reply.header('cache-control', 'no-store');
    if (req.method === 'GET' && req.url === '/healthz') return;
    const token = bearer(req);
    if (token === undefined || !constantTimeEqual(token, o.config.token)) {
      return fail(reply, new ReceiverError('ERR_RECEIVER_ADMIN_UNAUTHORIZED', 'authentication required', { statusCode: 401 }));
    }
  });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  app.get('/api/messages', async (req) => {
    const q = parseMessageQuery(req.query as Record<string, unknown>, o.now());
    const messages = o.store.query(q);
    const last = messages.at(-1);
    return { messages, counts: o.store.countByStatus(q), next: messages.length === (q.limit ?? 100) && last !== undefined ? last.seq : null };
  });
  app.get('/api/messages/:id', async (req) => {
    const { id } = req.params as { id: string };
    const found = o.store.get(id);
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
    if (!o.store.has(id)) throw new ReceiverError('ERR_RECEIVER_MESSAGE_NOT_FOUND', `no message ${id}`, { statusCode: 404 });
    const resubmitted = o.store.resubmit({ ids: [id], ...(sink === undefined ? {} : { sink }) }, o.now(), deadlineOf(o, sink));
    for (const w of o.workers.values()) w.wake();
    return { resubmitted };
  });
  app.post('/api/resubmit-dead', async (req) => {
    const sink = (req.body as { sink?: unknown } | undefined)?.sink;
    if (sink !== undefined && typeof sink !== 'string') throw new ReceiverError('ERR_RECEIVER_REQUEST_INVALID', 'sink must be a string', { statusCode: 400 });
    if (sink !== undefined) checkSinkName(sink, o.sinks);
    const resubmitted = o.store.resubmit({ states: ['dead'], ...(sink === undefined ? {} : { sink }) }, o.now(), deadlineOf(o, sink));
    for (const w of o.workers.values()) w.wake();
    return { resubmitted };
  });
  app.get('/api/rejections', async () => ({ rejections: o.store.rejections({ limit: 100 }) }));
  app.get('/api/sinks', async () => ({
    sinks: sinkOverview(o.store, sinkList).map((s) => ({ ...s, worker: o.workers.get(s.name)?.status() })),
  }));
  app.post('/api/sinks/:name/:action', async (req) => {
    const { name, action } = req.params as { name: string; action: string };
    checkSinkName(name, o.sinks);
    const now = o.now();
    switch (action) {
      case 'enable':
        o.store.setSinkState(name, 'active', undefined, now);
        metrics.setSinkActive(name, true);
        o.log.info({ sink: name }, 'sink enabled');
        break;
      case 'disable':
        o.store.setSinkState(name, 'disabled', 'disabled by an operator', now);
        metrics.setSinkActive(name, false);
        o.log.warn({ sink: name }, 'sink disabled by an operator');
        break;
      case 'test':
        return { id: enqueueTestMessage(o.store, name, now, deadlineOf(o, name)) };
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
