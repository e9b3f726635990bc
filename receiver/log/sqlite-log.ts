/** The SQLite message store behind the async `MessageLog` interface (one file; one receiver process, CLI writes from others). */
import type { MessageLog, MessageDetail, PurgeResult, ResubmitSelect, AttemptResult } from './message-log.js';
import { type GroupOutcome, MessageStore } from './store.js';
import type {
  DeliveryJob, DeliveryState, MessageQuery, MessageStatus, MessageSummary, NewStoredMessage, Rejection, RoutedMessage, SinkState, StoredMessage,
} from './types.js';

/**
 * `MessageLog` over a `MessageStore`: each call runs the synchronous SQLite operation and
 * settles with its result or its coded error, so behaviour is that of the store itself.
 *
 * @example
 * const log = SqliteMessageLog.open('/var/lib/darkhook/receiver.db');
 * await log.ingest(routed, Date.now());
 */
export class SqliteMessageLog implements MessageLog {
  readonly kind = 'sqlite' as const;
  /** The synchronous store underneath (tests and bench/ read it directly). */
  readonly sqlite: MessageStore;
  /** Writes waiting for this event-loop turn's group commit, in call order. */
  #waiting: { readonly write: () => unknown; resolve(value: unknown): void; reject(err: unknown): void }[] = [];

  constructor(store: MessageStore) {
    this.sqlite = store;
  }

  /**
   * Open (create or migrate) the SQLite store at `path`.
   *
   * @throws {FileError} ERR_FILE_NOT_FOUND (readOnly and no such file)
   * @throws {ReceiverError} ERR_RECEIVER_STORE_FAILED
   */
  static open(path: string, options: { readonly readOnly?: boolean } = {}): SqliteMessageLog {
    return new SqliteMessageLog(MessageStore.open(path, options));
  }

  get location(): string {
    return this.sqlite.path;
  }

  async has(id: string): Promise<boolean> {
    return this.sqlite.has(id);
  }
  async insert(messages: readonly NewStoredMessage[], receivedAt?: number): Promise<string[]> {
    return this.sqlite.insert(messages, receivedAt);
  }
  /**
   * Group commit: the writes of the hot path (`ingest`, `claimDue`, `finishAttempt`, `release`) made
   * in one event-loop turn are committed together at its end — one `synchronous=FULL` fsync for the
   * webhooks received, the deliveries claimed and the attempts recorded in that turn, rather than one
   * per call (which bound the sidecar's ack and forwarding rates to the disk's fsyncs per second, on
   * the same loop). Each call resolves with its own result only after that commit; each runs in its
   * own savepoint, so one bad call fails only itself. If the transaction as a whole fails, each call
   * is retried alone.
   */
  ingest(messages: readonly RoutedMessage[], receivedAt: number = Date.now(), deadlineMs: ReadonlyMap<string, number> = new Map()): Promise<string[]> {
    return this.#write(() => this.sqlite.ingest(messages, receivedAt, deadlineMs));
  }

  #write<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push({ write, resolve: resolve as (value: unknown) => void, reject });
      if (this.#waiting.length === 1) setImmediate(() => this.#commitWaiting());
    });
  }

  #commitWaiting(): void {
    const group = this.#waiting;
    this.#waiting = [];
    if (group.length > 1) {
      let outcomes: GroupOutcome[] | undefined;
      try {
        outcomes = this.sqlite.group(group.map((w) => w.write));
      } catch {
        // Nothing of the group was committed: one transaction per call below.
      }
      if (outcomes !== undefined) {
        group.forEach((w, i) => {
          const o = outcomes[i]!;
          if (o.ok) w.resolve(o.value);
          else w.reject(o.error);
        });
        return;
      }
    }
    for (const w of group) {
      try {
        w.resolve(w.write());
      } catch (err) {
        w.reject(err);
      }
    }
  }
  async list(options?: { readonly limit?: number; readonly after?: string }): Promise<StoredMessage[]> {
    return this.sqlite.list(options);
  }
  async count(): Promise<number> {
    return this.sqlite.count();
  }
  async query(q?: MessageQuery): Promise<MessageSummary[]> {
    return this.sqlite.query(q);
  }
  async countByStatus(q?: MessageQuery): Promise<Record<MessageStatus, number>> {
    return this.sqlite.countByStatus(q);
  }
  async get(id: string): Promise<MessageDetail | undefined> {
    return this.sqlite.get(id);
  }
  /** Group-committed with the other writes of the turn (see `ingest`): a claim is on disk before its job is handed out. */
  claimDue(sink: string, now: number, limit: number): Promise<DeliveryJob[]> {
    return this.#write(() => this.sqlite.claimDue(sink, now, limit));
  }
  /** Group-committed with the other writes of the turn (see `ingest`). */
  finishAttempt(deliveryId: number, r: AttemptResult): Promise<void> {
    return this.#write(() => this.sqlite.finishAttempt(deliveryId, r));
  }
  /** Group-committed with the other writes of the turn (see `ingest`). */
  release(deliveryId: number, now: number): Promise<void> {
    return this.#write(() => this.sqlite.release(deliveryId, now));
  }
  async recoverInflight(now: number): Promise<number> {
    return this.sqlite.recoverInflight(now);
  }
  async nextDueAt(sink: string): Promise<number | undefined> {
    return this.sqlite.nextDueAt(sink);
  }
  async pendingCount(sink: string): Promise<number> {
    return this.sqlite.pendingCount(sink);
  }
  async deliveryCounts(): Promise<Record<string, Partial<Record<DeliveryState, number>>>> {
    return this.sqlite.deliveryCounts();
  }
  async lastErrors(): Promise<Record<string, { at: number; error: string }>> {
    return this.sqlite.lastErrors();
  }
  async resubmit(select: ResubmitSelect, now: number, deadlineMs: number): Promise<number> {
    return this.sqlite.resubmit(select, now, deadlineMs);
  }
  async addDelivery(messageId: string, sink: string, now: number, deadlineMs: number): Promise<void> {
    this.sqlite.addDelivery(messageId, sink, now, deadlineMs);
  }
  async purge(before: number): Promise<PurgeResult> {
    return this.sqlite.purge(before);
  }
  async sinkStates(): Promise<SinkState[]> {
    return this.sqlite.sinkStates();
  }
  async sinkState(name: string): Promise<SinkState | undefined> {
    return this.sqlite.sinkState(name);
  }
  async setSinkState(name: string, state: 'active' | 'disabled', reason: string | undefined, now: number): Promise<void> {
    this.sqlite.setSinkState(name, state, reason, now);
  }
  async recordRejections(list: readonly Rejection[]): Promise<void> {
    this.sqlite.recordRejections(list);
  }
  async rejections(options?: { readonly since?: number; readonly limit?: number }): Promise<Rejection[]> {
    return this.sqlite.rejections(options);
  }
  async close(): Promise<void> {
    // Calls already made are committed (or fail) before the file closes, not dropped.
    this.#commitWaiting();
    this.sqlite.close();
  }
}
