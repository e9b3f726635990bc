/**
 * The fault suite (`npm run test:faults`): events from several `darkhook send` processes through the
 * embedded fabric (`darkhook fabric up`) to `darkhook receive --config`, forwarded to a Jenkins
 * stand-in, while the receiver is SIGKILLed, the fabric restarted, Jenkins stopped and a sender
 * SIGKILLed and restarted. Counts at Jenkins by `X-GitHub-Delivery` and prints
 * `sent=N delivered=N lost=L duplicates=D`, each duplicate explained; exits 1 on any loss or an
 * unexplained duplicate.
 *
 *   node build/bench/faults.js [--events 100000] [--senders 4] [--receiver-kills 3] [--fabric-restarts 3]
 *                              [--sender-kills 1] [--outage 30] [--timeout 900]
 */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateHmacSecret } from '../connector/webhook/secrets.js';
import { startJenkins } from '../standins/jenkins.js';
import {
  type Child, prepareNet, recoveredInflight, type ReceiverProcess, SERVICE, spawnCli, startFabricProcess, startReceiverProcess, waitFor, writeReceiverConfig,
} from './harness.js';

const { values: flags } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    senders: { type: 'string', default: '4' },
    'receiver-kills': { type: 'string', default: '3' },
    'fabric-restarts': { type: 'string', default: '3' },
    'sender-kills': { type: 'string', default: '1' },
    outage: { type: 'string', default: '30' },
    timeout: { type: 'string', default: '900' },
    keep: { type: 'boolean', default: false },
  },
});
const num = (name: keyof typeof flags, min: number): number => {
  const v = Number(flags[name]);
  if (!Number.isInteger(v) || v < min) {
    process.stderr.write(`faults: --${name} must be a whole number ≥ ${min}\n`);
    process.exit(2);
  }
  return v;
};
const EVENTS = num('events', 1);
const SENDERS = num('senders', 1);
const RECEIVER_KILLS = num('receiver-kills', 0);
const FABRIC_RESTARTS = num('fabric-restarts', 0);
const SENDER_KILLS = num('sender-kills', 0);
const OUTAGE_S = num('outage', 0);
const TIMEOUT_S = num('timeout', 10);

const t0 = Date.now();
const at = (): string => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
const say = (line: string): void => void process.stdout.write(`[${at().padStart(6)}] ${line}\n`);

/** One fault, with when it began and ended (ms since t0). */
interface Fault {
  readonly kind: 'receiver-kill' | 'fabric-restart' | 'jenkins-outage' | 'sender-kill';
  readonly n: number;
  start: number;
  end: number;
  /** Deliveries the restarted receiver found in flight (receiver kills). */
  recovered?: number;
}

