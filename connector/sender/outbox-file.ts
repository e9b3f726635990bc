/** FileOutbox: a pure-JS outbox in an append-only JSON-lines journal, fsynced per write, compacted on open. */
import { close, closeSync, constants, fdatasync, fdatasyncSync, fsync, fsyncSync, ftruncateSync, mkdirSync, open, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { SendError } from '../../core/index.js';
import { clipReason, type NewOutboxMessage, type Outbox, type OutboxCounts, type OutboxHead, type OutboxMessage, type OutboxState } from './outbox.js';
import { acquireOutboxLock } from './outbox-lock.js';
import { isSeverity } from '../webhook/severity.js';

/** Once the outbox is empty, a journal over this many bytes is replaced by an empty one. */
const EMPTY_RESTART_BYTES = 1024 * 1024;
/** How the journal is opened for appending: writes always land at the end, even after a cut-back. */
const APPEND_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND;

type Mutable = { -readonly [K in keyof OutboxMessage]: OutboxMessage[K] };

/** A stored message as one JSON line (`body` in base64). */
interface PutRecord {
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
type JournalRecord =
  | PutRecord
  | { op: 'retry'; ids: string[]; at: number; error: string }
  | { op: 'park'; ids: string[]; reason: string }
  | { op: 'unpark'; ids: string[]; at: number }
  | { op: 'del'; ids: string[] };

function unavailable(path: string, cause: unknown): SendError {
  return new SendError('ERR_SEND_OUTBOX_UNAVAILABLE', `cannot write the outbox ${path}`, { cause });
}

function toPut(m: OutboxMessage): PutRecord {
  const rec: PutRecord = {
    op: 'put',
    id: m.id,
    type: m.type,
    body: m.body.toString('base64'),
    headers: { ...m.headers },
    createdAt: m.createdAt,
    // Claims are never journaled: a message inflight at a crash is pending again.
    state: m.state === 'parked' ? 'parked' : 'pending',
    attempts: m.attempts,
    nextAttemptAt: m.nextAttemptAt,
  };
  if (m.severity !== undefined) rec.severity = m.severity;
  if (m.lastError !== undefined) rec.lastError = m.lastError;
  if (m.parkedReason !== undefined) rec.parkedReason = m.parkedReason;
  return rec;
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
function encodeLines(records: readonly JournalRecord[]): Buffer {
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

/** Remove a file if it is there; a failure only leaves a stray file behind. */
function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // ENOENT nearly always; anything else leaves a harmless leftover.
  }
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
  #fd: number | undefined;
  #bytes = 0;
  /** Ids of enqueues not yet on disk (waiting for their turn to write, or for their sync). */
  readonly #syncing = new Set<string>();
  /** Settles when the latest asynchronous append is on disk, or failed (never rejects). */
  #tail: Promise<void> = Promise.resolve();
  /** An asynchronous append is written and its fdatasync is running on the thread pool. */
  #unsynced = false;
  /** Asynchronous appends not finished (waiting for their turn, or syncing). */
  #queued = 0;
  #broken: SendError | undefined;
  /** Ids `markDelivered` removed whose `del` record is not written yet. */
  #lazyDeletes: string[] = [];
  /** A new journal was renamed into place and the folder is not synced yet (see `#restart`). */
  #folderUnsynced = false;
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
      outbox.#load();
      outbox.#compact();
    } catch (err) {
      unlock();
      throw err instanceof SendError ? err : unavailable(full, err);
    }
    return outbox;
  }

  #load(): void {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw unavailable(this.path, err);
    }
    const lines = text.split('\n');
    for (const [index, line] of lines.entries()) {
      if (line.length === 0) continue;
      try {
        this.#apply(JSON.parse(line) as JournalRecord);
      } catch (cause) {
        // Only the final line can be torn by a crash mid-append; anything earlier is damage.
        if (index === lines.length - 1) break;
        throw new SendError('ERR_SEND_OUTBOX_CORRUPT', `the outbox ${this.path} has an unreadable record on line ${index + 1}`, { cause });
      }
    }
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

  /** Rewrite the journal with the live messages only, atomically, then reopen it for appending. */
  #compact(): void {
    // A new journal a crash left before its rename (see #restart) holds nothing.
    removeQuietly(`${this.path}.new`);
    const tmp = `${this.path}.tmp`;
    const data = encodeLines([...this.#messages.values()].map(toPut));
    for (const m of this.#messages.values()) if (m.state === 'inflight') this.#move(m, 'pending');
    const fd = openSync(tmp, 'w', 0o600);
    try {
      for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    // The rename itself must be durable: fsync the folder.
    syncFolderNow(dirname(this.path));
    this.#fd = openSync(this.path, APPEND_FLAGS, 0o600);
    this.#bytes = data.length;
  }

  /** Append and sync before returning (state changes: retry, park, unpark, del). */
  #append(records: readonly JournalRecord[]): void {
    try {
      // An enqueue's sync still running: finish it first, so that only this append can be torn by a crash.
      if (this.#unsynced) fdatasyncSync(this.#open());
      // Nothing lands in a journal renamed into place before that rename is durable (see #restart).
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

  /** After a failed sync nothing written since the last good one can be trusted: refuse every later call. */
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

  /**
   * Append the messages, then fdatasync on the thread pool, so the event loop keeps running while
   * the disk works. The messages become visible (`nextBatch`, `list`, `counts`) only once synced,
   * and in call order even when several enqueues overlap.
   */
  async enqueue(messages: readonly NewOutboxMessage[]): Promise<void> {
    this.#open();
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
      await this.#appendLater(() => stored.map(toPut));
      for (const m of stored) this.#add(m);
    } finally {
      for (const m of stored) this.#syncing.delete(m.id);
    }
  }

  /**
   * Append after the earlier asynchronous appends, then fdatasync on the thread pool; resolves once
   * on disk. One unsynced append at a time, so a crash can tear only the journal's last record; with
   * nothing queued before it, the write happens in this call (before its first await). Appends settle
   * in call order.
   */
  #appendLater(records: () => JournalRecord[]): Promise<void> {
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

  /**
   * Replace a journal that holds only history (the outbox is empty) by a new empty file, renamed
   * into place. The old file's pages are freed when its descriptor is closed, on the thread pool,
   * once its last sync has settled: truncating in place cost the event loop about 0.6 ms per 0.7 MB.
   * The folder is synced before any later append (queued behind it), so a message acknowledged
   * after this point cannot vanish with an unsynced rename. A crash before that sync leaves the old
   * journal, whose messages were all delivered: at worst they are sent again (at least once).
   */
  #restart(): void {
    const old = this.#open();
    const fresh = `${this.path}.new`;
    let fd: number;
    try {
      fd = openSync(fresh, APPEND_FLAGS | constants.O_TRUNC, 0o600);
    } catch {
      return; // The long journal stays in use; compaction on the next open shortens it.
    }
    try {
      renameSync(fresh, this.path);
    } catch {
      closeSync(fd);
      removeQuietly(fresh);
      return;
    }
    this.#fd = fd;
    this.#bytes = 0;
    // Deletions not written yet are of messages the new journal never held.
    this.#lazyDeletes = [];
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
    this.#append([record]);
    this.#apply(record);
  }

  park(ids: readonly string[], reason: string): void {
    const known = ids.filter((id) => this.#messages.has(id));
    if (known.length === 0) return;
    const record: JournalRecord = { op: 'park', ids: known, reason: clipReason(reason) };
    this.#append([record]);
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
    this.#append([record]);
    this.#apply(record);
    return chosen.length;
  }

  drop(ids: readonly string[]): number {
    return this.#delete(ids);
  }

  #delete(ids: readonly string[], wait = true): number {
    this.#open();
    const known = [...new Set(ids)].filter((id) => this.#messages.has(id));
    if (known.length === 0) return 0;
    if (wait) {
      this.#append([{ op: 'del', ids: known }]);
    } else {
      // Queued behind the asynchronous appends and synced on the thread pool; deletions made meanwhile
      // join the same record. A failed sync breaks the outbox (#break): the next call reports it.
      const first = this.#lazyDeletes.length === 0;
      this.#lazyDeletes.push(...known);
      if (first) this.#appendLater(() => this.#takeLazyDeletes()).catch(() => undefined);
    }
    for (const id of known) this.#remove(id);
    if (this.#messages.size === 0 && this.#syncing.size === 0 && this.#bytes > EMPTY_RESTART_BYTES) this.#restart();
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
    const fd = this.#fd;
    if (fd === undefined) return;
    try {
      // An append still waiting for its sync: make it durable now, before the descriptor goes.
      if (this.#unsynced) fdatasyncSync(fd);
      // Deletions not written yet: write them now rather than resend those messages after a restart.
      const deletes = this.#takeLazyDeletes();
      if (deletes.length > 0 && this.#broken === undefined) {
        this.#write(deletes);
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
    // steps not yet started find the outbox closed and write nothing.
    if (this.#queued > 0) void this.#tail.then(() => close(fd, () => undefined));
    else closeSync(fd);
    this.#unlock();
  }
}
