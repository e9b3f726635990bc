/** FileOutbox: the pure-JS outbox, an in-memory queue over an append-only JSON-lines journal (outbox-journal.ts). */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { SendError } from '../../core/index.js';
import { clipReason, type NewOutboxMessage, type Outbox, type OutboxCounts, type OutboxHead, type OutboxMessage, type OutboxState } from './outbox.js';
import { Journal, type JournalRecord, type PutRecord, replayJournal, unavailable } from './outbox-journal.js';
import { acquireOutboxLock } from './outbox-lock.js';
import { isSeverity } from '../webhook/severity.js';

/** Once the outbox is empty, a journal over this many bytes is replaced by an empty one. */
const EMPTY_RESTART_BYTES = 1024 * 1024;

type Mutable = { -readonly [K in keyof OutboxMessage]: OutboxMessage[K] };

/** The put record of a message. Claims are never journaled: a message inflight at a crash is pending again. */
function toPut(m: OutboxMessage): PutRecord {
  const rec: PutRecord = {
    op: 'put',
    id: m.id,
    type: m.type,
    body: m.body.toString('base64'),
    headers: { ...m.headers },
    createdAt: m.createdAt,
    state: m.state === 'parked' ? 'parked' : 'pending',
    attempts: m.attempts,
    nextAttemptAt: m.nextAttemptAt,
  };
  if (m.severity !== undefined) rec.severity = m.severity;
  if (m.lastError !== undefined) rec.lastError = m.lastError;
  if (m.parkedReason !== undefined) rec.parkedReason = m.parkedReason;
  return rec;
}

/** The message of a put record read back. @throws {TypeError} a record without its required fields */
function fromPut(r: PutRecord): Mutable {
  if (typeof r.id !== 'string' || typeof r.type !== 'string' || typeof r.body !== 'string' || typeof r.createdAt !== 'number') {
    throw new TypeError('put record lacks id, type, body or createdAt');
  }
  return {
    id: r.id,
    type: r.type,
    body: Buffer.from(r.body, 'base64'),
    headers: r.headers ?? {},
    severity: isSeverity(r.severity) ? r.severity : undefined,
    createdAt: r.createdAt,
    state: r.state === 'parked' ? 'parked' : 'pending',
    attempts: r.attempts ?? 0,
    nextAttemptAt: r.nextAttemptAt ?? r.createdAt,
    lastError: r.lastError,
    parkedReason: r.parkedReason,
  };
}

type Life = Pick<Mutable, 'state' | 'attempts' | 'nextAttemptAt' | 'lastError' | 'parkedReason'>;

/**
 * A message with this delivery state, listed field by field: one object shape for every message
 * (spreading 500 messages per batch was a measurable cost).
 */
function withLife(m: NewOutboxMessage, life: Life): Mutable {
  return {
    id: m.id,
    type: m.type,
    body: m.body,
    headers: m.headers,
    severity: m.severity,
    createdAt: m.createdAt,
    state: life.state,
    attempts: life.attempts,
    nextAttemptAt: life.nextAttemptAt,
    lastError: life.lastError,
    parkedReason: life.parkedReason,
  };
}

/** A copy the caller may keep. */
function snapshot(m: Mutable): OutboxMessage {
  return withLife(m, m);
}

/**
 * An outbox in one append-only file of JSON lines. Each write is one `write` plus `fsync`, so a
 * returned call survives SIGKILL and power loss; a line torn by a crash can only be the last one
 * and is ignored. On open the journal is replayed and rewritten with only the live messages
 * (temp file, fsync, rename). Needs no native module: the GitHub Action uses this one.
 *
 * @example
 * const outbox = FileOutbox.open('/tmp/darkhook-outbox.jsonl');
 */
export class FileOutbox implements Outbox {
  readonly kind = 'file' as const;
  readonly path: string;
  readonly #messages = new Map<string, Mutable>();
  readonly #unlock: () => void;
  #journal: Journal | undefined;
  /** Ids of enqueues not yet on disk (waiting for their turn to write, or for their sync). */
  readonly #syncing = new Set<string>();
  /** Ids `markDelivered` removed whose `del` record is not written yet. */
  #lazyDeletes: string[] = [];
  /** Messages per state, kept as they change: `counts` and `pendingAtLeast` are called per batch and must not walk a backlog. */
  readonly #counts: Record<OutboxState, number> = { pending: 0, inflight: 0, parked: 0 };

