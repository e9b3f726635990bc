/**
 * Several sidecars on one PostgreSQL, as real processes on loopback: `darkhook fabric up`, two
 * `darkhook receive --config` with the same config (same identity, same service: two
 * terminators) and `darkhook send` as children; the Jenkins stand-in counts arrivals by
 * X-GitHub-Delivery. The fault run: DARKHOOK_PG_FAULT_EVENTS events (default 2,000 here; the
 * issue's 20,000 with `npm run test:pg-faults`), one sidecar SIGKILLed three times, PostgreSQL
 * restarted once → every event at Jenkins, and more than once only where the store marked the
 * delivery a possible duplicate (in flight at a kill or at the restart); those are counted and listed.
 * Both sidecars run their admin listener: either one's JSON API lists and resubmits what the other stored.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  type Child, type NetHome, prepareNet, type ReceiverProcess, SERVICE, spawnCli, startFabricProcess, startReceiverProcess, waitFor, writeReceiverConfig,
} from '../../bench/harness.js';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import { type JenkinsStandin, startJenkins } from '../../standins/jenkins.js';
import { pgSkipReason, startPgCluster, type PgCluster } from '../receiver/pg-cluster.js';
import { runCli } from '../cli/helpers.js';

const EVENTS = Number(process.env.DARKHOOK_PG_FAULT_EVENTS ?? 2_000);
/** Short lease: a killed sidecar's claims are taken over within seconds. */
const LEASE_SECONDS = 3;
const pgSkip = pgSkipReason();

