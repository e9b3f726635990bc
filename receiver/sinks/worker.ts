/** One sink's delivery worker: claims due deliveries from the store, rate-limits, retries with backoff, trips a circuit, disables on 401/403. */
import { backoffDelay } from '../../core/backoff.js';
import { severityDropReason } from '../../connector/webhook/severity.js';
import type { MessageLog } from '../log/message-log.js';
import type { DeliveryJob } from '../log/types.js';
import type { Sink, SinkMessage, SinkOutcome } from './sink.js';
import type { CommonSinkConfig } from './sink-config.js';
import { type AttemptEvent, type QueueEvent, SINK_CHANNELS, sinkChannels as ch, type SinkStateEvent } from './channels.js';

/** How often a worker looks at the store even when nothing woke it (resubmits and enables from other processes), in milliseconds. */
export const DEFAULT_POLL_INTERVAL_MS = 500;

export { SINK_CHANNELS };
export type { AttemptEvent, QueueEvent, SinkStateEvent };

/**
 * Least time between two queue-depth reports of a worker, in milliseconds. The depth is a COUNT
 * over the sink's pending deliveries; taken at every poll (one per finished attempt under load) it
 * walked the whole backlog hundreds of times a second on the loop that also acknowledges webhooks.
 */
export const QUEUE_REPORT_INTERVAL_MS = 250;

/** How often an attempt's outcome is written again while the store is unreachable, and how far apart (ms). */
const FINISH_RETRIES = 10;
const FINISH_RETRY_MS = 500;

/** What a worker shows of itself (for `sinks list` and the admin page). */
export interface WorkerStatus {
  readonly name: string;
  readonly disabled: boolean;
  readonly circuit: 'closed' | 'open' | 'half-open';
  readonly pausedUntil: number | undefined;
  readonly inflight: number;
}

/** Options of a worker. */
export interface WorkerOptions {
  readonly now?: () => number;
  readonly random?: () => number;
  readonly pollIntervalMs?: number;
}

/**
 * Delivers one sink's deliveries from the store, never on the ack path. At most `concurrency`
 * attempts at once and `ratePerSecond` starts per second (token bucket); passing faults are retried
 * with jittered exponential backoff (or after `Retry-After`; a 429 pauses the whole sink) until the
 * delivery's deadline, then it is dead; `circuitFailures` faults in a row open the circuit for
 * `circuitCooldownMs`, then one trial attempt decides. A `disable` outcome disables the sink in
 * the store: its deliveries wait until `darkhook sinks enable`.
 */
export class SinkWorker {
  readonly sink: Sink;
  readonly #config: CommonSinkConfig;
  readonly #store: MessageLog;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #pollMs: number;
  readonly #inflight = new Map<number, AbortController>();
  readonly #running = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  /** The armed timer has no delay: a wake-up meanwhile need not re-arm it. */
  #soon = false;
  /** When the queue depth was last reported (ms, `now()`). */
  #queueReportedAt = -Infinity;
  /** The poll under way (store calls are async): never two at once; a wake-up meanwhile runs one more. */
  #ticking: Promise<void> | undefined;
  #again = false;
  #stopped = true;
  #disabled = false;
  #tokens: number;
  #tokensAt: number;
  #failures = 0;
  #openUntil: number | undefined;
  #pausedUntil: number | undefined;

  constructor(sink: Sink, config: CommonSinkConfig, store: MessageLog, options: WorkerOptions = {}) {
    this.sink = sink;
    this.#config = config;
    this.#store = store;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#pollMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.#tokens = this.#capacity();
    this.#tokensAt = this.#now();
  }

