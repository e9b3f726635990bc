/**
 * Bounded, seeded fuzz of real processes on loopback. Malformed channel frames over mutual TLS to the
 * router of a running `darkhook fabric up`; malformed HTTP, bad envelopes, bad signatures, oversized
 * bodies and slow partial requests over the fabric to a running `darkhook receive`. Neither process
 * crashes or logs a fault, and a valid `darkhook send` is delivered to Jenkins after each fuzz.
 * The seed is printed; `FUZZ_SEED=<n>` replays a run, `FUZZ_MS=<ms>` sets each part's time budget.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { type Child, prepareNet, type NetHome, type ReceiverProcess, SERVICE, startFabricProcess, startReceiverProcess, waitFor, writeReceiverConfig } from '../../bench/harness.js';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import { encodeMessage, FrameDecoder } from '../../connector/ziti/codec.js';
import { ContentType, HeaderId } from '../../connector/ziti/constants.js';
import { ControllerClient } from '../../connector/ziti/controller-client.js';
import { ZitiContext } from '../../connector/ziti/context.js';
import { createMessage, setHeaderBytes, setHeaderU32 } from '../../connector/ziti/message.js';
import { readIdentityFile, type ZitiIdentity } from '../../pki/index.js';
import { type JenkinsStandin, startJenkins } from '../../standins/jenkins.js';
import { runCli } from '../cli/helpers.js';
import { caseRng, type FrameCase, frameCase, fuzzSeed, helloFrame, httpCase, type Rng, validRequest } from './fuzz-inputs.js';

const SEED = fuzzSeed();
/** Time budget of each part, in milliseconds. */
const BUDGET_MS = Number(process.env['FUZZ_MS'] ?? 6_000);
/** Hard cap on cases per part, whatever the budget. */
const MAX_CASES = 20_000;
/** Cases in flight at once. */
const CONCURRENCY = 8;
/** How long a case waits for the peer to close before the fuzzer hangs up itself, in milliseconds. */
const HOLD_MS = 100;
/** Slow partial requests held open through the HTTP fuzz. */
const SLOW_CONNECTIONS = 8;
const MAX_BODY_BYTES = 16 * 1024;
const ROUTE = '/github';

let net: NetHome;
let fabric: Child;
let jenkins: JenkinsStandin;
let receiver: ReceiverProcess;
let fuzzer: ZitiIdentity;
let sends = 0;
const secret = generateHmacSecret();
const cleanups: (() => unknown)[] = [];

before(async () => {
  net = await prepareNet({ receivers: ['jenkins-receiver'], senders: ['ci-sender', 'fuzzer'] });
  fabric = await startFabricProcess(net);
  jenkins = await startJenkins({ host: '127.0.0.1', port: 0, secret: 'jenkins-secret' });
  const config = join(net.dir, 'receiver-config.json');
  writeReceiverConfig(config, {
    identity: net.identities['jenkins-receiver'],
    service: SERVICE,
    store: join(net.dir, 'receiver.db'),
    secrets: ['env:DARKHOOK_SECRET'],
    maxBodyBytes: MAX_BODY_BYTES,
    routes: [{ path: ROUTE, callers: ['ci-sender', 'fuzzer'], sinks: ['jenkins'] }],
    sinks: { jenkins: { type: 'jenkins', url: jenkins.url, secret: 'env:JENKINS_HOOK_SECRET', retryMinMs: 100, retryMaxMs: 1_000 } },
  });
  receiver = await startReceiverProcess(config, { DARKHOOK_SECRET: secret, JENKINS_HOOK_SECRET: 'jenkins-secret' });
  fuzzer = await readIdentityFile(net.identities['fuzzer']!);
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
  await receiver?.kill();
  await fabric?.stop('SIGKILL');
  await jenkins?.stop();
  if (net !== undefined) rmSync(net.dir, { recursive: true, force: true });
});

/** The process is running, and logged nothing at error or fatal level. */
function assertServing(name: string, child: { exitCode: number | null; signalCode: NodeJS.Signals | null }, stderr: string): void {
  assert.equal(child.exitCode, null, `${name} exited (seed ${SEED}): ${stderr.slice(-1000)}`);
  assert.equal(child.signalCode, null, `${name} was killed (seed ${SEED})`);
  const faults = stderr.split('\n').filter((l) => /"level":"(error|fatal)"/.test(l));
  assert.deepEqual(faults, [], `${name} logged faults (seed ${SEED})`);
}

