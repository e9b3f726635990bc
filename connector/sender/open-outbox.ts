/** Open the right outbox for a path: `.jsonl` is the pure-JS journal, anything else SQLite (loaded lazily). */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SendError } from '../../core/index.js';
import type { Outbox } from './outbox.js';
import { FileOutbox } from './outbox-file.js';

/** The outbox used when none is named: `~/.darkhook/outbox.db`. */
export function defaultOutboxPath(): string {
  return join(homedir(), '.darkhook', 'outbox.db');
}

/**
 * Open the outbox at `path` (default `defaultOutboxPath()`). A path ending in `.jsonl` (or
 * `kind: 'file'`) gives a `FileOutbox`; otherwise a `SqliteOutbox`, whose native module is imported
 * only here and only then, so bundles that never ask for SQLite never load it.
 *
 * @throws {SendError} ERR_SEND_OUTBOX_LOCKED, ERR_SEND_OUTBOX_CORRUPT, ERR_SEND_OUTBOX_UNAVAILABLE
 *   (also when better-sqlite3 cannot be loaded)
 * @example
 * const outbox = await openOutbox('/var/lib/darkhook/outbox.db');
 */
export async function openOutbox(path: string = defaultOutboxPath(), kind?: 'sqlite' | 'file'): Promise<Outbox> {
  if (kind === 'file' || (kind === undefined && path.endsWith('.jsonl'))) return FileOutbox.open(path);
  let sqlite: typeof import('./outbox-sqlite.js');
  try {
    sqlite = await import('./outbox-sqlite.js');
  } catch (cause) {
    throw new SendError('ERR_SEND_OUTBOX_UNAVAILABLE', 'the SQLite outbox needs the better-sqlite3 native module, which could not be loaded', {
      cause,
      hint: 'install better-sqlite3, or use a .jsonl outbox path (pure JavaScript)',
    });
  }
  return sqlite.SqliteOutbox.open(path);
}
