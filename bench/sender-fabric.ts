/** End to end through the embedded fabric (sign → outbox → E2E → router → verify → SQLite) next to direct mutual TLS on loopback. Figures only. */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { decodeBatch, encodeBatch } from '../connector/batch-envelope.js';
import { generateHmacSecret } from '../connector/secrets.js';
import { openOutbox } from '../connector/sender/open-outbox.js';
import { createSender } from '../connector/sender/sender.js';
import { type Connect, createTransport } from '../connector/sender/transport.js';
import { signStandard, verifyStandard } from '../connector/signature-standard.js';
import { E2EReceiver, E2ESender, ensureCryptoReady } from '../connector/ziti/e2e.js';
import type { ZitiContext } from '../connector/ziti/index.js';
import { startReceiver } from '../receiver/server.js';
import { MessageStore } from '../receiver/store.js';
import { startTestNet } from '../test/receiver/helpers.js';
import { connectTls, startReceiver as startMtlsReceiver, tempDir, testPki } from '../test/sender/helpers.js';

/** Events per batch (the sender's default) and batches per measured run. */
const BATCH_EVENTS = 500;
const BATCH_ROUNDS = 10;
/** Requests measured one at a time. */
const SINGLE_REQUESTS = 300;
/** Every event body: 1 KiB of JSON. */
const BODY = Buffer.from(JSON.stringify({ alert: 'x'.repeat(1010) }).slice(0, 1024));
/** The goals. */
const GOAL_BATCHED_EVENTS_PER_S = 100_000;
const GOAL_SINGLE_RATIO = 0.5;

