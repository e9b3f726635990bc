/** The durable outbox contract: every message is written here before any network I/O. */
import type { Severity } from '../webhook/severity.js';

/** Where a message is in its life. Delivered messages are deleted, so there is no `delivered` state. */
export type OutboxState = 'pending' | 'inflight' | 'parked';

/** What `enqueue` stores. */
export interface NewOutboxMessage {
  /** The `webhook-id`, stable across retries; unique in the outbox. */
  readonly id: string;
  /** Event type, e.g. `security.alert`. */
  readonly type: string;
  /** The exact body bytes. */
  readonly body: Buffer;
  /** Headers sent with the event (lower-case names), `content-type` included. */
  readonly headers: Readonly<Record<string, string>>;
  /** The event's severity, when it has one. */
  readonly severity?: Severity | undefined;
  /** When the event was accepted, milliseconds since the epoch. */
  readonly createdAt: number;
}

/** A stored message and its delivery state. */
export interface OutboxMessage extends NewOutboxMessage {
  readonly state: OutboxState;
  /** Failed attempts so far (a parked message keeps its count). */
  readonly attempts: number;
  /** Earliest time of the next attempt, milliseconds since the epoch. */
  readonly nextAttemptAt: number;
  /** The last failure: a code or HTTP status and a short reason; never a secret. */
  readonly lastError?: string | undefined;
  /** Why the message was parked (state `parked` only). */
  readonly parkedReason?: string | undefined;
}

/** Messages per state. */
export interface OutboxCounts {
  readonly pending: number;
  readonly inflight: number;
  readonly parked: number;
}

/** The oldest pending message, which decides when the batcher next has work. */
export interface OutboxHead {
  readonly createdAt: number;
  readonly attempts: number;
  readonly nextAttemptAt: number;
}

/**
 * A durable, ordered store of outgoing messages. Every mutating call is on disk when it returns
 * (both implementations survive SIGKILL), except `markDelivered`, whose deletion may reach the disk
 * a little later: lost to a crash, it only means the messages are sent again under the same ids. Messages claimed by `nextBatch` are `inflight`; an outbox
 * opened after a crash returns them to `pending`. Calls are synchronous, except `enqueue`, which
 * resolves at its durability point: the file outbox syncs new messages on the thread pool (a batch
 * of 500 is ~0.7 MB to flush), so a producer's event loop keeps running meanwhile.
 */
export interface Outbox {
  /** Which backend: `sqlite` (better-sqlite3, WAL) or `file` (JSON-lines journal, pure JS). */
  readonly kind: 'sqlite' | 'file';
  /** The outbox file. */
  readonly path: string;
  /**
   * Store messages, all or none, in order; resolves once they are on disk (the durability point).
   * Overlapping calls keep their call order. @throws (rejects) ERR_SEND_DUPLICATE_ID, ERR_SEND_OUTBOX_UNAVAILABLE
   */
  enqueue(messages: readonly NewOutboxMessage[]): Promise<void>;
  /** The oldest pending message's timing, or undefined when nothing is pending. */
  head(): OutboxHead | undefined;
  /**
   * Claim up to `limit` of the oldest pending messages, in order, stopping at the first one not yet
   * due at `now` (retries keep their place). Claimed messages become `inflight`.
   */
  nextBatch(limit: number, now?: number): OutboxMessage[];
  /** Return inflight messages to pending without counting an attempt (nothing reached the receiver). */
  release(ids: readonly string[]): void;
  /** Delete delivered messages (not synced before returning: a lost deletion only causes a resend). */
  markDelivered(ids: readonly string[]): void;
  /** Count a failed attempt and make the messages due again after `delayMs`. */
  markRetry(ids: readonly string[], delayMs: number, error: string, now?: number): void;
  /** Park messages: they stay stored but are not sent until `retryParked`. */
  park(ids: readonly string[], reason: string): void;
  /** Messages in insertion order, all or those in `state`. */
  list(state?: OutboxState): OutboxMessage[];
  /** Make parked messages (these ids, or all) pending again with a fresh attempt count; returns how many. */
  retryParked(ids?: readonly string[]): number;
  /** Delete messages in any state; returns how many existed. */
  drop(ids: readonly string[]): number;
  /** Messages per state. */
  counts(): OutboxCounts;
  /** True when at least `n` messages are pending (not claimed): a full batch is waiting. Cost bounded by `n`, not by the backlog. */
  pendingAtLeast(n: number): boolean;
  /** Release the file and its lock. Further calls throw. */
  close(): void;
}

/** Longest stored `lastError` / `parkedReason`, in characters; longer reasons are cut. */
export const MAX_REASON_CHARS = 300;

/** `text` cut to `MAX_REASON_CHARS`, on one line. */
export function clipReason(text: string): string {
  const line = text.replace(/[\r\n]+/g, ' ');
  return line.length > MAX_REASON_CHARS ? `${line.slice(0, MAX_REASON_CHARS - 1)}…` : line;
}
