/** The message log: one SQLite file (WAL, synchronous=FULL) holding messages, deliveries, attempts and sink states. */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { isSeverity } from '../../connector/webhook/severity.js';
import { FileError, OptionError, ReceiverError } from '../../core/index.js';
import { openSqlite, StatementCache } from '../../core/sqlite.js';
import type { AttemptResult } from './message-log.js';
import { LOG_MIGRATIONS } from './schema.js';
import type {
  Attempt, Delivery, DeliveryJob, DeliveryState, MessageQuery, MessageStatus, MessageSummary, NewStoredMessage, Rejection,
  RoutedMessage, SinkState, StoredMessage,
} from './types.js';

/** How long a write waits for another connection's lock (e.g. `darkhook messages resubmit`), in milliseconds. */
export const STORE_BUSY_TIMEOUT_MS = 5_000;
/** Rows returned by `list` and `query` when no limit is given. */
export const DEFAULT_LIST_LIMIT = 100;
/** Most rows one `query` returns. */
export const MAX_QUERY_LIMIT = 1_000;
/** Page size of a new store: 16 KiB pages hold a dozen 1 KiB webhook bodies, which halves the B-tree work per batch. */
const NEW_STORE_PAGE_BYTES = 16_384;
/** Rows per multi-row INSERT: one statement step per 50 messages instead of one per message. */
const INSERT_CHUNK_ROWS = 50;
const COLUMNS = '(id, type, timestamp, body, headers, caller, received_at, batch_id, route, severity, status, filtered_reason)';
const COLUMN_COUNT = 12;
/** Delivery states that are finished: retention may remove their message. */
const FINISHED = "('delivered', 'dead', 'skipped')";

export type * from './types.js';
export type { AttemptResult };

interface MessageRow {
  rowid?: number;
  id: string;
  type: string;
  timestamp: number;
  body: Buffer;
  headers: string;
  caller: string | null;
  received_at: number;
  batch_id: string | null;
  route: string | null;
  severity: string | null;
  status: MessageStatus;
  filtered_reason: string | null;
}

interface DeliveryRow {
  id: number;
  message_id: string;
  sink: string;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: number;
  deadline_at: number;
  last_status: number | null;
  last_error: string | null;
  updated_at: number;
  delivered_at: number | null;
  possible_duplicate: number;
}

function toMessage(r: MessageRow): StoredMessage {
  return Object.freeze({
    id: r.id,
    type: r.type,
    timestamp: r.timestamp,
    body: r.body,
    headers: JSON.parse(r.headers) as Record<string, string>,
    caller: r.caller ?? undefined,
    receivedAt: r.received_at,
    batchId: r.batch_id ?? undefined,
    route: r.route ?? undefined,
    severity: isSeverity(r.severity) ? r.severity : undefined,
    status: r.status,
    filteredReason: r.filtered_reason ?? undefined,
  });
}

function toDelivery(r: DeliveryRow): Delivery {
  return Object.freeze({
    id: r.id,
    messageId: r.message_id,
    sink: r.sink,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    deadlineAt: r.deadline_at,
    lastStatus: r.last_status ?? undefined,
    lastError: r.last_error ?? undefined,
    updatedAt: r.updated_at,
    deliveredAt: r.delivered_at ?? undefined,
    possibleDuplicate: r.possible_duplicate !== 0,
  });
}

function storeError(path: string, what: string, cause: unknown): ReceiverError {
  return new ReceiverError('ERR_RECEIVER_STORE_FAILED', `the message store ${path} could not be ${what}`, { statusCode: 500, cause });
}

/** The summary status of a message from its deliveries (run inside the transaction that changed them). */
const REFRESH_STATUS = `
UPDATE messages SET status = (
  SELECT CASE
    WHEN COUNT(*) = 0 THEN messages.status
    WHEN SUM(state IN ('pending', 'inflight')) > 0 THEN 'pending'
    WHEN SUM(state = 'dead') > 0 THEN 'dead'
    WHEN SUM(state = 'delivered') > 0 THEN 'delivered'
    ELSE 'filtered' END
  FROM deliveries WHERE message_id = messages.id)
WHERE id = ?`;