const lines: string[] = [];
function rate(label: string, count: number, ms: number): number {
  const perSecond = (count / ms) * 1000;
  lines.push(`${label.padEnd(66)} ${Math.round(perSecond).toLocaleString('en').padStart(9)} /s  (${count} in ${ms.toFixed(0)} ms)`);
  return perSecond;
}
function cost(label: string, ms: number, per: string): void {
  lines.push(`  ${label.padEnd(64)} ${ms.toFixed(3).padStart(9)} ms ${per}`);
}
async function timeIt(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

let seq = 0;
function signedSingle(secret: string): { headers: Record<string, string>; body: Buffer } {
  const id = `msg_bench${process.pid}x${seq++}`;
  const timestamp = Math.floor(Date.now() / 1000);
  return {
    body: BODY,
    headers: {
      'content-type': 'application/json',
      'webhook-event-type': 'bench.alert',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signStandard({ id, timestamp, body: BODY, secret }),
    },
  };
}

/** Signed single events straight over a kept-alive connection (no outbox): the transport's cost. */
async function rawSingles(connect: Connect, secret: string, count: number): Promise<number> {
  const transport = createTransport({ connect, path: '/webhooks', host: 'bench', requestTimeoutMs: 30_000, maxResponseBytes: 65_536 });
  const ms = await timeIt(async () => {
    for (let i = 0; i < count; i++) {
      const { headers, body } = signedSingle(secret);
      const res = await transport.post(headers, body);
      if (res.status !== 200) throw new RangeError(`HTTP ${res.status}: ${res.body.toString()}`);
    }
  });
  transport.close();
  return ms;
}

/** Signed 500-event batches straight over a kept-alive connection (encode + sign + POST; no outbox). */
async function rawBatches(connect: Connect, secret: string): Promise<number> {
  const transport = createTransport({ connect, path: '/webhooks', host: 'bench', requestTimeoutMs: 30_000, maxResponseBytes: 65_536 });
  const ms = await timeIt(async () => {
    for (let round = 0; round < BATCH_ROUNDS; round++) {
      const tag = seq++;
      const timestamp = Math.floor(Date.now() / 1000);
      const { body, contentType } = encodeBatch(
        Array.from({ length: BATCH_EVENTS }, (_, i) => ({ id: `evt_raw${process.pid}x${tag}x${i}`, type: 'bench.alert', timestamp, body: BODY })),
      );
      const id = `batch_raw${process.pid}x${tag}`;
      const headers = { 'content-type': contentType, 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signStandard({ id, timestamp, body, secret }) };
      const res = await transport.post(headers, body);
      if (res.status !== 200) throw new RangeError(`HTTP ${res.status}: ${res.body.toString()}`);
    }
  });
  transport.close();
  return ms;
}

/** The whole sender: outbox write, sign, POST, delete; `batch` events per request. */
async function viaSender(connect: Connect, secret: string, file: string, batch: boolean): Promise<number> {
  const tmp = tempDir();
  const outbox = await openOutbox(join(tmp.dir, file));
  const sender = createSender({ outbox, connect, secret, batchMaxEvents: batch ? BATCH_EVENTS : 1, batchMaxWaitMs: 60_000 });
  const event = { type: 'bench.alert', body: BODY, contentType: 'application/json' };
  const count = batch ? BATCH_EVENTS * BATCH_ROUNDS : SINGLE_REQUESTS;
  const ms = await timeIt(async () => {
    if (batch) {
      for (let round = 0; round < BATCH_ROUNDS; round++) await sender.sendMany(Array.from({ length: BATCH_EVENTS }, () => event));
      const report = await sender.flush();
      if (report.delivered.length !== count) throw new RangeError(`delivered ${report.delivered.length} of ${count}: ${report.lastError}`);
    } else {
      for (let i = 0; i < count; i++) {
        await sender.send(event);
        await sender.flush();
      }
    }
  });
  await sender.close();
  outbox.close();
  tmp.remove();
  return ms;
}

// ---- set-up: a fabric, the darkhook receiver bound on it, and the same receiver app behind direct mTLS ----
const work = tempDir();
const net = await startTestNet();
net.createService('bench');
const [receiverZiti, senderZiti] = (await Promise.all([net.context('bench-receiver', ['receivers']), net.context('bench-sender', ['senders'])])) as [ZitiContext, ZitiContext];
const secret = generateHmacSecret();
const receiver = await startReceiver({ ziti: receiverZiti, service: 'bench', secrets: [secret], storePath: join(work.dir, 'receiver.db') });
const viaZiti: Connect = () => senderZiti.dial('bench');

// The very same fastify app (verify + SQLite store), fed by a mutual-TLS listener on 127.0.0.1: only the transport differs.
const pki = await testPki();
const mtls = tls.createServer({ key: pki.serverKey, cert: pki.serverCert, ca: pki.ca, requestCert: true, rejectUnauthorized: true }, (socket) => {
  receiver.app.server.emit('connection', socket);
});
await new Promise<void>((resolve) => mtls.listen(0, '127.0.0.1', resolve));
const mtlsPort = (mtls.address() as { port: number }).port;
const viaMtls: Connect = (): Promise<Duplex> => connectTls(pki, mtlsPort);
// The earlier baseline of bench/sender.ts: a fastify mTLS receiver that verifies but stores nothing.
const plain = await startMtlsReceiver();

lines.push(`darkhook end to end, node ${process.version}, ${BODY.length} B events, HMAC v1, everything on 127.0.0.1`);
lines.push('');
// Warm-up: TLS sessions, dials, JIT.
await rawSingles(viaMtls, secret, 100);
await rawSingles(viaZiti, secret, 100);
await rawSingles(plain.connect, plain.secret, 100);

lines.push('single-event requests (one signed event per request, kept-alive connection, no outbox):');
const directPlain = rate('  direct mTLS → fastify that verifies only (bench/sender.ts baseline)', SINGLE_REQUESTS, await rawSingles(plain.connect, plain.secret, SINGLE_REQUESTS));
const directRecv = rate('  direct mTLS → darkhook receiver app (verify + SQLite FULL)', SINGLE_REQUESTS, await rawSingles(viaMtls, secret, SINGLE_REQUESTS));
const zitiRecv = rate('  Ziti (E2E, router) → darkhook receiver', SINGLE_REQUESTS, await rawSingles(viaZiti, secret, SINGLE_REQUESTS));
lines.push('single-event requests through the whole sender (outbox write + delete per event):');
const senderMtlsSingle = rate('  sender, sqlite outbox, direct mTLS → darkhook receiver app', SINGLE_REQUESTS, await viaSender(viaMtls, secret, 'outbox.db', false));
const senderZitiSingle = rate('  sender, sqlite outbox, Ziti → darkhook receiver', SINGLE_REQUESTS, await viaSender(viaZiti, secret, 'outbox.db', false));
rate('  sender, jsonl outbox, Ziti → darkhook receiver', SINGLE_REQUESTS, await viaSender(viaZiti, secret, 'outbox.jsonl', false));
lines.push(`batched, no outbox (${BATCH_ROUNDS} × encode + sign + POST of ${BATCH_EVENTS} events):`);
rate('  direct mTLS → darkhook receiver app', BATCH_EVENTS * BATCH_ROUNDS, await rawBatches(viaMtls, secret));
rate('  Ziti → darkhook receiver', BATCH_EVENTS * BATCH_ROUNDS, await rawBatches(viaZiti, secret));
lines.push(`batched through the whole sender (${BATCH_ROUNDS} × sendMany(${BATCH_EVENTS}), one flush):`);
const batchMtls = rate('  sender, sqlite outbox, direct mTLS → darkhook receiver app', BATCH_EVENTS * BATCH_ROUNDS, await viaSender(viaMtls, secret, 'outbox.db', true));
const batchZiti = rate('  sender, sqlite outbox, Ziti → darkhook receiver', BATCH_EVENTS * BATCH_ROUNDS, await viaSender(viaZiti, secret, 'outbox.db', true));
const batchZitiFile = rate('  sender, jsonl outbox, Ziti → darkhook receiver', BATCH_EVENTS * BATCH_ROUNDS, await viaSender(viaZiti, secret, 'outbox.jsonl', true));

lines.push('');
lines.push('against the goals:');
const best = Math.max(batchZiti, batchZitiFile);
lines.push(`  batched through the fabric: ${Math.round(best).toLocaleString('en')} events/s = ${(best / GOAL_BATCHED_EVENTS_PER_S).toFixed(2)} × the ${GOAL_BATCHED_EVENTS_PER_S.toLocaleString('en')} events/s goal`);
lines.push(`  single-event over Ziti vs direct mTLS, same receiver app: ${(zitiRecv / directRecv).toFixed(2)} (goal ≥ ${GOAL_SINGLE_RATIO})`);
lines.push(`  single-event over Ziti vs direct mTLS to the verify-only fastify: ${(zitiRecv / directPlain).toFixed(2)}`);
lines.push(`  whole sender, single events, Ziti vs direct mTLS: ${(senderZitiSingle / senderMtlsSingle).toFixed(2)}`);
lines.push(`  batched, Ziti vs direct mTLS (same sender, same receiver): ${(batchZiti / batchMtls).toFixed(2)}`);

// ---- where the time goes: each stage alone, per 500-event batch (or per event) ----
lines.push('');
lines.push('where the time goes (each stage alone):');
const events = Array.from({ length: BATCH_EVENTS }, (_, i) => ({ id: `evt_${i}`, type: 'bench.alert', timestamp: 1_700_000_000, body: BODY, headers: { 'content-type': 'application/json' } }));
{
  const tmp = tempDir();
  const outbox = await openOutbox(join(tmp.dir, 'profile.db'));
  const messages = (n: number) => Array.from({ length: n }, () => ({ id: `msg_p${seq++}`, type: 't', body: BODY, headers: {}, createdAt: Date.now() }));
  const N = 50;
  cost('outbox sqlite: enqueue 1 event (commit + fsync)', (await timeIt(() => { for (let i = 0; i < N; i++) outbox.enqueue(messages(1)); })) / N, 'per event');
  cost('outbox sqlite: enqueue 500 events in one transaction', (await timeIt(() => { for (let i = 0; i < 5; i++) outbox.enqueue(messages(BATCH_EVENTS)); })) / 5, 'per batch');
  const claimed = outbox.nextBatch(BATCH_EVENTS);
  cost('outbox sqlite: markDelivered 500', await timeIt(() => outbox.markDelivered(claimed.map((m) => m.id))), 'per batch');
  outbox.close();
  const file = await openOutbox(join(tmp.dir, 'profile.jsonl'));
  cost('outbox jsonl: enqueue 1 event (append + fsync)', (await timeIt(() => { for (let i = 0; i < N; i++) file.enqueue(messages(1)); })) / N, 'per event');
  cost('outbox jsonl: enqueue 500 events in one append', (await timeIt(() => { for (let i = 0; i < 5; i++) file.enqueue(messages(BATCH_EVENTS)); })) / 5, 'per batch');
  file.close();
  tmp.remove();
}
const R = 20;
const { body: batchBody, contentType } = encodeBatch(events);
cost(`encodeBatch 500 × 1 KiB (→ ${(batchBody.length / 1024).toFixed(0)} KiB of JSON)`, (await timeIt(() => { for (let i = 0; i < R; i++) encodeBatch(events); })) / R, 'per batch');
const sig = signStandard({ id: 'batch_x', timestamp: 1_700_000_000, body: batchBody, secret });
cost('signStandard (HMAC-SHA256) over the batch', (await timeIt(() => { for (let i = 0; i < R; i++) signStandard({ id: 'batch_x', timestamp: 1_700_000_000, body: batchBody, secret }); })) / R, 'per batch');
cost('verifyStandard over the batch', (await timeIt(() => { for (let i = 0; i < R; i++) verifyStandard({ id: 'batch_x', timestamp: '1700000000', signature: sig, body: batchBody, secrets: [secret], now: 1_700_000_000 }); })) / R, 'per batch');
cost('decodeBatch at the receiver', (await timeIt(() => { for (let i = 0; i < R; i++) decodeBatch(batchBody, contentType); })) / R, 'per batch');
await ensureCryptoReady();
{
  const key = randomBytes(32);
  const tx = new E2ESender(key);
  const rx = new E2EReceiver(key, tx.header);
  const chunk = 64 * 1024 - 32;
  cost('E2E secretstream seal + open of the batch (64 KiB chunks, libsodium WASM)', (await timeIt(() => {
    for (let i = 0; i < R; i++) for (let off = 0; off < batchBody.length; off += chunk) rx.open(tx.seal(batchBody.subarray(off, off + chunk)));
  })) / R, 'per batch (both ends)');
}
{
  const tmp = tempDir();
  const store = MessageStore.open(join(tmp.dir, 'profile-recv.db'));
  let b = 0;
  const rows = () => events.map((e) => ({ ...e, id: `evt_${b}_${e.id}`, caller: 'bench', batchId: `batch_${b}` }));
  cost('receiver store: 500 has() + insert 500 in one transaction (FULL)', (await timeIt(() => {
    for (; b < 5; b++) {
      const fresh = rows().filter((m) => !store.has(m.id));
      store.insert(fresh);
    }
  })) / 5, 'per batch');
  const one = (n: number) => [{ id: `one_${n}`, type: 't', timestamp: 1, body: BODY, headers: {}, caller: 'bench', batchId: undefined }];
  cost('receiver store: insert 1 event (commit + fsync)', (await timeIt(() => { for (let i = 0; i < 50; i++) store.insert(one(i)); })) / 50, 'per event');
  store.close();
  tmp.remove();
}

await plain.stop();
await new Promise((resolve) => mtls.close(resolve));
await receiver.close();
await net.close();
work.remove();
process.stdout.write(`${lines.join('\n')}\n`);
