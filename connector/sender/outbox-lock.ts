/** One process per outbox: a `<outbox>.lock` file holding the owner's pid; a dead owner's lock is taken over. */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
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
 * Take the lock of the outbox at `path`; returns the function that releases it.
 *
 * @throws {SendError} ERR_SEND_OUTBOX_LOCKED (a live process holds it, this one included),
 *   ERR_SEND_OUTBOX_UNAVAILABLE (the lock file cannot be written)
 */
export function acquireOutboxLock(path: string): () => void {
  const lockPath = `${path}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(lockPath, 'wx', 0o600);
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
        // Someone else took it over first; the next openSync decides.
      }
      continue;
    }
    writeSync(fd, String(process.pid));
    closeSync(fd);
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