async function main(): Promise<number> {
  const senderNames = Array.from({ length: SENDERS }, (_, i) => `sender-${i + 1}`);
  const net = await prepareNet({ receivers: ['receiver'], senders: senderNames });
  say(`home ${net.dir}; controller 127.0.0.1:${net.ctrlPort}, router 127.0.0.1:${net.routerPort}; ${EVENTS} events from ${SENDERS} senders`);
  const jenkinsSecret = randomBytes(20).toString('hex');
  const jenkins = await startJenkins({ host: '127.0.0.1', port: 0, secret: jenkinsSecret });
  // X-GitHub-Delivery → arrival times (ms since t0).
  const arrivals = new Map<string, number[]>();
  let seen = 0;
  const absorb = (): void => {
    for (; seen < jenkins.received.length; seen++) {
      const id = jenkins.received[seen]!.deliveryId ?? '(none)';
      const list = arrivals.get(id);
      if (list === undefined) arrivals.set(id, [Date.now() - t0]);
      else list.push(Date.now() - t0);
    }
  };
  const ticker = setInterval(absorb, 20);
  const secret = generateHmacSecret();
  const configFile = join(net.dir, 'receiver-config.json');
  writeReceiverConfig(configFile, {
    identity: net.identities['receiver'],
    service: SERVICE,
    store: join(net.dir, 'receiver.db'),
    secrets: ['env:DARKHOOK_SECRET'],
    routes: [{ path: '/github', sinks: ['jenkins'] }],
    sinks: { jenkins: { type: 'jenkins', url: jenkins.url, secret: 'env:JENKINS_HOOK_SECRET', concurrency: 16, retryMinMs: 200, retryMaxMs: 2_000, circuitCooldownMs: 2_000 } },
  });
  const receiverEnv = { DARKHOOK_SECRET: secret, JENKINS_HOOK_SECRET: jenkinsSecret };
  const faults: Fault[] = [];
  let fabric: Child = await startFabricProcess(net);
  let receiver: ReceiverProcess = await startReceiverProcess(configFile, receiverEnv, { logLevel: 'warn' });
  const stored = new Set<string>();
  const storedNow = (): number => {
    for (const id of receiver.stored) stored.add(id);
    receiver.stored.length = 0;
    return stored.size;
  };
  say(`fabric up (pid ${fabric.child.pid}), receiver (pid ${receiver.pid}), Jenkins stand-in ${jenkins.url}`);

  // Each sender's events: one JSON line each, numbered, so a loss names its sender and sequence.
  const per = Array.from({ length: SENDERS }, (_, i) => Math.floor(EVENTS / SENDERS) + (i < EVENTS % SENDERS ? 1 : 0));
  const senderArgs = (i: number, withPayload: boolean): string[] => [
    '--log-level', 'info', '--json', 'send', '--identity', net.identities[senderNames[i]!]!, '--service', SERVICE, '--path', '/github', '--event', 'push',
    '--outbox', join(net.dir, `outbox-${i + 1}.db`), '--deadline', String(TIMEOUT_S), '--batch-max-wait', '50',
    ...(withPayload ? ['--lines', '--payload', join(net.dir, `events-${i + 1}.jsonl`)] : []),
  ];
  const senders: Child[] = [];
  for (let i = 0; i < SENDERS; i++) {
    const lines = Array.from({ length: per[i]! }, (_, seq) => JSON.stringify({ ref: 'refs/heads/main', sender: i + 1, seq, repository: { full_name: 'acme/webapp' } }));
    writeFileSync(join(net.dir, `events-${i + 1}.jsonl`), `${lines.join('\n')}\n`);
    senders.push(spawnCli(senderArgs(i, true), { DARKHOOK_SECRET: secret }));
  }
  const delivered = (): number => {
    absorb();
    return arrivals.size;
  };
  const plan: Fault['kind'][] = [];
  for (let k = 0; k < Math.max(RECEIVER_KILLS, FABRIC_RESTARTS); k++) {
    if (k < RECEIVER_KILLS) plan.push('receiver-kill');
    if (k < FABRIC_RESTARTS) plan.push('fabric-restart');
    if (k === 0 && OUTAGE_S > 0) plan.push('jenkins-outage');
  }
  if (RECEIVER_KILLS === 0 && FABRIC_RESTARTS === 0 && OUTAGE_S > 0) plan.push('jenkins-outage');

  // Sender kills first, once the senders have written their outboxes and deliveries are flowing.
  for (let k = 0; k < SENDER_KILLS; k++) {
    const i = k % SENDERS;
    await waitFor(() => senders[i]!.stderr().includes('"msg":"sending"') || senders[i]!.child.exitCode !== null, 60_000);
    await waitFor(() => storedNow() >= EVENTS * (0.05 + 0.05 * k), 60_000);
    const f: Fault = { kind: 'sender-kill', n: k + 1, start: Date.now() - t0, end: 0 };
    const wasRunning = senders[i]!.child.exitCode === null;
    await senders[i]!.stop('SIGKILL');
    senders[i] = spawnCli(senderArgs(i, false), { DARKHOOK_SECRET: secret });
    f.end = Date.now() - t0;
    faults.push(f);
    say(`sender-${i + 1} SIGKILLed ${wasRunning ? 'while sending' : '(it had already finished)'} and restarted on its outbox (stored so far ${storedNow()})`);
  }

  const counts: Record<string, number> = {};
  for (const [index, kind] of plan.entries()) {
    // Spread the faults over the run, ingest and forwarding alike: fault k fires once
    // (stored + delivered) reaches k/(F+1) of 2N, so early faults hit the senders' leg too.
    const target = Math.floor((2 * EVENTS * (index + 1)) / (plan.length + 1));
    await waitFor(() => storedNow() + delivered() >= target, TIMEOUT_S * 1000);
    const n = (counts[kind] = (counts[kind] ?? 0) + 1);
    const f: Fault = { kind, n, start: Date.now() - t0, end: 0 };
    if (kind === 'receiver-kill') {
      storedNow();
      await receiver.kill();
      say(`receiver SIGKILLed #${n} (delivered ${delivered()}, stored ${stored.size})`);
      receiver = await startReceiverProcess(configFile, receiverEnv, { logLevel: 'warn' });
      f.recovered = await recoveredInflight(receiver);
      say(`receiver restarted (pid ${receiver.pid}); ${f.recovered} deliveries were in flight and are sent again (possible duplicates)`);
    } else if (kind === 'fabric-restart') {
      await fabric.stop('SIGTERM');
      say(`fabric stopped #${n} (delivered ${delivered()}, stored ${storedNow()})`);
      fabric = await startFabricProcess(net);
      say(`fabric up again (pid ${fabric.child.pid})`);
    } else {
      await jenkins.stop();
      say(`Jenkins stand-in stopped for ${OUTAGE_S} s (delivered ${delivered()})`);
      await new Promise((r) => setTimeout(r, OUTAGE_S * 1000));
      await jenkins.start();
      say(`Jenkins stand-in back (delivered ${delivered()})`);
    }
    f.end = Date.now() - t0;
    faults.push(f);
  }

  const done = await waitFor(() => delivered() >= EVENTS, TIMEOUT_S * 1000);
  // A moment more for late duplicates, then stop everything.
  await new Promise((r) => setTimeout(r, 1_000));
  const codes = await Promise.all(senders.map((s) => s.exited));
  absorb();
  clearInterval(ticker);
  await receiver.stop();
  await fabric.stop();
  await jenkins.stop();

  // Every (sender, seq) must have arrived; duplicates are ids that arrived more than once.
  const have = new Set(jenkins.received.map((d) => { const p = JSON.parse(d.payload) as { sender: number; seq: number }; return `${p.sender}:${p.seq}`; }));
  const missing: string[] = [];
  for (let i = 0; i < SENDERS; i++) for (let seq = 0; seq < per[i]!; seq++) if (!have.has(`${i + 1}:${seq}`)) missing.push(`sender-${i + 1}#${seq}`);
  const dups = [...arrivals.entries()].filter(([, times]) => times.length > 1);
  const duplicates = dups.reduce((n, [, times]) => n + times.length - 1, 0);
  let unexplained = 0;
  const byCause = new Map<Fault, number>();
  for (const [id, times] of dups) {
    // A duplicate is explained by a receiver kill or a Jenkins outage between its first and second arrival:
    // the delivery was in flight (the request reached Jenkins, its answer did not reach the worker). A
    // receiver kill explains at most as many duplicates as the restarted receiver found in flight.
    const cause = faults.find(
      (f) => (f.kind === 'receiver-kill' || f.kind === 'jenkins-outage') && times[0]! <= f.end && times[1]! >= f.start && (f.kind !== 'receiver-kill' || (byCause.get(f) ?? 0) < (f.recovered ?? 0)),
    );
    if (cause === undefined) unexplained++;
    else byCause.set(cause, (byCause.get(cause) ?? 0) + times.length - 1);
    const why = cause === undefined ? 'UNEXPLAINED' : cause.kind === 'receiver-kill' ? `in flight at receiver kill #${cause.n} (${cause.recovered} recovered in flight at restart)` : 'in flight when the Jenkins stand-in was stopped (request read, answer lost)';
    say(`duplicate ${id}: at ${times.map((t) => `${(t / 1000).toFixed(1)}s`).join(', ')} — ${why}`);
  }
  for (const [f, n] of byCause) say(`duplicates from ${f.kind} #${f.n}: ${n}${f.kind === 'receiver-kill' ? ` (of ${f.recovered} deliveries in flight at the kill)` : ''}`);
  if (unexplained > 0) say(`${unexplained} duplicate(s) have no fault to explain them`);
  for (const m of missing.slice(0, 20)) say(`LOST ${m}${missing.length > 20 ? ` (and ${missing.length - 20} more)` : ''}`);
  say(`faults: ${faults.map((f) => `${f.kind}#${f.n}@${(f.start / 1000).toFixed(1)}s`).join(', ') || 'none'}; sender exit codes ${codes.join(',')}; ${done ? '' : 'TIMED OUT; '}took ${at()}`);
  const lost = missing.length;
  process.stdout.write(`sent=${EVENTS} delivered=${have.size} lost=${lost} duplicates=${duplicates}\n`);
  if (!flags.keep) rmSync(net.dir, { recursive: true, force: true });
  return lost === 0 && unexplained === 0 && jenkins.refused.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`faults: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
