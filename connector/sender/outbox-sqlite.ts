/** SqliteOutbox: the outbox in SQLite (better-sqlite3), WAL journal with synchronous=FULL. */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { openSqlite, StatementCache } from '../../core/sqlite.js';
import { SendError } from '../../core/index.js';
import { clipReason, type NewOutboxMessage, type Outbox, type OutboxCounts, type OutboxHead, type OutboxMessage, type OutboxState } from './outbox.js';
import { acquireOutboxLock } from './outbox-lock.js';
import { isSeverity } from '../webhook/severity.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  id              TEXT    NOT NULL UNIQUE,
  event_type      TEXT    NOT NULL,
  body            BLOB    NOT NULL,
  headers         TEXT    NOT NULL,
  severity        TEXT,
  created_at      INTEGER NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  state           TEXT    NOT NULL CHECK (state IN ('pending', 'inflight', 'parked')),
  last_error      TEXT,
  parked_reason   TEXT
);
CREATE INDEX IF NOT EXISTS messages_state_seq ON messages (state, seq);
`;

interface Row {
  seq: number;
  id: string;
  event_type: string;
  body: Buffer;
  headers: string;
  severity: string | null;
  created_at: number;
  attempts: number;
  next_attempt_at: number;
  state: OutboxState;
  last_error: string | null;
  parked_reason: string | null;
}

function toMessage(r: Row): OutboxMessage {
  return {
    id: r.id,
    type: r.event_type,
    body: r.body,
    headers: JSON.parse(r.headers) as Record<string, string>,
    severity: isSeverity(r.severity) ? r.severity : undefined,
    createdAt: r.created_at,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastError: r.last_error ?? undefined,
    parkedReason: r.parked_reason ?? undefined,
  };
}

function wrap<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SendError) throw err;
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
      throw new SendError('ERR_SEND_OUTBOX_CORRUPT', `the outbox ${path} is not a readable SQLite database`, { cause: err });
    }
    throw new SendError('ERR_SEND_OUTBOX_UNAVAILABLE', `the outbox ${path} could not be used`, { cause: err });
  }
}

/** Page size of a new outbox file: 16 KiB pages hold a dozen 1 KiB bodies (fewer B-tree splits per batch). */
const NEW_FILE_PAGE_BYTES = 16_384;
/** Rows per multi-row INSERT in `enqueue`. */
const INSERT_CHUNK_ROWS = 50;
const INSERT_COLUMNS = '(id, event_type, body, headers, severity, created_at, attempts, next_attempt_at, state)';
const INSERT_ROW = "(?, ?, ?, ?, ?, ?, 0, ?, 'pending')";

/**
 * An outbox in a SQLite file: WAL journal with `synchronous=FULL`, so a committed write survives
 * SIGKILL and power loss. Claims (`inflight`) live in memory only, as in the file outbox: a claim
 * is never a durable fact (after a crash the message is simply pending), and writing it would
 * rewrite every claimed row, body included. Needs the better-sqlite3 native module; load it through `openOutbox`,
 * which imports this file lazily.
 *
 * @example
 * const outbox = SqliteOutbox.open(join(homedir(), '.darkhook', 'outbox.db'));
 */
export class SqliteOutbox implements Outbox {
  readonly kind = 'sqlite' as const;
  readonly path: string;
  readonly #db: Database.Database;
  readonly #unlock: () => void;
  /** Ids claimed by `nextBatch` and not yet settled; their rows say `pending`. */
  readonly #claimed = new Set<string>();
  readonly #statements: StatementCache;
  #closed = false;

  private constructor(path: string, db: Database.Database, unlock: () => void) {
    this.path = path;
    this.#db = db;
    this.#statements = new StatementCache(db);
    this.#unlock = unlock;
  }

  /**
   * Open (or create) the database at `path`, taking its lock; inflight rows go back to pending.
   *
   * @throws {SendError} ERR_SEND_OUTBOX_LOCKED, ERR_SEND_OUTBOX_CORRUPT, ERR_SEND_OUTBOX_UNAVAILABLE
   */
  static open(path: string): SqliteOutbox {
    const full = resolve(path);
    wrap(full, () => mkdirSync(dirname(full), { recursive: true, mode: 0o700 }));
    const unlock = acquireOutboxLock(full);
    try {
      const db = wrap(full, () => {
        const d = openSqlite(full, {
          newFilePageBytes: NEW_FILE_PAGE_BYTES,
          synchronous: 'FULL',
          migrations: [SCHEMA],
          tooNew: () => new SendError('ERR_SEND_OUTBOX_UNAVAILABLE', `the outbox ${full} was written by a newer darkhook`),
        });
        // Older versions stored claims: a crashed sender left these claimed, never confirmed, so send them again.
        d.prepare("UPDATE messages SET state = 'pending' WHERE state = 'inflight'").run();
        return d;
      });
      return new SqliteOutbox(full, db, unlock);
    } catch (err) {
      unlock();
      throw err;
    }
  }

  #run<T>(fn: () => T): T {
    if (this.#closed) throw new SendError('ERR_SEND_OUTBOX_UNAVAILABLE', `the outbox ${this.path} is closed`);
    return wrap(this.path, fn);
  }

  /** A statement prepared once per outbox. */
  #sql(sql: string): Database.Statement {
    return this.#statements.get(sql);
  }

  /** Run `sql` once for all `ids` (bound as one JSON array, read with json_each); returns rows changed. */
  #forIds(ids: readonly string[], sql: string, ...params: unknown[]): number {
    if (ids.length === 0) return 0;
    return this.#run(() => this.#sql(sql).run(...params, JSON.stringify([...new Set(ids)])).changes);
  }

  #settle(ids: readonly string[]): void {
    for (const id of ids) this.#claimed.delete(id);
  }

  #state(r: Row): OutboxState {
    return r.state === 'pending' && this.#claimed.has(r.id) ? 'inflight' : r.state;
  }

  /** Committed (and synced) before the promise settles; better-sqlite3 writes synchronously. */
  async enqueue(messages: readonly NewOutboxMessage[]): Promise<void> {
    if (messages.length === 0) return;
    this.#run(() => {
      const values = (m: NewOutboxMessage): unknown[] => [m.id, m.type, m.body, JSON.stringify(m.headers), m.severity ?? null, m.createdAt, m.createdAt];
      const chunk = this.#sql(`INSERT INTO messages ${INSERT_COLUMNS} VALUES ${Array(INSERT_CHUNK_ROWS).fill(INSERT_ROW).join(', ')}`);
      const one = this.#sql(`INSERT INTO messages ${INSERT_COLUMNS} VALUES ${INSERT_ROW}`);
      try {
        this.#db.transaction(() => {
          let i = 0;
          for (; i + INSERT_CHUNK_ROWS <= messages.length; i += INSERT_CHUNK_ROWS) chunk.run(...messages.slice(i, i + INSERT_CHUNK_ROWS).flatMap(values));
          for (; i < messages.length; i++) one.run(...values(messages[i]!));
        })();
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw err;
        // Rolled back, nothing stored: name the first id that is already there (or repeated in this call).
        const seen = new Set<string>();
        const exists = this.#sql('SELECT 1 FROM messages WHERE id = ?');
        const dup = messages.find((m) => seen.has(m.id) || exists.get(m.id) !== undefined || !seen.add(m.id)) ?? messages[0]!;
        throw new SendError('ERR_SEND_DUPLICATE_ID', `the outbox already holds message ${dup.id}`, { ids: [dup.id] });
      }
    });
  }

  head(): OutboxHead | undefined {
    return this.#run(() => {
      // Claimed rows are the oldest pending ones: skip past them.
      const rows = this.#sql("SELECT id, created_at, attempts, next_attempt_at FROM messages WHERE state = 'pending' ORDER BY seq LIMIT ?").all(
        this.#claimed.size + 1,
      ) as Pick<Row, 'id' | 'created_at' | 'attempts' | 'next_attempt_at'>[];
      const r = rows.find((row) => !this.#claimed.has(row.id));
      return r === undefined ? undefined : { createdAt: r.created_at, attempts: r.attempts, nextAttemptAt: r.next_attempt_at };
    });
  }

  nextBatch(limit: number, now: number = Date.now()): OutboxMessage[] {
    return this.#run(() => {
      const rows = this.#sql("SELECT * FROM messages WHERE state = 'pending' ORDER BY seq LIMIT ?").all(limit + this.#claimed.size) as Row[];
      const due: OutboxMessage[] = [];
      for (const r of rows) {
        if (due.length >= limit) break;
        if (this.#claimed.has(r.id)) continue;
        if (r.next_attempt_at > now) break;
        due.push(toMessage({ ...r, state: 'inflight' }));
      }
      for (const m of due) this.#claimed.add(m.id);
      return due;
    });
  }

  release(ids: readonly string[]): void {
    this.#settle(ids);
  }

  /** Committed without waiting for the disk (synchronous=NORMAL for this one commit): the next synced commit carries it. */
  markDelivered(ids: readonly string[]): void {
    this.#run(() => this.#db.pragma('synchronous = NORMAL'));
    try {
      this.#forIds(ids, 'DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))');
    } finally {
      this.#run(() => this.#db.pragma('synchronous = FULL'));
    }
    this.#settle(ids);
  }

  markRetry(ids: readonly string[], delayMs: number, error: string, now: number = Date.now()): void {
    this.#forIds(
      ids,
      "UPDATE messages SET state = 'pending', attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id IN (SELECT value FROM json_each(?))",
      now + delayMs,
      clipReason(error),
    );
    this.#settle(ids);
  }

  park(ids: readonly string[], reason: string): void {
    const text = clipReason(reason);
    this.#forIds(ids, "UPDATE messages SET state = 'parked', parked_reason = ?, last_error = ? WHERE id IN (SELECT value FROM json_each(?))", text, text);
    this.#settle(ids);
  }

  list(state?: OutboxState): OutboxMessage[] {
    return this.#run(() => {
      // Claims are in memory: pending and inflight are both stored as pending and told apart here.
      const stored = state === undefined ? undefined : state === 'parked' ? 'parked' : 'pending';
      const rows = (
        stored === undefined ? this.#sql('SELECT * FROM messages ORDER BY seq').all() : this.#sql('SELECT * FROM messages WHERE state = ? ORDER BY seq').all(stored)
      ) as Row[];
      return rows.map((r) => toMessage({ ...r, state: this.#state(r) })).filter((m) => state === undefined || m.state === state);
    });
  }

  retryParked(ids?: readonly string[]): number {
    const now = Date.now();
    if (ids === undefined) {
      return this.#run(
        () => this.#sql("UPDATE messages SET state = 'pending', attempts = 0, next_attempt_at = ?, parked_reason = NULL WHERE state = 'parked'").run(now).changes,
      );
    }
    return this.#forIds(
      ids,
      "UPDATE messages SET state = 'pending', attempts = 0, next_attempt_at = ?, parked_reason = NULL WHERE state = 'parked' AND id IN (SELECT value FROM json_each(?))",
      now,
    );
  }

  drop(ids: readonly string[]): number {
    const changed = this.#forIds(ids, 'DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))');
    this.#settle(ids);
    return changed;
  }

  counts(): OutboxCounts {
    return this.#run(() => {
      const counts = { pending: 0, inflight: 0, parked: 0 };
      const rows = this.#sql('SELECT state, COUNT(*) AS n FROM messages GROUP BY state').all() as { state: OutboxState; n: number }[];
      for (const r of rows) counts[r.state] = r.n;
      // Claimed rows are stored as pending.
      counts.pending -= this.#claimed.size;
      counts.inflight += this.#claimed.size;
      return counts;
    });
  }

  pendingAtLeast(n: number): boolean {
    return this.#run(() => {
      // Claimed rows are stored as pending: look at most that many rows further.
      const row = this.#sql("SELECT COUNT(*) AS n FROM (SELECT 1 FROM messages WHERE state = 'pending' LIMIT ?)").get(n + this.#claimed.size) as { n: number };
      return row.n - this.#claimed.size >= n;
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#statements.clear();
    this.#db.close();
    this.#unlock();
  }
}
