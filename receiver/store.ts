/** The receiver's message store: one SQLite file, WAL journal with synchronous=FULL, one row per message id. */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { FileError, OptionError, ReceiverError } from '../core/index.js';

/** Schema version kept in `PRAGMA user_version`. */
const SCHEMA_VERSION = 1;
/** How long a write waits for another connection's lock (e.g. `darkhook messages list`), in milliseconds. */
export const STORE_BUSY_TIMEOUT_MS = 5_000;
/** Rows returned by `list` when no limit is given. */
export const DEFAULT_LIST_LIMIT = 100;
/** Page size of a new store: 16 KiB pages hold a dozen 1 KiB webhook bodies, which halves the B-tree work per batch. */
const NEW_STORE_PAGE_BYTES = 16_384;
/** Rows per multi-row INSERT: one statement step per 50 messages instead of one per message. */
const INSERT_CHUNK_ROWS = 50;
const COLUMNS = '(id, type, timestamp, body, headers, caller, received_at, batch_id)';
const COLUMN_COUNT = 8;

// `rowid` (implicit) orders rows by arrival; `id` is the sender's idempotency key.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  id          TEXT    PRIMARY KEY,
  type        TEXT    NOT NULL,
  timestamp   INTEGER NOT NULL,
  body        BLOB    NOT NULL,
  headers     TEXT    NOT NULL,
  caller      TEXT,
  received_at INTEGER NOT NULL,
  batch_id    TEXT
);
`;

/** A message to store. */
export interface NewStoredMessage {
  /** The message id (`webhook-id`, or the event's id inside a batch). */
  readonly id: string;
  /** Event type (`webhook-event-type`, or the batch event's `type`). */
  readonly type: string;
  /** Seconds since the epoch: the event's time in a batch, the request's `webhook-timestamp` otherwise. */
  readonly timestamp: number;
  /** The body bytes exactly as received (a batch event's decoded body). */
  readonly body: Buffer;
  /** Headers to replay downstream (content type, event headers); never credentials. */
  readonly headers: Readonly<Record<string, string>>;
  /** The dialing Ziti identity's name, when the router named it. */
  readonly caller: string | undefined;
  /** The batch's `webhook-id` when the message came in a batch. */
  readonly batchId: string | undefined;
}

/** A stored message. */
export interface StoredMessage extends NewStoredMessage {
  /** When the receiver committed it, in milliseconds since the epoch. */
  readonly receivedAt: number;
}

/** Options of `MessageStore.list`. */
export interface ListOptions {
  /** Most rows returned; default `DEFAULT_LIST_LIMIT` (100). */
  readonly limit?: number;
  /** Only messages stored after the message with this id (a cursor); unknown ids give nothing. */
  readonly after?: string;
}

interface Row {
  id: string;
  type: string;
  timestamp: number;
  body: Buffer;
  headers: string;
  caller: string | null;
  received_at: number;
  batch_id: string | null;
}

function toMessage(r: Row): StoredMessage {
  return Object.freeze({
    id: r.id,
    type: r.type,
    timestamp: r.timestamp,
    body: r.body,
    headers: JSON.parse(r.headers) as Record<string, string>,
    caller: r.caller ?? undefined,
    receivedAt: r.received_at,
    batchId: r.batch_id ?? undefined,
  });
}

function storeError(path: string, what: string, cause: unknown): ReceiverError {
  return new ReceiverError('ERR_RECEIVER_STORE_FAILED', `the message store ${path} could not be ${what}`, { statusCode: 500, cause });
}

/**
 * Messages the receiver accepted, keyed by id. `insert` commits before it returns (WAL,
 * `synchronous=FULL`): once it returns, the rows survive SIGKILL and power loss, so the receiver
 * may answer 2xx. One writer (the receiver); readers in other processes are fine.
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
  readonly #has: Database.Statement<[string], { one: number }>;
  readonly #insertOne: Database.Statement<unknown[], string>;
  readonly #insertChunk: Database.Statement<unknown[], string>;
  readonly #count: Database.Statement<[], { n: number }>;
  readonly #insertMany: (messages: readonly NewStoredMessage[], receivedAt: number) => string[];

  private constructor(path: string, db: Database.Database) {
    this.path = path;
    this.#db = db;
    this.#has = db.prepare('SELECT 1 AS one FROM messages WHERE id = ?');
    // RETURNING lists only the rows inserted: ids already stored are left out (first write wins).
    const insert = (rows: number): Database.Statement<unknown[], string> =>
      db.prepare<unknown[], string>(`INSERT OR IGNORE INTO messages ${COLUMNS} VALUES ${Array(rows).fill(`(${Array(COLUMN_COUNT).fill('?').join(', ')})`).join(', ')} RETURNING id`).pluck();
    this.#insertOne = insert(1);
    this.#insertChunk = insert(INSERT_CHUNK_ROWS);
    this.#count = db.prepare('SELECT COUNT(*) AS n FROM messages');
    this.#insertMany = db.transaction((messages: readonly NewStoredMessage[], receivedAt: number): string[] => {
      const added: string[] = [];
      const values = (m: NewStoredMessage): unknown[] => [m.id, m.type, m.timestamp, m.body, JSON.stringify(m.headers), m.caller ?? null, receivedAt, m.batchId ?? null];
      let i = 0;
      for (; i + INSERT_CHUNK_ROWS <= messages.length; i += INSERT_CHUNK_ROWS) {
        const args: unknown[] = [];
        for (let j = i; j < i + INSERT_CHUNK_ROWS; j++) args.push(...values(messages[j]!));
        added.push(...this.#insertChunk.all(...args));
      }
      for (; i < messages.length; i++) added.push(...this.#insertOne.all(...values(messages[i]!)));
      return added;
    });
  }

  /**
   * Open (and create, with its folder) the store at `path`. With `readOnly`, the file must exist
   * and nothing is created (for `darkhook messages list` next to a running receiver).
   *
   * @throws {FileError} ERR_FILE_NOT_FOUND (readOnly and no such file)
   * @throws {ReceiverError} ERR_RECEIVER_STORE_FAILED
   */
  static open(path: string, options: { readonly readOnly?: boolean } = {}): MessageStore {
    const file = resolve(path);
    const readOnly = options.readOnly === true;
    if (readOnly && !existsSync(file)) throw new FileError('ERR_FILE_NOT_FOUND', `no message store at ${file}`);
    let db: Database.Database | undefined;
    try {
      if (!readOnly) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      db = new Database(file, { readonly: readOnly, fileMustExist: readOnly });
      db.pragma(`busy_timeout = ${STORE_BUSY_TIMEOUT_MS}`);
      if (!readOnly) {
        // Takes effect only on a new, empty file (before WAL mode is set); an existing store keeps its pages.
        db.pragma(`page_size = ${NEW_STORE_PAGE_BYTES}`);
        db.pragma('journal_mode = WAL');
        // FULL: a commit is on disk before insert() returns, so a 2xx never outruns durability.
        db.pragma('synchronous = FULL');
        const version = db.pragma('user_version', { simple: true }) as number;
        if (version > SCHEMA_VERSION) {
          throw new ReceiverError('ERR_RECEIVER_STORE_FAILED', `${file} has schema version ${version}, newer than this darkhook (${SCHEMA_VERSION})`, { statusCode: 500 });
        }
        db.exec(SCHEMA);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }
      return new MessageStore(file, db);
    } catch (cause) {
      db?.close();
      if (cause instanceof ReceiverError) throw cause;
      throw storeError(file, 'opened', cause);
    }
  }

  /** True when a message with this id is stored. */
  has(id: string): boolean {
    return this.#wrap('read', () => this.#has.get(id) !== undefined);
  }

  /**
   * Store messages in one transaction, all or none; ids already stored are skipped (first write
   * wins). Returns the ids actually added. Committed and synced to disk when it returns.
   *
   * @throws {ReceiverError} ERR_RECEIVER_STORE_FAILED
   */
  insert(messages: readonly NewStoredMessage[], receivedAt: number = Date.now()): string[] {
    return this.#wrap('written', () => this.#insertMany(messages, receivedAt));
  }

  /**
   * Stored messages in arrival order, at most `limit` (default 100), after the `after` id if given.
   *
   * @throws {OptionError} ERR_OPTION_INVALID (limit)
   * @throws {ReceiverError} ERR_RECEIVER_STORE_FAILED
   */
  list(options: ListOptions = {}): StoredMessage[] {
    const limit = options.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new OptionError('ERR_OPTION_INVALID', 'MessageStore.list: limit must be an integer ≥ 1');
    return this.#wrap('read', () => {
      const rows =
        options.after === undefined
          ? this.#db.prepare('SELECT * FROM messages ORDER BY rowid LIMIT ?').all(limit)
          : this.#db
              .prepare('SELECT * FROM messages WHERE rowid > (SELECT rowid FROM messages WHERE id = ?) ORDER BY rowid LIMIT ?')
              .all(options.after, limit);
      return (rows as Row[]).map(toMessage);
    });
  }

  /** Number of stored messages. */
  count(): number {
    return this.#wrap('read', () => this.#count.get()!.n);
  }

  /** Close the database; further calls throw ERR_RECEIVER_STORE_FAILED. Idempotent. */
  close(): void {
    if (this.#db.open) this.#db.close();
  }

  #wrap<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (cause) {
      throw storeError(this.path, what, cause);
    }
  }
}
