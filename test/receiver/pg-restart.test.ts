/**
 * A replica restarted after a crash on a real PostgreSQL: its slot (`<prefix>#<n>`, held by a session
 * advisory lock) is free again once the dead process's sessions end, so the restart takes back the
 * deliveries it had in flight at once — as possible duplicates — instead of after their lease; a
 * live replica's slot and claims are never taken.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { MessageLog } from '../../receiver/log/message-log.js';
import { openMessageLog } from '../../receiver/log/open.js';
import type { PgMessageLog } from '../../receiver/log/pg-log.js';
import type { RoutedMessage } from '../../receiver/log/types.js';
import { pgSkipReason, startPgCluster, type PgCluster } from './pg-cluster.js';

const T0 = 1_700_000_000_000;
/** Long, as in production: nothing here may wait for it. */
const LEASE_MS = 60_000;
const PREFIX = 'sidecar-host/jenkins-hooks';
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

async function open(db: string, replicaPrefix?: string): Promise<PgMessageLog> {
  const log = await openMessageLog(cluster.url(db), { env, leaseMs: LEASE_MS, ...(replicaPrefix === undefined ? {} : { replicaPrefix }) });
  opened.push(log);
  return log as PgMessageLog;
}

/** What a SIGKILL does to a process's sessions: the server ends every connection of `database`'s receivers. */
async function killSessions(database: string): Promise<number> {
  const admin = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'postgres' });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: string }>(
      "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'darkhook-receiver%' AND pid <> pg_backend_pid()",
      [database],
    );
    return Number(rows[0]!.n);
  } finally {
    await admin.end();
  }
}

describe('a replica restarted after a crash (PostgreSQL)', { skip: pgSkip }, () => {
  before(async () => {
    cluster = await startPgCluster();
    env = { DARKHOOK_TEST_PG_PASSWORD: cluster.password };
  });
  after(async () => {
    for (const log of opened) await log.close().catch(() => undefined);
    cluster?.destroy();
  });

  it('takes back the deliveries it had in flight at once, as possible duplicates; a replica without that slot waits for the lease', async () => {
    const db = await cluster.createDatabase('restart');
    const crashed = await open(db, PREFIX);
    assert.equal(crashed.replicaId, `${PREFIX}#0`);
    await crashed.ingest(['r1', 'r2', 'r3', 'r4'].map(routed), T0);
    assert.deepEqual((await crashed.claimDue('jenkins', T0, 3)).map((j) => j.message.id), ['r1', 'r2', 'r3']);
    assert.ok((await killSessions(db)) >= 1, 'the crashed replica had sessions');

    const restartedAt = T0 + 5_000; // well inside the 60 s lease
    const other = await open(db);
    assert.equal(other.holdsSlot, false);
    assert.equal(await other.recoverInflight(restartedAt), 0, 'another replica leaves claims alone until their lease runs out');

    const restarted = await open(db, PREFIX);
    assert.equal(restarted.replicaId, `${PREFIX}#0`, 'the dead holder\'s slot is free again');
    assert.equal(await restarted.recoverInflight(restartedAt), 3);
    const jobs = await restarted.claimDue('jenkins', restartedAt, 10);
    // Sent again first (ahead of r4, never attempted), each marked a possible duplicate.
    assert.deepEqual(jobs.map((j) => [j.message.id, j.delivery.possibleDuplicate]), [['r1', true], ['r2', true], ['r3', true], ['r4', false]]);
  });

  it('a live replica keeps its slot: the next one takes the next slot and takes back nothing of the live one', async () => {
    const db = await cluster.createDatabase('live');
    const live = await open(db, PREFIX);
    await live.ingest(['l1', 'l2'].map(routed), T0);
    const held = await live.claimDue('jenkins', T0, 10);
    assert.equal(held.length, 2);
    const second = await open(db, PREFIX);
    assert.deepEqual([live.replicaId, second.replicaId], [`${PREFIX}#0`, `${PREFIX}#1`]);
    assert.equal(await second.recoverInflight(T0 + 5_000), 0, 'live claims stay the live replica\'s');
    await live.finishAttempt(held[0]!.delivery.id, { startedAt: T0, durationMs: 3, outcome: 'delivered', status: 200, state: 'delivered' });
    assert.equal((await second.get('l1'))!.message.status, 'delivered', 'the live replica\'s outcome still counts');
    // Closing frees the slot for the next start.
    await live.close();
    const third = await open(db, PREFIX);
    assert.equal(third.replicaId, `${PREFIX}#0`);
  });
});
