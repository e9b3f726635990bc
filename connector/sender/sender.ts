/** The sender: outbox first, then one batch at a time, in order, with retries, parking and a deadline. */
import assert from 'node:assert';
import { SendError } from '../../core/index.js';
import { encodeBatch } from '../webhook/batch-envelope.js';
import { createSigner, type StandardSigner } from '../webhook/signature-standard.js';
import { SENDER_CHANNELS, senderChannels as ch } from './channels.js';
import { EVENT_TYPE_HEADER, type SenderEvent, toOutboxMessage } from './event.js';
import { batchIdFor } from './ids.js';
import { normalizeSenderOptions, type NormalizedSenderOptions, type SenderOptions } from './options.js';
import type { OutboxMessage } from './outbox.js';
import { backoffDelay, classifyError, classifyResponse, type Outcome } from './retry.js';
import { severityDropReason } from '../webhook/severity.js';
import { createTransport, type Transport } from './transport.js';

export { SENDER_CHANNELS };

/** What `send` did with one event. */
export interface SendResult {
  /** The message id (`webhook-id`). */
  readonly id: string;
  /** True when stored in the outbox; false when dropped by the severity filter. */
  readonly queued: boolean;
  /** Why it was dropped, when it was. */
  readonly reason?: string;
}

/** Totals since the sender was created, and what is left. */
export interface FlushReport {
  /** Ids the receiver accepted (2xx), in delivery order. */
  readonly delivered: readonly string[];
  /** Messages parked: the receiver refused them for good. */
  readonly parked: readonly { readonly id: string; readonly reason: string }[];
  /** Events dropped by the severity filter. */
  readonly filtered: readonly { readonly id: string; readonly reason: string }[];
  /** Messages still in the outbox waiting to be sent (pending or in flight). */
  readonly pending: number;
  /** HTTP requests made. */
  readonly requests: number;
  /** True when `flush` gave up at its deadline with messages still pending. */
  readonly deadlineExceeded: boolean;
  /** The last retriable failure, e.g. `HTTP 503` or `ERR_ZITI_DIAL_REFUSED: …`. */
  readonly lastError?: string;
}

/** The sender API. */
export interface Sender {
  /** The normalised options (frozen, secret-free). */
  readonly options: NormalizedSenderOptions;
  /** Store one event in the outbox; resolves once it is on disk. @throws ERR_SEND_EVENT_INVALID, ERR_SEND_CLOSED, ERR_SEND_DUPLICATE_ID, ERR_SEND_OUTBOX_* */
  send(event: SenderEvent): Promise<SendResult>;
  /** Store many events with one disk write; all or none. Same errors as `send`. */
  sendMany(events: readonly SenderEvent[]): Promise<SendResult[]>;
  /**
   * Send everything pending now (no batch wait) until the outbox is empty, everything left is
   * parked, or `deadlineMs` passes. @throws ERR_SEND_CLOSED, or a fatal connection error (e.g.
   * ERR_ZITI_UNAUTHORIZED, ERR_ZITI_SERVICE_NOT_PERMITTED); the messages then stay pending.
   */
  flush(): Promise<FlushReport>;
  /** Stop: no new batches; waits for the request in flight. The outbox stays open (it is the caller's). */
  close(): Promise<void>;
}

interface Waiter {
  readonly deadline: number;
  readonly resolve: (deadlineExceeded: boolean) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

// Room for the envelope's per-event fields around the body, in bytes (JSON's field names and quotes).
const EVENT_OVERHEAD_BYTES = 128;

class BatchingSender implements Sender {
  readonly options: NormalizedSenderOptions;
  /** The secret parsed once; every batch is signed with it. */
  readonly #signer: StandardSigner;
  readonly #transport: Transport;
  readonly #delivered: string[] = [];
  readonly #parked: { id: string; reason: string }[] = [];
  readonly #filtered: { id: string; reason: string }[] = [];
  readonly #waiters = new Set<Waiter>();
  #requests = 0;
  #lastError: string | undefined;
  #limit: number;
  #timer: NodeJS.Timeout | undefined;
  #pumping: Promise<void> | undefined;
  #again = false;
  #fatal: Error | undefined;
  #closed = false;

  constructor(options: SenderOptions) {
    const { options: normalized, secret } = normalizeSenderOptions(options);
    this.options = normalized;
    this.#signer = createSigner(secret);
    this.#limit = normalized.batchMaxEvents;
    this.#transport = createTransport(normalized);
  }

  async send(event: SenderEvent): Promise<SendResult> {
    const [result] = await this.sendMany([event]);
    return result!;
  }

