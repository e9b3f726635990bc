/** The SQLite message store behind the async `MessageLog` interface (one file; one receiver process, CLI writes from others). */
import type { MessageLog, MessageDetail, PurgeResult, ResubmitSelect, AttemptResult } from './message-log.js';
import { MessageStore } from './store.js';
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
  async ingest(messages: readonly RoutedMessage[], receivedAt?: number, deadlineMs?: ReadonlyMap<string, number>): Promise<string[]> {
    return this.sqlite.ingest(messages, receivedAt, deadlineMs);
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
  async claimDue(sink: string, now: number, limit: number): Promise<DeliveryJob[]> {
    return this.sqlite.claimDue(sink, now, limit);
  }
  async finishAttempt(deliveryId: number, r: AttemptResult): Promise<void> {
    this.sqlite.finishAttempt(deliveryId, r);
  }
  async release(deliveryId: number, now: number): Promise<void> {
    this.sqlite.release(deliveryId, now);
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
    this.sqlite.close();
  }
}
