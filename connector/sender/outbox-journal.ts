/** The file outbox's journal: JSON-lines records appended and fsynced, replayed on open, compacted, restarted. */
import { close, closeSync, constants, fdatasync, fdatasyncSync, fsync, fsyncSync, ftruncateSync, open, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { SendError } from '../../core/index.js';

/** How the journal is opened for appending: writes always land at the end, even after a cut-back. */
const APPEND_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND;

/** A stored message as one JSON line (`body` in base64). */
export interface PutRecord {
  op: 'put';
  id: string;
  type: string;
  body: string;
  headers: Record<string, string>;
  severity?: string;
  createdAt: number;
  state: 'pending' | 'parked';
  attempts: number;
  nextAttemptAt: number;
  lastError?: string;
  parkedReason?: string;
}

/** The journal records: a full message, or a state change of some ids. */
export type JournalRecord =
  | PutRecord
  | { op: 'retry'; ids: string[]; at: number; error: string }
  | { op: 'park'; ids: string[]; reason: string }
  | { op: 'unpark'; ids: string[]; at: number }
  | { op: 'del'; ids: string[] };

/** The error of an outbox file that cannot be written (or read). */
export function unavailable(path: string, cause: unknown): SendError {
  return new SendError('ERR_SEND_OUTBOX_UNAVAILABLE', `cannot write the outbox ${path}`, { cause });
}

/**
 * One journal line. A put's base64 body is spliced in after the other fields rather than passed
 * through JSON.stringify: base64 never needs escaping, and stringifying a ~1.4 KB string per event
 * was half the cost of an enqueue. The line is the same JSON either way.
 */
function lineParts(r: JournalRecord): readonly [text: string, base64: string, close: string] {
  if (r.op !== 'put') return [`${JSON.stringify(r)}\n`, '', ''];
  const q = JSON.stringify;
  let line = `{"op":"put","id":${q(r.id)},"type":${q(r.type)},"headers":${q(r.headers)},"createdAt":${q(r.createdAt)},"state":${q(r.state)},"attempts":${q(r.attempts)},"nextAttemptAt":${q(r.nextAttemptAt)}`;
  if (r.severity !== undefined) line += `,"severity":${q(r.severity)}`;
  if (r.lastError !== undefined) line += `,"lastError":${q(r.lastError)}`;
  if (r.parkedReason !== undefined) line += `,"parkedReason":${q(r.parkedReason)}`;
  return [`${line},"body":"`, r.body, '"}\n'];
}

/** Journal lines as bytes, written piece by piece into one buffer (no joined copy of a 0.7 MB batch). */
export function encodeLines(records: readonly JournalRecord[]): Buffer {
  const parts = records.map(lineParts);
  let size = 0;
  for (const [text, base64, close] of parts) size += Buffer.byteLength(text, 'utf8') + base64.length + close.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const [text, base64, close] of parts) {
    at += out.write(text, at, 'utf8');
    // base64 and the closing quote are ASCII: latin1 is a straight copy.
    at += out.write(base64, at, 'latin1');
    at += out.write(close, at, 'latin1');
  }
  return out;
}

/** fsync a folder (making a rename in it durable), on the thread pool. */
function syncFolder(folder: string): Promise<void> {
  return new Promise((resolve, reject) => {
    open(folder, 'r', (openErr, fd) => {
      if (openErr !== null) return reject(openErr);
      fsync(fd, (syncErr) => close(fd, () => (syncErr === null ? resolve() : reject(syncErr))));
    });
  });
}

/** fsync a folder, blocking. */
function syncFolderNow(folder: string): void {
  const fd = openSync(folder, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Remove a file if it is there; a failure only leaves a stray file behind. */
function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // ENOENT nearly always; anything else leaves a harmless leftover.
  }
}

/**
 * Read the journal at `path` and hand each record to `apply`, in file order. A missing file holds
 * nothing. A last line that does not parse (or that `apply` refuses) is a torn append and is
 * ignored; an earlier one is damage.
 *
 * @throws {SendError} ERR_SEND_OUTBOX_CORRUPT, ERR_SEND_OUTBOX_UNAVAILABLE
 */
