/**
 * The admin page's static files (index.html, app.js, app.css in receiver/admin/page/), read once and
 * served with a strict Content-Security-Policy. tsc does not copy them into build/, so they are found
 * next to the source (the package ships receiver/admin/page/ through package.json "files").
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ReceiverError } from '../../core/index.js';

/** Every admin response carries this policy: scripts and styles from the listener only, no framing, no inline code. */
export const ADMIN_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/** One page file with its media type. */
export interface PageAsset {
  readonly type: string;
  readonly body: Buffer;
}

const FILES = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/assets/app.js', 'app.js', 'text/javascript; charset=utf-8'],
  ['/assets/app.css', 'app.css', 'text/css; charset=utf-8'],
] as const;

/**
 * The page folder: `./page/` beside this module when copied there, else the source folder seen from
 * build/receiver/admin/, else from dist/cli/, where the single-file CLI's import.meta.url points.
 */
export function pageDir(): string {
  const candidates = ['./page/', '../../../receiver/admin/page/', '../../receiver/admin/page/'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  return candidates.find((dir) => existsSync(`${dir}index.html`)) ?? candidates[1]!;
}

/**
 * The page's files by URL path.
 *
 * @throws {ReceiverError} ERR_INTERNAL (500) naming the file, when one is missing (a broken install)
 */
export function loadPageAssets(dir: string = pageDir()): ReadonlyMap<string, PageAsset> {
  const out = new Map<string, PageAsset>();
  for (const [url, file, type] of FILES) {
    try {
      out.set(url, Object.freeze({ type, body: readFileSync(`${dir}${file}`) }));
    } catch (cause) {
      throw new ReceiverError('ERR_INTERNAL', `the admin page file ${dir}${file} is missing (a broken install)`, { statusCode: 500, cause });
    }
  }
  return out;
}
