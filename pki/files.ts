/** File I/O for pki: coded read errors, and atomic writes with a chosen mode (temp file + rename). */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, open, readFile, rename, rm } from 'node:fs/promises';
import { FileError } from '../core/index.js';

/** Map an fs error to a coded FileError naming `path`. */
export function fileError(err: unknown, path: string, action: 'read' | 'write'): FileError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return new FileError('ERR_FILE_NOT_FOUND', `${path} does not exist`, { cause: err });
  if (code === 'EEXIST') return new FileError('ERR_FILE_EXISTS', `${path} already exists`, { cause: err });
  return new FileError('ERR_FILE_UNREADABLE', `${path} could not be ${action === 'read' ? 'read' : 'written'}`, {
    cause: err,
  });
}

/**
 * Read a UTF-8 text file.
 * @throws ERR_FILE_NOT_FOUND, ERR_FILE_UNREADABLE.
 */
export async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw fileError(err, path, 'read');
  }
}

/**
 * Read a UTF-8 text file synchronously (for parsers with a synchronous signature).
 * @throws ERR_FILE_NOT_FOUND, ERR_FILE_UNREADABLE.
 */
export function readTextSync(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw fileError(err, path, 'read');
  }
}

/**
 * Write `data` to `path` atomically: a temp file in the same folder created with `mode`, flushed, then
 * renamed over the target, so readers see the old file or the new one, never half of one.
 * @throws ERR_FILE_NOT_FOUND (folder missing), ERR_FILE_UNREADABLE (cannot write).
 */
export async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    // The umask may have narrowed `mode` at creation; a certificate should stay world-readable.
    await chmod(temp, mode);
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw fileError(err, path, 'write');
  }
}