/** What one write of a `group` came to: its result, or the error it was rolled back with. */
export type GroupOutcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/**
 * Messages the receiver accepted, keyed by id, with one delivery per sink of their route. `ingest`
 * commits messages and deliveries together before it returns (WAL, `synchronous=FULL`): once it
 * returns, they survive SIGKILL and power loss, so the receiver may answer 2xx. One receiver process
 * writes; the CLI (resubmit, purge, sinks enable) writes small changes from other processes.
 *
 * @example
 * const store = MessageStore.open('/var/lib/darkhook/receiver.db');
 * const added = store.insert([{ id: 'msg_1', type: 'push', timestamp, body, headers: {}, caller: 'ci', batchId: undefined }]);
 * // added: ['msg_1'] the first time, [] once it is stored
 */
export class MessageStore {
  /** The absolute path of the SQLite file. */
  readonly path: string;
  readonly #db: Database.Database;
  readonly #sql: StatementCache;
  readonly #ingest: (messages: readonly RoutedMessage[], receivedAt: number, deadlineMs: ReadonlyMap<string, number>) => string[];
  /** Runs a write; inside an open transaction, a nested better-sqlite3 transaction is a savepoint. */
  readonly #savepoint: (write: () => unknown) => unknown;

  private constructor(path: string, db: Database.Database) {
    this.path = path;
    this.#db = db;
    this.#sql = new StatementCache(db);
    this.#savepoint = db.transaction((write: () => unknown) => write());
    // RETURNING lists only the rows inserted: ids already stored are left out (first write wins).
    const insertSql = (rows: number): string =>
      `INSERT OR IGNORE INTO messages ${COLUMNS} VALUES ${Array(rows).fill(`(${Array(COLUMN_COUNT).fill('?').join(', ')})`).join(', ')} RETURNING id`;
    this.#ingest = db.transaction((messages: readonly RoutedMessage[], receivedAt: number, deadlineMs: ReadonlyMap<string, number>): string[] => {
      const added: string[] = [];
      const values = (m: RoutedMessage): unknown[] => {
        const status: MessageStatus = m.filteredReason !== undefined ? 'filtered' : m.sinks.length > 0 ? 'pending' : 'stored';
        return [m.id, m.type, m.timestamp, m.body, JSON.stringify(m.headers), m.caller ?? null, receivedAt, m.batchId ?? null, m.route, m.severity ?? null, status, m.filteredReason ?? null];
      };
      const chunk = this.#sql.get<unknown[], string>(insertSql(INSERT_CHUNK_ROWS)).pluck();
      const one = this.#sql.get<unknown[], string>(insertSql(1)).pluck();
      let i = 0;
      for (; i + INSERT_CHUNK_ROWS <= messages.length; i += INSERT_CHUNK_ROWS) {
        const args: unknown[] = [];
        for (let j = i; j < i + INSERT_CHUNK_ROWS; j++) args.push(...values(messages[j]!));
        added.push(...chunk.all(...args));
      }
      for (; i < messages.length; i++) added.push(...one.all(...values(messages[i]!)));
      if (added.length > 0) {
        const fresh = new Set(added);
        const delivery = this.#sql.get(
          "INSERT INTO deliveries (message_id, sink, state, next_attempt_at, deadline_at, updated_at) VALUES (?, ?, 'pending', ?, ?, ?)",
        );
        for (const m of messages) {
          if (!fresh.has(m.id) || m.filteredReason !== undefined) continue;
          for (const sink of m.sinks) delivery.run(m.id, sink, receivedAt, receivedAt + (deadlineMs.get(sink) ?? 86_400_000), receivedAt);
        }
      }
      return added;
    });
  }

  /**
   * Open (and create, with its folder, or migrate) the store at `path`. With `readOnly`, the file
   * must exist and nothing is created.
   *
   * @throws {FileError} ERR_FILE_NOT_FOUND (readOnly and no such file)
   * @throws {ReceiverError} ERR_RECEIVER_STORE_FAILED
   */
  static open(path: string, options: { readonly readOnly?: boolean } = {}): MessageStore {
    const file = resolve(path);
    const readOnly = options.readOnly === true;
    if (readOnly && !existsSync(file)) throw new FileError('ERR_FILE_NOT_FOUND', `no message store at ${file}`);
    try {
      if (!readOnly) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      const db = openSqlite(file, {
        readOnly,
        busyTimeoutMs: STORE_BUSY_TIMEOUT_MS,
        newFilePageBytes: NEW_STORE_PAGE_BYTES,
        // FULL: a commit is on disk before ingest() returns, so a 2xx never outruns durability.
        synchronous: 'FULL',
        foreignKeys: true,
        migrations: LOG_MIGRATIONS,
        tooNew: (version) =>
          new ReceiverError('ERR_RECEIVER_STORE_FAILED', `${file} has schema version ${version}, newer than this darkhook (${LOG_MIGRATIONS.length})`, { statusCode: 500 }),
      });
      return new MessageStore(file, db);
    } catch (cause) {
      if (cause instanceof ReceiverError) throw cause;
      throw storeError(file, 'opened', cause);
    }
  }

  /** True when a message with this id is stored. */
  has(id: string): boolean {
    return this.#wrap('read', () => this.#sql.get('SELECT 1 FROM messages WHERE id = ?').get(id) !== undefined);
  }

  /**
   * Store messages that go nowhere (no route sinks), all or none; ids already stored are skipped.
   * Returns the ids actually added. Committed and synced to disk when it returns.
   *
   * @throws {ReceiverError} ERR_RECEIVER_STORE_FAILED
   */
  insert(messages: readonly NewStoredMessage[], receivedAt: number = Date.now()): string[] {
    return this.ingest(messages.map((m) => ({ ...m, route: '', severity: undefined, sinks: [], filteredReason: undefined })), receivedAt);
  }

  /**
   * Store routed messages and, in the same transaction, one pending delivery per sink for each
   * message added (not for duplicates, not for filtered ones). `deadlineMs` per sink (default 24 h)
   * sets when an undelivered delivery turns dead. Returns the ids added.
   *
   * @throws {ReceiverError} ERR_RECEIVER_STORE_FAILED
   */
  ingest(messages: readonly RoutedMessage[], receivedAt: number = Date.now(), deadlineMs: ReadonlyMap<string, number> = new Map()): string[] {
    return this.#wrap('written', () => this.#ingest(messages, receivedAt, deadlineMs));
  }

  /**
   * Several writes in one transaction — one commit, one fsync, for all of them — each in its own
   * savepoint, in order: a write that throws is rolled back alone and its error is returned in its
   * place, the others commit. Throws (nothing committed) when the transaction as a whole fails:
   * at the commit, or after an error on which SQLite rolled everything back (disk full, I/O).
   * A write is any function of this store's (`ingest`, `claimDue`, `finishAttempt`, ...); its
   * result is only returned once the commit has succeeded.
   *
   * @throws {ReceiverError} ERR_RECEIVER_STORE_FAILED
   */
  group(writes: readonly (() => unknown)[]): GroupOutcome[] {
    return this.#wrap('written', () =>
      this.#db.transaction(() =>
        writes.map((write): GroupOutcome => {
          try {
            return { ok: true, value: this.#savepoint(write) };
          } catch (error) {
            // SQLite ends the whole transaction on some errors: what ran before is gone too, and a
            // write after it would commit on its own. The caller retries each write alone.
            if (!this.#db.inTransaction) throw error;
            return { ok: false, error };
          }
        }),
      )(),
    );
  }

  /**
   * Stored messages in arrival order, at most `limit` (default 100), after the `after` id if given.
   *
   * @throws {OptionError} ERR_OPTION_INVALID (limit)
   * @throws {ReceiverError} ERR_RECEIVER_STORE_FAILED
   */
  list(options: { readonly limit?: number; readonly after?: string } = {}): StoredMessage[] {
    const limit = checkLimit(options.limit, Number.MAX_SAFE_INTEGER, 'MessageStore.list: limit');
    return this.#wrap('read', () => {
      const rows =
        options.after === undefined
          ? this.#sql.get('SELECT * FROM messages ORDER BY rowid LIMIT ?').all(limit)
          : this.#sql.get('SELECT * FROM messages WHERE rowid > (SELECT rowid FROM messages WHERE id = ?) ORDER BY rowid LIMIT ?').all(options.after, limit);
      return (rows as MessageRow[]).map(toMessage);
    });
  }

  /** Number of stored messages. */
  count(): number {
    return this.#wrap('read', () => (this.#sql.get('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n);
  }

  /**
   * Messages matching `q`, newest first, without bodies. Every filter uses an index.
   *
   * @throws {OptionError} ERR_OPTION_INVALID (limit)
   */
  query(q: MessageQuery = {}): MessageSummary[] {
    const limit = checkLimit(q.limit, MAX_QUERY_LIMIT, 'query: limit');
    const { sql, args } = querySql(q);
    return this.#wrap('read', () => {
      const rows = this.#db
        .prepare(sql)
        .all(...args, limit) as (Omit<MessageRow, 'body' | 'headers'> & { seq: number; bytes: number })[];
      return rows.map((r) =>
        Object.freeze({
          seq: r.seq,
          id: r.id,
          type: r.type,
          route: r.route || undefined,
          caller: r.caller ?? undefined,
          severity: isSeverity(r.severity) ? r.severity : undefined,
          status: r.status,
          bytes: r.bytes,
          receivedAt: r.received_at,
          batchId: r.batch_id ?? undefined,
        }),
      );
    });
  }

  /**
   * SQLite's plan for `query(q)` and `countByStatus(q)` (`EXPLAIN QUERY PLAN` detail lines), so
   * tests and bench/ can check that a filter is served by an index rather than a table scan.
   */
  queryPlan(q: MessageQuery = {}): { list: string[]; counts: string[] } {
    const plan = (sql: string, args: unknown[]): string[] =>
      (this.#db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail);
    const list = querySql(q);
    const counts = countSql(q);
    return this.#wrap('read', () => ({ list: plan(list.sql, [...list.args, q.limit ?? DEFAULT_LIST_LIMIT]), counts: plan(counts.sql, counts.args) }));
  }

  /** How many messages match `q` (its limit and cursor ignored), per status. */
  countByStatus(q: MessageQuery = {}): Record<MessageStatus, number> {
    const { sql, args } = countSql(q);
    return this.#wrap('read', () => {
      const out: Record<MessageStatus, number> = { stored: 0, pending: 0, delivered: 0, dead: 0, filtered: 0 };
      for (const r of this.#db.prepare(sql).all(...args) as { status: MessageStatus; n: number }[]) {
        out[r.status] = r.n;
      }
      return out;
    });
  }

  /** One message with its deliveries and their attempts (oldest first), or undefined. */
  get(id: string): { message: StoredMessage; deliveries: (Delivery & { attemptLog: Attempt[] })[] } | undefined {
    return this.#wrap('read', () => {
      const row = this.#sql.get('SELECT * FROM messages WHERE id = ?').get(id) as MessageRow | undefined;
      if (row === undefined) return undefined;
      const deliveries = (this.#sql.get('SELECT * FROM deliveries WHERE message_id = ? ORDER BY sink').all(id) as DeliveryRow[]).map((d) => ({
        ...toDelivery(d),
        attemptLog: (this.#sql.get('SELECT * FROM attempts WHERE delivery_id = ? ORDER BY id').all(d.id) as AttemptRow[]).map(toAttempt),
      }));
      return { message: toMessage(row), deliveries };
    });
  }

  // ---- the delivery queue ----

  /**
   * Claim up to `limit` due deliveries of `sink` (state → inflight), oldest due first, with their messages.
   */
  claimDue(sink: string, now: number, limit: number): DeliveryJob[] {
    return this.#wrap('written', () =>
      this.#db.transaction(() => {
        const rows = this.#sql
          .get(
            // Anonymous parameters only: better-sqlite3 counts a reused `?1` as one value too many
            // ("Too many parameter values were provided"), so no delivery was ever claimed.
            `UPDATE deliveries SET state = 'inflight', updated_at = ? WHERE id IN (
               SELECT id FROM deliveries WHERE sink = ? AND state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?)
             RETURNING *`,
          )
          .all(now, sink, now, limit) as DeliveryRow[];
        rows.sort((a, b) => a.next_attempt_at - b.next_attempt_at || a.id - b.id);
        const message = this.#sql.get('SELECT * FROM messages WHERE id = ?');
        return rows.map((d) => ({ delivery: toDelivery(d), message: toMessage(message.get(d.message_id) as MessageRow) }));
      })(),
    );
  }

  /** Record one attempt and the delivery's next state, and refresh the message's status, in one transaction. */
  finishAttempt(deliveryId: number, r: AttemptResult): void {
    this.#wrap('written', () =>
      this.#db.transaction(() => {
        const end = r.startedAt + r.durationMs;
        this.#sql
          .get('INSERT INTO attempts (delivery_id, started_at, duration_ms, outcome, status, error) VALUES (?, ?, ?, ?, ?, ?)')
          .run(deliveryId, r.startedAt, r.durationMs, r.outcome, r.status ?? null, r.error ?? null);
        const row = this.#sql
          .get(
            `UPDATE deliveries SET state = ?, attempts = attempts + ?, next_attempt_at = coalesce(?, next_attempt_at), last_status = ?, last_error = ?,
               updated_at = ?, delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END WHERE id = ? RETURNING message_id`,
          )
          .get(r.state, r.counted === false ? 0 : 1, r.nextAttemptAt ?? null, r.status ?? null, r.error ?? null, end, r.state, end, deliveryId) as { message_id: string } | undefined;
        if (row !== undefined) this.#sql.get(REFRESH_STATUS).run(row.message_id);
      })(),
    );
  }

  /** Put a claimed delivery back without an attempt (the receiver is stopping, the sink was disabled meanwhile). */
  release(deliveryId: number, now: number): void {
    this.#wrap('written', () => this.#sql.get("UPDATE deliveries SET state = 'pending', updated_at = ? WHERE id = ? AND state = 'inflight'").run(now, deliveryId));
  }

  /**
   * After a crash: deliveries left in flight go back to pending, marked as possible duplicates
   * (the sink may have taken them), due at once and keeping their place at the head of the queue
   * (their old due time, never later than `now`). Returns how many.
   */
  recoverInflight(now: number): number {
    // Re-queued at `now` they went behind every backlog delivery due earlier, and were sent again
    // only after the whole backlog (about 70 s in the fault suite).
    return this.#wrap('written', () =>
      this.#sql.get("UPDATE deliveries SET state = 'pending', possible_duplicate = 1, next_attempt_at = min(next_attempt_at, ?), updated_at = ? WHERE state = 'inflight'").run(now, now).changes,
    );
  }

  /** When the next pending delivery of `sink` is due, or undefined when none is pending. */
  nextDueAt(sink: string): number | undefined {
    return this.#wrap('read', () => {
      const r = this.#sql.get("SELECT min(next_attempt_at) AS at FROM deliveries WHERE sink = ? AND state = 'pending'").get(sink) as { at: number | null };
      return r.at ?? undefined;
    });
  }

  /** Pending deliveries of `sink` (due or not). */
  pendingCount(sink: string): number {
    return this.#wrap('read', () => (this.#sql.get("SELECT COUNT(*) AS n FROM deliveries WHERE sink = ? AND state = 'pending'").get(sink) as { n: number }).n);
  }

  /** Deliveries per sink and state (only states with rows). */
  deliveryCounts(): Record<string, Partial<Record<DeliveryState, number>>> {
    return this.#wrap('read', () => {
      const out: Record<string, Partial<Record<DeliveryState, number>>> = {};
      for (const r of this.#sql.get('SELECT sink, state, COUNT(*) AS n FROM deliveries GROUP BY sink, state').all() as { sink: string; state: DeliveryState; n: number }[]) {
        (out[r.sink] ??= {})[r.state] = r.n;
      }
      return out;
    });
  }

  /** The last attempt error of each sink, newest first per sink. */
  lastErrors(): Record<string, { at: number; error: string }> {
    return this.#wrap('read', () => {
      const out: Record<string, { at: number; error: string }> = {};
      const rows = this.#sql
        .get(
          `SELECT d.sink AS sink, max(a.started_at) AS at, a.error AS error FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
           WHERE a.error IS NOT NULL AND a.outcome != 'delivered' GROUP BY d.sink`,
        )
        .all() as { sink: string; at: number; error: string }[];
      for (const r of rows) out[r.sink] = { at: r.at, error: r.error };
      return out;
    });
  }

  /**
   * Send messages again: their deliveries (to `sink` only, when given) go back to pending, due now,
   * with a fresh deadline. `ids` or `since` (ms) choose the messages; `states` which deliveries
   * (default: any but in flight). Returns the deliveries reset. The running receiver sees them at
   * its next poll.
   */
  resubmit(select: { readonly ids?: readonly string[]; readonly since?: number; readonly sink?: string; readonly states?: readonly DeliveryState[] }, now: number, deadlineMs: number): number {
    const states = select.states ?? ['pending', 'delivered', 'dead', 'skipped'];
    if (states.includes('inflight')) throw new OptionError('ERR_OPTION_INVALID', 'resubmit: in-flight deliveries cannot be reset');
    const cond: string[] = [`d.state IN (${states.map(() => '?').join(', ')})`];
    const args: unknown[] = [...states];
    if (select.ids !== undefined) {
      cond.push('d.message_id IN (SELECT value FROM json_each(?))');
      args.push(JSON.stringify(select.ids));
    }
    if (select.since !== undefined) {
      cond.push('d.message_id IN (SELECT id FROM messages WHERE received_at >= ?)');
      args.push(select.since);
    }
    if (select.sink !== undefined) {
      cond.push('d.sink = ?');
      args.push(select.sink);
    }
    return this.#wrap('written', () =>
      this.#db.transaction(() => {
        const rows = this.#db
          .prepare(
            `UPDATE deliveries AS d SET state = 'pending', next_attempt_at = ?, deadline_at = ?, updated_at = ? WHERE ${cond.join(' AND ')} RETURNING message_id`,
          )
          .all(now, now + deadlineMs, now, ...args) as { message_id: string }[];
        const refresh = this.#sql.get(REFRESH_STATUS);
        for (const id of new Set(rows.map((r) => r.message_id))) refresh.run(id);
        return rows.length;
      })(),
    );
  }

  /** Add one delivery of an existing message to `sink` (a sink test, or a sink added to the route since). */
  addDelivery(messageId: string, sink: string, now: number, deadlineMs: number): void {
    this.#wrap('written', () =>
      this.#db.transaction(() => {
        this.#sql
          .get(
            `INSERT INTO deliveries (message_id, sink, state, next_attempt_at, deadline_at, updated_at) VALUES (?, ?, 'pending', ?, ?, ?)
             ON CONFLICT (message_id, sink) DO UPDATE SET state = 'pending', next_attempt_at = excluded.next_attempt_at, deadline_at = excluded.deadline_at`,
          )
          .run(messageId, sink, now, now + deadlineMs, now);
        this.#sql.get(REFRESH_STATUS).run(messageId);
      })(),
    );
  }

  /**
   * Remove messages received before `before` (ms) whose deliveries are all finished, with their
   * deliveries and attempts, and refusals older than that. Returns what was removed and how many
   * old messages were kept because a delivery is still pending.
   */
  purge(before: number): { removed: number; keptPending: number; rejections: number } {
    return this.#wrap('written', () =>
      this.#db.transaction(() => {
        const removed = this.#sql
          .get(`DELETE FROM messages WHERE received_at < ? AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = messages.id AND d.state NOT IN ${FINISHED})`)
          .run(before).changes;
        const keptPending = (this.#sql.get('SELECT COUNT(*) AS n FROM messages WHERE received_at < ?').get(before) as { n: number }).n;
        const rejections = this.#sql.get('DELETE FROM rejections WHERE at < ?').run(before).changes;
        return { removed, keptPending, rejections };
      })(),
    );
  }

  // ---- sinks and refusals ----

  /** Every sink with a recorded state (sinks never changed are active and absent here). */
  sinkStates(): SinkState[] {
    return this.#wrap('read', () =>
      (this.#sql.get('SELECT * FROM sink_state ORDER BY name').all() as { name: string; state: 'active' | 'disabled'; reason: string | null; changed_at: number }[]).map(
        (r) => Object.freeze({ name: r.name, state: r.state, reason: r.reason ?? undefined, changedAt: r.changed_at }),
      ),
    );
  }

  /** One sink's recorded state, or undefined (never changed: active). */
  sinkState(name: string): SinkState | undefined {
    return this.#wrap('read', () => {
      const r = this.#sql.get('SELECT * FROM sink_state WHERE name = ?').get(name) as { name: string; state: 'active' | 'disabled'; reason: string | null; changed_at: number } | undefined;
      return r === undefined ? undefined : Object.freeze({ name: r.name, state: r.state, reason: r.reason ?? undefined, changedAt: r.changed_at });
    });
  }

  /** Set a sink's state (`disabled` keeps its deliveries waiting). */
  setSinkState(name: string, state: 'active' | 'disabled', reason: string | undefined, now: number): void {
    this.#wrap('written', () =>
      this.#sql
        .get('INSERT INTO sink_state (name, state, reason, changed_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET state = excluded.state, reason = excluded.reason, changed_at = excluded.changed_at')
        .run(name, state, reason ?? null, now),
    );
  }

  /** Keep refused requests (no bodies) for the log, in one transaction. */
  recordRejections(list: readonly Rejection[]): void {
    this.#wrap('written', () =>
      this.#db.transaction(() => {
        const insert = this.#sql.get('INSERT INTO rejections (at, request_id, caller, route, status, code) VALUES (?, ?, ?, ?, ?, ?)');
        for (const r of list) insert.run(r.at, r.requestId ?? null, r.caller ?? null, r.route ?? null, r.status, r.code);
      })(),
    );
  }

  /** Refused requests, newest first. */
  rejections(options: { readonly since?: number; readonly limit?: number } = {}): Rejection[] {
    const limit = checkLimit(options.limit, MAX_QUERY_LIMIT, 'rejections: limit');
    return this.#wrap('read', () =>
      (this.#sql.get('SELECT * FROM rejections WHERE at >= ? ORDER BY id DESC LIMIT ?').all(options.since ?? 0, limit) as {
        at: number; request_id: string | null; caller: string | null; route: string | null; status: number; code: string;
      }[]).map((r) => Object.freeze({ at: r.at, requestId: r.request_id ?? undefined, caller: r.caller ?? undefined, route: r.route ?? undefined, status: r.status, code: r.code })),
    );
  }

  /** Close the database; further calls throw ERR_RECEIVER_STORE_FAILED. Idempotent. */
  close(): void {
    this.#sql.clear();
    if (this.#db.open) this.#db.close();
  }

  #wrap<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (cause) {
      if (cause instanceof OptionError) throw cause;
      throw storeError(this.path, what, cause);
    }
  }
}

