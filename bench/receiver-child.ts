/**
 * Bench child, two receivers each reachable two ways:
 * - `durable`: the darkhook receiver (verify, then SQLite store with synchronous=FULL, then 2xx);
 * - `verify`: the test receiver — a fastify app that verifies the signature with the
 *   receiver's own code (`verifyRequest`: HMAC, time window, batch decode) and records the ids in memory.
 * Each is bound on a Ziti service (`<service>` and `<service>-verify`) and served on a mutual-TLS
 * listener on 127.0.0.1 (the baseline transport). Inert without `DARKHOOK_BENCH_RECEIVER`. Prints
 * `ready <durable mtls port> <verify mtls port>`; answers `cpu` on stdin with its CPU time so far;
 * exits on stdin end.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import tls from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import { createVerifier, DEFAULT_TOLERANCE_SECONDS } from '../connector/webhook/signature-standard.js';
import { ZitiContext } from '../connector/ziti/index.js';
import { verifyRequest } from '../receiver/ingest/verify.js';
import { DEFAULT_MAX_BODY_BYTES } from '../receiver/options.js';
import { startReceiver } from '../receiver/server.js';

/** What the parent passes in `DARKHOOK_BENCH_RECEIVER` (JSON). */
export interface BenchReceiverConfig {
  readonly identity: string;
  readonly service: string;
  readonly secret: string;
  readonly storePath: string;
  /** PEM files of the baseline mTLS listener. */
  readonly tls: { readonly key: string; readonly cert: string; readonly ca: string };
}

/** The verify-only test receiver: signature, window and envelope checked, ids kept in memory, 200. */
async function verifyApp(secret: string): Promise<FastifyInstance> {
  const seen = new Set<string>();
  const verifier = createVerifier({ secrets: [secret], toleranceSeconds: DEFAULT_TOLERANCE_SECONDS });
  const app = Fastify({ serverFactory: (handler) => http.createServer(handler), bodyLimit: DEFAULT_MAX_BODY_BYTES, logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post('/webhooks', async (req, reply) => {
    const verified = verifyRequest({
      headers: req.headers,
      body: req.body as Buffer,
      caller: undefined,
      verifier,
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
    });
    let stored = 0;
    for (const m of verified.messages) if (!seen.has(m.id) && seen.add(m.id)) stored += 1;
    return reply.code(200).send({ id: verified.requestId, stored });
  });
  await app.ready();
  return app;
}

async function main(config: BenchReceiverConfig): Promise<void> {
  const ziti = await ZitiContext.fromFile(config.identity);
  const receiver = await startReceiver({ ziti, service: config.service, secrets: [config.secret], storePath: config.storePath });
  const verify = await verifyApp(config.secret);
  const verifyListener = ziti.listen(`${config.service}-verify`);
  verifyListener.on('connection', (conn) => verify.server.emit('connection', conn));
  await new Promise<void>((resolve) => verifyListener.once('listening', () => resolve()));
  const read = (path: string): Buffer => readFileSync(path);
  const serve = async (app: FastifyInstance): Promise<tls.Server> => {
    const server = tls.createServer({ key: read(config.tls.key), cert: read(config.tls.cert), ca: read(config.tls.ca), requestCert: true, rejectUnauthorized: true }, (socket) => {
      socket.setNoDelay(true);
      app.server.emit('connection', socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return server;
  };
  const servers = [await serve(receiver.app), await serve(verify)];
  process.stdout.write(`ready ${servers.map((s) => (s.address() as { port: number }).port).join(' ')}\n`);
  process.stdin.on('data', (chunk: Buffer) => {
    if (chunk.toString().includes('cpu')) {
      const { user, system } = process.cpuUsage();
      process.stdout.write(`cpu ${(user + system) / 1000}\n`);
    }
  });
  await new Promise((resolve) => process.stdin.once('end', resolve));
  for (const server of servers) server.close();
  await verifyListener.close();
  await verify.close();
  await receiver.close();
  await ziti.close();
}

const raw = process.env['DARKHOOK_BENCH_RECEIVER'];
if (raw !== undefined) await main(JSON.parse(raw) as BenchReceiverConfig);