  private constructor(path: string, unlock: () => void) {
    this.path = path;
    this.#unlock = unlock;
  }

  /**
   * Open (or create) the journal at `path`, taking its lock.
   *
   * @throws {SendError} ERR_SEND_OUTBOX_LOCKED, ERR_SEND_OUTBOX_CORRUPT, ERR_SEND_OUTBOX_UNAVAILABLE
   */
  static open(path: string): FileOutbox {
    const full = resolve(path);
    try {
      mkdirSync(dirname(full), { recursive: true, mode: 0o700 });
    } catch (cause) {
      throw unavailable(full, cause);
    }
    const unlock = acquireOutboxLock(full);
    const outbox = new FileOutbox(full, unlock);
    try {
      replayJournal(full, (record) => outbox.#apply(record));
      outbox.#journal = Journal.compact(full, [...outbox.#messages.values()].map(toPut));
      for (const m of outbox.#messages.values()) if (m.state === 'inflight') outbox.#move(m, 'pending');
    } catch (err) {
      unlock();
      throw err instanceof SendError ? err : unavailable(full, err);
    }
    return outbox;
  }

  #apply(r: JournalRecord): void {
    switch (r.op) {
      case 'put':
        this.#add(fromPut(r));
        return;
      case 'retry':
        for (const id of r.ids) {
          const m = this.#messages.get(id);
          if (m === undefined) continue;
          this.#move(m, 'pending');
          m.attempts += 1;
          m.nextAttemptAt = r.at;
          m.lastError = r.error;
        }
        return;
      case 'park':
        for (const id of r.ids) {
          const m = this.#messages.get(id);
          if (m === undefined) continue;
          this.#move(m, 'parked');
          m.parkedReason = r.reason;
          m.lastError = r.reason;
        }
        return;
      case 'unpark':
        for (const id of r.ids) {
          const m = this.#messages.get(id);
          if (m?.state !== 'parked') continue;
          this.#move(m, 'pending');
          m.attempts = 0;
          m.nextAttemptAt = r.at;
          m.parkedReason = undefined;
        }
        return;
      case 'del':
        for (const id of r.ids) this.#remove(id);
        return;
      default:
        throw new TypeError(`unknown journal op ${(r as { op: unknown }).op}`);
    }
  }

  /**
   * Append the messages, then fdatasync on the thread pool, so the event loop keeps running while
   * the disk works. The messages become visible (`nextBatch`, `list`, `counts`) only once synced,
   * and in call order even when several enqueues overlap.
   */
  async enqueue(messages: readonly NewOutboxMessage[]): Promise<void> {
    const journal = this.#open();
    const seen = new Set<string>();
    for (const m of messages) {
      if (this.#messages.has(m.id) || this.#syncing.has(m.id) || seen.has(m.id)) {
        throw new SendError('ERR_SEND_DUPLICATE_ID', `the outbox already holds message ${m.id}`, { ids: [m.id] });
      }
      seen.add(m.id);
    }
    const stored = messages.map((m) => withLife(m, { state: 'pending', attempts: 0, nextAttemptAt: m.createdAt, lastError: undefined, parkedReason: undefined }));
    for (const m of stored) this.#syncing.add(m.id);
    try {
      await journal.appendLater(() => stored.map(toPut));
      for (const m of stored) this.#add(m);
    } finally {
      for (const m of stored) this.#syncing.delete(m.id);
    }
  }

  head(): OutboxHead | undefined {
    for (const m of this.#messages.values()) {
      if (m.state === 'pending') return { createdAt: m.createdAt, attempts: m.attempts, nextAttemptAt: m.nextAttemptAt };
    }
    return undefined;
  }

  nextBatch(limit: number, now: number = Date.now()): OutboxMessage[] {
    this.#open();
    const batch: Mutable[] = [];
    for (const m of this.#messages.values()) {
      if (batch.length >= limit) break;
      if (m.state !== 'pending') continue;
      if (m.nextAttemptAt > now) break;
      batch.push(m);
    }
    for (const m of batch) this.#move(m, 'inflight');
    return batch.map(snapshot);
  }

  release(ids: readonly string[]): void {
    for (const id of ids) {
      const m = this.#messages.get(id);
      if (m?.state === 'inflight') this.#move(m, 'pending');
    }
  }

  /**
   * Forget delivered messages. Their `del` record is synced on the thread pool and not waited for:
   * if a crash loses it, the messages are sent again under the same ids and the receiver answers
   * 202 (at least once), so nothing here needs to block the sender.
   */
  markDelivered(ids: readonly string[]): void {
    this.#delete(ids, false);
  }

  /** The deletions `markDelivered` has not written yet, as one record (taken: written by the caller). */
  #takeLazyDeletes(): JournalRecord[] {
    const ids = this.#lazyDeletes;
    this.#lazyDeletes = [];
    return ids.length === 0 ? [] : [{ op: 'del', ids }];
  }

