/**
 * Worker, store and Jenkins sink together over loopback: real GitHub payloads queued while the
 * Jenkins stand-in is down all arrive once it is back, byte-exact, signed, each exactly once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MessageStore } from '../../receiver/log/store.js';
import { SqliteMessageLog } from '../../receiver/log/sqlite-log.js';
import { createSink } from '../../receiver/sinks/registry.js';
import type { JenkinsSinkConfig } from '../../receiver/sinks/sink-config.js';
import { SinkWorker } from '../../receiver/sinks/worker.js';
import { startJenkins } from '../../standins/jenkins.js';

const SECRET = 'jenkins-shared-secret';
const EVENTS = ['push', 'pull_request', 'issues', 'release', 'ping'];

/** Poll `done` every 10 ms, at most `max` times (a bound, not a timing assertion). */
async function until(done: () => boolean, what: string, max = 1_000): Promise<void> {
  for (let i = 0; i < max && !done(); i++) await sleep(10);
  assert.ok(done(), what);
}

it('deliveries queued while Jenkins is down all arrive after it returns, once each, byte-exact', async (t) => {
  const examples = createRequire(import.meta.url)('@octokit/webhooks-examples') as { name: string; examples: unknown[] }[];
  const bodies = EVENTS.map((name) => Buffer.from(JSON.stringify(examples.find((e) => e.name === name)!.examples[0])));
  const dir = mkdtempSync(join(tmpdir(), 'darkhook-delivery-'));
  const store = MessageStore.open(join(dir, 'receiver.db'));
  const jenkins = await startJenkins({ secret: SECRET });
  const config: JenkinsSinkConfig = {
    name: 'jenkins', type: 'jenkins', url: jenkins.url, secret: SECRET, timeoutMs: 5_000, concurrency: 2, deadlineMs: 3_600_000,
    retryMinMs: 20, retryMaxMs: 80, ratePerSecond: undefined, circuitFailures: 1_000, circuitCooldownMs: 1_000, minSeverity: undefined, headers: {},
  };
  const worker = new SinkWorker(createSink(config), config, new SqliteMessageLog(store), { pollIntervalMs: 20 });
  t.after(async () => {
    await worker.stop();
    await jenkins.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await jenkins.stop();
  const now = Date.now();
  store.ingest(
    EVENTS.map((type, i) => ({
      id: `msg_${i}`, type, timestamp: Math.floor(now / 1000), body: bodies[i]!, headers: { 'content-type': 'application/json' },
      caller: 'ci-sender', batchId: undefined, route: '/github', severity: undefined, sinks: ['jenkins'], filteredReason: undefined,
    })),
    now,
  );
  worker.start();
  const attempts = (id: string): number => store.get(id)!.deliveries[0]!.attempts;
  await until(() => EVENTS.every((_, i) => attempts(`msg_${i}`) >= 2), 'each delivery was retried while Jenkins was down');
  assert.equal(jenkins.received.length, 0);
  assert.ok(EVENTS.every((_, i) => store.get(`msg_${i}`)!.deliveries[0]!.state !== 'dead'));
  await jenkins.start();
  await until(() => EVENTS.every((_, i) => store.get(`msg_${i}`)!.message.status === 'delivered'), 'all delivered after Jenkins returned');
  assert.equal(jenkins.received.length, EVENTS.length, 'none twice');
  for (const [i, event] of EVENTS.entries()) {
    const got = jenkins.received.find((r) => r.deliveryId === `msg_${i}`);
    assert.ok(got !== undefined && got.event === event && got.body.equals(bodies[i]!), event);
  }
  assert.equal(jenkins.refused.length, 0, 'every signature verified');
});