export function replayJournal(path: string, apply: (record: JournalRecord) => void): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw unavailable(path, err);
  }
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    if (line.length === 0) continue;
    try {
      apply(JSON.parse(line) as JournalRecord);
    } catch (cause) {
      // Only the final line can be torn by a crash mid-append; anything earlier is damage.
      if (index === lines.length - 1) break;
      throw new SendError('ERR_SEND_OUTBOX_CORRUPT', `the outbox ${path} has an unreadable record on line ${index + 1}`, { cause });
    }
  }
}

/**
 * The append side of one journal file. Synchronous appends are written and fdatasynced before they
 * return; asynchronous ones are synced on the thread pool, one unsynced at a time and in call order,
 * so a crash can tear only the last record. After a failed sync nothing written since the last good
 * one can be trusted, and every later call throws the same error.
 */
export class Journal {
  readonly path: string;
  #fd: number | undefined;
  #bytes: number;
  #broken: SendError | undefined;
  /** Settles when the latest asynchronous append is on disk, or failed (never rejects). */
  #tail: Promise<void> = Promise.resolve();
  /** An asynchronous append is written and its fdatasync is running on the thread pool. */
  #unsynced = false;
  /** Asynchronous steps not finished (waiting for their turn, or syncing). */
  #queued = 0;
  /** A new journal was renamed into place and the folder is not synced yet (see `restart`). */
  #folderUnsynced = false;

  private constructor(path: string, fd: number, bytes: number) {
    this.path = path;
    this.#fd = fd;
    this.#bytes = bytes;
  }