describe('sidecars sharing one PostgreSQL (real processes)', { skip: pgSkip }, () => {
  let cluster: PgCluster;
  let net: NetHome;
  let fabric: Child;
  let jenkins: JenkinsStandin;
  let configFile: string;
  let database: string;
  const sidecars: ReceiverProcess[] = [];
  const secret = generateHmacSecret();
  const jenkinsSecret = randomBytes(20).toString('hex');
  const adminToken = randomBytes(24).toString('hex');
  let env: NodeJS.ProcessEnv;

  before(async () => {
    cluster = await startPgCluster();
    database = await cluster.createDatabase('sidecars');
    env = { DARKHOOK_SECRET: secret, JENKINS_HOOK_SECRET: jenkinsSecret, DARKHOOK_PG_PASSWORD: cluster.password, DARKHOOK_ADMIN_TOKEN: adminToken };
    net = await prepareNet({ receivers: ['jenkins-receiver'], senders: ['ci-sender'] });
    fabric = await startFabricProcess(net);
    jenkins = await startJenkins({ host: '127.0.0.1', port: 0, secret: jenkinsSecret });
    configFile = join(net.dir, 'receiver-config.json');
    writeReceiverConfig(configFile, {
      identity: net.identities['jenkins-receiver'],
      service: SERVICE,
      store: cluster.url(database, 'DARKHOOK_PG_PASSWORD'),
      storeLeaseSeconds: LEASE_SECONDS,
      secrets: ['env:DARKHOOK_SECRET'],
      routes: [{ path: '/github', callers: ['ci-sender'], sinks: ['jenkins'] }],
      sinks: { jenkins: { type: 'jenkins', url: jenkins.url, secret: 'env:JENKINS_HOOK_SECRET', timeoutMs: 2_000, concurrency: 8, retryMinMs: 100, retryMaxMs: 1_000, circuitCooldownMs: 500 } },
      // Port 0: each sidecar's ready line names the port it took.
      admin: { listen: '127.0.0.1:0', token: 'env:DARKHOOK_ADMIN_TOKEN' },
    });
    for (let i = 0; i < 2; i++) sidecars.push(await startReceiverProcess(configFile, env));
  });

  after(async () => {
    for (const s of sidecars) await s.kill();
    await fabric?.stop();
    await jenkins?.stop();
    if (net !== undefined) rmSync(net.dir, { recursive: true, force: true });
    cluster?.destroy();
  });

  let outboxes = 0;
  /** `darkhook send --lines` of `count` push events as a child; resolves with its exit and printed ids. */
  function sendChild(count: number, tag: string): { child: Child; done: Promise<string[]> } {
    const file = join(net.dir, `payload-${++outboxes}.jsonl`);
    writeFileSync(file, Array.from({ length: count }, (_, seq) => JSON.stringify({ ref: 'refs/heads/main', tag, seq })).join('\n'));
    const child = spawnCli(
      ['--json', '--log-level', 'warn', 'send', '--identity', net.identities['ci-sender']!, '--service', SERVICE, '--path', '/github', '--event', 'push',
        '--payload', file, '--lines', '--outbox', join(net.dir, `outbox-${outboxes}.db`), '--batch-max-wait', '50', '--batch-max-events', '200', '--deadline', '600'],
      { DARKHOOK_SECRET: secret },
    );
    const done = (async () => {
      const code = await child.exited;
      assert.equal(code, 0, child.stderr().slice(-2_000));
      return (JSON.parse(child.stdout()) as { ids: string[] }).ids;
    })();
    return { child, done };
  }

  /** How many times each of `ids` arrived at Jenkins. */
  function arrivals(ids: ReadonlySet<string>): Map<string, number> {
    const counts = new Map<string, number>();
    for (const d of jenkins.received) if (d.deliveryId !== undefined && ids.has(d.deliveryId)) counts.set(d.deliveryId, (counts.get(d.deliveryId) ?? 0) + 1);
    return counts;
  }

  it('events sent to two sidecars are stored by one of them and arrive at Jenkins once each; messages list sees them all', { timeout: 180_000 }, async () => {
    const ids = await sendChild(200, 'plain').done;
    const want = new Set(ids);
    assert.equal(want.size, 200);
    assert.ok(await waitFor(() => arrivals(want).size === want.size, 60_000), `arrived ${arrivals(want).size} of ${want.size}`);
    assert.ok([...arrivals(want).values()].every((n) => n === 1), 'none twice');
    const list = await runCli(['--json', 'messages', 'list', '--config', configFile, '--limit', '1000'], { env });
    assert.equal(list.code, 0, list.stderr);
    assert.equal((JSON.parse(list.stdout) as unknown[]).length, 200, 'the CLI reads the shared store');
    const stored = sidecars.map((x) => x.stored.filter((id) => want.has(id)).length);
    assert.equal(stored[0]! + stored[1]!, 200, `each event stored by exactly one sidecar (${stored.join(' + ')})`);
  });

  /** `GET`/`POST` on a sidecar's admin JSON API with the bearer token; the parsed answer. */
  async function admin<T>(s: ReceiverProcess, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`http://${s.ready.admin}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    assert.equal(res.status, 200, `${path}: ${text}`);
    return JSON.parse(text) as T;
  }

  /** Ask `check` again every 200 ms until it holds or `timeoutMs` passes; its last answer. */
  async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (await check()) return true;
      if (Date.now() >= end) return false;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('the admin API of either sidecar sees what the other stored; a resubmit from another process or either admin API is delivered again once', { timeout: 60_000 }, async (t) => {
    const ids = await sendChild(60, 'admin').done;
    const want = new Set(ids);
    assert.ok(await waitFor(() => arrivals(want).size === want.size, 30_000), `arrived ${arrivals(want).size} of ${want.size}`);
    const storedBy = sidecars.map((x) => x.stored.filter((id) => want.has(id)));
    assert.equal(storedBy[0]!.length + storedBy[1]!.length, 60, `each event stored by exactly one sidecar (${storedBy.map((l) => l.length).join(' + ')})`);
    t.diagnostic(`stored by sidecar 0: ${storedBy[0]!.length}, by sidecar 1: ${storedBy[1]!.length}`);
    // Each sidecar's admin API lists every message, the ones the other sidecar stored included (as
    // delivered once the delivering sidecar has recorded Jenkins' answer, just after Jenkins saw it).
    for (const s of sidecars) {
      let listed = new Map<string, string>();
      const all = await eventually(async () => {
        const page = await admin<{ messages: { id: string; status: string }[] }>(s, '/api/messages?type=push&limit=1000');
        listed = new Map(page.messages.map((m) => [m.id, m.status]));
        return ids.every((id) => listed.get(id) === 'delivered');
      }, 10_000);
      assert.ok(all, `the sidecar at ${s.ready.admin} lists ${ids.filter((id) => listed.has(id)).length} of 60, ${ids.filter((id) => listed.get(id) === 'delivered').length} delivered`);
    }
    // A message stored by one sidecar, asked of the other's admin API (when both stored some; else of the only one).
    const [a, b] = storedBy[1]!.length > 0 ? [0, 1] : [1, 0];
    const fromOther = storedBy[b]![0]!;
    const detail = await admin<{ message: { id: string }; deliveries: { sink: string; state: string; attempts: number }[] }>(sidecars[a]!, `/api/messages/${fromOther}`);
    assert.equal(detail.message.id, fromOther);
    assert.deepEqual(detail.deliveries.map((d) => [d.sink, d.state, d.attempts]), [['jenkins', 'delivered', 1]]);

    // `darkhook messages resubmit` from a third process, and a resubmit through sidecar a's admin API
    // of a message sidecar b stored: each arrives at Jenkins a second time, from one of the sidecars.
    const viaCli = ids[0]!;
    const viaAdmin = storedBy[b]!.find((id) => id !== viaCli) ?? ids[1]!;
    const resubmit = await runCli(['--json', 'messages', 'resubmit', viaCli, '--config', configFile], { env });
    assert.equal(resubmit.code, 0, resubmit.stderr);
    assert.deepEqual(JSON.parse(resubmit.stdout), { resubmitted: 1 });
    assert.deepEqual(await admin(sidecars[a]!, `/api/messages/${viaAdmin}/resubmit`, {}), { resubmitted: 1 });
    const again = new Set([viaCli, viaAdmin]);
    assert.ok(await waitFor(() => [...arrivals(again).values()].every((n) => n >= 2), 20_000), `arrivals ${JSON.stringify([...arrivals(again)])}`);
    // Both workers poll every 500 ms: past a lease and more, a second claim would have shown.
    await new Promise((r) => setTimeout(r, (LEASE_SECONDS + 1) * 1000));
    assert.deepEqual([...arrivals(again)].sort(), [...again].sort().map((id) => [id, 2]), 'delivered again exactly once');
    assert.equal(arrivals(want).size, 60);
    assert.ok([...arrivals(want)].every(([id, n]) => n === (again.has(id) ? 2 : 1)), 'no other message delivered again');
    let recorded: [string, number][] = [];
    const twice = await eventually(async () => {
      const view = await admin<{ deliveries: { state: string; attempts: number }[] }>(sidecars[b]!, `/api/messages/${viaCli}`);
      recorded = view.deliveries.map((d) => [d.state, d.attempts]);
      return recorded.length === 1 && recorded[0]![0] === 'delivered' && recorded[0]![1] === 2;
    }, 10_000);
    assert.ok(twice, `the store records the second attempt: ${JSON.stringify(recorded)}`);
  });

  it(`${EVENTS} events, one sidecar SIGKILLed three times and PostgreSQL restarted once: every event arrives, repeats only for possible duplicates`, { timeout: 1_800_000 }, async (t) => {
    const send = sendChild(EVENTS, 'faults');
    const seen = (): number => jenkins.received.filter((d) => d.deliveryId !== undefined).length;
    const arrivedBefore = seen();
    const everyProcess = [...sidecars];
    const storedBefore = everyProcess.reduce((n, p) => n + p.stored.length, 0);
    const stored = (): number => everyProcess.reduce((n, p) => n + p.stored.length, 0) - storedBefore;
    const sending = (): boolean => send.child.child.exitCode === null;
    const at = (): string => `${stored()} stored, ${seen() - arrivedBefore} arrived`;
    const faults: string[] = [];
    // The victim: the sidecar the sender's connections reached (the other one keeps serving).
    await waitFor(() => stored() >= EVENTS / 4 || !sending(), 600_000);
    const victim = sidecars[0]!.stored.length >= sidecars[1]!.stored.length ? 0 : 1;
    const killAndRestart = async (k: number): Promise<void> => {
      await sidecars[victim]!.kill();
      faults.push(`kill ${k} at ${at()}`);
      sidecars[victim] = await startReceiverProcess(configFile, env, { timeoutMs: 60_000 });
      everyProcess.push(sidecars[victim]!);
    };
    // While storing: the sender's batch in flight is cut; it retries (202 for what was committed).
    await killAndRestart(1);
    // PostgreSQL restarted while storing: 503s meanwhile, the sender keeps the events and retries.
    await waitFor(() => stored() >= EVENTS / 2 || !sending(), 600_000);
    cluster.stop('immediate');
    faults.push(`PostgreSQL stopped at ${at()}`);
    await new Promise((r) => setTimeout(r, 1_000));
    cluster.start();
    // While delivering: its claims expire and the other sidecar (or its restart) takes them over.
    await waitFor(() => seen() - arrivedBefore >= EVENTS / 3, 600_000);
    await killAndRestart(2);
    await waitFor(() => seen() - arrivedBefore >= (2 * EVENTS) / 3, 600_000);
    await killAndRestart(3);
    const ids = await send.done;
    const want = new Set(ids);
    assert.equal(want.size, EVENTS);
    assert.ok(await waitFor(() => arrivals(want).size === want.size, 600_000), `arrived ${arrivals(want).size} of ${want.size} (${faults.join('; ')})`);
    // Let late takeovers of expired leases finish before counting.
    await new Promise((r) => setTimeout(r, (LEASE_SECONDS + 1) * 1000));
    const c = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database });
    await c.connect();
    let possible: Set<string>;
    try {
      possible = new Set((await c.query<{ message_id: string }>('SELECT message_id FROM deliveries WHERE possible_duplicate')).rows.map((r) => r.message_id));
    } finally {
      await c.end();
    }
    const repeated = [...arrivals(want)].filter(([, n]) => n > 1).map(([id, n]) => `${id}×${n}`);
    const unexplained = repeated.filter((r) => !possible.has(r.split('×')[0]!));
    // The figure the issue asks for, in the test's report.
    t.diagnostic(`pg faults: ${EVENTS} events; ${faults.join('; ')}; ${repeated.length} delivered more than once, ${possible.size} marked possible duplicates: ${repeated.slice(0, 50).join(', ')}`);
    assert.deepEqual(unexplained, [], 'a repeat is always a delivery in flight at a kill or the restart');
  });
});
