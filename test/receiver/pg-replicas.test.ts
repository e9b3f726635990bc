/**
 * Several receiver replicas on one real PostgreSQL: a replayed id is refused by every replica,
 * each delivery is claimed by exactly one, a dead claimer's deliveries are taken over after the
 * lease; PostgreSQL down → 503 ERR_RECEIVER_STORE_UNAVAILABLE (nothing stored, nothing 2xx),
 * back up → 200 by itself; bad store settings at start → one coded error, nothing started.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import { checkConfig } from '../../receiver/config/config.js';
import { buildWebhookApp } from '../../receiver/ingest/plugin.js';
import type { ConnectionSource } from '../../receiver/ingest/source.js';
import type { MessageLog } from '../../receiver/log/message-log.js';
import { openMessageLog } from '../../receiver/log/open.js';
import type { RoutedMessage } from '../../receiver/log/types.js';
import { startSidecar } from '../../receiver/sidecar.js';
import { runCli } from '../cli/helpers.js';
import { signedHeaders } from './helpers.js';
import { pgSkipReason, startPgCluster, type PgCluster } from './pg-cluster.js';

const T0 = 1_700_000_000_000;
const LEASE_MS = 1_000;
const pgSkip = pgSkipReason();
let cluster: PgCluster;
let env: NodeJS.ProcessEnv;
const opened: MessageLog[] = [];

function routed(id: string): RoutedMessage {
  return {
    id, type: 'push', timestamp: Math.floor(T0 / 1000), body: Buffer.from(`{"id":"${id}"}`), headers: {}, caller: 'ci', batchId: undefined,
    route: '/github', severity: undefined, sinks: ['jenkins'], filteredReason: undefined,
  };
}

async function replicas(n: number, db: string): Promise<MessageLog[]> {
  const logs = await Promise.all(Array.from({ length: n }, () => openMessageLog(cluster.url(db), { env, leaseMs: LEASE_MS })));
  opened.push(...logs);
  return logs;
}

describe('replicas on one PostgreSQL', { skip: pgSkip }, () => {
  before(async () => {
    cluster = await startPgCluster();
    env = { DARKHOOK_TEST_PG_PASSWORD: cluster.password };
  });
  after(async () => {
    for (const log of opened) await log.close().catch(() => undefined);
    cluster?.destroy();
  });

  it('a replayed id is refused by every replica, also when both see it at the same moment', async () => {
    const [a, b] = await replicas(2, await cluster.createDatabase('replay'));
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a! : b!).ingest([routed('evt_same'), routed(`evt_${i}`)], T0)));
    assert.equal(results.filter((ids) => ids.includes('evt_same')).length, 1, 'stored by exactly one replica');
    assert.deepEqual(await b!.ingest([routed('evt_same')], T0), []);
    assert.deepEqual(await a!.ingest([routed('evt_same')], T0), []);
    assert.equal(await a!.count(), 41);
    assert.equal((await b!.get('evt_same'))!.deliveries.length, 1, 'one delivery, not one per replica');
  });

  it('each delivery is claimed by exactly one replica', async () => {
    const logs = await replicas(3, await cluster.createDatabase('claims'));
    const ids = Array.from({ length: 600 }, (_, i) => `evt_${i}`);
    for (let i = 0; i < ids.length; i += 100) await logs[0]!.ingest(ids.slice(i, i + 100).map(routed), T0);
    const claimed = logs.map(() => [] as string[]);
    await Promise.all(
      logs.map(async (log, r) => {
        for (let round = 0; round < 1_000; round++) {
          const jobs = await log.claimDue('jenkins', T0, 7);
          if (jobs.length === 0) return;
          for (const j of jobs) {
            claimed[r]!.push(j.message.id);
            await log.finishAttempt(j.delivery.id, { startedAt: T0, durationMs: 1, outcome: 'delivered', status: 200, state: 'delivered' });
          }
        }
      }),
    );
    const all = claimed.flat();
    assert.equal(all.length, ids.length, 'no delivery claimed twice');
    assert.equal(new Set(all).size, ids.length, 'every delivery claimed');
    assert.ok(claimed.filter((c) => c.length > 0).length >= 2, `the work was shared (${claimed.map((c) => c.length).join('/')})`);
    assert.deepEqual(await logs[1]!.deliveryCounts(), { jenkins: { delivered: ids.length } });
  });

  it('the deliveries a killed replica held are taken over once its lease expires, as possible duplicates', async () => {
    const [dying, survivor] = await replicas(2, await cluster.createDatabase('lease'));
    await dying!.ingest(['l1', 'l2', 'l3'].map(routed), T0);
    const held = await dying!.claimDue('jenkins', T0, 10);
    assert.equal(held.length, 3);
    assert.equal((await survivor!.claimDue('jenkins', T0 + LEASE_MS - 1, 10)).length, 0, 'not while the lease runs');
    assert.equal(await survivor!.recoverInflight(T0 + LEASE_MS - 1), 0, 'a replica starting does not steal live claims');
    const taken = await survivor!.claimDue('jenkins', T0 + LEASE_MS, 10);
    assert.deepEqual(taken.map((j) => [j.message.id, j.delivery.possibleDuplicate]).sort(), [['l1', true], ['l2', true], ['l3', true]]);
    // The old holder comes back late: its outcome no longer moves a delivery it lost.
    await dying!.finishAttempt(held[0]!.delivery.id, { startedAt: T0, durationMs: 1, outcome: 'retry', status: 500, error: 'late', state: 'pending', nextAttemptAt: T0 });
    await dying!.release(held[1]!.delivery.id, T0);
    const d0 = (await survivor!.get(held[0]!.message.id))!.deliveries[0]!;
    const d1 = (await survivor!.get(held[1]!.message.id))!.deliveries[0]!;
    assert.deepEqual([d0.state, d1.state], ['inflight', 'inflight']);
    await survivor!.finishAttempt(taken[0]!.delivery.id, { startedAt: T0 + LEASE_MS, durationMs: 1, outcome: 'delivered', status: 200, state: 'delivered' });
    assert.equal((await survivor!.get(taken[0]!.message.id))!.message.status, 'delivered');
    // Later still, after the survivor finished (its claim cleared): the old holder's outcome must not
    // turn 'delivered' back into pending (a second send) or into dead (hiding the delivery).
    const l1 = taken.find((j) => j.delivery.id === held[0]!.delivery.id)!;
    assert.equal(l1.message.id, held[0]!.message.id);
    if (l1 !== taken[0]) await survivor!.finishAttempt(l1.delivery.id, { startedAt: T0 + LEASE_MS, durationMs: 1, outcome: 'delivered', status: 200, state: 'delivered' });
    await dying!.finishAttempt(held[0]!.delivery.id, { startedAt: T0, durationMs: 1, outcome: 'retry', status: 500, error: 'later', state: 'pending', nextAttemptAt: T0 });
    await dying!.finishAttempt(held[0]!.delivery.id, { startedAt: T0, durationMs: 1, outcome: 'dead', status: 500, error: 'later', state: 'dead' });
    const after1 = (await survivor!.get(held[0]!.message.id))!;
    assert.equal(after1.deliveries[0]!.state, 'delivered');
    assert.equal(after1.message.status, 'delivered');
  });

  it('PostgreSQL down: 503 ERR_RECEIVER_STORE_UNAVAILABLE with Retry-After and nothing stored; back up: 200 by itself', async () => {
    const [log] = await replicas(1, await cluster.createDatabase('outage'));
    const secret = generateHmacSecret();
    const app = buildWebhookApp({
      routes: [{ path: '/github', callers: undefined, minSeverity: undefined, sinks: ['jenkins'] }],
      secrets: [secret], toleranceSeconds: 300, maxBodyBytes: 4096, store: log!, log: pino({ enabled: false }), callerOf: () => 'ci', recordRejections: false,
    });
    await app.ready();
    after(() => app.close());
    const send = (id: string) => app.inject({ method: 'POST', url: '/github', headers: signedHeaders({ id, body: Buffer.from('{}'), secret }), payload: '{}' });
    assert.equal((await send('before')).statusCode, 200);
    cluster.stop('immediate');
    try {
      for (const id of ['during_1', 'during_2', 'during_3']) {
        const res = await send(id);
        assert.equal(res.statusCode, 503, res.body);
        assert.equal(res.json().code, 'ERR_RECEIVER_STORE_UNAVAILABLE');
        assert.doesNotMatch(res.body, /postgres:|127\.0\.0\.1|darkhook@/, 'the answer does not name the store');
        assert.equal(res.headers['retry-after'], '2');
      }
    } finally {
      cluster.start();
    }
    // The pool reconnects by itself: no restart of the receiver. Every answer is 503 or 200, never another 2xx.
    const seen: number[] = [];
    for (let i = 0; i < 50; i++) {
      const res = await send('after');
      seen.push(res.statusCode);
      if (res.statusCode === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(seen.at(-1), 200, `answers after the restart: ${seen.join(', ')}`);
    assert.ok(seen.every((s) => s === 200 || s === 503));
    assert.deepEqual(await Promise.all(['before', 'during_1', 'after'].map((id) => log!.has(id))), [true, false, true]);
    assert.equal((await send('during_1')).statusCode, 200, 'the sender\'s retry of an event refused during the outage is stored now');
  });

  it('bad store settings at start: one coded error each, nothing half-started', async () => {
    const db = await cluster.createDatabase('bad');
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    await assert.rejects(openMessageLog(`postgres://darkhook:env:P@127.0.0.1:${closed}/${db}`, { env: { P: cluster.password } }), { code: 'ERR_RECEIVER_STORE_UNAVAILABLE' });
    await assert.rejects(openMessageLog(cluster.url(db), { env: { DARKHOOK_TEST_PG_PASSWORD: 'wrong' } }), { code: 'ERR_RECEIVER_STORE_AUTH_FAILED' });
    await assert.rejects(openMessageLog(cluster.url(db), { env: {} }), { code: 'ERR_CONFIG_SECRET_UNRESOLVED' });
    await assert.rejects(openMessageLog(`postgres://darkhook:${cluster.password}@127.0.0.1:${cluster.port}/${db}`), { code: 'ERR_CONFIG_SECRET_LITERAL' });
    const base = { identity: 'id.json', service: 's', secrets: ['env:S'], routes: [{ path: '/github' }] };
    assert.throws(() => checkConfig({ ...base, store: `postgres://darkhook:hunter2@127.0.0.1:5432/db` }, { env: { S: generateHmacSecret() } }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_CONFIG_SECRET_LITERAL');
      assert.ok(!err.message.includes('hunter2'), 'the password is not repeated');
      return true;
    });
    assert.equal(checkConfig({ ...base, store: `postgres://darkhook:env:PG@127.0.0.1:${cluster.port}/${db}` }, { env: { S: generateHmacSecret() } }).store, `postgres://darkhook:env:PG@127.0.0.1:${cluster.port}/${db}`);
    // The sidecar opens the store first: a refused login starts nothing (the source is never asked to accept).
    let accepted = 0;
    const source: ConnectionSource = {
      start: async () => {
        accepted++;
      },
      close: async () => undefined,
    };
    process.env.DARKHOOK_TEST_PG_WRONG = 'wrong';
    after(() => delete process.env.DARKHOOK_TEST_PG_WRONG);
    await assert.rejects(
      startSidecar({ source, storePath: cluster.url(db, 'DARKHOOK_TEST_PG_WRONG'), secrets: [generateHmacSecret()], toleranceSeconds: 300, maxBodyBytes: 4096, routes: [], sinks: [] }),
      { code: 'ERR_RECEIVER_STORE_AUTH_FAILED' },
    );
    assert.equal(accepted, 0);
  });

  it('darkhook receive --config with a bad store: one coded line and a non-zero exit, before any Ziti connection', { timeout: 120_000 }, async () => {
    const db = await cluster.createDatabase('cli');
    const dir = mkdtempSync(join(tmpdir(), 'darkhook-pg-cli-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const closed = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => resolve(port));
      });
    });
    const cases = [
      { store: `postgres://darkhook:env:PGPW@127.0.0.1:${closed}/${db}`, pw: cluster.password, code: 'ERR_RECEIVER_STORE_UNAVAILABLE', exit: 5 },
      { store: `postgres://darkhook:env:PGPW@127.0.0.1:${cluster.port}/${db}`, pw: 'wrong-password', code: 'ERR_RECEIVER_STORE_AUTH_FAILED', exit: 5 },
      { store: `postgres://darkhook:${cluster.password}@127.0.0.1:${cluster.port}/${db}`, pw: cluster.password, code: 'ERR_CONFIG_SECRET_LITERAL', exit: 2 },
    ];
    for (const [i, c] of cases.entries()) {
      const file = join(dir, `receiver-${i}.json`);
      // The identity file does not exist: the store is checked first, so its error is the one reported.
      writeFileSync(file, JSON.stringify({ identity: join(dir, 'absent.json'), service: 's', store: c.store, secrets: ['env:S'], routes: [{ path: '/github' }] }));
      const r = await runCli(['--log-level', 'error', 'receive', '--config', file], { env: { S: generateHmacSecret(), PGPW: c.pw } });
      assert.equal(r.code, c.exit, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, new RegExp(`^darkhook: ${c.code}: `));
      assert.ok(!r.stderr.includes(cluster.password) && !r.stdout.includes(cluster.password), 'the password is never printed');
      assert.equal(r.stdout, '', 'no ready line');
    }
  });
});
