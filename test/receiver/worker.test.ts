/**
 * The sink worker over a real SQLite message store in a temp folder, with a scripted sink, an
 * injected clock and mocked timers: backoff, Retry-After, the circuit, disabling, deadlines, resubmit
 * and enable from another store on the same file, recovery after a crash, retention.
 */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { Severity } from '../../connector/webhook/severity.js';
import { startRetention } from '../../receiver/log/retention.js';
import { MessageStore } from '../../receiver/log/store.js';
import { SqliteMessageLog } from '../../receiver/log/sqlite-log.js';
import type { Sink, SinkMessage, SinkOutcome } from '../../receiver/sinks/sink.js';
import type { CommonSinkConfig } from '../../receiver/sinks/sink-config.js';
import { SINK_CHANNELS, SinkWorker, type AttemptEvent } from '../../receiver/sinks/worker.js';

const T0 = 1_800_000_000_000;
const POLL_MS = 500;
const DAY_MS = 86_400_000;

/** A sink that answers from a script (then `delivered`) and records each call. */
class ScriptedSink implements Sink {
  readonly name = 'hooks';
  readonly type = 'http' as const;
  readonly target = 'scripted';
  readonly calls: { id: string; attempt: number }[] = [];
  readonly script: SinkOutcome[] = [];
  skipReason(): string | undefined {
    return undefined;
  }
  async deliver(message: SinkMessage, context: { attempt: number }): Promise<SinkOutcome> {
    this.calls.push({ id: message.id, attempt: context.attempt });
    return this.script.shift() ?? { type: 'delivered', status: 200 };
  }
  async close(): Promise<void> {}
}

const retry500: SinkOutcome = { type: 'retry', status: 500, error: 'HTTP 500' };

interface Rig {
  readonly path: string;
  readonly store: MessageStore;
  readonly sink: ScriptedSink;
  readonly worker: SinkWorker;
  readonly clock: () => number;
  /** Move the clock and the timers on by `ms`, letting every attempt due meanwhile run. */
  advance(ms?: number): Promise<void>;
  /** Store messages routed to the sink, received now. */
  ingest(ids: readonly string[], severity?: Severity, receivedAt?: number): void;
  state(id: string): { state: string; attempts: number; nextAttemptAt: number; possibleDuplicate: boolean; status: string; lastError: string | undefined };
}

async function rig(t: TestContext, over: Partial<CommonSinkConfig> = {}, start = true): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'darkhook-worker-'));
  const path = join(dir, 'receiver.db');
  const store = MessageStore.open(path);
  const sink = new ScriptedSink();
  let now = T0;
  const config: CommonSinkConfig = {
    name: sink.name, type: 'http', url: 'http://127.0.0.1:9/', timeoutMs: 10_000, concurrency: 1, deadlineMs: DAY_MS,
    retryMinMs: 1_000, retryMaxMs: 600_000, ratePerSecond: undefined, circuitFailures: 100, circuitCooldownMs: 30_000,
    minSeverity: undefined, headers: {}, ...over,
  };
  t.mock.timers.enable({ apis: ['setTimeout'] });
  // random() = 1: each backoff is its ceiling, min × 2^(attempt − 1), so due times are exact.
  const worker = new SinkWorker(sink, config, new SqliteMessageLog(store), { now: () => now, random: () => 1, pollIntervalMs: POLL_MS });
  t.after(async () => {
    await worker.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const flush = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      t.mock.timers.tick(0);
    }
  };
  const r: Rig = {
    path, store, sink, worker,
    clock: () => now,
    async advance(ms = 0) {
      // What is due now runs first; then poll-sized steps, so each wake-up sees the clock at its time.
      await flush();
      for (let left = ms; left > 0; left -= Math.min(left, POLL_MS)) {
        const step = Math.min(left, POLL_MS);
        now += step;
        t.mock.timers.tick(step);
        await flush();
      }
      await flush();
    },
    ingest(ids, severity, receivedAt = now) {
      store.ingest(
        ids.map((id) => ({ id, type: 'alert', timestamp: Math.floor(now / 1000), body: Buffer.from(`{"id":"${id}"}`), headers: {}, caller: 'ci', batchId: undefined, route: '/hooks', severity, sinks: [sink.name], filteredReason: undefined })),
        receivedAt,
        new Map([[sink.name, config.deadlineMs]]),
      );
      worker.wake();
    },
    state(id) {
      const got = store.get(id);
      assert.ok(got !== undefined, `message ${id} is stored`);
      const d = got.deliveries[0]!;
      return { state: d.state, attempts: d.attempts, nextAttemptAt: d.nextAttemptAt, possibleDuplicate: d.possibleDuplicate, status: got.message.status, lastError: d.lastError };
    },
  };
  if (start) {
    worker.start();
    await r.advance();
  }
  return r;
}

