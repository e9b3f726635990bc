/** SqliteOutbox: the outbox in SQLite (better-sqlite3), WAL journal with synchronous=FULL. */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { SendError } from '../../errors/index.js';
import { clipReason, type NewOutboxMessage, type Outbox, type OutboxCounts, type OutboxHead, type OutboxMessage, type OutboxState } from './outbox.js';
import { acquireOutboxLock } from './outbox-lock.js';
import { isSeverity } from './severity.js';

/** Schema version kept in `PRAGMA user_version`. */
const SCHEMA_VERSION = 1;

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

/**
 * An outbox in a SQLite file: WAL journal with `synchronous=FULL`, so a committed write survives
 * SIGKILL and power loss. Needs the better-sqlite3 native module; load it through `openOutbox`,
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
  #closed = false;

  private constructor(path: string, db: Database.Database, unlock: () => void) {
    this.path = path;
    this.#db = db;
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
        const d = new Database(full);
        d.pragma('journal_mode = WAL');
        d.pragma('synchronous = FULL');
        d.pragma('busy_timeout = 5000');
        const version = d.pragma('user_version', { simple: true }) as number;
        if (version > SCHEMA_VERSION) throw new SendError('ERR_SEND_OUTBOX_UNAVAILABLE', `the outbox ${full} was written by a newer darkhook`);
        d.exec(SCHEMA);
        d.pragma(`user_version = ${SCHEMA_VERSION}`);
        // A crashed sender left these claimed: they were never confirmed, so send them again.
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

  enqueue(messages: readonly NewOutboxMessage[]): void {
    this.#run(() => {
      const insert = this.#db.prepare(
        `INSERT INTO messages (id, event_type, body, headers, severity, created_at, attempts, next_attempt_at, state)
         VALUES (?, ?, ?, ?, ?, ?, 0, ?, 'pending')`,
      );
      const exists = this.#db.prepare('SELECT 1 FROM messages WHERE id = ?');
      this.#db.transaction(() => {
        for (const m of messages) {
          if (exists.get(m.id) !== undefined) {
            throw new SendError('ERR_SEND_DUPLICATE_ID', `the outbox already holds message ${m.id}`, { ids: [m.id] });
          }
          insert.run(m.id, m.type, m.body, JSON.stringify(m.headers), m.severity ?? null, m.createdAt, m.createdAt);
        }
      })();
    });
  }

  head(): OutboxHead | undefined {
    return this.#run(() => {
      const r = this.#db
        .prepare("SELECT created_at, attempts, next_attempt_at FROM messages WHERE state = 'pending' ORDER BY seq LIMIT 1")
        .get() as Pick<Row, 'created_at' | 'attempts' | 'next_attempt_at'> | undefined;
      return r === undefined ? undefined : { createdAt: r.created_at, attempts: r.attempts, nextAttemptAt: r.next_attempt_at };
    });
  }

  nextBatch(limit: number, now: number = Date.now()): OutboxMessage[] {
    return this.#run(() =>
      this.#db.transaction(() => {
        const rows = this.#db.prepare("SELECT * FROM messages WHERE state = 'pending' ORDER BY seq LIMIT ?").all(limit) as Row[];
        const due: Row[] = [];
        for (const r of rows) {
          if (r.next_attempt_at > now) break;
          due.push(r);
        }
        const last = due.at(-1);
        if (last === undefined) return [];
        // The due rows are exactly the pending rows up to the last one's seq.
        this.#db.prepare("UPDATE messages SET state = 'inflight' WHERE state = 'pending' AND seq <= ?").run(last.seq);
        return due.map((r) => toMessage({ ...r, state: 'inflight' }));
      })(),
    );
  }

  #each(ids: readonly string[], sql: string, ...params: unknown[]): number {
    return this.#run(() => {
      const stmt = this.#db.prepare(sql);
      return this.#db.transaction(() => {
        let changed = 0;
        for (const id of new Set(ids)) changed += stmt.run(...params, id).changes;
        return changed;
      })();
    });
  }

  release(ids: readonly string[]): void {
    this.#each(ids, "UPDATE messages SET state = 'pending' WHERE state = 'inflight' AND id = ?");
  }

  markDelivered(ids: readonly string[]): void {
    this.#each(ids, 'DELETE FROM messages WHERE id = ?');
  }

  markRetry(ids: readonly string[], delayMs: number, error: string, now: number = Date.now()): void {
    this.#each(
      ids,
      "UPDATE messages SET state = 'pending', attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
      now + delayMs,
      clipReason(error),
    );
  }

  park(ids: readonly string[], reason: string): void {
    const text = clipReason(reason);
    this.#each(ids, "UPDATE messages SET state = 'parked', parked_reason = ?, last_error = ? WHERE id = ?", text, text);
  }

  list(state?: OutboxState): OutboxMessage[] {
    return this.#run(() => {
      const rows = (
        state === undefined
          ? this.#db.prepare('SELECT * FROM messages ORDER BY seq').all()
          : this.#db.prepare('SELECT * FROM messages WHERE state = ? ORDER BY seq').all(state)
      ) as Row[];
      return rows.map(toMessage);
    });
  }

  retryParked(ids?: readonly string[]): number {
    const now = Date.now();
    if (ids === undefined) {
      return this.#run(
        () =>
          this.#db
            .prepare("UPDATE messages SET state = 'pending', attempts = 0, next_attempt_at = ?, parked_reason = NULL WHERE state = 'parked'")
            .run(now).changes,
      );
    }
    return this.#each(
      ids,
      "UPDATE messages SET state = 'pending', attempts = 0, next_attempt_at = ?, parked_reason = NULL WHERE state = 'parked' AND id = ?",
      now,
    );
  }

  drop(ids: readonly string[]): number {
    return this.#each(ids, 'DELETE FROM messages WHERE id = ?');
  }

  counts(): OutboxCounts {
    return this.#run(() => {
      const counts = { pending: 0, inflight: 0, parked: 0 };
      const rows = this.#db.prepare('SELECT state, COUNT(*) AS n FROM messages GROUP BY state').all() as { state: OutboxState; n: number }[];
      for (const r of rows) counts[r.state] = r.n;
      return counts;
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
    this.#unlock();
  }
}
