/** Sender test fixtures: the real receiver app over mutual TLS on 127.0.0.1, recording what it saw, with a fault hook. */
import { spawn, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import https from 'node:https';
import tls, { type TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { DEFAULT_WEBHOOK_PATH } from '../../connector/webhook/headers.js';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import { createVerifier, DEFAULT_TOLERANCE_SECONDS } from '../../connector/webhook/signature-standard.js';
import { DEFAULT_MAX_BODY_BYTES } from '../../receiver/config/config.js';
import { buildWebhookApp } from '../../receiver/ingest/plugin.js';
import type { Route } from '../../receiver/ingest/routes.js';
import { verifyRequest } from '../../receiver/ingest/verify.js';
import { MessageStore } from '../../receiver/log/store.js';
import { SqliteMessageLog } from '../../receiver/log/sqlite-log.js';
import { createServer } from 'node:net';
import { createCa, issueClientCert, issueServerCert, serializeIdentity } from '../../pki/index.js';

/** PEM material for one receiver and one sender. */
export interface Pki {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

let pkiOnce: Promise<Pki> | undefined;

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made once per test file. */
export function testPki(): Promise<Pki> {
  pkiOnce ??= (async () => {
    const ca = await createCa({ commonName: 'darkhook sender test CA' });
    const server = await issueServerCert(ca, { commonName: 'receiver', ipAddresses: ['127.0.0.1'] });
    const client = await issueClientCert(ca, { commonName: 'sender' });
    return { ca: ca.certPem, serverCert: server.certPem, serverKey: server.keyPem!, clientCert: client.certPem, clientKey: client.keyPem! };
  })();
  return pkiOnce;
}

/** One event as the receiver saw it. */
export interface Received {
  readonly id: string;
  readonly type: string;
  readonly body: Buffer;
  readonly headers: Record<string, string>;
  /** `single` (plain webhook) or `batch` (inside an envelope). */
  readonly via: 'single' | 'batch';
  /** The request's `webhook-id` and `webhook-timestamp`. */
  readonly webhookId: string;
  readonly webhookTimestamp: number;
}

/** One answered request as the receiver saw it. */
export interface RequestLog {
  readonly webhookId: string;
  readonly webhookTimestamp: number;
  readonly contentType: string;
  readonly events: number;
  readonly at: number;
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
}

/** A forced answer, given instead of the receiver's own. */
export interface ForcedAnswer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

/**
 * The fault hook, asked about each verified request (number `n`, 0-based, counting answered
 * ones): `undefined` lets the real receiver answer (store, 200 / 202); an answer is sent instead,
 * nothing stored; a promise holds the request until it settles (never: a hung receiver).
 */
export type Responder = (n: number) => ForcedAnswer | undefined | Promise<ForcedAnswer | undefined>;

/** The real receiver app (`buildWebhookApp`, its SQLite store) served over mutual TLS on 127.0.0.1. */
export interface TestReceiver {
  readonly port: number;
  readonly secret: string;
  /** Verified events, recorded on arrival (before any answer). */
  readonly events: Received[];
  readonly requests: RequestLog[];
  /** TLS connections accepted so far. */
  connections: number;
  respond: Responder;
  /** Ids answered 2xx, each once (the real store deduplicates by id). */
  readonly stored: Set<string>;
  /** Codes of the receiver's own refusals (4xx/5xx it answered, not forced ones). */
  readonly rejected: string[];
  /** The receiver's message store (open while started). */
  readonly store: MessageStore;
  stop(): Promise<void>;
  /** Serve again on the same port and store (after `stop`). */
  start(): Promise<void>;
  connect(): Promise<Duplex>;
}

const ROUTE: Route = Object.freeze({ path: DEFAULT_WEBHOOK_PATH, callers: undefined, minSeverity: undefined, sinks: [] });

/** The client certificate's common name: the caller's identity over mTLS, as a Ziti bind names the dialer. */
function callerOf(socket: unknown): string | undefined {
  const cn = (socket as Partial<TLSSocket>).getPeerCertificate?.()?.subject?.CN;
  return typeof cn === 'string' ? cn : undefined;
}

function build(pki: Pki, receiver: TestReceiver, store: MessageStore): FastifyInstance {
  const app = buildWebhookApp({
    routes: [ROUTE],
    secrets: [receiver.secret],
    toleranceSeconds: DEFAULT_TOLERANCE_SECONDS,
    maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
    store: new SqliteMessageLog(store),
    log: pino({ enabled: false }),
    callerOf,
    recordRejections: false,
    serverFactory: (handler) => https.createServer({ key: pki.serverKey, cert: pki.serverCert, ca: pki.ca, requestCert: true, rejectUnauthorized: true }, handler),
  });
  const verifier = createVerifier({ secrets: [receiver.secret] });
  const forced = new WeakSet<object>();
  const seen = new WeakMap<object, Received[]>();
  app.server.on('secureConnection', () => {
    receiver.connections += 1;
  });
  // The fault hook sits after the body is read and before the route's handler: a forced answer
  // means the receiver never saw the request (nothing stored).
  app.addHook('preHandler', async (req, reply) => {
    const h = req.headers;
    const webhookId = String(h['webhook-id']);
    const webhookTimestamp = Number(h['webhook-timestamp']);
    let verified;
    try {
      verified = verifyRequest({ headers: h, body: (req.body as Buffer | undefined) ?? Buffer.alloc(0), caller: callerOf(req.raw.socket), verifier, maxBodyBytes: DEFAULT_MAX_BODY_BYTES });
    } catch {
      return; // The receiver refuses it itself.
    }
    const events: Received[] = verified.messages.map((m) => ({ id: m.id, type: m.type, body: m.body, headers: { ...m.headers }, via: verified.batch ? 'batch' : 'single', webhookId, webhookTimestamp }));
    seen.set(req, events);
    receiver.events.push(...events);
    const answer = await receiver.respond(receiver.requests.length);
    if (answer === undefined) return;
    forced.add(req);
    await reply.code(answer.status).headers(answer.headers ?? {}).send(answer.body ?? (answer.status < 300 ? '' : `refused ${answer.status}`));
  });
  app.addHook('onSend', async (req, reply, payload) => {
    if (!forced.has(req) && reply.statusCode >= 400 && typeof payload === 'string') receiver.rejected.push((JSON.parse(payload) as { code: string }).code);
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    const events = seen.get(req);
    if (events === undefined) return;
    const h = req.headers;
    receiver.requests.push({ webhookId: String(h['webhook-id']), webhookTimestamp: Number(h['webhook-timestamp']), contentType: String(h['content-type']), events: events.length, at: Date.now(), status: reply.statusCode, headers: { ...h } });
    if (reply.statusCode >= 200 && reply.statusCode < 300) for (const e of events) receiver.stored.add(e.id);
  });
  return app;
}

/** Start the real receiver app with a fresh store; `t.after(() => r.stop())` it. */
export async function startReceiver(respond: Responder = () => undefined): Promise<TestReceiver> {
  const pki = await testPki();
  // The store outlives stop() (a restarted receiver still knows its ids); the folder goes with the process.
  const tmp = tempDir();
  process.once('exit', tmp.remove);
  let app: FastifyInstance | undefined;
  let store: MessageStore | undefined;
  const receiver: TestReceiver = {
    port: 0,
    secret: generateHmacSecret(),
    events: [],
    requests: [],
    connections: 0,
    respond,
    stored: new Set(),
    rejected: [],
    get store() {
      assert.ok(store !== undefined, 'the receiver is stopped');
      return store;
    },
    async stop() {
      const a = app;
      app = undefined;
      if (a !== undefined) {
        a.server.closeAllConnections();
        await a.close();
      }
      store?.close();
      store = undefined;
    },
    async start() {
      store = MessageStore.open(join(tmp.dir, 'receiver.db'));
      app = build(pki, receiver, store);
      await app.listen({ host: '127.0.0.1', port: receiver.port });
      (receiver as { port: number }).port = (app.server.address() as { port: number }).port;
    },
    connect: () => connectTls(pki, receiver.port),
  };
  await receiver.start();
  return receiver;
}

/** A mutual-TLS connection to 127.0.0.1:`port`, as the sender's `Connect`. */
export function connectTls(pki: Pki, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.ca, cert: pki.clientCert, key: pki.clientKey });
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** A fresh temp folder, removed by the returned function. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'darkhook-sender-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Poll `check` every 10 ms until it is true, or fail after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A port on 127.0.0.1 that nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A valid Ziti identity JSON whose controller is unreachable (127.0.0.1, closed port), and its key PEM. */
export async function unreachableIdentity(): Promise<{ json: string; keyPem: string }> {
  const pki = await testPki();
  const port = await closedPort();
  const json = serializeIdentity({
    ztAPI: `https://127.0.0.1:${port}/edge/client/v1`,
    ztAPIs: null,
    configTypes: null,
    key: pki.clientKey,
    cert: pki.clientCert,
    ca: pki.ca,
    enableHa: false,
  });
  return { json, keyPem: pki.clientKey };
}

/** Run a test child script with its JSON config in `envVar`; collects its stdout lines as they arrive. */
export function runChild(script: string, envVar: string, config: unknown): { child: ChildProcess; lines: string[] } {
  const child = spawn(process.execPath, [script], { env: { ...process.env, [envVar]: JSON.stringify(config) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  return { child, lines };
}
