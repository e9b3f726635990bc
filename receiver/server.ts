/** The receiver: fastify served only over a Ziti bind (no TCP listener), verify → dedupe → store durably → 2xx. */
import { channel } from 'node:diagnostics_channel';
import http from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Fastify from 'fastify';
import type { Logger } from 'pino';
import type { ZitiConnection } from '../connector/ziti/edge-conn.js';
import type { ZitiListener } from '../connector/ziti/listener.js';
import { DarkhookError, ReceiverError, type ZitiError } from '../core/index.js';
import { verifyRequest } from './ingest.js';
import { type NormalizedReceiverOptions, normalizeReceiverOptions, type ReceiverOptions } from './options.js';
import { MessageStore } from './store.js';

/** Idle time after which a caller's connection is closed, in milliseconds (the sender redials). */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
/** How long `close()` lets requests in flight finish before it cuts their connections, in milliseconds. */
export const DEFAULT_CLOSE_GRACE_MS = 2_000;

/** Names of the `diagnostics_channel` channels the receiver publishes on. Payloads hold ids, never bodies. */
export const RECEIVER_CHANNELS = Object.freeze({
  /** `{ requestId, caller, batch, messages: [{ id, type }], duplicates: string[] }`, after the commit, before the 200. */
  stored: 'darkhook:receiver:stored',
  /** `{ requestId, caller, batch, ids }`: every id was already stored; answered 202. */
  duplicate: 'darkhook:receiver:duplicate',
  /** `{ requestId?, caller, status, code }`: refused with a 4xx or failed with a 5xx. */
  rejected: 'darkhook:receiver:rejected',
} as const);

const ch = {
  stored: channel(RECEIVER_CHANNELS.stored),
  duplicate: channel(RECEIVER_CHANNELS.duplicate),
  rejected: channel(RECEIVER_CHANNELS.rejected),
};

/** A running receiver. */
export interface RunningReceiver {
  /** The fastify instance (ready, never listening on a port). */
  readonly app: FastifyInstance;
  /** The Ziti listener the HTTP server is fed from; emits `connection`, `state`, `error`. */
  readonly listener: ZitiListener;
  /** The message store (open until `close()`). */
  readonly store: MessageStore;
  /** Unbind, let requests in flight finish (briefly), close connections, fastify and the store. Idempotent. */
  close(): Promise<void>;
}

/** The caller's Ziti identity name, from the connection the request came on. */
function callerOf(req: FastifyRequest): string | undefined {
  return (req.raw.socket as unknown as Partial<Pick<ZitiConnection, 'caller'>>).caller?.identityName;
}