/** A valid `darkhook send` (a child process) is answered 2xx and the event reaches Jenkins. */
async function assertValidSendDelivered(): Promise<void> {
  const file = join(net.dir, `valid-${++sends}.json`);
  writeFileSync(file, JSON.stringify({ ref: 'refs/heads/main', after: `valid-${sends}` }));
  const r = await runCli(
    ['--json', '--log-level', 'warn', 'send', '--identity', net.identities['ci-sender']!, '--service', SERVICE, '--path', ROUTE, '--event', 'push',
      '--payload', file, '--outbox', join(net.dir, `outbox-${sends}.db`), '--batch-max-wait', '20'],
    { env: { DARKHOOK_SECRET: secret }, timeoutMs: 60_000 },
  );
  assert.equal(r.code, 0, `valid send after the fuzz (seed ${SEED}): ${r.stderr}`);
  const [id] = (JSON.parse(r.stdout) as { ids: string[] }).ids;
  assert.ok(await waitFor(() => jenkins.received.some((d) => d.deliveryId === id), 30_000), `the valid event reached Jenkins (seed ${SEED})`);
}

/** Run `one(index)` from CONCURRENCY workers until the budget or the cap; returns how many ran. */
async function fuzzFor(one: (index: number) => Promise<void>): Promise<number> {
  const end = Date.now() + BUDGET_MS;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < end && next < MAX_CASES) await one(next++);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return next;
}

/** Resolve on the first of: `emitter` emits one of `events`, or `ms` pass. */
function firstOf(emitter: NodeJS.EventEmitter, events: readonly string[], ms: number): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done('timeout'), ms);
    const handlers = events.map((e) => [e, () => done(e)] as const);
    function done(what: string): void {
      clearTimeout(timer);
      for (const [e, h] of handlers) emitter.off(e, h);
      resolve(what);
    }
    for (const [e, h] of handlers) emitter.once(e, h);
  });
}

/** A Connect for a real Dial session on connId 1 with a random E2E key: the router joins it to the receiver. */
function connectFrame(sessionToken: string, r: Rng): Buffer {
  const m = createMessage(ContentType.Connect, sessionToken);
  m.sequence = 1;
  setHeaderU32(m, HeaderId.ConnId, 1);
  setHeaderBytes(m, HeaderId.PublicKey, r.bytes(32));
  return encodeMessage(m);
}

/** Data frames on connId 1 whose bodies are not a valid E2E stream: they reach the receiver's SDK. */
function circuitGarbage(r: Rng): Buffer {
  return Buffer.concat(Array.from({ length: r.int(1, 6) }, (_, i) => {
    const m = createMessage(ContentType.Data, r.bytes(r.pick([0, 1, 23, 24, 40, r.int(0, 2000)])));
    m.sequence = 2 + i;
    setHeaderU32(m, HeaderId.ConnId, 1);
    if (r.next() < 0.3) setHeaderU32(m, HeaderId.Flags, r.int(0, 0xffff));
    return encodeMessage(m);
  }));
}

test('codec fuzz: malformed frames over mTLS to a running router, which keeps serving', { timeout: 120_000 }, async (t) => {
  t.diagnostic(`FUZZ_SEED=${SEED}`);
  const ctrl = new ControllerClient(fuzzer);
  cleanups.push(() => ctrl.close());
  const apiSession = await ctrl.authenticate();
  const dialSession = await ctrl.createSession((await ctrl.serviceByName(SERVICE)).id, 'Dial');
  const seen = new Map<string, { closedByRouter: number; held: number }>();
  /** Circuits the receiver accepted (StateConnected) before it got the garbage. */
  let joined = 0;

  const one = async (index: number): Promise<void> => {
    const base = frameCase(SEED, index);
    const r = caseRng(SEED, index + 1_000_000);
    // Every eighth case opens a real circuit to the receiver first and sends it garbage Data.
    const circuit = index % 8 === 7;
    const c: FrameCase = circuit ? { kind: 'circuit-garbage', hello: true, bytes: circuitGarbage(r) } : base;
    const socket = tls.connect({ host: '127.0.0.1', port: net.routerPort, ca: fuzzer.ca, cert: fuzzer.cert, key: fuzzer.key });
    socket.on('error', () => undefined);
    // The router's answers, decoded (until the router's bytes stop making sense to us: then ignored).
    const decoder = new FrameDecoder();
    const answers: number[] = [];
    socket.on('data', (chunk: Buffer) => {
      try {
        answers.push(...decoder.push(chunk).map((m) => m.contentType));
      } catch {
        // a reply we cannot read is not this test's concern
      }
    });
    try {
      if ((await firstOf(socket, ['secureConnect', 'close'], 5_000)) !== 'secureConnect') assert.fail(`case ${index}: no TLS handshake (seed ${SEED})`);
      if (c.hello) {
        socket.write(helloFrame(apiSession.token));
        assert.ok(await waitFor(() => answers.includes(ContentType.Result), 5_000), `case ${index}: hello answered (seed ${SEED})`);
      }
      if (circuit) {
        socket.write(connectFrame(dialSession.token, r));
        const done = (): boolean => answers.includes(ContentType.StateConnected) || answers.includes(ContentType.StateClosed);
        if ((await waitFor(done, 5_000)) && answers.includes(ContentType.StateConnected)) joined++;
      }
      for (const chunk of r.split(c.bytes)) if (!socket.destroyed) socket.write(chunk);
      const outcome = await firstOf(socket, ['close'], HOLD_MS);
      const s = seen.get(c.kind) ?? { closedByRouter: 0, held: 0 };
      if (outcome === 'close') s.closedByRouter++;
      else s.held++;
      seen.set(c.kind, s);
    } finally {
      socket.destroy();
    }
  };
  const cases = await fuzzFor(one);
  t.diagnostic(`${cases} cases in ${BUDGET_MS} ms, ${joined} circuits to the receiver joined: ${[...seen].map(([k, v]) => `${k} ${v.closedByRouter}/${v.closedByRouter + v.held} closed`).join(', ')}`);
  assert.ok(cases >= 8, 'every case kind ran');
  assert.ok(joined > 0, `garbage Data reached the receiver over a joined circuit (seed ${SEED})`);

  assertServing('darkhook fabric up', fabric.child, fabric.stderr());
  assertServing('darkhook receive', receiver.child, receiver.stderr());
  await assertValidSendDelivered();
});

