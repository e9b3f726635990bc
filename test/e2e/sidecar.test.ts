/**
 * The sidecar end to end with real processes on loopback: `darkhook fabric up`, `darkhook receive
 * --config` and `darkhook send` as child processes, the Jenkins stand-in in this process. A real GitHub
 * push reaches Jenkins byte-exact; a stopped Jenkins makes deliveries wait; a SIGKILLed receiver loses
 * nothing once restarted.
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
async function send(payload: Buffer, extra: readonly string[] = []): Promise<string[]> {
  const file = join(net.dir, `payload-${++outboxes}.json`);
  writeFileSync(file, payload);
  const r = await runCli(
    ['--json', '--log-level', 'warn', 'send', '--identity', net.identities['ci-sender']!, '--service', SERVICE, '--path', '/github', '--event', 'push',
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

test('a real GitHub push sent with darkhook send reaches Jenkins byte-exact, signed, with X-GitHub-Delivery = the message id', { timeout: 120_000 }, async () => {
  const require = createRequire(import.meta.url);
  const examples = require('@octokit/webhooks-examples/api.github.com/index.json') as { name: string; examples: unknown[] }[];
  const body = Buffer.from(JSON.stringify(examples.find((e) => e.name === 'push')!.examples[0]));
  const [id] = await send(body);
  assert.ok(await waitFor(() => arrivals([id!]).size === 1, 30_000), 'the push reached Jenkins');
  const got = jenkins.received.filter((d) => d.deliveryId === id);
  assert.equal(got.length, 1);
  assert.equal(got[0]!.event, 'push');
  assert.equal(got[0]!.contentType, 'application/json');
  assert.ok(got[0]!.body.equals(body), 'body bytes unchanged');
  // The stand-in records only requests whose X-Hub-Signature-256 it verified with its own secret.
  assert.deepEqual(jenkins.refused, []);
});

test('Jenkins stopped: deliveries wait in the store; Jenkins back: each delivered once', { timeout: 120_000 }, async () => {
  await jenkins.stop();
  const ids = await send(lines(20, 'outage'), ['--lines']);
  assert.equal(ids.length, 20);
  // Stored and acknowledged, but pending: read from another process while the receiver runs.
  const list = await runCli(['--json', 'messages', 'list', '--store', join(net.dir, 'receiver.db'), '--status', 'pending', '--limit', '1000']);
  assert.equal(list.code, 0, list.stderr);
  const pending = new Set((JSON.parse(list.stdout) as { id: string }[]).map((m) => m.id));
  assert.ok(ids.every((id) => pending.has(id)), 'every event is pending while Jenkins is down');
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
});