/** A thrown value as the coded error the receiver answers with. */
function asAnswer(err: unknown): { status: number; code: string; message: string; fault: boolean } {
  if (err instanceof DarkhookError) {
    const status = (err as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number') return { status, code: err.code, message: err.message, fault: status >= 500 };
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

function buildApp(o: NormalizedReceiverOptions, secrets: readonly string[], store: MessageStore, log: Logger, state: { closing: boolean }): FastifyInstance {
  const app = Fastify({
    // HTTP is served only on connections the Ziti listener hands over: the server never listens.
    serverFactory: (handler) => {
      const server = http.createServer(handler);
      server.setTimeout(DEFAULT_IDLE_TIMEOUT_MS);
      return server;
    },
    bodyLimit: o.maxBodyBytes,
    // fastify's own request logging would log URLs and headers; the receiver logs what it decides.
    logger: false,
  });
  app.removeAllContentTypeParsers();
  // The raw bytes are what is signed: never parse before verification.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const refuse = (reply: FastifyReply, req: FastifyRequest, err: unknown): FastifyReply => {
    const answer = asAnswer(err);
    const caller = callerOf(req);
    const requestId = req.headers['webhook-id'];
    const fields = { caller, requestId, status: answer.status, code: answer.code };
    if (answer.fault) log.error({ ...fields, err }, 'request failed');
    else log.info(fields, 'rejected');
    if (ch.rejected.hasSubscribers) ch.rejected.publish(fields);
    return reply.code(answer.status).send({ code: answer.code, message: answer.message });
  };

  // First check, before the body is read: is this identity allowed on this route?
  app.addHook('onRequest', async (req, reply) => {
    if (o.allowedCallers === undefined) return;
    const caller = callerOf(req);
    if (caller === undefined || !o.allowedCallers.has(caller)) {
      const who = caller === undefined ? 'an unnamed caller' : `identity "${caller}"`;
      return refuse(reply, req, new ReceiverError('ERR_RECEIVER_CALLER_FORBIDDEN', `${who} may not call this route`, { statusCode: 403 }));
    }
  });
  app.addHook('onSend', async (_req, reply) => {
    if (state.closing) reply.header('connection', 'close');
  });
  app.setErrorHandler((err, req, reply) => refuse(reply, req, err));
  app.setNotFoundHandler((req, reply) =>
    refuse(reply, req, new ReceiverError('ERR_RECEIVER_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`, { statusCode: 404 })),
  );

  app.post(o.path, async (req, reply) => {
    const caller = callerOf(req);
    const body = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
    const verified = verifyRequest({ headers: req.headers, body, caller, secrets, toleranceSeconds: o.toleranceSeconds, maxBodyBytes: o.maxBodyBytes });
    const { requestId, batch } = verified;
    // Durable before the answer: insert() returns after the commit is synced (synchronous=FULL).
    // Ids already stored are skipped inside the same transaction, so a retry never stores twice.
    const added = new Set(store.insert(verified.messages));
    if (added.size === 0) {
      const ids = verified.messages.map((m) => m.id);
      log.info({ caller, requestId, duplicates: ids.length }, 'duplicate');
      if (ch.duplicate.hasSubscribers) ch.duplicate.publish({ requestId, caller, batch, ids });
      return reply.code(202).send({ id: requestId, stored: 0, duplicates: ids.length });
    }
    const messages = verified.messages.filter((m) => added.has(m.id));
    const duplicates = verified.messages.filter((m) => !added.has(m.id)).map((m) => m.id);
    log.info({ caller, requestId, batch, stored: messages.length, duplicates: duplicates.length }, 'stored');
    if (ch.stored.hasSubscribers) ch.stored.publish({ requestId, caller, batch, messages: messages.map((m) => ({ id: m.id, type: m.type })), duplicates });
    return reply.code(200).send({ id: requestId, stored: messages.length, duplicates: duplicates.length });
  });
  return app;
}

async function start(o: NormalizedReceiverOptions, secrets: readonly string[]): Promise<RunningReceiver> {
  const log = o.logger.child({ service: o.service });
  const store = MessageStore.open(o.storePath);
  const state = { closing: false };
  const connections = new Set<ZitiConnection>();
  let app: FastifyInstance;
  let listener: ZitiListener;
  try {
    app = buildApp(o, secrets, store, log, state);
    await app.ready();
    listener = o.ziti.listen(o.service);
  } catch (err) {
    store.close();
    throw err;
  }
  const server = app.server;
  listener.on('connection', (conn) => {
    if (state.closing) {
      conn.destroy();
      return;
    }
    connections.add(conn);
    conn.once('close', () => connections.delete(conn));
    // A faulty peer fails its own connection, never the process.
    conn.on('error', (err: Error) => log.info({ caller: conn.caller?.identityName, code: (err as { code?: unknown }).code }, 'connection error'));
    server.emit('connection', conn);
  });
  listener.on('state', (s) => {
    if (s.type === 'disconnected') log.info({ code: s.error.code }, 'unbound; re-binding');
    else if (s.type === 'connected') log.info({ router: s.router }, 'bound');
  });
  listener.on('error', (err: ZitiError) => log.error({ err, code: err.code }, 'listener stopped'));

  // Resolve once the router has a terminator for us: a dial right after this succeeds.
  try {
    await new Promise<void>((resolve, reject) => {
      if (listener.listening) return resolve();
      const onError = (err: ZitiError): void => {
        listener.off('listening', onListening);
        reject(err);
      };
      const onListening = (): void => {
        listener.off('error', onError);
        resolve();
      };
      listener.once('listening', onListening);
      listener.once('error', onError);
    });
  } catch (err) {
    await listener.close();
    await app.close();
    store.close();
    throw err;
  }
  log.info({ path: o.path, store: store.path, allowedCallers: o.allowedCallers === undefined ? 'any' : [...o.allowedCallers] }, 'receiving');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      state.closing = true;
      await listener.close();
      server.closeIdleConnections();
      const deadline = Date.now() + DEFAULT_CLOSE_GRACE_MS;
      while (connections.size > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        server.closeIdleConnections();
      }
      for (const conn of connections) conn.destroy();
      await app.close();
      store.close();
      log.info({}, 'receiver closed');
    })();
    return closing;
  };
  return Object.freeze({ app, listener, store, close });
}

/**
 * Start a receiver: open the store, bind `service` with `ziti`, and serve HTTP over the accepted
 * Ziti connections only — no TCP port is opened. Each POST to `path` is checked in order: caller
 * identity allowed (403), signature (401), timestamp window (401), id not seen (202 when every id
 * is a duplicate), then stored durably, and only then answered 200. A malformed envelope is 400,
 * a body over `maxBodyBytes` 413. Resolves once the service is bound. The Ziti context stays the
 * caller's to close.
 *
 * @throws {OptionError} ERR_OPTION_UNKNOWN, ERR_OPTION_INVALID (synchronously)
 * @throws {WebhookError} ERR_WEBHOOK_SECRET_INVALID (synchronously)
 * @throws {ReceiverError} ERR_RECEIVER_STORE_FAILED
 * @throws {ZitiError} ERR_ZITI_SERVICE_NOT_FOUND, ERR_ZITI_SERVICE_NOT_PERMITTED, ERR_ZITI_UNAUTHORIZED
 * @example
 * const ziti = await ZitiContext.fromFile('receiver.json');
 * const receiver = await startReceiver({ ziti, service: 'jenkins-hooks', secrets: [process.env.DARKHOOK_SECRET!],
 *   allowedCallers: ['ci-sender'], storePath: '/var/lib/darkhook/receiver.db' });
 * // …
 * await receiver.close();
 * await ziti.close();
 */
export function startReceiver(options: ReceiverOptions): Promise<RunningReceiver> {
  const { options: normalized, secrets } = normalizeReceiverOptions(options);
  return start(normalized, secrets);
}