  /** Start polling. */
  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Look at the queue now (new deliveries were committed). */
  wake(): void {
    if (!this.#stopped) this.#schedule(0);
  }

  /** The worker's state. */
  status(): WorkerStatus {
    const now = this.#now();
    const circuit = this.#openUntil === undefined ? 'closed' : now < this.#openUntil ? 'open' : 'half-open';
    return {
      name: this.sink.name,
      disabled: this.#disabled,
      circuit,
      pausedUntil: this.#pausedUntil !== undefined && this.#pausedUntil > now ? this.#pausedUntil : undefined,
      inflight: this.#inflight.size,
    };
  }

  /** Stop: no new attempts; attempts in flight are aborted and their deliveries put back as pending. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#soon = false;
    await this.#ticking;
    for (const controller of this.#inflight.values()) controller.abort();
    await Promise.allSettled([...this.#running]);
  }

  #capacity(): number {
    return this.#config.ratePerSecond === undefined ? Infinity : Math.max(1, this.#config.ratePerSecond);
  }

  #refill(now: number): void {
    const rate = this.#config.ratePerSecond;
    if (rate === undefined) return;
    this.#tokens = Math.min(this.#capacity(), this.#tokens + ((now - this.#tokensAt) / 1000) * rate);
    this.#tokensAt = now;
  }

  #schedule(delayMs: number): void {
    const delay = Math.max(0, Math.min(delayMs, this.#pollMs));
    // A poll is already due at once (every webhook stored wakes the worker): keep it rather than
    // re-arming a timer per webhook.
    if (this.#soon) return;
    clearTimeout(this.#timer);
    this.#soon = delay === 0;
    this.#timer = setTimeout(() => {
      this.#soon = false;
      this.#tick();
    }, delay);
  }

  #tick(): void {
    if (this.#stopped) return;
    if (this.#ticking !== undefined) {
      this.#again = true;
      return;
    }
    const now = this.#now();
    this.#ticking = this.#claim(now).then(
      (wait) => wait,
      // The store failed (disk full, locked too long, server down): try again at the next poll; nothing is lost.
      () => this.#pollMs,
    ).then((wait) => {
      this.#ticking = undefined;
      if (this.#stopped) return;
      if (this.#again) {
        this.#again = false;
        wait = 0;
      }
      this.#schedule(wait);
    });
  }

  /** Claim what may start now; returns how long to wait before looking again. */
  async #claim(now: number): Promise<number> {
    const state = await this.#store.sinkState(this.sink.name);
    const disabled = state?.state === 'disabled';
    if (disabled !== this.#disabled) {
      this.#disabled = disabled;
      if (ch.state.hasSubscribers) {
        ch.state.publish({ sink: this.sink.name, state: disabled ? 'disabled' : 'enabled', reason: state?.reason ?? 'enabled' } satisfies SinkStateEvent);
      }
      // Enabled again: start afresh, without the faults that led to the disabling.
      if (!disabled) this.#closeCircuit();
    }
    if (this.#disabled) return this.#pollMs;
    if (this.#pausedUntil !== undefined && now < this.#pausedUntil) return this.#pausedUntil - now;
    if (this.#openUntil !== undefined && now < this.#openUntil) return this.#openUntil - now;
    const halfOpen = this.#openUntil !== undefined;
    // Half-open: one trial at a time, however it ends (a failure re-opens the circuit, a success
    // closes it; skipped, expired, a 429 pause or a stop let the next attempt be the trial). A flag
    // cleared only on failure or success left the circuit half-open with no trial allowed after
    // any other end, and the sink stopped for good.
    let slots = halfOpen ? (this.#inflight.size === 0 ? 1 : 0) : this.#config.concurrency - this.#inflight.size;
    this.#refill(now);
    slots = Math.min(slots, Math.floor(this.#tokens));
    let claimed = 0;
    if (slots > 0) {
      const jobs = await this.#store.claimDue(this.sink.name, now, slots);
      claimed = jobs.length;
      for (const job of jobs) {
        if (this.#stopped) {
          // Stopped while claiming: hand it back untouched.
          await this.#store.release(job.delivery.id, now);
          continue;
        }
        if (this.#config.ratePerSecond !== undefined) this.#tokens -= 1;
        this.#run(job);
      }
    }
    const nextDueAt = await this.#store.nextDueAt(this.sink.name);
    if (ch.queue.hasSubscribers && now - this.#queueReportedAt >= QUEUE_REPORT_INTERVAL_MS) {
      this.#queueReportedAt = now;
      ch.queue.publish({ sink: this.sink.name, inflight: this.#inflight.size, pending: await this.#store.pendingCount(this.sink.name), nextDueAt } satisfies QueueEvent);
    }
    if (nextDueAt === undefined) return this.#pollMs;
    if (this.#tokens < 1 && this.#config.ratePerSecond !== undefined) return Math.ceil(((1 - this.#tokens) / this.#config.ratePerSecond) * 1000);
    // Every slot is taken (concurrency, or the half-open trial): a finishing attempt looks again, so
    // waiting 0 here would only spin on the store until then.
    if (claimed >= slots) return nextDueAt <= now ? this.#pollMs : Math.min(this.#pollMs, nextDueAt - now);
    return Math.max(0, nextDueAt - now);
  }

  #run(job: DeliveryJob): void {
    const controller = new AbortController();
    this.#inflight.set(job.delivery.id, controller);
    const done = this.#attempt(job, controller)
      .catch(() => undefined)
      .finally(() => {
        this.#inflight.delete(job.delivery.id);
        this.#running.delete(done);
        // A slot is free: look again now.
        if (!this.#stopped) this.#schedule(0);
      });
    this.#running.add(done);
  }

  async #attempt(job: DeliveryJob, controller: AbortController): Promise<void> {
    const { delivery } = job;
    const message: SinkMessage = {
      id: job.message.id,
      type: job.message.type,
      timestamp: job.message.timestamp,
      body: job.message.body,
      headers: job.message.headers,
      caller: job.message.caller,
      route: job.message.route ?? '',
      severity: job.message.severity,
      receivedAt: job.message.receivedAt,
    };
    const attempt = delivery.attempts + 1;
    const startedAt = this.#now();
    if (startedAt >= delivery.deadlineAt) {
      await this.#finish(job, attempt, startedAt, 0, { type: 'expired' }, 'dead', undefined, `not delivered before its deadline (${delivery.lastError ?? 'no attempt'})`);
      return;
    }
    // The sink's own minimum (Jira at `high`, say): was configured and checked but applied nowhere.
    const skip = severityDropReason(message.severity, this.#config.minSeverity) ?? this.sink.skipReason(message);
    if (skip !== undefined) {
      await this.#finish(job, attempt, startedAt, 0, { type: 'skipped' }, 'skipped', undefined, skip);
      return;
    }
    const timeout = setTimeout(() => controller.abort(), this.#config.timeoutMs);
    let outcome: SinkOutcome;
    try {
      outcome = await this.sink.deliver(message, { attempt, signal: controller.signal });
    } catch (err) {
      // A sink must not throw; if one does, it is a passing fault of that attempt, not of the process.
      outcome = { type: 'retry', error: `sink failed: ${(err as Error).message ?? String(err)}`.slice(0, 200) };
    } finally {
      clearTimeout(timeout);
    }
    const end = this.#now();
    if (this.#stopped && controller.signal.aborted) {
      // Cut short by stop(): not an attempt; it goes back to pending (and may have reached the sink).
      await this.#store.release(delivery.id, end);
      return;
    }
    await this.#decide(job, attempt, startedAt, end - startedAt, outcome);
  }

  async #decide(job: DeliveryJob, attempt: number, startedAt: number, durationMs: number, outcome: SinkOutcome): Promise<void> {
    const status = 'status' in outcome ? outcome.status : undefined;
    switch (outcome.type) {
      case 'delivered':
        this.#closeCircuit();
        await this.#finish(job, attempt, startedAt, durationMs, outcome, 'delivered', status, outcome.detail);
        return;
      case 'skipped':
        await this.#finish(job, attempt, startedAt, durationMs, outcome, 'skipped', undefined, outcome.reason);
        return;
      case 'failed':
        this.#closeCircuit();
        await this.#finish(job, attempt, startedAt, durationMs, outcome, 'dead', status, outcome.error);
        return;
      case 'disable': {
        const reason = `${outcome.error} (HTTP ${outcome.status})`;
        await this.#store.setSinkState(this.sink.name, 'disabled', reason, startedAt + durationMs);
        // Attempts already in flight may be refused too: one alert per disabling, not one per answer.
        const already = this.#disabled;
        this.#disabled = true;
        if (!already && ch.state.hasSubscribers) ch.state.publish({ sink: this.sink.name, state: 'disabled', reason, status: outcome.status } satisfies SinkStateEvent);
        // The delivery waits for the sink to be enabled again: nothing is dropped.
        await this.#finish(job, attempt, startedAt, durationMs, outcome, 'pending', outcome.status, outcome.error, startedAt + durationMs, false);
        return;
      }
      case 'retry': {
        const end = startedAt + durationMs;
        if (status === 429 && outcome.retryAfterMs !== undefined) {
          // Rate limited: the limit is the sink's, not this message's.
          this.#pausedUntil = end + outcome.retryAfterMs;
          if (ch.state.hasSubscribers) ch.state.publish({ sink: this.sink.name, state: 'paused', reason: outcome.error, until: this.#pausedUntil } satisfies SinkStateEvent);
        } else {
          this.#failed(end, outcome.error);
        }
        const delay = Math.max(outcome.retryAfterMs ?? 0, backoffDelay(attempt, this.#config.retryMinMs, this.#config.retryMaxMs, this.#random));
        const next = end + delay;
        if (next >= job.delivery.deadlineAt) {
          await this.#finish(job, attempt, startedAt, durationMs, outcome, 'dead', status, `${outcome.error}; deadline reached`);
        } else {
          await this.#finish(job, attempt, startedAt, durationMs, outcome, 'pending', status, outcome.error, next);
        }
        return;
      }
    }
  }

  #failed(now: number, reason: string): void {
    this.#failures++;
    if (this.#openUntil !== undefined || this.#failures >= this.#config.circuitFailures) {
      this.#openUntil = now + this.#config.circuitCooldownMs;
      if (ch.state.hasSubscribers) ch.state.publish({ sink: this.sink.name, state: 'circuit-open', reason, until: this.#openUntil } satisfies SinkStateEvent);
    }
  }

  #closeCircuit(): void {
    this.#failures = 0;
    if (this.#openUntil !== undefined) {
      this.#openUntil = undefined;
      if (ch.state.hasSubscribers) ch.state.publish({ sink: this.sink.name, state: 'circuit-closed', reason: 'an attempt succeeded' } satisfies SinkStateEvent);
    }
  }

  async #finish(
    job: DeliveryJob,
    attempt: number,
    startedAt: number,
    durationMs: number,
    outcome: { type: SinkOutcome['type'] | 'expired' },
    state: 'pending' | 'delivered' | 'dead' | 'skipped',
    status: number | undefined,
    error: string | undefined,
    nextAttemptAt?: number,
    counted = true,
  ): Promise<void> {
    const result = {
      startedAt,
      durationMs,
      outcome: outcome.type,
      status,
      error: state === 'delivered' ? undefined : error,
      state,
      ...(nextAttemptAt === undefined ? {} : { nextAttemptAt }),
      counted,
    };
    // The sink has the message already: an outcome lost to a store that is briefly unreachable
    // would send it again after the claim's lease. Keep trying for a few seconds first.
    for (let tries = 1; ; tries++) {
      try {
        await this.#store.finishAttempt(job.delivery.id, result);
        break;
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'ERR_RECEIVER_STORE_UNAVAILABLE' || this.#stopped || tries >= FINISH_RETRIES) throw err;
        await new Promise((resolve) => setTimeout(resolve, FINISH_RETRY_MS));
      }
    }
    if (ch.attempt.hasSubscribers) {
      ch.attempt.publish({
        sink: this.sink.name,
        messageId: job.message.id,
        attempt,
        outcome: outcome.type,
        state,
        status,
        durationMs,
        possibleDuplicate: job.delivery.possibleDuplicate,
      } satisfies AttemptEvent);
    }
  }
}
