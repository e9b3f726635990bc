/** Private and public keys: RSA generation with node:crypto, loading any PEM form. Free of node-forge, so
 * the SDK's runtime path (identity files) does not load it. */
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { OptionError, PkiError } from '../core/index.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** RSA modulus size in bits used when none is given (what browsers and OpenSSL accept everywhere). */
export const DEFAULT_RSA_BITS = 2048;
/** Smallest RSA modulus, in bits, darkhook generates or accepts. */
export const MIN_RSA_BITS = 2048;
/** Largest RSA modulus, in bits, darkhook generates (larger keys take minutes). */
export const MAX_RSA_BITS = 8192;

const PRIVATE_KEY_LABEL = /-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

/**
 * Generate an RSA key pair with node:crypto (much faster than node-forge). The private key is PKCS#1
 * (`RSA PRIVATE KEY`) PEM, as `ziti edge enroll` writes it; the public key is SPKI (`PUBLIC KEY`) PEM.
 * @param bits modulus size in bits, 2048–8192; default {@link DEFAULT_RSA_BITS}.
 * @throws ERR_OPTION_INVALID when `bits` is not an integer in range.
 * @example const { privateKeyPem } = await generateRsaKeyPair();
 */
export async function generateRsaKeyPair(
  bits: number = DEFAULT_RSA_BITS,
): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  if (!Number.isInteger(bits) || bits < MIN_RSA_BITS || bits > MAX_RSA_BITS || bits % 8 !== 0) {
    throw new OptionError('ERR_OPTION_INVALID', `bits must be a multiple of 8 from ${MIN_RSA_BITS} to ${MAX_RSA_BITS}`);
  }
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', {
    modulusLength: bits,
    publicExponent: 0x10001,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/**
 * Load a PEM private key: PKCS#1, SEC1, PKCS#8, or encrypted PKCS#8 / legacy encrypted PEM with
 * `passphrase`. Messages say what went wrong (encrypted, wrong passphrase, not a key), never the key.
 * @throws ERR_PKI_PEM_INVALID when the text holds no private key block; ERR_PKI_KEY_INVALID when it does
 *   not parse or decrypt.
 */
export function readPrivateKey(pem: string, passphrase?: string, what = 'the private key'): KeyObject {
  if (typeof pem !== 'string' || !PRIVATE_KEY_LABEL.test(pem)) {
    throw new PkiError('ERR_PKI_PEM_INVALID', `expected ${what} as a PEM "PRIVATE KEY" block`);
  }
  const encrypted = pem.includes('ENCRYPTED PRIVATE KEY') || pem.includes('Proc-Type: 4,ENCRYPTED');
  if (encrypted && passphrase === undefined) {
    throw new PkiError('ERR_PKI_KEY_INVALID', `${what} is encrypted and no passphrase was given`);
  }
  try {
    return createPrivateKey({ key: pem, format: 'pem', ...(passphrase === undefined ? {} : { passphrase }) });
  } catch (cause) {
    const message = encrypted ? `${what} could not be decrypted: wrong passphrase` : `${what} could not be parsed`;
    throw new PkiError('ERR_PKI_KEY_INVALID', message, { cause });
  }
}

/**
 * Load a PEM public key (SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`).
 * @throws ERR_PKI_KEY_INVALID when it does not parse.
 */
export function readPublicKey(pem: string, what = 'the public key'): KeyObject {
  try {
    if (typeof pem !== 'string' || !/-----BEGIN (RSA )?PUBLIC KEY-----/.test(pem)) throw new TypeError('not PEM');
    return createPublicKey({ key: pem, format: 'pem' });
  } catch (cause) {
    throw new PkiError('ERR_PKI_KEY_INVALID', `${what} is not a PEM public key`, { cause });
  }
}

/**
 * Require an RSA key of at least `minBits` bits.
 * @throws ERR_PKI_KEY_UNSUPPORTED for any other key type or a smaller modulus.
 */
export function requireRsa(key: KeyObject, what: string, minBits = MIN_RSA_BITS): void {
  if (key.asymmetricKeyType !== 'rsa') {
    throw new PkiError('ERR_PKI_KEY_UNSUPPORTED', `${what} is ${key.asymmetricKeyType ?? 'unknown'}; an RSA key is needed`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < minBits) {
    throw new PkiError('ERR_PKI_KEY_UNSUPPORTED', `${what} has ${bits} bits; at least ${minBits} are needed`);
  }
}


/** True when the private key and the public key are one pair (compares SPKI DER). */
export function keysMatch(privateKey: KeyObject, publicKey: KeyObject): boolean {
  const a = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const b = publicKey.export({ type: 'spki', format: 'der' });
  return a.equals(b);
}

const CURVE_BITS: Readonly<Record<string, number>> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };

/** Key type (`rsa`, `ec`, `ed25519`, …) and size in bits (RSA modulus, EC curve) for summaries. */
export function describeKey(key: KeyObject): { keyType: string; keyBits?: number } {
  const keyType = key.asymmetricKeyType ?? 'unknown';
  const details = key.asymmetricKeyDetails;
  const keyBits = details?.modulusLength ?? (details?.namedCurve === undefined ? undefined : CURVE_BITS[details.namedCurve]);
  return keyBits === undefined ? { keyType } : { keyType, keyBits };
}
