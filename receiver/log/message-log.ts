/** The message log as the sidecar, the admin API and the CLI use it: one async interface, a SQLite and a PostgreSQL implementation. */
import type {
  Attempt, Delivery, DeliveryJob, DeliveryState, MessageQuery, MessageStatus, MessageSummary, NewStoredMessage, Rejection,
  RoutedMessage, SinkState, StoredMessage,
} from './types.js';

/** What ends an attempt: the attempt row and the delivery's next state. */
export interface AttemptResult {
  readonly startedAt: number;
  readonly durationMs: number;
  readonly outcome: string;
  readonly status?: number | undefined;
  readonly error?: string | undefined;
  readonly state: DeliveryState;
  /** For `pending`: when to try again, ms since the epoch. */
  readonly nextAttemptAt?: number;
  /** Count this as an attempt (false for a sink disabled under it: the delivery just waits). */
  readonly counted?: boolean;
}

/** One message with its deliveries and their attempts (oldest first). */
export interface MessageDetail {
  readonly message: StoredMessage;
  readonly deliveries: (Delivery & { attemptLog: Attempt[] })[];
}

/** Which messages and deliveries `resubmit` resets. */
export interface ResubmitSelect {
  readonly ids?: readonly string[];
  /** Messages received at or after, ms since the epoch. */
  readonly since?: number;
  readonly sink?: string;
  /** Which deliveries (default: any but in flight). */
  readonly states?: readonly DeliveryState[];
}

/** What `purge` removed, and how many old messages it kept because a delivery is unfinished. */
export interface PurgeResult {
  readonly removed: number;
  readonly keptPending: number;
  readonly rejections: number;
}

/** The two kinds of store. */
export const STORE_KINDS = ['sqlite', 'postgres'] as const;
/** `sqlite` (one file, one receiver process) or `postgres` (shared by several receiver replicas). */
export type StoreKind = (typeof STORE_KINDS)[number];

/**
 * The message log: messages keyed by id, one delivery per sink of their route, attempts, sink
 * states and refusals. `ingest` resolves only once messages and deliveries are committed
 * durably, so the receiver may answer 2xx; a replayed id is skipped in the same transaction.
 * Delivery claims are exclusive: a delivery is handed to one `claimDue` caller at a time (on
 * PostgreSQL, across replicas, with a lease). Every method rejects with a coded `ReceiverError`:
 * ERR_RECEIVER_STORE_UNAVAILABLE (503, the server cannot be reached; try again) or
 * ERR_RECEIVER_STORE_FAILED (500); bad arguments with ERR_OPTION_INVALID.
 */
export interface MessageLog {
  readonly kind: StoreKind;
  /** Where the log lives, safe to log: a file path, or `postgres://user@host:port/db` (never a password). */
  readonly location: string;
  /** True when a message with this id is stored. */
  has(id: string): Promise<boolean>;
  /** Store messages that go nowhere (no route sinks); returns the ids added. */
  insert(messages: readonly NewStoredMessage[], receivedAt?: number): Promise<string[]>;
  /**
   * Store routed messages and, in the same transaction, one pending delivery per sink for each
   * message added (not duplicates, not filtered ones). `deadlineMs` per sink (default 24 h).
   * Returns the ids added.
   */
  ingest(messages: readonly RoutedMessage[], receivedAt?: number, deadlineMs?: ReadonlyMap<string, number>): Promise<string[]>;
  /** Stored messages in arrival order, at most `limit` (default 100), after the `after` id if given. */
  list(options?: { readonly limit?: number; readonly after?: string }): Promise<StoredMessage[]>;
  /** Number of stored messages. */
  count(): Promise<number>;
  /** Messages matching `q`, newest first unless `order: 'asc'`, without bodies. */
  query(q?: MessageQuery): Promise<MessageSummary[]>;
  /** How many messages match `q` (its limit and cursor ignored), per status. */
  countByStatus(q?: MessageQuery): Promise<Record<MessageStatus, number>>;
  /** One message with its deliveries and their attempts, or undefined. */
  get(id: string): Promise<MessageDetail | undefined>;
  /** Claim up to `limit` due deliveries of `sink` (state → inflight), oldest due first, with their messages. */
  claimDue(sink: string, now: number, limit: number): Promise<DeliveryJob[]>;
  /** Record one attempt and the delivery's next state, and refresh the message's status, in one transaction. */
  finishAttempt(deliveryId: number, r: AttemptResult): Promise<void>;
  /** Put a claimed delivery back without an attempt. */
  release(deliveryId: number, now: number): Promise<void>;
  /**
   * At start: deliveries left in flight by a crash go back to pending as possible duplicates.
   * Returns how many. (PostgreSQL: only those whose lease has expired — other replicas' live
   * claims are theirs.)
   */
  recoverInflight(now: number): Promise<number>;
  /** When the next pending delivery of `sink` is due, or undefined when none is pending. */
  nextDueAt(sink: string): Promise<number | undefined>;
  /** Pending deliveries of `sink` (due or not). */
  pendingCount(sink: string): Promise<number>;
  /** Deliveries per sink and state (only states with rows). */
  deliveryCounts(): Promise<Record<string, Partial<Record<DeliveryState, number>>>>;
  /** The last attempt error of each sink. */
  lastErrors(): Promise<Record<string, { at: number; error: string }>>;
  /** Send messages again: their deliveries go back to pending, due now, with a fresh deadline. Returns the deliveries reset. */
  resubmit(select: ResubmitSelect, now: number, deadlineMs: number): Promise<number>;
  /** Add one delivery of an existing message to `sink`. */
  addDelivery(messageId: string, sink: string, now: number, deadlineMs: number): Promise<void>;
  /** Remove finished messages received before `before` (ms), and refusals older than that. */
  purge(before: number): Promise<PurgeResult>;
  /** Every sink with a recorded state. */
  sinkStates(): Promise<SinkState[]>;
  /** One sink's recorded state, or undefined (never changed: active). */
  sinkState(name: string): Promise<SinkState | undefined>;
  /** Set a sink's state (`disabled` keeps its deliveries waiting). */
  setSinkState(name: string, state: 'active' | 'disabled', reason: string | undefined, now: number): Promise<void>;
  /** Keep refused requests (no bodies), in one transaction. */
  recordRejections(list: readonly Rejection[]): Promise<void>;
  /** Refused requests, newest first. */
  rejections(options?: { readonly since?: number; readonly limit?: number }): Promise<Rejection[]>;
  /** Close the store; further calls reject. Idempotent. */
  close(): Promise<void>;
}
