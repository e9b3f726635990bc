/** Reading command input exactly: a file's bytes, or all of stdin. */
import { readFile } from 'node:fs';
import { FileError } from '../core/index.js';

/**
 * The bytes of `path`, or of stdin when `path` is undefined or `-` (an empty stdin is an empty body).
 * @throws ERR_FILE_NOT_FOUND, ERR_FILE_UNREADABLE (naming `flag`)
 */
export async function readInputBytes(path: string | undefined, flag: string): Promise<Buffer> {
  if (path === undefined || path === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
  // node:fs, not node:fs/promises: the promises module is ~5 ms to load on every start of a send, the one user here.
  return new Promise((resolve, reject) => {
    readFile(path, (cause, bytes) => {
      if (cause === null) resolve(bytes);
      else reject(new FileError(cause.code === 'ENOENT' ? 'ERR_FILE_NOT_FOUND' : 'ERR_FILE_UNREADABLE', `cannot read ${flag} ${path}`, { cause }));
    });
  });
}
