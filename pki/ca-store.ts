/** A CA on disk: `ca.cert.pem` (0644) and `ca.key.pem` (0600) in a folder created 0700. */
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FileError, OptionError, PkiError } from '../core/index.js';
import { type CaBundle, openCa } from './ca.js';
import { fileError, readText, writeFileAtomic } from './files.js';
import { readPrivateKey } from './keys.js';
import { checkKeys, optionalString } from './options.js';

/** File name of the CA certificate inside a CA folder. */
export const CA_CERT_FILE = 'ca.cert.pem';
/** File name of the CA private key inside a CA folder. */
export const CA_KEY_FILE = 'ca.key.pem';

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Write a CA to `dir` (created with mode 0700 if missing): `ca.cert.pem` mode 0644 and `ca.key.pem`
 * mode 0600, each atomically. Refuses to replace an existing CA unless `options.overwrite` is true,
 * because losing a CA key orphans every certificate it issued.
 * @throws ERR_FILE_EXISTS, ERR_FILE_UNREADABLE (cannot write), ERR_PKI_* when `ca` is not a usable CA,
 *   ERR_OPTION_INVALID/ERR_OPTION_UNKNOWN for bad options.
 * @example await saveCa('/var/lib/darkhook/ca', await createCa({ commonName: 'darkhook CA' }));
 */
export async function saveCa(dir: string, ca: CaBundle, options: { readonly overwrite?: boolean } = {}): Promise<void> {
  const o = checkKeys(options, ['overwrite'], 'options');
  if (o['overwrite'] !== undefined && typeof o['overwrite'] !== 'boolean') {
    throw new OptionError('ERR_OPTION_INVALID', 'options.overwrite must be a boolean');
  }
  openCa(ca);
  const certPath = join(dir, CA_CERT_FILE);
  const keyPath = join(dir, CA_KEY_FILE);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw fileError(err, dir, 'write');
  }
  if (o['overwrite'] !== true) {
    for (const path of [certPath, keyPath]) {
      if (await exists(path)) throw new FileError('ERR_FILE_EXISTS', `${path} already exists`);
    }
  }
  await writeFileAtomic(keyPath, ca.keyPem, 0o600);
  await writeFileAtomic(certPath, ca.certPem, 0o644);
}

/**
 * Read the CA saved in `dir` by {@link saveCa}. The key may be encrypted PKCS#8 (pass
 * `options.passphrase`); the returned `keyPem` is then the decrypted PKCS#1 form, held only in memory.
 * @throws ERR_PKI_CA_NOT_FOUND when either file is missing; ERR_FILE_UNREADABLE; ERR_PKI_KEY_INVALID
 *   (unreadable key, wrong or missing passphrase); ERR_PKI_CERT_INVALID, ERR_PKI_KEY_MISMATCH,
 *   ERR_PKI_KEY_UNSUPPORTED when the pair is not a usable CA.
 * @example const ca = await loadCa('/var/lib/darkhook/ca');
 */
export async function loadCa(dir: string, options: { readonly passphrase?: string } = {}): Promise<CaBundle> {
  const o = checkKeys(options, ['passphrase'], 'options');
  const passphrase = optionalString(o['passphrase'], 'options.passphrase', 1024);
  let certPem: string;
  let keyPem: string;
  try {
    certPem = await readText(join(dir, CA_CERT_FILE));
    keyPem = await readText(join(dir, CA_KEY_FILE));
  } catch (err) {
    if (err instanceof FileError && err.code === 'ERR_FILE_NOT_FOUND') {
      throw new PkiError('ERR_PKI_CA_NOT_FOUND', `no CA in ${dir} (${CA_CERT_FILE} and ${CA_KEY_FILE})`, { cause: err });
    }
    throw err;
  }
  const key = readPrivateKey(keyPem, passphrase, 'the CA key');
  if (passphrase !== undefined && key.asymmetricKeyType === 'rsa') {
    keyPem = key.export({ type: 'pkcs1', format: 'pem' }) as string;
  }
  const ca = Object.freeze({ certPem, keyPem });
  openCa(ca);
  return ca;
}
