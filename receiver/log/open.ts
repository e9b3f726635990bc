/** Open the message log a `store` setting names: a SQLite file path, or a `postgres://` URL. */
import { hostname } from 'node:os';
import type { MessageLog } from './message-log.js';
import { PgMessageLog } from './pg-log.js';
import { isPostgresStore, parsePgStoreUrl, resolvePgPassword } from './pg-url.js';

export { isPostgresStore };
import { SqliteMessageLog } from './sqlite-log.js';

/** Options of `openMessageLog`. */
export interface OpenLogOptions {
  /** SQLite only: open an existing file without writing (the CLI's read-only commands). */
  readonly readOnly?: boolean;
  /** Where `env:` password references are read; default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** PostgreSQL only: lease of a claimed delivery, in ms (default 60 s). */
  readonly leaseMs?: number;
  /** PostgreSQL only: this replica's slot prefix (see `PgLogOptions.replicaPrefix`); default none. */
  readonly replicaPrefix?: string;
}

/**
 * Open (create, migrate) the message log `store` names: a `postgres://` URL (its password by
 * `env:`/`file:` reference) or a SQLite file path.
 *
 * @throws {FileError} ERR_FILE_NOT_FOUND (SQLite, readOnly, no such file)
 * @throws {ConfigError} ERR_CONFIG_SECRET_LITERAL, ERR_CONFIG_SECRET_UNRESOLVED, ERR_CONFIG_INVALID (a bad URL)
 * @throws {ReceiverError} ERR_RECEIVER_STORE_UNAVAILABLE, ERR_RECEIVER_STORE_AUTH_FAILED, ERR_RECEIVER_STORE_FAILED
 */
export async function openMessageLog(store: string, options: OpenLogOptions = {}): Promise<MessageLog> {
  if (isPostgresStore(store)) {
    const url = parsePgStoreUrl(store, 'store');
    const password = resolvePgPassword(url, 'store', options.env);
    return PgMessageLog.open({ host: url.host, port: url.port, user: url.user, database: url.database, password, ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
      ...(options.replicaPrefix === undefined ? {} : { replicaPrefix: options.replicaPrefix }) });
  }
  return SqliteMessageLog.open(store, options);
}

/** The PostgreSQL replica slot prefix of a sidecar of `service` on this host: `<hostname>/<service>`. */
export function replicaPrefixFor(service: string | undefined): string {
  return `${hostname()}/${service ?? 'receiver'}`;
}
