/**
 * A `darkhook receive` on PostgreSQL (its replica slot held by a session advisory lock), SIGKILLed while three deliveries hang
 * at the sink, restarted: it takes those three back at once (its start-up warning counts them) and
 * the sink sees each again long before their 60 s lease would have let anyone retry them.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type Child, type NetHome, prepareNet, type ReceiverProcess, recoveredInflight, SERVICE, spawnCli, startFabricProcess, startReceiverProcess, waitFor, writeReceiverConfig,
} from '../../bench/harness.js';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import { runCli } from '../cli/helpers.js';
import { pgSkipReason, startPgCluster, type PgCluster } from '../receiver/pg-cluster.js';

const LEASE_SECONDS = 60;
const pgSkip = pgSkipReason();

describe('a sidecar restarted on PostgreSQL (real processes)', { skip: pgSkip }, () => {
  let cluster: PgCluster;
  let net: NetHome;
  let fabric: Child;
  let configFile: string;
  let env: NodeJS.ProcessEnv;
  const sidecars: ReceiverProcess[] = [];
  const secret = generateHmacSecret();
  // The sink: holds every request open while `hang` is true (a slow Jenkins), answers 200 otherwise.
  let hang = true;
  const held: ServerResponse[] = [];
  const arrivals: { id: string; at: number }[] = [];
  const sink = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      arrivals.push({ id: String(req.headers['x-github-delivery']), at: Date.now() });
      if (hang) held.push(res);
      else res.end('ok');
    });
  });

  before(async () => {
    cluster = await startPgCluster();
    const database = await cluster.createDatabase('restart');
    env = { DARKHOOK_SECRET: secret, DARKHOOK_PG_PASSWORD: cluster.password, JENKINS_HOOK_SECRET: 'x'.repeat(32) };
    sink.listen(0, '127.0.0.1');
    await once(sink, 'listening');
    net = await prepareNet({ receivers: ['jenkins-receiver'], senders: ['ci-sender'] });
    fabric = await startFabricProcess(net);
    configFile = join(net.dir, 'receiver-config.json');
    writeReceiverConfig(configFile, {
      identity: net.identities['jenkins-receiver'],
      service: SERVICE,
      store: cluster.url(database, 'DARKHOOK_PG_PASSWORD'),
      storeLeaseSeconds: LEASE_SECONDS,
      secrets: ['env:DARKHOOK_SECRET'],
      routes: [{ path: '/github', callers: ['ci-sender'], sinks: ['jenkins'] }],
      sinks: { jenkins: { type: 'jenkins', url: `http://127.0.0.1:${(sink.address() as { port: number }).port}/github-webhook/`, secret: 'env:JENKINS_HOOK_SECRET', timeoutMs: 30_000, concurrency: 4 } },
    });
    sidecars.push(await startReceiverProcess(configFile, env));
  });

  after(async () => {
    for (const s of sidecars) await s.kill();
    for (const res of held) res.destroy();
    sink.closeAllConnections();
    sink.close();
    await fabric?.stop();
    if (net !== undefined) rmSync(net.dir, { recursive: true, force: true });
    cluster?.destroy();
  });

  it('SIGKILLed with three deliveries in flight, restarted: the three are sent again at once, each once more, as possible duplicates', { timeout: 60_000 }, async () => {
    const payload = join(net.dir, 'payload.jsonl');
    writeFileSync(payload, [1, 2, 3].map((seq) => JSON.stringify({ ref: 'refs/heads/main', seq })).join('\n'));
    const send = spawnCli(
      ['--json', '--log-level', 'warn', 'send', '--identity', net.identities['ci-sender']!, '--service', SERVICE, '--path', '/github', '--event', 'push',
        '--payload', payload, '--lines', '--outbox', join(net.dir, 'outbox.db'), '--deadline', '30'],
      { DARKHOOK_SECRET: secret },
    );
    assert.equal(await send.exited, 0, send.stderr().slice(-2_000));
    const ids = (JSON.parse(send.stdout()) as { ids: string[] }).ids;
    assert.equal(ids.length, 3);
    assert.ok(await waitFor(() => held.length === 3, 20_000), `the sink holds ${held.length} of 3`);
    await sidecars[0]!.kill();
    const leaseEnds = Date.now() + LEASE_SECONDS * 1000;
    for (const res of held.splice(0)) res.destroy();
    hang = false;
    const firstRound = arrivals.length;
    sidecars[0] = await startReceiverProcess(configFile, env);
    assert.equal(await recoveredInflight(sidecars[0]!, 5_000), 3, 'the restart counts the three it took back');
    assert.ok(await waitFor(() => arrivals.length - firstRound >= 3, 20_000), `sent again: ${arrivals.length - firstRound} of 3`);
    const again = arrivals.slice(firstRound);
    assert.deepEqual(again.map((a) => a.id).sort(), [...ids].sort(), 'the same X-GitHub-Delivery ids, each once');
    assert.ok(again.every((a) => a.at < leaseEnds), 'sent while the dead process\'s leases still ran: taken back, not taken over');
    const show = await runCli(['--json', 'messages', 'show', ids[0]!, '--config', configFile], { env });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /"possibleDuplicate":true/);
  });
});
