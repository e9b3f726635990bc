/** Ziti identity JSON files (PROTOCOL.md §1.1): parse, validate, serialize, read and write. */
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileError, PkiError } from '../core/index.js';
import { readText, readTextSync, writeFileAtomic } from './files.js';
import { keysMatch, readPrivateKey } from './keys.js';
import { parseCertificate, splitPemBundle } from './pem.js';

/** A Ziti identity with plain PEM text in `key`, `cert` and `ca` (no `pem:` prefix in memory). */
export interface ZitiIdentity {
  /** Controller client API base URL, e.g. `https://ctrl:1280/edge/client/v1`. */
  ztAPI: string;
  /** Extra controller URLs (HA), or null. */
  ztAPIs: string[] | null;
  /** Config type names requested with services, or null. */
  configTypes: string[] | null;
  /** Private key PEM (PKCS#1, SEC1 or PKCS#8, unencrypted). */
  key: string;
  /** Client certificate PEM, possibly a chain. */
  cert: string;
  /** PEM bundle of trusted CAs. */
  ca: string;
  /** HA hint. */
  enableHa: boolean;
}

function invalid(message: string, cause?: unknown): PkiError {
  return new PkiError('ERR_PKI_IDENTITY_INVALID', message, cause === undefined ? {} : { cause });
}

/** Resolve one `id.*` value: `pem:` text, bare PEM, `file://` path or bare path (relative to `baseDir`). */
function resolveValue(value: unknown, field: string, baseDir: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalid(`${field} must be a non-empty string`);
  if (value.startsWith('pem:')) return value.slice(4);
  if (value.trimStart().startsWith('-----BEGIN')) return value;
  let path: string;
  if (value.startsWith('file://')) {
    const rest = value.slice('file://'.length);
    // file:///abs/path is a URL; file://relative/path is how the Go parser writes a relative path.
    path = rest.startsWith('/') ? fileURLToPath(`file://${rest}`) : rest;
  } else if (/^[a-z][a-z0-9+.-]*:/i.test(value) && !/^[a-z]:[\\/]/i.test(value)) {
    throw invalid(`${field} uses an unsupported scheme "${value.slice(0, value.indexOf(':'))}:" (pem:, file:// or a path)`);
  } else {
    path = value;
  }
  const full = isAbsolute(path) ? path : resolve(baseDir, path);
  try {
    return readTextSync(full);
  } catch (err) {
    if (err instanceof FileError) throw new FileError(err.code, `${field}: ${err.message}`, { cause: err });
    throw err;
  }
}

function stringList(value: unknown, field: string): string[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalid(`${field} must be null or an array of strings`);
  return [...value];
}

/**
 * Parse and validate an identity JSON (text or already-parsed object). `id.key`, `id.cert` and `id.ca`
 * may be `pem:` text, bare PEM, `file://` paths or bare paths relative to `baseDir` (default: the current
 * directory). The key must be an unencrypted private key matching the first certificate of `id.cert`.
 * @throws ERR_PKI_IDENTITY_INVALID naming the bad field; ERR_PKI_KEY_MISMATCH; ERR_FILE_NOT_FOUND,
 *   ERR_FILE_UNREADABLE for a referenced file.
 * @example const id = parseIdentity(await readFile('sender.json', 'utf8'), '/etc/darkhook');
 */
export function parseIdentity(json: string | object, baseDir: string = process.cwd()): ZitiIdentity {
  let doc: unknown = json;
  if (typeof json === 'string') {
    try {
      doc = JSON.parse(json);
    } catch (cause) {
      throw invalid('the identity is not JSON', cause);
    }
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw invalid('the identity must be a JSON object');
  const o = doc as Record<string, unknown>;
  const ztAPI = o['ztAPI'];
  if (typeof ztAPI !== 'string' || !URL.canParse(ztAPI)) throw invalid('ztAPI must be a URL string');
  const ztAPIs = stringList(o['ztAPIs'], 'ztAPIs');
  if (ztAPIs?.some((u) => !URL.canParse(u)) === true) throw invalid('every ztAPIs entry must be a URL string');
  const enableHa = o['enableHa'] ?? false;
  if (typeof enableHa !== 'boolean') throw invalid('enableHa must be a boolean');
  const id = o['id'];
  if (id === null || typeof id !== 'object' || Array.isArray(id)) throw invalid('id must be an object with key, cert and ca');
  const ids = id as Record<string, unknown>;
  const identity: ZitiIdentity = {
    ztAPI,
    ztAPIs,
    configTypes: stringList(o['configTypes'], 'configTypes'),
    key: resolveValue(ids['key'], 'id.key', baseDir),
    cert: resolveValue(ids['cert'], 'id.cert', baseDir),
    ca: resolveValue(ids['ca'], 'id.ca', baseDir),
    enableHa,
  };
  validatePems(identity);
  return identity;
}

/** The key parses and matches the certificate; cert and ca hold certificates. */
function validatePems(identity: ZitiIdentity): void {
  const check = <T>(field: string, fn: () => T): T => {
    try {
      return fn();
    } catch (cause) {
      throw invalid(`${field} is not ${field === 'id.key' ? 'an unencrypted PEM private key' : 'PEM certificates'}`, cause);
    }
  };
  const key = check('id.key', () => readPrivateKey(identity.key, undefined, 'id.key'));
  const cert = check('id.cert', () => parseCertificate(identity.cert, 'id.cert'));
  const cas = splitPemBundle(identity.ca);
  if (cas.length === 0) throw invalid('id.ca holds no PEM certificate');
  for (const ca of cas) check('id.ca', () => parseCertificate(ca, 'id.ca'));
  if (!keysMatch(key, cert.publicKey)) throw new PkiError('ERR_PKI_KEY_MISMATCH', 'id.key does not belong to id.cert');
}

/**
 * Serialize like `ziti edge enroll`: fields ztAPI, ztAPIs, configTypes, id {key, cert, ca}, enableHa,
 * PEM values with the `pem:` prefix, 2-space indent, trailing newline.
 */
export function serializeIdentity(id: ZitiIdentity): string {
  const doc = {
    ztAPI: id.ztAPI,
    ztAPIs: id.ztAPIs,
    configTypes: id.configTypes,
    id: { key: `pem:${id.key}`, cert: `pem:${id.cert}`, ca: `pem:${id.ca}` },
    enableHa: id.enableHa,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/**
 * Read and validate an identity file; relative `id.*` paths resolve against the file's folder.
 * @throws ERR_FILE_NOT_FOUND, ERR_FILE_UNREADABLE; the codes of {@link parseIdentity}.
 * @example const id = await readIdentityFile('sender.json');
 */
export async function readIdentityFile(path: string): Promise<ZitiIdentity> {
  return parseIdentity(await readText(path), dirname(resolve(path)));
}

/**
 * Write an identity file with mode 0600, atomically (temp file in the same folder, then rename).
 * @throws ERR_FILE_NOT_FOUND (folder missing), ERR_FILE_UNREADABLE (cannot write).
 * @example await writeIdentityFile('sender.json', identity);
 */
export async function writeIdentityFile(path: string, id: ZitiIdentity): Promise<void> {
  await writeFileAtomic(path, serializeIdentity(id), 0o600);
}