  /**
   * Rewrite the journal at `path` to hold `records` only, atomically (temp file, fsync, rename, folder
   * fsync), and open it for appending.
   */
  static compact(path: string, records: readonly JournalRecord[]): Journal {
    // A new journal a crash left before its rename (see restart) holds nothing.
    removeQuietly(`${path}.new`);
    const tmp = `${path}.tmp`;
    const data = encodeLines(records);
    const fd = openSync(tmp, 'w', 0o600);
    try {
      for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    // The rename itself must be durable: fsync the folder.
    syncFolderNow(dirname(path));
    return new Journal(path, openSync(path, APPEND_FLAGS, 0o600), data.length);
  }

  /** Bytes in the current journal file. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Throw when closed or broken. @throws {SendError} ERR_SEND_OUTBOX_UNAVAILABLE */
  check(): void {
    this.#open();
  }

  /** Append and sync before returning (state changes: retry, park, unpark, del). @throws {SendError} ERR_SEND_OUTBOX_UNAVAILABLE */
  append(records: readonly JournalRecord[]): void {
    try {
      // An asynchronous append's sync still running: finish it first, so that only this append can be torn by a crash.
      if (this.#unsynced) fdatasyncSync(this.#open());
      // Nothing lands in a journal renamed into place before that rename is durable (see restart).
      if (this.#folderUnsynced) syncFolderNow(dirname(this.path));
    } catch (cause) {
      throw this.#break(cause);
    }
    const fd = this.#write(records);
    try {
      // fdatasync: the appended bytes and the new file size are on disk; timestamps need not be.
      fdatasyncSync(fd);
    } catch (cause) {
      throw this.#break(cause);
    }
  }

  /**
   * Append after the earlier asynchronous appends, then fdatasync on the thread pool; resolves once
   * on disk. One unsynced append at a time, so a crash can tear only the journal's last record; with
   * nothing queued before it, the write happens in this call (before its first await). `records` is
   * called when the append's turn comes. Appends settle in call order.
   */
  appendLater(records: () => JournalRecord[]): Promise<void> {
    return this.#later(async () => {
      const fd = this.#write(records());
      this.#unsynced = true;
      try {
        await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err === null ? resolve() : reject(err))));
      } catch (cause) {
        // close() leaves the descriptor open until this settles, so any failure here is the disk's.
        throw this.#break(cause);
      } finally {
        this.#unsynced = false;
      }
    });
  }

  /**
   * Replace a journal that holds only history by a new empty file, renamed into place; false (and
   * the old file kept) when that cannot be done. The old file's pages are freed when its descriptor
   * is closed, on the thread pool, once its last sync has settled: truncating in place cost the event
   * loop about 0.6 ms per 0.7 MB. The folder is synced before any later append (queued behind it), so
   * a message acknowledged after this point cannot vanish with an unsynced rename. A crash before that
   * sync leaves the old journal: its records are then read again.
   */
  restart(): boolean {
    const old = this.#open();
    const fresh = `${this.path}.new`;
    let fd: number;
    try {
      fd = openSync(fresh, APPEND_FLAGS | constants.O_TRUNC, 0o600);
    } catch {
      return false; // The long journal stays in use; compaction on the next open shortens it.
    }
    try {
      renameSync(fresh, this.path);
    } catch {
      closeSync(fd);
      removeQuietly(fresh);
      return false;
    }
    this.#fd = fd;
    this.#bytes = 0;
    this.#folderUnsynced = true;
    this.#later(async () => {
      try {
        await syncFolder(dirname(this.path));
        this.#folderUnsynced = false;
      } catch (cause) {
        throw this.#break(cause);
      } finally {
        close(old, () => undefined);
      }
    }).catch(() => undefined);
    return true;
  }

  /**
   * Make everything durable and close: the asynchronous append still syncing, then `last()` (records
   * the caller had not written yet; skipped when broken), then a pending folder sync. Failures only
   * mark the journal broken. Idempotent.
   */
  close(last: () => JournalRecord[]): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    try {
      // An append still waiting for its sync: make it durable now, before the descriptor goes.
      if (this.#unsynced) fdatasyncSync(fd);
      const records = last();
      if (records.length > 0 && this.#broken === undefined) {
        this.#write(records);
        fdatasyncSync(fd);
      }
      // A new journal renamed into place whose folder sync has not run yet: make the rename durable now.
      if (this.#folderUnsynced) syncFolderNow(dirname(this.path));
    } catch (cause) {
      this.#break(cause);
    }
    this.#fd = undefined;
    // A queued step may still have an fdatasync on this descriptor in the thread pool: closing it now
    // would let the number be reused and that call land on another file. Close it once they settle;
    // steps not yet started find the journal closed and write nothing.
    if (this.#queued > 0) void this.#tail.then(() => close(fd, () => undefined));
    else closeSync(fd);
  }

  #break(cause: unknown): SendError {
    this.#broken ??= unavailable(this.path, cause);
    return this.#broken;
  }

  /** Append whole records (no sync); a failed write is cut back so no torn record stays in the middle. */
  #write(records: readonly JournalRecord[]): number {
    const fd = this.#open();
    const data = encodeLines(records);
    try {
      // writeSync may write part of the buffer; keep going until all of it is in the file.
      for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done);
    } catch (cause) {
      // A torn record (e.g. the disk filled mid-write) would become a corrupt line in the middle of the
      // journal once the next append lands after it: cut the file back to its last complete record.
      try {
        ftruncateSync(fd, this.#bytes);
      } catch {
        // The torn bytes stay: any later append would land after them, so refuse every later call.
        throw this.#break(cause);
      }
      throw unavailable(this.path, cause);
    }
    this.#bytes += data.length;
    return fd;
  }

  #open(): number {
    if (this.#fd === undefined) throw new SendError('ERR_SEND_OUTBOX_UNAVAILABLE', `the outbox ${this.path} is closed`);
    if (this.#broken !== undefined) throw this.#broken;
    return this.#fd;
  }

  /** Run `step` after the earlier queued steps (at once, within this call, when none is queued); steps settle in call order. */
  #later(step: () => Promise<void>): Promise<void> {
    const earlier = this.#tail;
    const wait = this.#queued > 0;
    this.#queued += 1;
    const done = (async () => {
      try {
        if (wait) await earlier;
        await step();
      } finally {
        this.#queued -= 1;
      }
    })();
    this.#tail = done.catch(() => undefined);
    return done;
  }
}
