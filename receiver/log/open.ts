/** Open the message log a `store` setting names: a SQLite file path, or a `postgres://` URL. */
import type { MessageLog } from './message-log.js';
import { SqliteMessageLog } from './sqlite-log.js';

/** Options of `openMessageLog`. */
export interface OpenLogOptions {
  /** SQLite only: open an existing file without writing (the CLI's read-only commands). */
  readonly readOnly?: boolean;
}

/** True when `store` names a PostgreSQL server rather than a SQLite file. */
export function isPostgresStore(store: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(store);
}

/**
 * Open (create, migrate) the message log `store` names.
 *
 * @throws {FileError} ERR_FILE_NOT_FOUND (SQLite, readOnly, no such file)
 * @throws {ReceiverError} ERR_RECEIVER_STORE_FAILED
 */
export async function openMessageLog(store: string, options: OpenLogOptions = {}): Promise<MessageLog> {
  return SqliteMessageLog.open(store, options);
}
