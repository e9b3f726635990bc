/**
 * The sidecar end to end with real processes on loopback: `darkhook fabric up`, `darkhook receive
 * --config` and `darkhook send` as child processes, the Jenkins stand-in in this process. Real GitHub
 * payloads reach Jenkins byte-exact; a resubmit from another process is sent again; a Jenkins down
 * 10 s makes deliveries wait; a SIGKILLed receiver loses nothing once restarted.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  type Child, type NetHome, prepareNet, recoveredInflight, type ReceiverProcess, SERVICE, startFabricProcess, startReceiverProcess, waitFor, writeReceiverConfig,
} from '../../bench/harness.js';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import { type JenkinsStandin, startJenkins } from '../../standins/jenkins.js';
import { runCli } from '../cli/helpers.js';

let net: NetHome;
let fabric: Child;
let jenkins: JenkinsStandin;
let receiver: ReceiverProcess;
let configFile: string;
let outboxes = 0;
const secret = generateHmacSecret();
const jenkinsSecret = randomBytes(20).toString('hex');
const receiverEnv = { DARKHOOK_SECRET: secret, JENKINS_HOOK_SECRET: jenkinsSecret };

before(async () => {
  net = await prepareNet({ receivers: ['jenkins-receiver'], senders: ['ci-sender'] });
  fabric = await startFabricProcess(net);
  jenkins = await startJenkins({ host: '127.0.0.1', port: 0, secret: jenkinsSecret });
  configFile = join(net.dir, 'receiver-config.json');
  writeReceiverConfig(configFile, {
    identity: net.identities['jenkins-receiver'],
    service: SERVICE,
    store: join(net.dir, 'receiver.db'),
    secrets: ['env:DARKHOOK_SECRET'],
    routes: [{ path: '/github', callers: ['ci-sender'], sinks: ['jenkins'] }],
    sinks: { jenkins: { type: 'jenkins', url: jenkins.url, secret: 'env:JENKINS_HOOK_SECRET', retryMinMs: 100, retryMaxMs: 1_000, circuitCooldownMs: 1_000 } },
  });
  receiver = await startReceiverProcess(configFile, receiverEnv);
});

after(async () => {
  await receiver?.kill();
  await fabric?.stop();
  await jenkins?.stop();
  if (net !== undefined) rmSync(net.dir, { recursive: true, force: true });
});

/** `darkhook send` as a child process; resolves with the ids it printed (--json) once it exits 0. */
async function send(payload: Buffer, extra: readonly string[] = [], event = 'push'): Promise<string[]> {
  const file = join(net.dir, `payload-${++outboxes}.json`);
  writeFileSync(file, payload);
  const r = await runCli(
    ['--json', '--log-level', 'warn', 'send', '--identity', net.identities['ci-sender']!, '--service', SERVICE, '--path', '/github', '--event', event,
      '--payload', file, '--outbox', join(net.dir, `outbox-${outboxes}.db`), '--batch-max-wait', '20', ...extra],
    { env: { DARKHOOK_SECRET: secret }, timeoutMs: 120_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { ids: string[] }).ids;
}

/** `count` small push events, one JSON line each. */
function lines(count: number, tag: string): Buffer {
  return Buffer.from(Array.from({ length: count }, (_, seq) => JSON.stringify({ ref: 'refs/heads/main', tag, seq })).join('\n'));
}

/** How many times each id arrived at Jenkins. */
function arrivals(ids: readonly string[]): Map<string, number> {
  const want = new Set(ids);
  const counts = new Map<string, number>();
  for (const d of jenkins.received) if (d.deliveryId !== undefined && want.has(d.deliveryId)) counts.set(d.deliveryId, (counts.get(d.deliveryId) ?? 0) + 1);
  return counts;
}

test('real GitHub payloads sent with darkhook send each reach Jenkins byte-exact, once, signed, with X-GitHub-Delivery = the message id', { timeout: 180_000 }, async () => {
  const require = createRequire(import.meta.url);
  const examples = require('@octokit/webhooks-examples/api.github.com/index.json') as { name: string; examples: unknown[] }[];
  const sent: { event: string; id: string; body: Buffer }[] = [];
  for (const event of ['push', 'pull_request', 'issues', 'release', 'workflow_run']) {
    const body = Buffer.from(JSON.stringify(examples.find((e) => e.name === event)!.examples[0]));
    const [id] = await send(body, [], event);
    sent.push({ event, id: id!, body });
  }
  const ids = sent.map((s) => s.id);
  assert.ok(await waitFor(() => arrivals(ids).size === ids.length, 30_000), 'every payload reached Jenkins');
  await new Promise((r) => setTimeout(r, 1_000));
  for (const { event, id, body } of sent) {
    const got = jenkins.received.filter((d) => d.deliveryId === id);
    assert.equal(got.length, 1, `${event} once`);
    assert.equal(got[0]!.event, event);
    assert.equal(got[0]!.contentType, 'application/json');
    assert.ok(got[0]!.body.equals(body), `${event}: body bytes unchanged`);
  }
  // The stand-in records only requests whose X-Hub-Signature-256 it verified with its own secret.
  assert.deepEqual(jenkins.refused, []);
});

test('resubmit from another process: the running receiver sends the message again, with the same X-GitHub-Delivery', { timeout: 120_000 }, async () => {
  const [id] = await send(lines(1, 'resubmit'));
  assert.ok(await waitFor(() => arrivals([id!]).get(id!) === 1, 30_000), 'delivered once');
  const r = await runCli(['--json', 'messages', 'resubmit', id!, '--config', configFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { resubmitted: 1 });
  assert.ok(await waitFor(() => arrivals([id!]).get(id!) === 2, 10_000), 'sent again by the running receiver');
  const shown = await runCli(['--json', 'messages', 'show', id!, '--config', configFile]);
  assert.equal(shown.code, 0, shown.stderr);
  const view = JSON.parse(shown.stdout) as { status: string; caller: string; route: string; deliveries: { sink: string; state: string; attempts: number; attemptLog: { outcome: string; status: number }[] }[] };
  assert.deepEqual([view.status, view.caller, view.route], ['delivered', 'ci-sender', '/github']);
  assert.deepEqual(view.deliveries.map((d) => [d.sink, d.state, d.attempts, d.attemptLog.map((a) => `${a.outcome} ${a.status}`)]), [['jenkins', 'delivered', 2, ['delivered 200', 'delivered 200']]]);
  const text = await runCli(['messages', 'show', id!, '--config', configFile]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^${id}  push  delivered\n  caller ci-sender  route /github `));
  assert.match(text.stdout, /^ {2}→ jenkins: delivered, 2 attempt\(s\)$/m);
});

test('Jenkins down 10 s: deliveries wait in the store; Jenkins back: each delivered once', { timeout: 120_000 }, async () => {
  await jenkins.stop();
  const downAt = Date.now();
  const ids = await send(lines(20, 'outage'), ['--lines']);
  assert.equal(ids.length, 20);
  // Stored and acknowledged, but pending: read from another process while the receiver runs.
  const list = await runCli(['--json', 'messages', 'list', '--store', join(net.dir, 'receiver.db'), '--status', 'pending', '--limit', '1000']);
  assert.equal(list.code, 0, list.stderr);
  const pending = new Set((JSON.parse(list.stdout) as { id: string }[]).map((m) => m.id));
  assert.ok(ids.every((id) => pending.has(id)), 'every event is pending while Jenkins is down');
  assert.equal(arrivals(ids).size, 0);
  // The outage lasts 10 s (the workers retry and open their circuit meanwhile).
  await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - downAt))));
  assert.equal(arrivals(ids).size, 0);
  await jenkins.start();
  assert.ok(await waitFor(() => arrivals(ids).size === ids.length, 60_000), 'every delivery arrives after Jenkins returns');
  assert.ok([...arrivals(ids).values()].every((n) => n === 1), 'none twice');
});

test('receiver SIGKILLed while delivering and restarted: nothing lost, duplicates only for deliveries in flight', { timeout: 180_000 }, async () => {
  const ids = await send(lines(400, 'kill'), ['--lines']);
  assert.equal(ids.length, 400);
  // Kill it mid-way through forwarding.
  assert.ok(await waitFor(() => arrivals(ids).size >= 20, 60_000), 'forwarding started');
  await receiver.kill();
  const before = arrivals(ids).size;
  assert.ok(before < ids.length, 'killed while deliveries were still queued');
  receiver = await startReceiverProcess(configFile, receiverEnv);
  const recovered = await recoveredInflight(receiver);
  assert.ok(await waitFor(() => arrivals(ids).size === ids.length, 120_000), `every stored message delivered (had ${before} before the kill)`);
  const duplicates = [...arrivals(ids).values()].reduce((n, c) => n + c - 1, 0);
  assert.ok(duplicates <= recovered, `${duplicates} duplicates, ${recovered} deliveries were in flight at the kill`);
  // Each message that arrived twice is one the store counted as a possible duplicate (in flight at the kill).
  for (const [id, n] of arrivals(ids)) {
    if (n < 2) continue;
    const shown = await runCli(['--json', 'messages', 'show', id, '--config', configFile]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal((JSON.parse(shown.stdout) as { deliveries: { possibleDuplicate: boolean }[] }).deliveries[0]!.possibleDuplicate, true, `${id} arrived twice`);
  }
});
