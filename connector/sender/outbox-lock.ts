/** One process per outbox: a `<outbox>.lock` file holding the owner's pid; a dead owner's lock is taken over. */
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { SendError } from '../../errors/index.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

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

/**
 * Take the lock of the outbox at `path`; returns the function that releases it.
 *
 * @throws {SendError} ERR_SEND_OUTBOX_LOCKED (a live process holds it, this one included),
 *   ERR_SEND_OUTBOX_UNAVAILABLE (the lock file cannot be written)
 */
export function acquireOutboxLock(path: string): () => void {
  const lockPath = `${path}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      createWithContent(lockPath, String(process.pid));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SendError('ERR_SEND_OUTBOX_UNAVAILABLE', `cannot create the outbox lock ${lockPath}`, { cause: err });
      }
      let owner = Number.NaN;
      try {
        owner = Number.parseInt(readFileSync(lockPath, 'utf8'), 10);
      } catch {
        // Vanished between open and read: try again.
      }
      if (Number.isSafeInteger(owner) && owner > 0 && alive(owner)) {
        throw new SendError('ERR_SEND_OUTBOX_LOCKED', `the outbox ${path} is in use by process ${owner}`);
      }
      // A crashed owner (SIGKILL leaves its lock behind): take over.
      try {
        unlinkSync(lockPath);
      } catch {
        // Someone else took it over first; the next attempt decides.
      }
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
