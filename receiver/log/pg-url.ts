/** The `store` setting as a PostgreSQL URL: `postgres://USER[:env:NAME|:file:PATH]@HOST[:PORT]/DATABASE[?host=/socket/dir]`. */
import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../../core/index.js';
import { isSecretRef, resolveSecret } from '../config/secret-ref.js';

/** PostgreSQL's port when the URL names none. */
export const DEFAULT_PG_PORT = 5432;

/** True when `store` names a PostgreSQL server rather than a SQLite file. */
export function isPostgresStore(store: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(store);
}

/** A parsed store URL; `passwordRef` is the `env:`/`file:` reference, never the password. */
export interface PgStoreUrl {
  readonly user: string;
  /** A host name or address, or an absolute folder holding the server's unix socket. */
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly passwordRef: string | undefined;
}

/**
 * Parse a `postgres://` store URL. The password part, when present, must be a reference:
 * `env:NAME` or `file:PATH` (a relative `file:` path is relative to `baseDir`); a literal
 * password is refused. The reference is everything between the user's `:` and the last `@`, so
 * `file:/run/secrets/pg` needs no escaping.
 *
 * @throws {ConfigError} ERR_CONFIG_SECRET_LITERAL (a literal password), ERR_CONFIG_INVALID naming `path`
 */
export function parsePgStoreUrl(value: string, path: string, baseDir: string = process.cwd()): PgStoreUrl {
  const decode = (part: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new ConfigError('ERR_CONFIG_INVALID', `${path} has a malformed %-escape`);
    }
  };
  const m = /^postgres(?:ql)?:\/\/(.*)$/is.exec(value);
  if (m === null) throw new ConfigError('ERR_CONFIG_INVALID', `${path} is not a postgres:// URL`);
  const rest = m[1]!;
  const at = rest.lastIndexOf('@');
  if (at < 0) throw new ConfigError('ERR_CONFIG_INVALID', `${path} must name a user: postgres://USER[:env:NAME]@HOST:PORT/DATABASE`);
  const userinfo = rest.slice(0, at);
  const colon = userinfo.indexOf(':');
  const user = decode(colon < 0 ? userinfo : userinfo.slice(0, colon));
  let passwordRef = colon < 0 ? undefined : userinfo.slice(colon + 1);
  if (user === '') throw new ConfigError('ERR_CONFIG_INVALID', `${path} must name a user`);
  if (passwordRef !== undefined) {
    if (!isSecretRef(passwordRef)) throw new ConfigError('ERR_CONFIG_SECRET_LITERAL', `${path} holds a literal password; write postgres://${user}:env:NAME@… or :file:PATH@…`);
    if (passwordRef.startsWith('file:') && !isAbsolute(passwordRef.slice(5)) && passwordRef.length > 5) passwordRef = `file:${resolve(baseDir, passwordRef.slice(5))}`;
  }
  const hostPart = rest.slice(at + 1);
  const slash = hostPart.indexOf('/');
  if (slash < 0) throw new ConfigError('ERR_CONFIG_INVALID', `${path} must name a database: postgres://USER@HOST:PORT/DATABASE`);
  const authority = hostPart.slice(0, slash);
  const [dbPart, queryPart] = hostPart.slice(slash + 1).split('?', 2) as [string, string | undefined];
  const database = decode(dbPart);
  if (database === '') throw new ConfigError('ERR_CONFIG_INVALID', `${path} must name a database`);
  let host = authority;
  let port = DEFAULT_PG_PORT;
  const hp = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(authority);
  if (hp === null) throw new ConfigError('ERR_CONFIG_INVALID', `${path} has a bad host:port "${authority}"`);
  host = hp[1]!.replace(/^\[(.*)\]$/, '$1');
  if (hp[2] !== undefined) {
    port = Number(hp[2]);
    if (port < 1 || port > 65_535) throw new ConfigError('ERR_CONFIG_INVALID', `${path} has a port outside 1–65535`);
  }
  for (const pair of (queryPart ?? '').split('&').filter((p) => p !== '')) {
    const [k, v = ''] = pair.split('=', 2) as [string, string | undefined];
    if (k !== 'host') throw new ConfigError('ERR_CONFIG_INVALID', `${path}: unknown URL parameter "${k}" (only host=/socket/dir)`);
    const dir = decode(v);
    if (!isAbsolute(dir)) throw new ConfigError('ERR_CONFIG_INVALID', `${path}: host= must be an absolute socket folder`);
    host = dir;
  }
  if (host === '') throw new ConfigError('ERR_CONFIG_INVALID', `${path} must name a host (or ?host=/socket/dir)`);
  return Object.freeze({ user, host, port, database, passwordRef });
}

/** The store URL with its password reference resolved from `env` (or the file it names). @throws {ConfigError} ERR_CONFIG_SECRET_UNRESOLVED */
export function resolvePgPassword(url: PgStoreUrl, path: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return url.passwordRef === undefined ? undefined : resolveSecret(url.passwordRef, `${path} password`, env, process.cwd());
}

/** The URL again, with a relative `file:` reference made absolute (what the checked config keeps). */
export function formatPgStoreUrl(u: PgStoreUrl): string {
  const host = u.host.startsWith('/') ? '' : u.host.includes(':') ? `[${u.host}]` : u.host;
  const query = u.host.startsWith('/') ? `?host=${encodeURIComponent(u.host)}` : '';
  return `postgres://${encodeURIComponent(u.user)}${u.passwordRef === undefined ? '' : `:${u.passwordRef}`}@${host}${host === '' ? '' : `:${u.port}`}/${encodeURIComponent(u.database)}${query}`;
}
