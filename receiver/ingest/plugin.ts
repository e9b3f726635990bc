/** The webhook routes as a fastify app: caller → signature → timestamp → id → store (+ deliveries) → 2xx. Testable with `inject()`. */
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerFactory } from 'fastify';
import type { Logger } from 'pino';
import type { Receipt } from '../../connector/webhook/receipt.js';
import { createVerifier } from '../../connector/webhook/signature-standard.js';
import { ReceiverError } from '../../core/index.js';
import type { MessageLog } from '../log/message-log.js';
import type { Rejection } from '../log/types.js';
import { answerFor } from './answers.js';
import { type RejectedEvent, receiverChannels as ch } from './channels.js';
import { callerRefusal, type Route, routeMessages } from './routes.js';
import { verifyRequest } from './verify.js';

/** What the webhook app needs. */
export interface WebhookAppOptions {
  readonly routes: readonly Route[];
  /** Trusted keys (`whsec_…`, `whpk_…`); never logged. */
  readonly secrets: readonly string[];
  readonly toleranceSeconds: number;
  readonly maxBodyBytes: number;
  readonly store: MessageLog;
  readonly log: Logger;
  /** The caller's identity for a request's socket (the connection source knows it). */
  readonly callerOf: (socket: unknown) => string | undefined;
  /** Per sink: how long a delivery may stay undelivered, in milliseconds. */
  readonly deadlines?: ReadonlyMap<string, number>;
  /** Told after each commit that created deliveries (wakes the sink workers). */
  readonly onDeliveries?: (sinks: ReadonlySet<string>) => void;
  /** The HTTP server the app is served on (none for `inject()` tests). */
  readonly serverFactory?: FastifyServerFactory;
  /** True while the receiver is stopping: answers carry `Connection: close`. */
  readonly closing?: () => boolean;
  /** Keep refused requests in the store's log (default true). */
  readonly recordRejections?: boolean;
}

/** Refusals kept at most this long in memory before they are written, in milliseconds. */
const REJECTION_FLUSH_MS = 1_000;
/** Refusals held in memory at most; past it they are counted, not kept (a flood must not grow memory). */
const MAX_PENDING_REJECTIONS = 1_000;

/** Refusals written once a second in one transaction: a flood of bad requests costs no fsync each. */
class RejectionBuffer {
  readonly #store: MessageLog;
  readonly #log: Logger;
  #pending: Rejection[] = [];
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(store: MessageLog, log: Logger) {
    this.#store = store;
    this.#log = log;
  }