  markRetry(ids: readonly string[], delayMs: number, error: string, now: number = Date.now()): void {
    const known = ids.filter((id) => this.#messages.has(id));
    if (known.length === 0) return;
    const record: JournalRecord = { op: 'retry', ids: known, at: now + delayMs, error: clipReason(error) };
    this.#open().append([record]);
    this.#apply(record);
  }

  park(ids: readonly string[], reason: string): void {
    const known = ids.filter((id) => this.#messages.has(id));
    if (known.length === 0) return;
    const record: JournalRecord = { op: 'park', ids: known, reason: clipReason(reason) };
    this.#open().append([record]);
    this.#apply(record);
  }

  list(state?: OutboxState): OutboxMessage[] {
    this.#open();
    return [...this.#messages.values()].filter((m) => state === undefined || m.state === state).map(snapshot);
  }

  retryParked(ids?: readonly string[]): number {
    const chosen = (ids ?? [...this.#messages.keys()]).filter((id) => this.#messages.get(id)?.state === 'parked');
    if (chosen.length === 0) return 0;
    const record: JournalRecord = { op: 'unpark', ids: chosen, at: Date.now() };
    this.#open().append([record]);
    this.#apply(record);
    return chosen.length;
  }

  drop(ids: readonly string[]): number {
    return this.#delete(ids);
  }

  #delete(ids: readonly string[], wait = true): number {
    const journal = this.#open();
    const known = [...new Set(ids)].filter((id) => this.#messages.has(id));
    if (known.length === 0) return 0;
    if (wait) {
      journal.append([{ op: 'del', ids: known }]);
    } else {
      // Queued behind the asynchronous appends and synced on the thread pool; deletions made meanwhile
      // join the same record. A failed sync breaks the journal: the next call reports it.
      const first = this.#lazyDeletes.length === 0;
      this.#lazyDeletes.push(...known);
      if (first) journal.appendLater(() => this.#takeLazyDeletes()).catch(() => undefined);
    }
    for (const id of known) this.#remove(id);
    // An emptied journal holds only history: start a new file (a crash before its folder sync leaves
    // the old one, whose messages were all delivered: at worst they are sent again, at least once).
    // Deletions not written yet are of messages the new journal never held.
    if (this.#messages.size === 0 && this.#syncing.size === 0 && journal.bytes > EMPTY_RESTART_BYTES && journal.restart()) this.#lazyDeletes = [];
    return known.length;
  }

  counts(): OutboxCounts {
    return { ...this.#counts };
  }

  pendingAtLeast(n: number): boolean {
    return this.#counts.pending >= n;
  }

  // Every change of the message set or of a message's state goes through these three, which keep #counts.

  /** Add `m`, or replace the message with its id in place (its place in the order is kept). */
  #add(m: Mutable): void {
    const replaced = this.#messages.get(m.id);
    if (replaced !== undefined) this.#counts[replaced.state] -= 1;
    this.#messages.set(m.id, m);
    this.#counts[m.state] += 1;
  }

  #remove(id: string): void {
    const m = this.#messages.get(id);
    if (m === undefined) return;
    this.#messages.delete(id);
    this.#counts[m.state] -= 1;
  }

  #move(m: Mutable, state: OutboxState): void {
    this.#counts[m.state] -= 1;
    this.#counts[state] += 1;
    m.state = state;
  }

  close(): void {
    const journal = this.#journal;
    if (journal === undefined) return;
    this.#journal = undefined;
    // Deletions not written yet: written now rather than those messages resent after a restart.
    journal.close(() => this.#takeLazyDeletes());
    this.#unlock();
  }

  /** The journal, open and not broken. @throws {SendError} ERR_SEND_OUTBOX_UNAVAILABLE */
  #open(): Journal {
    if (this.#journal === undefined) throw new SendError('ERR_SEND_OUTBOX_UNAVAILABLE', `the outbox ${this.path} is closed`);
    this.#journal.check();
    return this.#journal;
  }
}
