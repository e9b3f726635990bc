/** Standard Webhooks key material: parse and generate `whsec_` HMAC secrets and `whsk_`/`whpk_` Ed25519 keys. */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { WebhookError } from '../../core/index.js';
import { decodeBase64Strict } from '../../core/base64.js';

/** Prefix of a symmetric (HMAC-SHA256, `v1`) secret: `whsec_` + base64 of the key bytes. */
export const HMAC_SECRET_PREFIX = 'whsec_';
/** Prefix of an Ed25519 (`v1a`) signing key: `whsk_` + base64 of the 32-byte seed (or seed ‖ public key). */
export const SIGNING_KEY_PREFIX = 'whsk_';
/** Prefix of an Ed25519 (`v1a`) public key: `whpk_` + base64 of the 32-byte public key. */
export const PUBLIC_KEY_PREFIX = 'whpk_';
/** Fewest HMAC key bytes accepted: the spec asks for 24 to 64 random bytes. */
export const MIN_HMAC_SECRET_BYTES = 24;
/** Bytes of key material in a secret made by `generateHmacSecret`. */
export const GENERATED_HMAC_SECRET_BYTES = 32;

/** A parsed secret or key, tagged by what it can do. */
export type WebhookKey =
  | { readonly type: 'hmac'; readonly key: Buffer }
  | { readonly type: 'ed25519-signing'; readonly privateKey: KeyObject; readonly publicKey: KeyObject }
  | { readonly type: 'ed25519-public'; readonly publicKey: KeyObject };

/** A fresh Ed25519 key pair in its Standard Webhooks serialisation. */
export interface Ed25519KeyStrings {
  /** `whsk_…`: keep secret; signs (`v1a`). */
  readonly signingKey: string;
  /** `whpk_…`: give to receivers; verifies only. */
  readonly publicKey: string;
}

// RFC 8410 PKCS#8 wrapper for a raw Ed25519 seed: SEQUENCE { version 0, AlgorithmIdentifier 1.3.101.112, OCTET STRING { OCTET STRING seed } }.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
// RFC 8410 SubjectPublicKeyInfo wrapper for a raw 32-byte Ed25519 public key.
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const ED25519_BYTES = 32;

function invalid(message: string, hint?: string): WebhookError {
  // 500: on a receiver a bad configured secret is the receiver's fault, and the sender should retry later.
  return new WebhookError('ERR_WEBHOOK_SECRET_INVALID', message, { statusCode: 500, ...(hint ? { hint } : {}) });
}

function decodeAfterPrefix(secret: unknown, prefix: string): Buffer {
  if (typeof secret !== 'string' || !secret.startsWith(prefix)) {
    throw invalid(`expected a secret starting with ${prefix}`);
  }
  const bytes = decodeBase64Strict(secret.slice(prefix.length));
  if (bytes === undefined) throw invalid(`the ${prefix} secret is not valid base64`);
  if (bytes.length === 0) throw invalid(`the ${prefix} secret is empty`);
  return bytes;
}

function rawPublicKey(publicKey: KeyObject): Buffer {
  return publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_PREFIX.length);
}

/**
 * The HMAC key bytes of a `whsec_<base64>` secret. A secret without the prefix is rejected rather
 * than guessed at: the reference libraries base64-decode a bare string too, but a bare string is as
 * likely to be a plain-text password (GitHub style), and decoding that silently yields a key nobody
 * meant. For a bare base64 secret from another Standard Webhooks producer, prepend `whsec_` — the
 * key is then identical.
 *
 * @throws {WebhookError} ERR_WEBHOOK_SECRET_INVALID (no prefix, bad base64, empty, under 24 bytes)
 * @example
 * const key = parseHmacSecret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'); // 24 bytes
 */
export function parseHmacSecret(secret: string): Buffer {
  if (typeof secret === 'string' && !secret.startsWith(HMAC_SECRET_PREFIX) && decodeBase64Strict(secret)?.length) {
    throw invalid('the secret lacks the whsec_ prefix', 'if it is a base64 Standard Webhooks secret, prefix it with whsec_');
  }
  const key = decodeAfterPrefix(secret, HMAC_SECRET_PREFIX);
  if (key.length < MIN_HMAC_SECRET_BYTES) {
    throw invalid(`the whsec_ secret decodes to ${key.length} bytes; at least ${MIN_HMAC_SECRET_BYTES} are required`);
  }
  return key;
}

