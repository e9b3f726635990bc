/** One process per outbox: a `<outbox>.lock` file holding the owner's pid; a dead owner's lock is taken over. */
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { SendError } from '../../core/index.js';
import { processAlive } from '../../core/process.js';

/**
 * Create `path` holding `content`, atomically: the content goes to a private temp file first, then a
 * hard link puts it in place (EEXIST if `path` exists). A lock file is never seen empty, so no other
 * process can mistake a lock being written for one left behind by a dead owner.
 */
function createWithContent(path: string, content: string): void {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temp, content, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(temp, path);
  } finally {
    unlinkSync(temp);
  }
}

/** The text of a lock or guard file (its owner's pid), or undefined when it is gone. */
function contentOf(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** True when `content` names a live process. */
function held(content: string | undefined): boolean {
  const owner = Number.parseInt(content ?? '', 10);
  return Number.isSafeInteger(owner) && owner > 0 && processAlive(owner);
}

/**
 * Remove a lock whose content is `stale` (a dead owner's pid), unless it changed hands meanwhile. Several
 * processes may find the same stale lock at once: only the one holding `<lock>.takeover` (created
 * exclusively) may remove it, and only after reading it again under that guard — so a lock another
 * taker has just made its own is never removed. Returns false when the guard is busy.
 */
function removeStaleLock(lockPath: string, stale: string): boolean {
  const guard = `${lockPath}.takeover`;
  try {
    createWithContent(guard, String(process.pid));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // A guard whose taker died mid-takeover (a crash inside these few lines) would block every later
    // taker: remove it, and let the caller try again. Only a guard naming a dead process: one that is
    // gone (undefined) was released by a live taker, and another may have created a new guard since —
    // removing that one would let two takers in at once (seen as two owners under load).
    const guardOwner = contentOf(guard);
    if (guardOwner !== undefined && !held(guardOwner)) {
      try {
        unlinkSync(guard);
      } catch {
        // Another process removed it first.
      }
    }
    return false;
  }
  try {
    if (contentOf(lockPath) === stale) unlinkSync(lockPath);
    return true;
  } finally {
    unlinkSync(guard);
  }
}

/** Block this thread for `ms` milliseconds (the lock is taken synchronously, while an outbox opens). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Tries to take a contended lock before giving up. */
const LOCK_ATTEMPTS = 20;
/** Wait between tries, in milliseconds. */
const LOCK_RETRY_MS = 5;

/**
 * Take the lock of the outbox at `path`; returns the function that releases it.
 *
 * @throws {SendError} ERR_SEND_OUTBOX_LOCKED (a live process holds it, this one included),
 *   ERR_SEND_OUTBOX_UNAVAILABLE (the lock file cannot be written)
 */
export function acquireOutboxLock(path: string): () => void {
  const lockPath = `${path}.lock`;
  for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
    try {
      createWithContent(lockPath, String(process.pid));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SendError('ERR_SEND_OUTBOX_UNAVAILABLE', `cannot create the outbox lock ${lockPath}`, { cause: err });
      }
      const owner = contentOf(lockPath);
      if (held(owner)) throw new SendError('ERR_SEND_OUTBOX_LOCKED', `the outbox ${path} is in use by process ${owner}`);
      // A crashed owner (SIGKILL leaves its lock behind), or a lock that vanished meanwhile: take over.
      try {
        if (owner === undefined || removeStaleLock(lockPath, owner)) continue;
      } catch (cause) {
        throw new SendError('ERR_SEND_OUTBOX_UNAVAILABLE', `cannot take over the outbox lock ${lockPath}`, { cause });
      }
      pause(LOCK_RETRY_MS);
      continue;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      try {
        unlinkSync(lockPath);
      } catch {
        // Already gone: nothing to release.
      }
    };
  }
  throw new SendError('ERR_SEND_OUTBOX_LOCKED', `the outbox ${path} lock is contended`);
}
