/** Sender throughput end to end over mutual TLS on loopback: batched vs single-event, next to a direct POST baseline. Figures only. */
import https from 'node:https';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { signStandard } from '../connector/signature-standard.js';
import { openOutbox } from '../connector/sender/open-outbox.js';
import { createSender } from '../connector/sender/sender.js';
import { startReceiver, type TestReceiver, tempDir, testPki } from '../test/sender/helpers.js';

/** Events per batched round (one full batch) and rounds measured. */
const BATCH_EVENTS = 500;
const BATCH_ROUNDS = 10;
/** Requests measured one at a time (single-event sender and the direct baseline). */
const SINGLE_REQUESTS = 500;
/** Body of every event: 1 KiB of JSON. */
const BODY = Buffer.from(JSON.stringify({ alert: 'x'.repeat(1010) }).slice(0, 1024));

function rate(label: string, count: number, ms: number, unit: string): string {
  return `${label.padEnd(52)} ${Math.round((count / ms) * 1000).toLocaleString('en').padStart(9)} ${unit}/s  (${count} in ${ms.toFixed(0)} ms)\n`;
}

/** Batched: `BATCH_ROUNDS` × 500 events; `many` enqueues each round with one disk write, else one write per event. */
async function batched(r: TestReceiver, file: string, many: boolean): Promise<number> {
  const tmp = tempDir();
  const outbox = await openOutbox(join(tmp.dir, file));
  const sender = createSender({ outbox, connect: r.connect, secret: r.secret, batchMaxEvents: BATCH_EVENTS, batchMaxWaitMs: 60_000 });
  const event = { type: 'bench.alert', body: BODY, contentType: 'application/json' };
  const start = performance.now();
  for (let round = 0; round < BATCH_ROUNDS; round++) {
    if (many) await sender.sendMany(Array.from({ length: BATCH_EVENTS }, () => event));
    else for (let i = 0; i < BATCH_EVENTS; i++) await sender.send(event);
  }
  const report = await sender.flush();
  const ms = performance.now() - start;
  if (report.delivered.length !== BATCH_EVENTS * BATCH_ROUNDS) throw new RangeError(`delivered ${report.delivered.length}`);
  await sender.close();
  outbox.close();
  tmp.remove();
  return ms;
}

/** One event per request through the whole sender (outbox write, sign, POST, delete). */
async function single(r: TestReceiver, file: string): Promise<number> {
  const tmp = tempDir();
  const outbox = await openOutbox(join(tmp.dir, file));
  const sender = createSender({ outbox, connect: r.connect, secret: r.secret, batchMaxEvents: 1 });
  const start = performance.now();
  for (let i = 0; i < SINGLE_REQUESTS; i++) {
    await sender.send({ type: 'bench.alert', body: BODY, contentType: 'application/json' });
    await sender.flush();
  }
  const ms = performance.now() - start;
  await sender.close();
  outbox.close();
  tmp.remove();
  return ms;
}

/** Baseline: a signed 1 KiB POST straight over a kept-alive mutual-TLS https agent; no outbox. */
async function direct(r: TestReceiver): Promise<number> {
  const pki = await testPki();
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: pki.ca, cert: pki.clientCert, key: pki.clientKey });
  const post = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const id = `msg_direct${i}`;
      const timestamp = Math.floor(Date.now() / 1000);
      const headers = {
        'content-type': 'application/json',
        'content-length': String(BODY.length),
        'webhook-event-type': 'bench.alert',
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signStandard({ id, timestamp, body: BODY, secret: r.secret }),
      };
      const req = https.request({ host: '127.0.0.1', port: r.port, path: '/webhooks', method: 'POST', agent, headers }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new RangeError(`HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(BODY);
    });
  const start = performance.now();
  for (let i = 0; i < SINGLE_REQUESTS; i++) await post(i);
  const ms = performance.now() - start;
  agent.destroy();
  return ms;
}

const r = await startReceiver();
const out: string[] = [`sender over mutual TLS on 127.0.0.1 (fastify receiver verifies every signature), node ${process.version}, 1 KiB events\n`];
// Warm-up: TLS session, JIT.
await direct(r);
out.push(rate('direct mTLS POST, one event per request (baseline)', SINGLE_REQUESTS, await direct(r), 'events'));
for (const file of ['outbox.db', 'outbox.jsonl']) {
  const kind = file.endsWith('.db') ? 'sqlite' : 'file  ';
  out.push(rate(`sender, ${kind} outbox, one event per request`, SINGLE_REQUESTS, await single(r, file), 'events'));
  out.push(rate(`sender, ${kind} outbox, batches of 500, send() each`, BATCH_EVENTS * BATCH_ROUNDS, await batched(r, file, false), 'events'));
  out.push(rate(`sender, ${kind} outbox, batches of 500, sendMany()`, BATCH_EVENTS * BATCH_ROUNDS, await batched(r, file, true), 'events'));
}
await r.stop();
process.stdout.write(out.join(''));