  async sendMany(events: readonly SenderEvent[]): Promise<SendResult[]> {
    if (this.#closed) throw new SendError('ERR_SEND_CLOSED', 'the sender was closed');
    const now = Date.now();
    const messages = events.map((e) => toOutboxMessage(e, this.options.headers, now));
    const results: SendResult[] = [];
    const kept = messages.filter((m) => {
      const reason = severityDropReason(m.severity, this.options.minSeverity);
      results.push(reason === undefined ? { id: m.id, queued: true } : { id: m.id, queued: false, reason });
      if (reason !== undefined) {
        this.#filtered.push({ id: m.id, reason });
        if (ch.filtered.hasSubscribers) ch.filtered.publish({ id: m.id, type: m.type, reason });
      }
      return reason === undefined;
    });
    if (kept.length > 0) {
      await this.options.outbox.enqueue(kept);
      if (ch.enqueued.hasSubscribers) ch.enqueued.publish({ ids: kept.map((m) => m.id) });
      this.#kick();
    }
    return results;
  }

  async flush(): Promise<FlushReport> {
    if (this.#closed) throw new SendError('ERR_SEND_CLOSED', 'the sender was closed');
    if (this.#fatal !== undefined) throw this.#fatal;
    const deadline = Date.now() + this.options.deadlineMs;
    const exceeded = await new Promise<boolean>((resolve, reject) => {
      const waiter: Waiter = {
        deadline,
        resolve: (value) => {
          clearTimeout(waiter.timer);
          this.#waiters.delete(waiter);
          resolve(value);
        },
        reject: (err) => {
          clearTimeout(waiter.timer);
          this.#waiters.delete(waiter);
          reject(err);
        },
        timer: setTimeout(() => waiter.resolve(true), this.options.deadlineMs),
      };
      this.#waiters.add(waiter);
      this.#kick();
    });
    return this.#report(exceeded);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#pumping;
    this.#transport.close();
    for (const w of this.#waiters) w.resolve(this.#pendingCount() > 0);
  }

  #report(deadlineExceeded: boolean): FlushReport {
    const pending = this.#pendingCount();
    return Object.freeze({
      delivered: [...this.#delivered],
      parked: this.#parked.map((p) => ({ ...p })),
      filtered: this.#filtered.map((f) => ({ ...f })),
      pending,
      requests: this.#requests,
      deadlineExceeded: deadlineExceeded && pending > 0,
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
    });
  }

  #pendingCount(): number {
    const c = this.options.outbox.counts();
    return c.pending + c.inflight;
  }

  /** Make sure the pump runs (again) soon. */
  #kick(): void {
    if (this.#closed || this.#fatal !== undefined) return;
    if (this.#pumping !== undefined) {
      this.#again = true;
      return;
    }
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#pumping = this.#pump()
      .catch((err: unknown) => this.#fail(err instanceof Error ? err : new Error(String(err))))
      .finally(() => {
        this.#pumping = undefined;
        if (this.#again) this.#kick();
      });
  }

  /** Send batches while one is ready; then sleep until the next one will be. One batch in flight, ever. */
  async #pump(): Promise<void> {
    for (;;) {
      this.#again = false;
      if (this.#closed || this.#fatal !== undefined) return;
      const { outbox, batchMaxWaitMs } = this.options;
      const now = Date.now();
      const head = outbox.head();
      if (head === undefined) {
        for (const w of this.#waiters) w.resolve(false);
        return;
      }
      // A retry, or a flush, goes as soon as it is due; fresh events wait for a full batch or the max wait.
      const urgent = this.#waiters.size > 0 || head.attempts > 0 || outbox.pendingAtLeast(this.#limit);
      const readyAt = urgent ? head.nextAttemptAt : Math.max(head.nextAttemptAt, head.createdAt + batchMaxWaitMs);
      if (readyAt > now) {
        // Flushes that would time out before anything can happen report now instead of waiting idle.
        for (const w of this.#waiters) if (readyAt > w.deadline) w.resolve(true);
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#kick();
        }, readyAt - now);
        return;
      }
      const batch = outbox.nextBatch(this.#limit, now);
      assert.ok(batch.length > 0, 'a due head must yield a batch');
      await this.#deliver(this.#fitBytes(batch));
    }
  }

  /** Keep the longest prefix whose envelope stays under `batchMaxBytes`; give the rest back. */
  #fitBytes(batch: OutboxMessage[]): OutboxMessage[] {
    let total = 32;
    let keep = 0;
    for (const m of batch) {
      const body = this.options.batchFormat === 'json' ? Math.ceil(m.body.length / 3) * 4 : m.body.length;
      total += body + JSON.stringify(m.headers).length + m.id.length + m.type.length + EVENT_OVERHEAD_BYTES;
      if (keep > 0 && total > this.options.batchMaxBytes) break;
      keep += 1;
    }
    if (keep < batch.length) this.options.outbox.release(batch.slice(keep).map((m) => m.id));
    return batch.slice(0, keep);
  }

  async #deliver(batch: OutboxMessage[]): Promise<void> {
    const { outbox } = this.options;
    const ids = batch.map((m) => m.id);
    let outcome: Outcome;
    let requestId = ids[0]!;
    try {
      const request = this.#build(batch);
      requestId = request.id;
      this.#requests += 1;
      if (ch.request.hasSubscribers) ch.request.publish({ requestId, events: batch.length, attempt: Math.max(...batch.map((m) => m.attempts)) + 1 });
      const res = await this.#transport.post(request.headers, request.body);
      outcome = classifyResponse(res.status, res.headers, res.body, batch.length);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      outcome = code === 'ERR_WEBHOOK_BATCH_TOO_LARGE' ? { type: 'split', reason: 'the encoded batch is over batchMaxBytes' } : classifyError(err);
    }
    switch (outcome.type) {
      case 'delivered':
        outbox.markDelivered(ids);
        this.#delivered.push(...ids);
        if (ch.delivered.hasSubscribers) ch.delivered.publish({ requestId, ids });
        return;
      case 'retry': {
        const attempt = Math.max(...batch.map((m) => m.attempts)) + 1;
        const delayMs = outcome.retryAfterMs ?? backoffDelay(attempt, this.options.retryMinDelayMs, this.options.retryMaxDelayMs);
        outbox.markRetry(ids, delayMs, outcome.reason);
        this.#lastError = outcome.reason;
        if (ch.retry.hasSubscribers) ch.retry.publish({ requestId, ids, attempt, delayMs, reason: outcome.reason });
        return;
      }
      case 'split':
        // The receiver (or our encoder) found the batch too big: halve the batch size and resend.
        outbox.release(ids);
        this.#limit = Math.max(1, Math.floor(batch.length / 2));
        if (ch.split.hasSubscribers) ch.split.publish({ requestId, events: batch.length, limit: this.#limit, reason: outcome.reason });
        return;
      case 'park':
        outbox.park(ids, outcome.reason);
        for (const id of ids) this.#parked.push({ id, reason: outcome.reason });
        if (ch.parked.hasSubscribers) ch.parked.publish({ requestId, ids, reason: outcome.reason });
        return;
      case 'fatal':
        outbox.release(ids);
        this.#fail(outcome.error);
        return;
    }
  }

  /** The request for a batch: one event as a plain signed webhook, several as a signed envelope. */
  #build(batch: readonly OutboxMessage[]): { id: string; headers: Record<string, string>; body: Buffer } {
    const timestamp = Math.floor(Date.now() / 1000);
    let id: string;
    let body: Buffer;
    let headers: Record<string, string>;
    if (batch.length === 1) {
      const m = batch[0]!;
      id = m.id;
      body = m.body;
      headers = { ...m.headers, [EVENT_TYPE_HEADER]: m.type };
    } else {
      id = batchIdFor(batch.map((m) => m.id));
      const encoded = encodeBatch(
        batch.map((m) => ({ id: m.id, type: m.type, timestamp: Math.floor(m.createdAt / 1000), body: m.body, headers: { ...m.headers } })),
        { maxEvents: batch.length, maxBytes: this.options.batchMaxBytes, format: this.options.batchFormat },
      );
      body = encoded.body;
      headers = { 'content-type': encoded.contentType };
    }
    // The id is the message's (or batch's) on every attempt; the timestamp is this attempt's.
    Object.assign(headers, this.#signer.headers(id, timestamp, body));
    return { id, headers, body };
  }

  #fail(err: Error): void {
    this.#fatal = err;
    if (ch.fatal.hasSubscribers) ch.fatal.publish({ code: (err as { code?: unknown }).code, message: err.message });
    for (const w of this.#waiters) w.reject(err);
  }
}

/**
 * Create a sender. Events go to the outbox first (`send` resolves once they are on disk), then
 * out in batches of up to `batchMaxEvents` (or after `batchMaxWaitMs`), one request at a time, in
 * order. 2xx deletes; 5xx, 408, 429 and connection faults retry with jittered exponential backoff
 * (`Retry-After` honoured); 400/401/403/404/410/413 park. Publishes `darkhook:sender:*` diagnostics.
 *
 * @throws {OptionError} ERR_OPTION_UNKNOWN, ERR_OPTION_INVALID
 * @throws {WebhookError} ERR_WEBHOOK_SECRET_INVALID
 * @example
 * const outbox = await openOutbox();
 * const sender = createSender({ outbox, connect: () => ziti.dial('hooks'), secret: process.env.DARKHOOK_SECRET! });
 * await sender.send({ type: 'security.alert', severity: 'high', body: { rule: 'ssh-bruteforce' } });
 * const report = await sender.flush();
 * await sender.close();
 * outbox.close();
 */
export function createSender(options: SenderOptions): Sender {
  return new BatchingSender(options);
}