describe('sink worker', () => {
  it('retries with exponential backoff until delivered, each attempt recorded', async (t) => {
    const r = await rig(t);
    r.sink.script.push(retry500, retry500);
    r.ingest(['m1']);
    await r.advance();
    assert.equal(r.sink.calls.length, 1);
    assert.deepEqual(r.state('m1'), { state: 'pending', attempts: 1, nextAttemptAt: T0 + 1_000, possibleDuplicate: false, status: 'pending', lastError: 'HTTP 500' });
    await r.advance(999);
    assert.equal(r.sink.calls.length, 1, 'not before its backoff');
    await r.advance(1);
    assert.equal(r.sink.calls.length, 2);
    assert.equal(r.state('m1').nextAttemptAt, T0 + 1_000 + 2_000);
    await r.advance(1_999);
    assert.equal(r.sink.calls.length, 2);
    await r.advance(1);
    assert.deepEqual(r.sink.calls, [{ id: 'm1', attempt: 1 }, { id: 'm1', attempt: 2 }, { id: 'm1', attempt: 3 }]);
    assert.equal(r.state('m1').state, 'delivered');
    assert.equal(r.state('m1').status, 'delivered');
    assert.deepEqual(r.store.get('m1')!.deliveries[0]!.attemptLog.map((a) => [a.outcome, a.status]), [['retry', 500], ['retry', 500], ['delivered', 200]]);
  });

  it('a 429 with Retry-After pauses the whole sink until then', async (t) => {
    const r = await rig(t);
    r.sink.script.push({ type: 'retry', status: 429, error: 'HTTP 429', retryAfterMs: 5_000 });
    r.ingest(['m1', 'm2']);
    await r.advance();
    assert.equal(r.sink.calls.length, 1);
    assert.equal(r.worker.status().pausedUntil, T0 + 5_000);
    assert.equal(r.state('m1').nextAttemptAt, T0 + 5_000);
    await r.advance(4_999);
    assert.equal(r.sink.calls.length, 1, 'm2 is due but the sink is paused');
    await r.advance(1);
    assert.deepEqual(r.sink.calls.map((c) => c.id).sort(), ['m1', 'm1', 'm2']);
    assert.equal(r.state('m2').state, 'delivered');
  });

  it('the circuit opens after N failures in a row, then one trial decides; a trial paused by a 429 does not leave it stuck', async (t) => {
    const r = await rig(t, { circuitFailures: 3, circuitCooldownMs: 10_000, retryMinMs: 100_000 });
    r.sink.script.push(retry500, retry500, retry500, { type: 'retry', status: 429, error: 'HTTP 429', retryAfterMs: 1_000 });
    r.ingest(['m1', 'm2', 'm3', 'm4', 'm5']);
    await r.advance();
    assert.equal(r.sink.calls.length, 3);
    assert.equal(r.worker.status().circuit, 'open');
    await r.advance(9_999);
    assert.equal(r.sink.calls.length, 3, 'nothing while the circuit is open');
    await r.advance(1);
    assert.equal(r.sink.calls.length, 4, 'one trial (answered 429)');
    assert.equal(r.worker.status().circuit, 'half-open');
    await r.advance(1_000);
    // The next trial (m5) succeeds and closes the circuit; m1–m3 wait for their backoff.
    assert.equal(r.sink.calls.length, 5);
    assert.equal(r.worker.status().circuit, 'closed');
    assert.equal(r.state('m5').state, 'delivered');
    await r.advance(100_000);
    for (const id of ['m1', 'm2', 'm3', 'm4']) assert.equal(r.state(id).state, 'delivered', id);
  });

  it('a 401 disables the sink: the delivery waits (not dead, not counted) and resumes after enable from another store', async (t) => {
    const r = await rig(t);
    r.sink.script.push({ type: 'disable', status: 401, error: 'HTTP 401: bad token' });
    r.ingest(['m1', 'm2']);
    await r.advance();
    assert.equal(r.sink.calls.length, 1);
    assert.equal(r.store.sinkState('hooks')?.state, 'disabled');
    assert.match(r.store.sinkState('hooks')?.reason ?? '', /bad token/);
    assert.equal(r.worker.status().disabled, true);
    assert.deepEqual([r.state('m1').state, r.state('m1').attempts, r.state('m1').status], ['pending', 0, 'pending']);
    await r.advance(60_000);
    assert.equal(r.sink.calls.length, 1, 'nothing is attempted while disabled');
    const cli = MessageStore.open(r.path);
    cli.setSinkState('hooks', 'active', 'enabled by operator', r.clock());
    cli.close();
    await r.advance(POLL_MS);
    assert.equal(r.worker.status().disabled, false);
    assert.equal(r.state('m1').state, 'delivered');
    assert.equal(r.state('m2').state, 'delivered');
  });

  it('a delivery still failing at its deadline is dead, with the reason', async (t) => {
    const r = await rig(t, { deadlineMs: 5_000 });
    r.sink.script.push(retry500, retry500, retry500);
    r.ingest(['m1']);
    await r.advance(3_000);
    // Attempts at T0, +1 s, +3 s; the next would be at +7 s, past the deadline.
    assert.equal(r.sink.calls.length, 3);
    assert.equal(r.state('m1').state, 'dead');
    assert.equal(r.state('m1').status, 'dead');
    assert.match(r.state('m1').lastError ?? '', /deadline reached/);
  });

  it('a delivery whose deadline passed while the sink was disabled is dead without an attempt', async (t) => {
    const r = await rig(t, { deadlineMs: 5_000 });
    r.store.setSinkState('hooks', 'disabled', 'test', r.clock());
    r.ingest(['m1']);
    await r.advance(6_000);
    r.store.setSinkState('hooks', 'active', undefined, r.clock());
    await r.advance(POLL_MS);
    assert.equal(r.sink.calls.length, 0);
    assert.equal(r.state('m1').state, 'dead');
    assert.deepEqual(r.store.get('m1')!.deliveries[0]!.attemptLog.map((a) => a.outcome), ['expired']);
  });

  it('a dead message resubmitted from another store on the same file is picked up and delivered', async (t) => {
    const r = await rig(t);
    r.sink.script.push({ type: 'failed', status: 400, error: 'HTTP 400' });
    r.ingest(['m1']);
    await r.advance();
    assert.equal(r.state('m1').status, 'dead');
    const cli = MessageStore.open(r.path);
    assert.equal(cli.resubmit({ ids: ['m1'] }, r.clock(), DAY_MS), 1);
    cli.close();
    await r.advance(POLL_MS);
    assert.deepEqual(r.sink.calls, [{ id: 'm1', attempt: 1 }, { id: 'm1', attempt: 2 }]);
    assert.equal(r.state('m1').status, 'delivered');
  });

  it('after a crash, a delivery left in flight is retried and counted as a possible duplicate', async (t) => {
    const r = await rig(t, {}, false);
    r.ingest(['m1', 'm2']);
    // "Process 1" claims m1 and dies before finishing it.
    const crashed = MessageStore.open(r.path);
    assert.equal(crashed.claimDue('hooks', r.clock(), 1).length, 1);
    crashed.close();
    assert.equal(r.state('m1').state, 'inflight');
    assert.equal(r.store.recoverInflight(r.clock()), 1);
    assert.deepEqual([r.state('m1').state, r.state('m1').possibleDuplicate, r.state('m2').possibleDuplicate], ['pending', true, false]);
    const events: AttemptEvent[] = [];
    const onAttempt = (e: unknown): void => void events.push(e as AttemptEvent);
    subscribe(SINK_CHANNELS.attempt, onAttempt);
    t.after(() => unsubscribe(SINK_CHANNELS.attempt, onAttempt));
    r.worker.start();
    await r.advance();
    assert.deepEqual(events.map((e) => [e.messageId, e.state, e.possibleDuplicate]).sort(), [['m1', 'delivered', true], ['m2', 'delivered', false]]);
  });

  it('after a crash, the deliveries left in flight go first at the restart, ahead of the backlog (not behind it)', async (t) => {
    const r = await rig(t, {}, false);
    const ids = Array.from({ length: 40 }, (_, i) => `m${String(i).padStart(2, '0')}`);
    r.ingest(ids);
    // "Process 1" claims the two oldest and is SIGKILLed; the restart comes a minute later.
    const crashed = MessageStore.open(r.path);
    assert.deepEqual(crashed.claimDue('hooks', r.clock(), 2).map((j) => j.message.id), ['m00', 'm01']);
    crashed.close();
    await r.advance(60_000);
    assert.equal(r.store.recoverInflight(r.clock()), 2);
    // They were the oldest due and still are: a restart with a backlog behind them sends them at once.
    // (Re-queued at the restart time, they went to the back and waited for the whole backlog.)
    assert.ok(r.state('m00').nextAttemptAt <= r.clock());
    r.worker.start();
    await r.advance();
    assert.deepEqual(r.sink.calls.slice(0, 3).map((c) => c.id), ['m00', 'm01', 'm02']);
    await r.advance(POLL_MS * 4);
    assert.deepEqual(r.sink.calls.map((c) => c.id), ids, 'every delivery once, oldest first');
  });

  it('skips messages below the sink minimum severity without calling it', async (t) => {
    const r = await rig(t, { minSeverity: 'high' });
    r.ingest(['low'], 'medium');
    r.ingest(['high'], 'critical');
    r.ingest(['none']);
    await r.advance();
    assert.deepEqual(r.sink.calls.map((c) => c.id).sort(), ['high', 'none']);
    assert.deepEqual([r.state('low').state, r.state('low').status], ['skipped', 'filtered']);
    assert.match(r.state('low').lastError ?? '', /below the minimum high/);
  });

  it('retention removes finished old messages and keeps undelivered ones', async (t) => {
    const r = await rig(t);
    r.sink.script.push({ type: 'delivered', status: 200 }, { type: 'failed', status: 400, error: 'HTTP 400' }, { type: 'disable', status: 403, error: 'HTTP 403' });
    r.ingest(['delivered', 'dead', 'waiting']);
    await r.advance();
    assert.deepEqual(['delivered', 'dead', 'waiting'].map((id) => r.state(id).state), ['delivered', 'dead', 'pending']);
    await r.worker.stop();
    r.ingest(['recent'], undefined, T0 + 2 * DAY_MS);
    // Eight days on, retention (7 days) runs once at start.
    const retention = startRetention(new SqliteMessageLog(r.store), { days: 7, now: () => T0 + 8 * DAY_MS });
    retention.stop();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(['delivered', 'dead', 'waiting', 'recent'].map((id) => r.store.has(id)), [false, false, true, true]);
    assert.deepEqual(await retention.runOnce(), { removed: 0, keptPending: 1, rejections: 0 });
  });
});

