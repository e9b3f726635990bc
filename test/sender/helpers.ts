/** Sender test fixtures: a mutual-TLS fastify receiver on 127.0.0.1 that verifies, records and answers as told. */
import { spawn, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import { batchFormatOf, decodeBatch } from '../../connector/webhook/batch-envelope.js';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import { verifyStandard } from '../../connector/webhook/signature-standard.js';
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

/** One request as the receiver saw it. */
export interface RequestLog {
  readonly webhookId: string;
  readonly webhookTimestamp: number;
  readonly contentType: string;
  readonly events: number;
  readonly at: number;
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
}

/** What the receiver answers to request number `n` (0-based). */
export type Responder = (n: number) => { status: number; headers?: Record<string, string>; body?: string } | Promise<{ status: number; headers?: Record<string, string>; body?: string }>;

/** A running test receiver. */
export interface TestReceiver {
  readonly port: number;
  readonly secret: string;
  readonly events: Received[];
  readonly requests: RequestLog[];
  /** TLS connections accepted so far. */
  connections: number;
  respond: Responder;
  /** Ids stored (2xx answered), each once: a real receiver deduplicates by id. */
  readonly stored: Set<string>;
  /** Codes of requests refused because verification failed. */
  readonly rejected: string[];
  stop(): Promise<void>;
  /** Listen again on the same port (after `stop`). */
  start(): Promise<void>;
  connect(): Promise<Duplex>;
}

function flat(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (typeof v === 'string') out[k] = v;
  return out;
}

function build(pki: Pki, receiver: TestReceiver): FastifyInstance {
  const app = Fastify({
    https: { key: pki.serverKey, cert: pki.serverCert, ca: pki.ca, requestCert: true, rejectUnauthorized: true },
    bodyLimit: 32 * 1024 * 1024,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.server.on('secureConnection', () => {
    receiver.connections += 1;
  });
  app.post('/webhooks', async (req, reply) => {
    const body = req.body as Buffer;
    const h = req.headers;
    const webhookId = String(h['webhook-id']);
    const webhookTimestamp = Number(h['webhook-timestamp']);
    const contentType = String(h['content-type']);
    try {
      verifyStandard({ id: webhookId, timestamp: String(h['webhook-timestamp']), signature: String(h['webhook-signature']), body, secrets: [receiver.secret] });
    } catch (err) {
      receiver.rejected.push((err as { code: string }).code);
      return reply.code(401).send((err as Error).message);
    }
    const events: Received[] = batchFormatOf(contentType) !== undefined
      ? decodeBatch(body, contentType).map((e) => ({ id: e.id, type: e.type, body: e.body, headers: e.headers ?? {}, via: 'batch', webhookId, webhookTimestamp }))
      : [{ id: webhookId, type: String(h['webhook-event-type']), body, headers: flat(h), via: 'single', webhookId, webhookTimestamp }];
    // Events count as seen on arrival, stored only when answered 2xx.
    receiver.events.push(...events);
    const answer = await receiver.respond(receiver.requests.length);
    receiver.requests.push({ webhookId, webhookTimestamp, contentType, events: events.length, at: Date.now(), status: answer.status, headers: { ...h } });
    if (answer.status >= 200 && answer.status < 300) for (const e of events) receiver.stored.add(e.id);
    reply.code(answer.status).headers(answer.headers ?? {});
    return answer.body ?? (answer.status < 300 ? '' : `refused ${answer.status}`);
  });
  return app;
}

/** Start a receiver; `t.after(() => r.stop())` it. */
export async function startReceiver(respond: Responder = () => ({ status: 200 })): Promise<TestReceiver> {
  const pki = await testPki();
  let app: FastifyInstance | undefined;
  const receiver: TestReceiver = {
    port: 0,
    secret: generateHmacSecret(),
    events: [],
    requests: [],
    connections: 0,
    respond,
    stored: new Set(),
    rejected: [],
    async stop() {
      const a = app;
      app = undefined;
      if (a !== undefined) {
        a.server.closeAllConnections();
        await a.close();
      }
    },
    async start() {
      app = build(pki, receiver);
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