  add(r: Rejection): void {
    if (this.#pending.length >= MAX_PENDING_REJECTIONS) {
      this.#dropped++;
      return;
    }
    this.#pending.push(r);
    this.#timer ??= setTimeout(() => void this.flush(), REJECTION_FLUSH_MS).unref();
  }

  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    try {
      if (batch.length > 0) await this.#store.recordRejections(batch);
    } catch (cause) {
      this.#log.error({ err: cause, rejections: batch.length }, 'rejections not recorded');
    }
    if (this.#dropped > 0) this.#log.warn({ dropped: this.#dropped }, 'rejections not recorded: too many at once');
    this.#dropped = 0;
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Build the fastify app that serves the webhook routes (ready to `inject()` or to be fed
 * connections). Each POST to a route's path is checked in order: caller identity allowed (403),
 * body size (413), signature (401), timestamp window (401), a known form (415), then stored with
 * its deliveries in one durable transaction and answered 200 (202 when every id was stored
 * before). Other paths are 404.
 *
 * @throws {WebhookError} ERR_WEBHOOK_SECRET_INVALID (a trusted key is bad: the keys are parsed here, once)
 * @throws {OptionError} ERR_OPTION_INVALID (no key, or a bad `toleranceSeconds`)
 */
export function buildWebhookApp(o: WebhookAppOptions): FastifyInstance {
  const verifier = createVerifier({ secrets: o.secrets, toleranceSeconds: o.toleranceSeconds });
  const app = Fastify({
    ...(o.serverFactory === undefined ? {} : { serverFactory: o.serverFactory }),
    bodyLimit: o.maxBodyBytes,
    // fastify's own request logging would log URLs and headers; the receiver logs what it decides.
    logger: false,
  });
  app.removeAllContentTypeParsers();
  // The raw bytes are what is signed: never parse before verification.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  const callerOf = (req: FastifyRequest): string | undefined => o.callerOf(req.raw.socket as Socket);
  const routeOf = (req: FastifyRequest): string | undefined => (req.routeOptions.url === undefined ? undefined : req.routeOptions.url);
  const record = o.recordRejections !== false;
  const rejections = new RejectionBuffer(o.store, o.log);
  app.addHook('onClose', async () => rejections.flush());

  const refuse = (reply: FastifyReply, req: FastifyRequest, err: unknown, route = routeOf(req)): FastifyReply => {
    const answer = answerFor(err);
    const caller = callerOf(req);
    const requestId = single(req.headers['webhook-id']);
    const fields: RejectedEvent = { caller, requestId, status: answer.status, code: answer.code };
    if (answer.fault) o.log.error({ ...fields, err }, 'request failed');
    else o.log.info(fields, 'rejected');
    if (ch.rejected.hasSubscribers) ch.rejected.publish(fields);
    if (record) rejections.add({ at: Date.now(), requestId: requestId?.slice(0, 256), caller, route, status: answer.status, code: answer.code });
    if (answer.retryAfterSeconds !== undefined) reply.header('retry-after', String(answer.retryAfterSeconds));
    return reply.code(answer.status).send({ code: answer.code, message: answer.message });
  };

  app.addHook('onSend', async (_req, reply) => {
    if (o.closing?.() === true) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (req, reply) => {
    if (ch.answered.hasSubscribers) ch.answered.publish({ route: routeOf(req), status: reply.statusCode, durationMs: reply.elapsedTime });
  });
  app.setErrorHandler((err, req, reply) => refuse(reply, req, err));
  app.setNotFoundHandler((req, reply) =>
    refuse(reply, req, new ReceiverError('ERR_RECEIVER_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`, { statusCode: 404 }), undefined),
  );

  for (const route of o.routes) {
    app.post(route.path, {
      // First check, before the body is read: is this identity allowed on this route?
      onRequest: async (req, reply) => {
        const why = callerRefusal(route, callerOf(req));
        if (why !== undefined) return refuse(reply, req, new ReceiverError('ERR_RECEIVER_CALLER_FORBIDDEN', why, { statusCode: 403 }));
      },
      handler: async (req, reply) => {
        const caller = callerOf(req);
        const body = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
        const verified = verifyRequest({ headers: req.headers, body, caller, verifier, maxBodyBytes: o.maxBodyBytes });
        const { requestId, batch } = verified;
        const routed = routeMessages(route, verified.messages);
        // Durable before the answer: ingest() resolves after the commit is synced (SQLite
        // synchronous=FULL, PostgreSQL's commit), deliveries included. Ids already stored are skipped
        // in the same transaction. A store that cannot be reached rejects with a 503.
        const added = new Set(await o.store.ingest(routed, Date.now(), o.deadlines));
        if (added.size === 0) {
          const ids = routed.map((m) => m.id);
          o.log.info({ caller, route: route.path, requestId, duplicates: ids.length }, 'duplicate');
          if (ch.duplicate.hasSubscribers) ch.duplicate.publish({ requestId, caller, batch, ids });
          if (ch.ingested.hasSubscribers) ch.ingested.publish({ route: route.path, stored: 0, filtered: 0, duplicates: ids.length });
          const receipt: Receipt = { id: requestId, stored: 0, duplicates: ids.length };
          return reply.code(202).send(receipt);
        }
        const messages = routed.filter((m) => added.has(m.id));
        const duplicates = routed.filter((m) => !added.has(m.id)).map((m) => m.id);
        const filtered = messages.filter((m) => m.filteredReason !== undefined).length;
        o.log.info({ caller, route: route.path, requestId, batch, stored: messages.length, filtered, duplicates: duplicates.length }, 'stored');
        if (ch.stored.hasSubscribers) ch.stored.publish({ requestId, caller, batch, messages: messages.map((m) => ({ id: m.id, type: m.type })), duplicates });
        if (ch.ingested.hasSubscribers) ch.ingested.publish({ route: route.path, stored: messages.length, filtered, duplicates: duplicates.length });
        // Committed: from here nothing may turn the answer into a failure (a 5xx would tell the sender
        // "not stored" and its retry would be answered as a duplicate). The workers also poll the store.
        try {
          if (o.onDeliveries !== undefined && messages.length > filtered) o.onDeliveries(new Set(messages.flatMap((m) => m.sinks)));
        } catch (err) {
          o.log.error({ err, requestId }, 'stored; waking the sink workers failed (they find the deliveries on their next poll)');
        }
        const receipt: Receipt = { id: requestId, stored: messages.length, duplicates: duplicates.length };
        return reply.code(200).send(receipt);
      },
    });
  }
  return app;
}