interface AttemptRow {
  delivery_id: number;
  started_at: number;
  duration_ms: number;
  outcome: string;
  status: number | null;
  error: string | null;
}

function toAttempt(r: AttemptRow): Attempt {
  return Object.freeze({ deliveryId: r.delivery_id, startedAt: r.started_at, durationMs: r.duration_ms, outcome: r.outcome, status: r.status ?? undefined, error: r.error ?? undefined });
}

/** `value` (default 100) as a list limit from 1 to `max`. @throws {OptionError} ERR_OPTION_INVALID naming `path` */
export function checkLimit(value: number | undefined, max: number, path: string): number {
  const limit = value ?? DEFAULT_LIST_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > max) throw new OptionError('ERR_OPTION_INVALID', `${path} must be an integer from 1 to ${max}`);
  return limit;
}

function querySql(q: MessageQuery): { sql: string; args: unknown[] } {
  const { where, args } = whereOf(q);
  return {
    sql: `SELECT rowid AS seq, id, type, route, caller, severity, status, length(body) AS bytes, received_at, batch_id FROM messages m ${where} ORDER BY rowid ${q.order === 'asc' ? 'ASC' : 'DESC'} LIMIT ?`,
    args,
  };
}

function countSql(q: MessageQuery): { sql: string; args: unknown[] } {
  const { where, args } = whereOf({ ...q, status: undefined, beforeSeq: undefined, afterSeq: undefined });
  return { sql: `SELECT status, COUNT(*) AS n FROM messages m ${where} GROUP BY status`, args };
}

function whereOf(q: MessageQuery): { where: string; args: unknown[] } {
  const cond: string[] = [];
  const args: unknown[] = [];
  const add = (sql: string, value: unknown): void => {
    cond.push(sql);
    args.push(value);
  };
  if (q.since !== undefined) add('m.received_at >= ?', q.since);
  if (q.until !== undefined) add('m.received_at < ?', q.until);
  if (q.status !== undefined) add('m.status = ?', q.status);
  if (q.route !== undefined) add('m.route = ?', q.route);
  if (q.type !== undefined) add('m.type = ?', q.type);
  if (q.sink !== undefined) add('EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.sink = ?)', q.sink);
  if (q.idPrefix !== undefined && q.idPrefix !== '') {
    // A range on the primary key: an index seek, and no LIKE wildcards to escape.
    cond.push('m.id >= ? AND m.id < ?');
    args.push(q.idPrefix, `${q.idPrefix}\u{10FFFF}`);
  }
  if (q.beforeSeq !== undefined) add('m.rowid < ?', q.beforeSeq);
  if (q.afterSeq !== undefined) add('m.rowid > ?', q.afterSeq);
  return { where: cond.length === 0 ? '' : `WHERE ${cond.join(' AND ')}`, args };
}
