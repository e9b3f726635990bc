/**
 * Sender end to end, one process per role as deployed: the embedded fabric (`darkhook fabric up`),
 * the receiver (verify + SQLite store; bench/receiver-child.ts) and the sender (this process). The
 * same receiver app is also reachable over direct mutual TLS on 127.0.0.1: the baseline. Figures only.
 *
 *   npm run build && node build/bench/sender-batched.js
 *   BENCH_BATCHES=40 BENCH_SINGLES=500 for longer runs; BENCH_OUTBOXES=jsonl,db and
 *   BENCH_RECEIVERS=verify,durable and BENCH_PHASES=single,raw,sender,drain choose what runs;
 *   BENCH_PROF=<dir> writes a --cpu-prof profile of the fabric and receiver processes there.
 *   BENCH_FABRIC=quickstart runs the same over a real `ziti edge quickstart` ($ZITI_BIN) instead of the
 *   embedded fabric; BENCH_REPEATS=<n> alternates n direct-mTLS and Ziti runs of the single and sender
 *   phases and keeps the medians; BENCH_RESULT_FILE=<file> also writes the figures as JSON (bench/run).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { encodeBatch } from '../connector/webhook/batch-envelope.js';
import { generateHmacSecret } from '../connector/webhook/secrets.js';
import { openOutbox } from '../connector/sender/open-outbox.js';
import { createSender } from '../connector/sender/sender.js';
import { type Connect, createTransport } from '../connector/sender/transport.js';
import { createSigner } from '../connector/webhook/signature-standard.js';
import { cryptoBackendName, enroll, ensureCryptoReady, ZitiContext } from '../connector/ziti/index.js';
import { createIdentityWithJwt } from '../fabric/fabric.js';
import { FabricStore } from '../fabric/store.js';
import { writeIdentityFile } from '../pki/index.js';
import { connectTls, tempDir, testPki } from '../test/sender/helpers.js';
import { Quickstart, zitiBinary } from '../test/interop/quickstart.js';
import type { BenchReceiverConfig } from './receiver-child.js';
import { emitResult, peakRssMiB } from './result.js';

/** Events per batch (the sender's default flush size) and 1 KiB bodies, as the issue asks. */
const BATCH_EVENTS = 500;
const BATCHES = Number(process.env['BENCH_BATCHES'] ?? 20);
const SINGLES = Number(process.env['BENCH_SINGLES'] ?? 300);
const OUTBOXES = (process.env['BENCH_OUTBOXES'] ?? 'jsonl,db').split(',');
const RECEIVERS = (process.env['BENCH_RECEIVERS'] ?? 'verify,durable').split(',');
const PHASES = new Set((process.env['BENCH_PHASES'] ?? 'single,raw,sender,drain').split(','));
const BODY = Buffer.from(JSON.stringify({ alert: 'x'.repeat(1010) }).slice(0, 1024));
const GOAL_BATCHED_EVENTS_PER_S = 100_000;
const GOAL_SINGLE_RATIO = 0.5;
const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const RECEIVER_CHILD = fileURLToPath(new URL('./receiver-child.js', import.meta.url));
const PROF_DIR = process.env['BENCH_PROF'];
const FABRIC = process.env['BENCH_FABRIC'] ?? 'embedded';
const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 1);
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const CHILD_FLAGS = PROF_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROF_DIR}`];

const out: string[] = [];
const say = (line: string): void => {
  out.push(line);
  process.stderr.write(`${line}\n`);
};

/** Lines of a child's stdout, and a wait for the first line matching a pattern. */
function lines(child: ChildProcess): (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray> {
  const seen: string[] = [];
  const waiters: { pattern: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      seen.push(line);
      for (const w of [...waiters]) {
        const m = line.match(w.pattern);
        if (m !== null) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    }
  });
  return (pattern, timeoutMs = 30_000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; saw: ${seen.join(' | ')}`)), timeoutMs);
      waiters.push({ pattern, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
}

/** CPU milliseconds a process has used, from /proc (user + system, clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rate(label: string, count: number, ms: number): number {
  const perSecond = (count / ms) * 1000;
  say(`  ${label.padEnd(62)} ${Math.round(perSecond).toLocaleString('en').padStart(9)} /s  (${count} in ${ms.toFixed(0)} ms)`);
  return perSecond;
}

let seq = 0;
/** Signed single events straight over one kept-alive connection (no outbox). */
async function rawSingles(connect: Connect, secret: string, count: number): Promise<number> {
  const transport = createTransport({ connect, path: '/webhooks', host: 'bench', requestTimeoutMs: 30_000, maxResponseBytes: 65_536 });
  const signer = createSigner(secret);
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const id = `msg_bench${process.pid}x${seq++}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = { 'content-type': 'application/json', 'webhook-event-type': 'bench.alert', ...signer.headers(id, timestamp, BODY) };
    const res = await transport.post(headers, BODY);
    if (res.status !== 200) throw new RangeError(`HTTP ${res.status}: ${res.body.toString()}`);
  }
  const ms = performance.now() - start;
  transport.close();
  return ms;
}

/** Signed 500-event batches straight over one kept-alive connection (encode + sign + POST; no outbox). */
async function rawBatches(connect: Connect, secret: string): Promise<number> {
  const transport = createTransport({ connect, path: '/webhooks', host: 'bench', requestTimeoutMs: 30_000, maxResponseBytes: 65_536 });
  const signer = createSigner(secret);
  const start = performance.now();
  for (let round = 0; round < BATCHES; round++) {
    const tag = seq++;
    const timestamp = Math.floor(Date.now() / 1000);
    const { body, contentType } = encodeBatch(
      Array.from({ length: BATCH_EVENTS }, (_, i) => ({ id: `evt_raw${process.pid}x${tag}x${i}`, type: 'bench.alert', timestamp, body: BODY, headers: { 'content-type': 'application/json' } })),
    );
    const id = `batch_raw${process.pid}x${tag}`;
    const headers = { 'content-type': contentType, ...signer.headers(id, timestamp, body) };
    const res = await transport.post(headers, body);
    if (res.status !== 200) throw new RangeError(`HTTP ${res.status}: ${res.body.toString()}`);
  }
  const ms = performance.now() - start;
  transport.close();
  return ms;
}

/**
 * The whole sender: a producer hands it 500 events at a time (yielding to I/O in between, as a
 * real producer would), the sender writes them to its outbox and delivers them in batches of 500,
 * one in flight; the clock stops when flush() reports every event accepted.
 */
async function viaSender(connect: Connect, secret: string, outboxFile: string): Promise<number> {
  const tmp = tempDir();
  const outbox = await openOutbox(join(tmp.dir, outboxFile));
  const sender = createSender({ outbox, connect, secret, batchMaxEvents: BATCH_EVENTS });
  const event = { type: 'bench.alert', body: BODY, contentType: 'application/json' };
  const count = BATCH_EVENTS * BATCHES;
  const start = performance.now();
  for (let round = 0; round < BATCHES; round++) {
    await sender.sendMany(Array.from({ length: BATCH_EVENTS }, () => event));
    await new Promise((resolve) => setImmediate(resolve));
  }
  const report = await sender.flush();
  const ms = performance.now() - start;
  if (report.delivered.length !== count) throw new RangeError(`delivered ${report.delivered.length} of ${count}: ${report.lastError}`);
  await sender.close();
  outbox.close();
  tmp.remove();
  return ms;
}

/**
 * Draining a backlog, e.g. after an outage: all events already in the outbox (written by a sender
 * that could not deliver), then one flush. Returns the flush to time.
 */
async function backlog(connect: Connect, secret: string, outboxFile: string): Promise<() => Promise<number>> {
  const tmp = tempDir();
  const outbox = await openOutbox(join(tmp.dir, outboxFile));
  const event = { type: 'bench.alert', body: BODY, contentType: 'application/json' };
  // Its batches wait for the max wait (an hour): nothing is sent.
  const offline = createSender({ outbox, connect, secret, batchMaxEvents: BATCH_EVENTS * BATCHES + 1, batchMaxWaitMs: 3_600_000 });
  for (let round = 0; round < BATCHES; round++) await offline.sendMany(Array.from({ length: BATCH_EVENTS }, () => event));
  await offline.close();
  return async () => {
    const sender = createSender({ outbox, connect, secret, batchMaxEvents: BATCH_EVENTS });
    const start = performance.now();
    const report = await sender.flush();
    const ms = performance.now() - start;
    if (report.delivered.length !== BATCH_EVENTS * BATCHES) throw new RangeError(`delivered ${report.delivered.length}: ${report.lastError}`);
    await sender.close();
    outbox.close();
    tmp.remove();
    return ms;
  };
}

// ---- set-up: fabric process, identities, receiver process ----
const work = tempDir();
const home = join(work.dir, 'fabric');
const identityPath = (name: string): string => join(work.dir, `${name}.json`);
let fabricPid: number | undefined;
let fabricLabel = 'embedded router';
let stopFabric: () => Promise<void>;
let receiverIdentity: string;
let senderIdentity: string;
if (FABRIC === 'quickstart') {
  const bin = zitiBinary();
  if (bin.path === undefined) throw new Error(bin.reason);
  const qs = await Quickstart.start(bin.path);
  stopFabric = () => qs.dispose();
  fabricPid = qs.pid;
  fabricLabel = `ziti ${(await qs.ziti('version')).trim()} quickstart router`;
  for (const svc of ['bench', 'bench-verify']) await qs.ziti('edge', 'create', 'service', svc, '-a', 'hooks');
  await qs.ziti('edge', 'create', 'service-policy', 'bench-bind', 'Bind', '--service-roles', '#hooks', '--identity-roles', '#receivers');
  await qs.ziti('edge', 'create', 'service-policy', 'bench-dial', 'Dial', '--service-roles', '#hooks', '--identity-roles', '#senders');
  receiverIdentity = identityPath('bench-receiver');
  await writeIdentityFile(receiverIdentity, await enroll(await qs.createIdentity('bench-receiver', ['receivers'])));
  senderIdentity = identityPath('bench-sender');
  await writeIdentityFile(senderIdentity, await enroll(await qs.createIdentity('bench-sender', ['senders'])));
} else {
  const fabric = spawn(process.execPath, [...CHILD_FLAGS, CLI, 'fabric', 'up', '--home', home, '--ctrl-port', '0', '--router-port', '0', '--json', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await lines(fabric)(/"ready":true/);
  fabricPid = fabric.pid;
  stopFabric = async () => {
    fabric.kill('SIGTERM');
    await new Promise((resolve) => fabric.once('exit', resolve));
  };
  const store = FabricStore.open(home);
  store.createService({ name: 'bench', roleAttributes: ['hooks'] });
  store.createService({ name: 'bench-verify', roleAttributes: ['hooks'] });
  store.createPolicy({ name: 'bench-bind', type: 'Bind', serviceRoles: ['#hooks'], identityRoles: ['#receivers'] });
  store.createPolicy({ name: 'bench-dial', type: 'Dial', serviceRoles: ['#hooks'], identityRoles: ['#senders'] });
  const identityFile = async (name: string, attribute: string): Promise<string> => {
    await writeIdentityFile(identityPath(name), await enroll(await createIdentityWithJwt(home, store, { name, roleAttributes: [attribute] })));
    return identityPath(name);
  };
  receiverIdentity = await identityFile('bench-receiver', 'receivers');
  senderIdentity = await identityFile('bench-sender', 'senders');
  store.close();
}

const pki = await testPki();
const pem = (name: string, text: string): string => {
  const path = join(work.dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
};
const secret = generateHmacSecret();
const config: BenchReceiverConfig = {
  identity: receiverIdentity,
  service: 'bench',
  secret,
  storePath: join(work.dir, 'receiver.db'),
  tls: { key: pem('server.key', pki.serverKey), cert: pem('server.crt', pki.serverCert), ca: pem('ca.crt', pki.ca) },
};
const receiver = spawn(process.execPath, [...CHILD_FLAGS, RECEIVER_CHILD], { env: { ...process.env, DARKHOOK_BENCH_RECEIVER: JSON.stringify(config) }, stdio: ['pipe', 'pipe', 'inherit'] });
const receiverLines = lines(receiver);
const ready = await receiverLines(/^ready (\d+) (\d+)$/);
const [durablePort, verifyPort] = [Number(ready[1]), Number(ready[2])];
const receiverCpuMs = async (): Promise<number> => {
  const answer = receiverLines(/^cpu ([\d.]+)$/);
  receiver.stdin!.write('cpu\n');
  return Number((await answer)[1]);
};

const ziti = await ZitiContext.fromFile(senderIdentity);
await ensureCryptoReady();
/** The two receivers, each over Ziti and over direct mTLS. */
const allTargets: Record<string, { ziti: Connect; mtls: Connect }> = {
  verify: { ziti: () => ziti.dial('bench-verify'), mtls: (): Promise<Duplex> => connectTls(pki, verifyPort) },
  durable: { ziti: () => ziti.dial('bench'), mtls: (): Promise<Duplex> => connectTls(pki, durablePort) },
};
const targets = Object.fromEntries(RECEIVERS.map((name) => [name, allTargets[name]!]));

/** Run `fn` and report the CPU each process spent per `per` units of work. */
async function withCpu<T>(per: number, unit: string, fn: () => Promise<T>): Promise<T> {
  const [sender0, receiver0, fabric0] = [process.cpuUsage(), await receiverCpuMs(), cpuMsOf(fabricPid!)];
  const result = await fn();
  const senderUsage = process.cpuUsage(sender0);
  const [receiverMs, fabricMs] = [(await receiverCpuMs()) - receiver0, cpuMsOf(fabricPid!) - fabric0];
  const senderMs = (senderUsage.user + senderUsage.system) / 1000;
  say(`      CPU ms per ${unit}: sender ${(senderMs / per).toFixed(2)}, fabric ${(fabricMs / per).toFixed(2)}, receiver ${(receiverMs / per).toFixed(2)}`);
  return result;
}

say(`darkhook sender end to end: node ${process.version}, ${BODY.length} B events, HMAC v1, E2E ${cryptoBackendName()}, 3 processes on 127.0.0.1, ${fabricLabel}`);
say('receivers: "verify" = the issue\'s test receiver (verify + record ids in memory); "durable" = the darkhook receiver (verify + SQLite FULL before 2xx)');
say('');
// Warm-up: TLS sessions, the Ziti dials, JIT, the receiver's store.
for (const target of Object.values(targets)) {
  await rawSingles(target.mtls, secret, 100);
  await rawSingles(target.ziti, secret, 100);
  await rawBatches(target.ziti, secret);
}

const results: Record<string, number> = {};
for (const [name, target] of Object.entries(targets)) {
  if (PHASES.has('single')) {
    say(`${name} receiver — single-event requests (one signed event per request, kept-alive connection, no outbox):`);
    const [m, z]: [number[], number[]] = [[], []];
    for (let i = 0; i < REPEATS; i++) {
      m.push(rate('direct mTLS', SINGLES, await rawSingles(target.mtls, secret, SINGLES)));
      z.push(rate(`Ziti (E2E, ${fabricLabel})`, SINGLES, await rawSingles(target.ziti, secret, SINGLES)));
    }
    [results[`${name} single mtls`], results[`${name} single ziti`]] = [median(m), median(z)];
  }
  if (PHASES.has('raw')) {
    say(`${name} receiver — batches of ${BATCH_EVENTS} without an outbox (${BATCHES} × encode + sign + POST):`);
    rate('direct mTLS', BATCH_EVENTS * BATCHES, await withCpu(BATCHES, 'batch', () => rawBatches(target.mtls, secret)));
    rate('Ziti', BATCH_EVENTS * BATCHES, await withCpu(BATCHES, 'batch', () => rawBatches(target.ziti, secret)));
  }
  if (PHASES.has('sender')) {
    say(`${name} receiver — the whole sender (${BATCHES} × sendMany(${BATCH_EVENTS}) → outbox → batches of ${BATCH_EVENTS}, one in flight):`);
    for (const kind of OUTBOXES) {
      const file = `outbox.${kind}`;
      const [m, z]: [number[], number[]] = [[], []];
      for (let i = 0; i < REPEATS; i++) {
        m.push(rate(`direct mTLS, ${kind} outbox`, BATCH_EVENTS * BATCHES, await withCpu(BATCHES, 'batch', () => viaSender(target.mtls, secret, file))));
        z.push(rate(`Ziti, ${kind} outbox`, BATCH_EVENTS * BATCHES, await withCpu(BATCHES, 'batch', () => viaSender(target.ziti, secret, file))));
      }
      [results[`${name} ${kind} mtls`], results[`${name} ${kind} ziti`]] = [median(m), median(z)];
    }
  }
  if (PHASES.has('drain')) {
    say(`${name} receiver — draining a backlog of ${BATCH_EVENTS * BATCHES} events already in the outbox (one flush):`);
    for (const kind of OUTBOXES) {
      const file = `outbox.${kind}`;
      rate(`direct mTLS, ${kind} outbox`, BATCH_EVENTS * BATCHES, await withCpu(BATCHES, 'batch', await backlog(target.mtls, secret, file)));
      results[`${name} ${kind} drain`] = rate(`Ziti, ${kind} outbox`, BATCH_EVENTS * BATCHES, await withCpu(BATCHES, 'batch', await backlog(target.ziti, secret, file)));
    }
  }
}

say('');
say('against the goals (whole sender, best outbox):');
for (const name of Object.keys(targets)) {
  const best = OUTBOXES.map((k) => [k, results[`${name} ${k} ziti`]] as const)
    .filter((entry): entry is readonly [string, number] => entry[1] !== undefined)
    .sort((a, b) => b[1] - a[1])[0];
  const kind = best?.[0] ?? OUTBOXES[0]!;
  if (best !== undefined) {
    const mtls = results[`${name} ${kind} mtls`]!;
    say(`  batched over Ziti into the ${name} receiver (${kind} outbox): ${Math.round(best[1]).toLocaleString('en')} events/s = ${(best[1] / GOAL_BATCHED_EVENTS_PER_S).toFixed(2)} × the ${GOAL_BATCHED_EVENTS_PER_S.toLocaleString('en')} goal; ${(best[1] / mtls).toFixed(2)} × direct mTLS`);
  }
  const drain = results[`${name} ${kind} drain`];
  if (drain !== undefined) say(`    draining a backlog over Ziti into the ${name} receiver: ${Math.round(drain).toLocaleString('en')} events/s = ${(drain / GOAL_BATCHED_EVENTS_PER_S).toFixed(2)} × the goal`);
  const [singleZiti, singleMtls] = [results[`${name} single ziti`], results[`${name} single mtls`]];
  if (singleZiti !== undefined && singleMtls !== undefined) say(`  single-event requests into the ${name} receiver, Ziti / direct mTLS: ${(singleZiti / singleMtls).toFixed(2)} (goal ≥ ${GOAL_SINGLE_RATIO})`);
}

const rssMiB = { sender: process.resourceUsage().maxRSS / 1024, receiver: peakRssMiB(receiver.pid), fabric: peakRssMiB(fabricPid) };
say(`peak RSS, MiB: sender ${rssMiB.sender.toFixed(0)}, receiver ${rssMiB.receiver?.toFixed(0) ?? '?'}, fabric (${fabricLabel}) ${rssMiB.fabric?.toFixed(0) ?? '?'}`);
emitResult('sender-batched', { fabric: FABRIC, fabricLabel, batchEvents: BATCH_EVENTS, batches: BATCHES, singles: SINGLES, repeats: REPEATS, eventBytes: BODY.length, ratesPerSecond: results, rssMiB });

await ziti.close();
receiver.stdin!.end();
await new Promise((resolve) => receiver.once('exit', resolve));
await stopFabric();
work.remove();
process.stdout.write(`${out.join('\n')}\n`);