/** A sink whose attempts wait until the test lets them finish; counts how many are open at once. */
class HeldSink extends ScriptedSink {
  readonly held: (() => void)[] = [];
  started = 0;
  open = 0;
  mostOpen = 0;
  override async deliver(message: SinkMessage, context: { attempt: number }): Promise<SinkOutcome> {
    this.started++;
    this.open++;
    this.mostOpen = Math.max(this.mostOpen, this.open);
    await new Promise<void>((resolve) => this.held.push(resolve));
    this.open--;
    return super.deliver(message, context);
  }
  /** Let every waiting attempt finish. */
  releaseAll(): void {
    for (const go of this.held.splice(0)) go();
  }
}

/** The settings `rig` gives its sink, for a second worker on the same store. */
function baseConfig(name: string): CommonSinkConfig {
  return {
    name, type: 'http', url: 'http://127.0.0.1:9/', timeoutMs: 10_000, concurrency: 1, deadlineMs: DAY_MS,
    retryMinMs: 1_000, retryMaxMs: 600_000, ratePerSecond: undefined, circuitFailures: 100, circuitCooldownMs: 30_000,
    minSeverity: undefined, headers: {},
  };
}

describe('sink worker: batched claims and attempt records', () => {
  /** A rig whose sink holds every attempt (claims are group-committed with the turn's other writes). */
  async function heldRig(t: TestContext, over: Partial<CommonSinkConfig>): Promise<Rig & { held: HeldSink }> {
    const r = await rig(t, over, false);
    const held = new HeldSink();
    const worker = new SinkWorker(held, { ...baseConfig(held.name), ...over }, new SqliteMessageLog(r.store), { now: r.clock, random: () => 1, pollIntervalMs: POLL_MS });
    t.after(() => worker.stop());
    worker.start();
    const ingest = (ids: readonly string[]): void => {
      r.ingest(ids);
      worker.wake();
    };
    return { ...r, worker, ingest, held };
  }

  it('claims fill the free slots in batches, never more than the concurrency at once; the attempts finished together are all recorded', async (t) => {
    const r = await heldRig(t, { concurrency: 4 });
    const ids = Array.from({ length: 10 }, (_, i) => `m${i}`);
    r.ingest(ids);
    await r.advance();
    assert.equal(r.held.open, 4, 'one claim took every free slot');
    assert.equal(ids.filter((id) => r.state(id).state === 'inflight').length, 4, 'claimed in the store');
    for (let round = 0; round < 3; round++) {
      r.held.releaseAll();
      await r.advance();
    }
    assert.equal(r.held.mostOpen, 4);
    assert.deepEqual(ids.map((id) => r.state(id).state), ids.map(() => 'delivered'), 'each attempt of a batch is recorded');
    assert.deepEqual(ids.map((id) => r.store.get(id)!.deliveries[0]!.attemptLog.length), ids.map(() => 1), 'once each');
  });

  it('a batched claim never takes more than the rate allows', async (t) => {
    const r = await heldRig(t, { concurrency: 10, ratePerSecond: 2 });
    r.ingest(['m1', 'm2', 'm3', 'm4', 'm5']);
    await r.advance();
    assert.equal(r.held.started, 2, 'the bucket holds two starts');
    r.held.releaseAll();
    await r.advance(499);
    assert.equal(r.held.started, 2, 'no token before 500 ms, though the slots are free');
    await r.advance(1);
    assert.equal(r.held.started, 3, 'one token per 500 ms');
    await r.advance(500);
    assert.equal(r.held.started, 4);
    await r.advance(500);
    assert.equal(r.held.started, 5);
    r.held.releaseAll();
    await r.advance();
    assert.equal(r.state('m5').state, 'delivered');
  });
});

describe('sink worker: queue depth reports', () => {
  it('the depth is reported at most every 250 ms, not at every poll', async (t) => {
    const depths: number[] = [];
    const onQueue = (e: unknown): void => void depths.push((e as { pending: number }).pending);
    subscribe(SINK_CHANNELS.queue, onQueue);
    t.after(() => unsubscribe(SINK_CHANNELS.queue, onQueue));
    const r = await rig(t);
    const before = depths.length;
    r.ingest(['m1', 'm2', 'm3', 'm4', 'm5']);
    await r.advance();
    assert.equal(r.sink.calls.length, 5, 'five polls, one per finished attempt, at the same instant');
    assert.equal(depths.length, before, 'reported at start; not again within 250 ms');
    assert.ok(before >= 1, 'the first poll reported');
    await r.advance(POLL_MS);
    assert.equal(depths.length, before + 1, 'the next idle poll, 500 ms on, reports again');
    assert.equal(depths.at(-1), 0, 'and the depth is current');
  });
});