/**
 * The Ed25519 private and public key of a `whsk_<base64>` signing key: either the 32-byte seed, or
 * 64 bytes of seed ‖ public key (the libsodium layout), whose second half must match the seed.
 *
 * @throws {WebhookError} ERR_WEBHOOK_SECRET_INVALID
 */
export function parseSigningKey(secret: string): { readonly privateKey: KeyObject; readonly publicKey: KeyObject } {
  const bytes = decodeAfterPrefix(secret, SIGNING_KEY_PREFIX);
  if (bytes.length !== ED25519_BYTES && bytes.length !== 2 * ED25519_BYTES) {
    throw invalid(`the whsk_ key decodes to ${bytes.length} bytes; expected 32 (seed) or 64 (seed and public key)`);
  }
  const seed = bytes.subarray(0, ED25519_BYTES);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  if (bytes.length === 2 * ED25519_BYTES && !rawPublicKey(publicKey).equals(bytes.subarray(ED25519_BYTES))) {
    throw invalid('the whsk_ key holds a public key that does not belong to its seed');
  }
  return { privateKey, publicKey };
}

/**
 * The Ed25519 public key of a `whpk_<base64>` string (32 bytes).
 *
 * @throws {WebhookError} ERR_WEBHOOK_SECRET_INVALID
 */
export function parsePublicKey(secret: string): KeyObject {
  const bytes = decodeAfterPrefix(secret, PUBLIC_KEY_PREFIX);
  if (bytes.length !== ED25519_BYTES) {
    throw invalid(`the whpk_ key decodes to ${bytes.length} bytes; expected 32`);
  }
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, bytes]), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new WebhookError('ERR_WEBHOOK_SECRET_INVALID', 'the whpk_ key is not an Ed25519 public key', { statusCode: 500, cause });
  }
}

/**
 * Parse any Standard Webhooks secret or key by its prefix (`whsec_`, `whsk_`, `whpk_`).
 *
 * @throws {WebhookError} ERR_WEBHOOK_SECRET_INVALID (unknown prefix or bad key material)
 * @example
 * const key = parseWebhookSecret(process.env.DARKHOOK_SECRET ?? '');
 * if (key.type === 'hmac') …
 */
export function parseWebhookSecret(secret: string): WebhookKey {
  if (typeof secret === 'string') {
    if (secret.startsWith(SIGNING_KEY_PREFIX)) return { type: 'ed25519-signing', ...parseSigningKey(secret) };
    if (secret.startsWith(PUBLIC_KEY_PREFIX)) return { type: 'ed25519-public', publicKey: parsePublicKey(secret) };
  }
  return { type: 'hmac', key: parseHmacSecret(secret) };
}

/**
 * The `whpk_` public key that verifies signatures made with a `whsk_` signing key.
 *
 * @throws {WebhookError} ERR_WEBHOOK_SECRET_INVALID
 */
export function publicKeyOf(signingKey: string): string {
  return PUBLIC_KEY_PREFIX + rawPublicKey(parseSigningKey(signingKey).publicKey).toString('base64');
}

/**
 * A new random `whsec_` secret of 32 bytes.
 *
 * @example
 * const secret = generateHmacSecret(); // 'whsec_…' — give the same string to sender and receiver
 */
export function generateHmacSecret(): string {
  return HMAC_SECRET_PREFIX + randomBytes(GENERATED_HMAC_SECRET_BYTES).toString('base64');
}

/**
 * A new Ed25519 key pair: `whsk_` (32-byte seed) for the sender, `whpk_` for receivers.
 *
 * @example
 * const { signingKey, publicKey } = generateEd25519Keys();
 */
export function generateEd25519Keys(): Ed25519KeyStrings {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_ED25519_PREFIX.length);
  return Object.freeze({
    signingKey: SIGNING_KEY_PREFIX + seed.toString('base64'),
    publicKey: PUBLIC_KEY_PREFIX + rawPublicKey(publicKey).toString('base64'),
  });
}