test('HTTP fuzz: malformed requests, envelopes, signatures, oversized and slow bodies to a running receiver', { timeout: 120_000 }, async (t) => {
  t.diagnostic(`FUZZ_SEED=${SEED}`);
  const ctx = new ZitiContext(fuzzer);
  cleanups.push(() => ctx.close());
  const statuses = new Map<string, Map<number, number>>();
  const fivexx: string[] = [];

  // Slow partial requests: a valid request's first bytes, then one byte every 400 ms, never complete.
  const slow = await Promise.all(Array.from({ length: SLOW_CONNECTIONS }, async (_, i) => {
    const conn = await ctx.dial(SERVICE);
    conn.on('error', () => undefined);
    const bytes = validRequest(`slow_${SEED}_${i}`, secret, ROUTE);
    let sent = 10 + i * 20;
    conn.write(bytes.subarray(0, sent));
    const timer = setInterval(() => {
      if (sent < bytes.length - 1 && !conn.destroyed) conn.write(bytes.subarray(sent, ++sent));
    }, 400);
    let answered = false;
    conn.on('data', () => {
      answered = true;
    });
    return { conn, timer, answered: () => answered };
  }));
  cleanups.push(() => slow.forEach((s) => (clearInterval(s.timer), s.conn.destroy())));

  const one = async (index: number): Promise<void> => {
    const c = httpCase(SEED, index, secret, ROUTE, MAX_BODY_BYTES);
    const r = caseRng(SEED, index + 2_000_000);
    const conn = await ctx.dial(SERVICE);
    const chunks: Buffer[] = [];
    conn.on('data', (b: Buffer) => chunks.push(b));
    conn.on('error', () => undefined);
    try {
      for (const chunk of r.split(c.bytes)) if (!conn.destroyed) conn.write(chunk);
      conn.end();
      await firstOf(conn, ['close', 'end'], 5_000);
    } finally {
      conn.destroy();
    }
    const byStatus = statuses.get(c.kind) ?? new Map<number, number>();
    for (const m of Buffer.concat(chunks).toString('latin1').matchAll(/^HTTP\/1\.1 (\d{3}) /gm)) {
      const status = Number(m[1]);
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
      if (status >= 500) fivexx.push(`case ${index} (${c.kind}): ${status}`);
    }
    statuses.set(c.kind, byStatus);
  };
  const cases = await fuzzFor(one);
  t.diagnostic(`${cases} cases in ${BUDGET_MS} ms: ${[...statuses].map(([k, v]) => `${k} ${[...v].map(([s, n]) => `${s}×${n}`).join(' ')}`).join(', ')}`);
  assert.ok(cases >= 7, 'every case kind ran');
  assert.deepEqual(fivexx, [], `a malformed request is the caller's fault, never a 5xx (seed ${SEED})`);
  for (const kind of ['bad-envelope', 'bad-signature', 'oversized']) {
    const got = [...(statuses.get(kind)?.keys() ?? [])];
    assert.ok(got.length > 0 && got.every((s) => s >= 400 && s < 500), `${kind} answered 4xx only, got ${got.join(',')} (seed ${SEED})`);
  }

  // With the slow requests still open and unanswered, the receiver serves a valid send.
  assert.ok(slow.every((s) => !s.conn.destroyed && !s.answered()), 'the slow requests are still open and unanswered');
  assertServing('darkhook receive', receiver.child, receiver.stderr());
  assertServing('darkhook fabric up', fabric.child, fabric.stderr());
  await assertValidSendDelivered();
});
