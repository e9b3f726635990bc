/** SQLite for every store of ours: open with pragmas, migrations by `user_version`, and a statement cache. */
import Database from 'better-sqlite3';
import { type DarkhookError } from './errors.js';

/** How long a statement waits for another connection's lock, in milliseconds. */
export const DEFAULT_SQLITE_BUSY_TIMEOUT_MS = 5_000;

/** How to open one store. */
export interface SqliteOpenOptions {
  /** Open read-only; the file must exist and nothing is migrated. */
  readonly readOnly?: boolean;
  /** `FULL`: a commit is on disk when it returns (the default). `NORMAL`: durable at the next checkpoint. */
  readonly synchronous?: 'FULL' | 'NORMAL';
  /** Page size of a new file, in bytes (ignored for an existing file). */
  readonly newFilePageBytes?: number;
  /** Enforce foreign keys; default false. */
  readonly foreignKeys?: boolean;
  /** Busy timeout, in milliseconds; default `DEFAULT_SQLITE_BUSY_TIMEOUT_MS`. */
  readonly busyTimeoutMs?: number;
  /**
   * The schema as migration steps: step `i` takes a file at `user_version = i` to `i + 1`. A new file
   * runs them all. A file newer than the steps is refused (`tooNew` builds that error).
   */
  readonly migrations?: readonly (string | ((db: Database.Database) => void))[];
  /** The store's own coded error for a file written by a newer darkhook. */
  readonly tooNew?: (version: number) => DarkhookError;
}

/**
 * Open `path` in WAL mode with the given pragmas, then apply the pending migrations in one
 * immediate transaction (so two processes opening one new file never both migrate it).
 * Errors are the driver's or `tooNew`'s; each store wraps them in its own code.
 */
export function openSqlite(path: string, options: SqliteOpenOptions = {}): Database.Database {
  const readOnly = options.readOnly === true;
  const db = new Database(path, { readonly: readOnly, fileMustExist: readOnly, timeout: options.busyTimeoutMs ?? DEFAULT_SQLITE_BUSY_TIMEOUT_MS });
  try {
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? DEFAULT_SQLITE_BUSY_TIMEOUT_MS}`);
    // Per connection, read-only ones included: a reader's own checks (and cascades) follow the same rules.
    if (options.foreignKeys === true) db.pragma('foreign_keys = ON');
    if (readOnly) return db;
    // Takes effect only on a new, empty file (before WAL mode is set); an existing store keeps its pages.
    if (options.newFilePageBytes !== undefined) db.pragma(`page_size = ${options.newFilePageBytes}`);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    const steps = options.migrations ?? [];
    db.transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > steps.length) {
        if (options.tooNew !== undefined) throw options.tooNew(version);
        throw new RangeError(`${path} has schema version ${version}, newer than ${steps.length}`);
      }
      for (let v = version; v < steps.length; v++) {
        const step = steps[v]!;
        if (typeof step === 'string') db.exec(step);
        else step(db);
      }
      if (version !== steps.length) db.pragma(`user_version = ${steps.length}`);
    }).immediate();
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Statements prepared once per database and reused, keyed by their SQL text. */
export class StatementCache {
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();

  constructor(db: Database.Database) {
    this.#db = db;
  }

  /** The prepared statement for `sql`. */
  get<P extends unknown[] = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let stmt = this.#statements.get(sql);
    if (stmt === undefined) {
      stmt = this.#db.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt as unknown as Database.Statement<P, R>;
  }

  /** Forget every statement (before the database closes). */
  clear(): void {
    this.#statements.clear();
  }
}
