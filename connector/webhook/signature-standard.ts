/** Standard Webhooks signatures: `v1` (HMAC-SHA256) and `v1a` (Ed25519) over `id.timestamp.body`. */
import { createHmac, type KeyObject, sign as edSign, verify as edVerify } from 'node:crypto';
import { OptionError, WebhookError } from '../../core/index.js';
import { decodeBase64Strict } from '../../core/base64.js';
import { constantTimeEqual } from '../../core/constant-time.js';
import { integerOption, rejectUnknownKeys } from '../../core/options.js';
import { parseWebhookSecret, type WebhookKey } from './secrets.js';

/** Header carrying the message id, stable across retries (the receiver's idempotency key). */
export const WEBHOOK_ID_HEADER = 'webhook-id';
/** Header carrying the attempt time: integer seconds since the Unix epoch. */
export const WEBHOOK_TIMESTAMP_HEADER = 'webhook-timestamp';
/** Header carrying a space-delimited list of `version,base64` signatures. */
export const WEBHOOK_SIGNATURE_HEADER = 'webhook-signature';
/** Largest accepted gap, in seconds, between `webhook-timestamp` and the receiver's clock, either way. */
export const DEFAULT_TOLERANCE_SECONDS = 300;
/** Most entries examined in one `webhook-signature` header; more is refused rather than spent CPU on. */
export const MAX_SIGNATURES_PER_HEADER = 16;

/** What `signStandard` signs. */
export interface SignStandardInput {
  /** `webhook-id`: non-empty, no `.` (the spec forbids it so the signed content stays unambiguous). */
  readonly id: string;
  /** `webhook-timestamp`: integer seconds since the epoch. */
  readonly timestamp: number;
  /** The exact request body bytes; a string is taken as UTF-8. */
  readonly body: Uint8Array | string;
  /** `whsec_…` (gives `v1`) or `whsk_…` (gives `v1a`). */
  readonly secret: string;
}

/** What `verifyStandard` checks: the three header values as received, the raw body and the trusted keys. */
export interface VerifyStandardInput {
  /** `webhook-id` header value. */
  readonly id: string | undefined;
  /** `webhook-timestamp` header value (decimal integer seconds, as sent). */
  readonly timestamp: string | undefined;
  /** `webhook-signature` header value: space-delimited `v1,…` / `v1a,…` entries. */
  readonly signature: string | undefined;
  /** The raw body bytes exactly as received — never a re-serialised parse. A string is taken as UTF-8. */
  readonly body: Uint8Array | string;
  /** Trusted keys: `whsec_` and/or `whpk_` (a `whsk_` is accepted and its public key used). Any match passes. */
  readonly secrets: readonly string[];
  /** The receiver's clock in seconds since the epoch; default: now. */
  readonly now?: number;
  /** Allowed clock gap in seconds, each way; default `DEFAULT_TOLERANCE_SECONDS` (300). */
  readonly toleranceSeconds?: number;
}

const SIGN_KEYS = ['id', 'timestamp', 'body', 'secret'] as const;
const VERIFY_KEYS = ['id', 'timestamp', 'signature', 'body', 'secrets', 'now', 'toleranceSeconds'] as const;
const VERIFIER_KEYS = ['secrets', 'toleranceSeconds'] as const;
// Canonical decimal only: the header text is what gets signed, so "0123" or "1e9" must not alias a number.
const TIMESTAMP_PATTERN = /^(0|[1-9][0-9]{0,14})$/;

function checkId(id: string): void {
  if (id.length === 0 || id.includes('.')) {
    throw new WebhookError('ERR_WEBHOOK_ID_INVALID', 'webhook-id must be non-empty and contain no "."', { statusCode: 400 });
  }
}

/**
 * Parse a `webhook-timestamp` header value: canonical decimal integer seconds, no sign, no fraction.
 *
 * @throws {WebhookError} ERR_WEBHOOK_TIMESTAMP_INVALID (400)
 */
export function parseWebhookTimestamp(value: string): number {
  if (!TIMESTAMP_PATTERN.test(value)) {
    throw new WebhookError('ERR_WEBHOOK_TIMESTAMP_INVALID', 'webhook-timestamp must be integer seconds since the epoch', {
      statusCode: 400,
    });
  }
  return Number(value);
}

/**
 * The signed content, `${id}.${timestamp}.` followed by the body bytes untouched, kept as its two
 * parts: HMAC takes them one after the other, so a 0.5 MB batch is not copied to be signed.
 */
interface SignedContent {
  readonly prefix: Buffer;
  readonly body: Buffer;
}

function signedContent(id: string, timestamp: number, body: Uint8Array | string): SignedContent {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return { prefix: Buffer.from(`${id}.${timestamp}.`, 'utf8'), body: bytes };
}

/** The content as one buffer, for Ed25519 (its one-shot sign and verify take a single message). */
function joined(content: SignedContent): Buffer {
  return Buffer.concat([content.prefix, content.body]);
}

function hmacBase64(key: Buffer, content: SignedContent): string {
  return createHmac('sha256', key).update(content.prefix).update(content.body).digest('base64');
}

/** The three Standard Webhooks headers of one signed request. */
export interface SignedHeaders {
  readonly [WEBHOOK_ID_HEADER]: string;
  readonly [WEBHOOK_TIMESTAMP_HEADER]: string;
  readonly [WEBHOOK_SIGNATURE_HEADER]: string;
}

/** A signing key parsed once; each call signs one message with it. */
export interface StandardSigner {
  /**
   * One `webhook-signature` entry (`v1,…` or `v1a,…`) over `id.timestamp.body`.
   *
   * @throws {WebhookError} ERR_WEBHOOK_ID_INVALID, ERR_WEBHOOK_TIMESTAMP_INVALID
   */
  sign(id: string, timestamp: number, body: Uint8Array | string): string;
  /**
   * `webhook-id`, `webhook-timestamp` and `webhook-signature` for one request: the one place they are assembled.
   *
   * @throws {WebhookError} ERR_WEBHOOK_ID_INVALID, ERR_WEBHOOK_TIMESTAMP_INVALID
   */
  headers(id: string, timestamp: number, body: Uint8Array | string): SignedHeaders;
}

/** What a `StandardVerifier` checks: the three header values as received and the raw body. */
export interface VerifyRequestHeaders {
  /** `webhook-id` header value. */
  readonly id: string | undefined;
  /** `webhook-timestamp` header value (decimal integer seconds, as sent). */
  readonly timestamp: string | undefined;
  /** `webhook-signature` header value: space-delimited `v1,…` / `v1a,…` entries. */
  readonly signature: string | undefined;
  /** The raw body bytes exactly as received — never a re-serialised parse. A string is taken as UTF-8. */
  readonly body: Uint8Array | string;
  /** The receiver's clock in seconds since the epoch; default: now. */
  readonly now?: number;
}

/** Trusted keys parsed once; each call verifies one request against them. */
export interface StandardVerifier {
  /**
   * Verify one request, or throw (the order and codes of `verifyStandard`).
   *
   * @throws {WebhookError} ERR_WEBHOOK_HEADERS_MISSING, ERR_WEBHOOK_ID_INVALID, ERR_WEBHOOK_TIMESTAMP_INVALID (400),
   *   ERR_WEBHOOK_SIGNATURE_MISMATCH, ERR_WEBHOOK_TIMESTAMP_TOO_OLD, ERR_WEBHOOK_TIMESTAMP_TOO_NEW (401)
   * @throws {OptionError} ERR_OPTION_INVALID (a `now` that is not a number)
   */
  verify(input: VerifyRequestHeaders): void;
}

/** Options of `createVerifier`. */
export interface VerifierOptions {
  /** Trusted keys: `whsec_` and/or `whpk_` (a `whsk_` is accepted and its public key used). Any match passes. */
  readonly secrets: readonly string[];
  /** Allowed clock gap in seconds, each way; default `DEFAULT_TOLERANCE_SECONDS` (300). */
  readonly toleranceSeconds?: number;
}

function checkTimestamp(timestamp: number): void {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new WebhookError('ERR_WEBHOOK_TIMESTAMP_INVALID', 'timestamp must be integer seconds since the epoch', { statusCode: 400 });
  }
}

/**
 * Parse a signing secret once, for signing many messages (a sender, a sink): no key parsing per request.
 *
 * @throws {WebhookError} ERR_WEBHOOK_SECRET_INVALID (also for a `whpk_`, which cannot sign)
 * @example
 * const signer = createSigner(process.env.DARKHOOK_SECRET!);
 * const headers = signer.headers(id, Math.floor(Date.now() / 1000), body);
 */
export function createSigner(secret: string): StandardSigner {
  const key = parseWebhookSecret(secret);
  if (key.type === 'ed25519-public') {
    throw new WebhookError('ERR_WEBHOOK_SECRET_INVALID', 'a whpk_ public key can verify but not sign; pass the whsk_ key', {
      statusCode: 500,
    });
  }
  const sign = (id: string, timestamp: number, body: Uint8Array | string): string => {
    checkId(id);
    checkTimestamp(timestamp);
    const content = signedContent(id, timestamp, body);
    if (key.type === 'hmac') return `v1,${hmacBase64(key.key, content)}`;
    return `v1a,${edSign(null, joined(content), key.privateKey).toString('base64')}`;
  };
  return Object.freeze({
    sign,
    headers: (id: string, timestamp: number, body: Uint8Array | string): SignedHeaders => ({
      [WEBHOOK_ID_HEADER]: id,
      [WEBHOOK_TIMESTAMP_HEADER]: String(timestamp),
      [WEBHOOK_SIGNATURE_HEADER]: sign(id, timestamp, body),
    }),
  });
}

/**
 * Parse the trusted keys once, for verifying many requests (a receiver): no key parsing per request.
 *
 * @throws {WebhookError} ERR_WEBHOOK_SECRET_INVALID (a configured key is bad)
 * @throws {OptionError} ERR_OPTION_INVALID, ERR_OPTION_UNKNOWN
 * @example
 * const verifier = createVerifier({ secrets: ['whsec_…'] });
 * verifier.verify({ id: req.headers['webhook-id'], timestamp: req.headers['webhook-timestamp'],
 *   signature: req.headers['webhook-signature'], body: rawBody });
 */
export function createVerifier(options: VerifierOptions): StandardVerifier {
  rejectUnknownKeys(options, VERIFIER_KEYS, 'createVerifier');
  return verifierOf(options.secrets, options.toleranceSeconds, 'createVerifier');
}

function verifierOf(secrets: readonly string[], toleranceSeconds: number | undefined, where: string): StandardVerifier {
  const tolerance = integerOption(toleranceSeconds, DEFAULT_TOLERANCE_SECONDS, 0, `${where}: toleranceSeconds`);
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw new OptionError('ERR_OPTION_INVALID', `${where}: secrets must list at least one key`);
  }
  const keys = secrets.map(parseWebhookSecret);
  const verify = (input: VerifyRequestHeaders): void => {
    const now = input.now ?? Math.floor(Date.now() / 1000);
    if (typeof now !== 'number' || !Number.isFinite(now)) {
      throw new OptionError('ERR_OPTION_INVALID', `${where}: now must be seconds since the epoch`);
    }
    const { id, timestamp: timestampText, signature } = input;
    if (!id || !timestampText || !signature) {
      const missing = [
        !id && WEBHOOK_ID_HEADER,
        !timestampText && WEBHOOK_TIMESTAMP_HEADER,
        !signature && WEBHOOK_SIGNATURE_HEADER,
      ].filter(Boolean);
      throw new WebhookError('ERR_WEBHOOK_HEADERS_MISSING', `missing header(s): ${missing.join(', ')}`, { statusCode: 400 });
    }
    checkId(id);
    const timestamp = parseWebhookTimestamp(timestampText);

    if (!anySignatureMatches(signature, signedContent(id, timestamp, input.body), keys)) {
      throw new WebhookError('ERR_WEBHOOK_SIGNATURE_MISMATCH', 'no signature in webhook-signature matches a trusted key', {
        statusCode: 401,
      });
    }
    if (now - timestamp > tolerance) {
      throw new WebhookError('ERR_WEBHOOK_TIMESTAMP_TOO_OLD', `webhook-timestamp is more than ${tolerance} s in the past`, {
        statusCode: 401,
      });
    }
    if (timestamp - now > tolerance) {
      throw new WebhookError('ERR_WEBHOOK_TIMESTAMP_TOO_NEW', `webhook-timestamp is more than ${tolerance} s in the future`, {
        statusCode: 401,
      });
    }
  };
  return Object.freeze({ verify });
}

/**
 * Sign one message the Standard Webhooks way; the result is one entry of the `webhook-signature`
 * header (join several with a space to sign with old and new keys during rotation). For one-off
 * use: it parses the secret on every call — a sender keeps a `createSigner` instead.
 *
 * @throws {WebhookError} ERR_WEBHOOK_SECRET_INVALID (also for a `whpk_`, which cannot sign),
 *   ERR_WEBHOOK_ID_INVALID, ERR_WEBHOOK_TIMESTAMP_INVALID
 * @throws {OptionError} ERR_OPTION_UNKNOWN
 * @example
 * signStandard({ id: 'msg_p5jXN8AQM9LWM0D4loKWxJek', timestamp: 1614265330,
 *   body: '{"test": 2432232314}', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' });
 * // 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
 */
export function signStandard(input: SignStandardInput): string {
  rejectUnknownKeys(input, SIGN_KEYS, 'signStandard');
  const { id, timestamp, body, secret } = input;
  // The message is checked before the key, as it always was: a bad id is reported as such.
  checkId(id);
  checkTimestamp(timestamp);
  return createSigner(secret).sign(id, timestamp, body);
}

/**
 * Verify a Standard Webhooks request, or throw. Order: headers present, id and timestamp
 * well-formed, a signature matches (before the clock is looked at, so a forger learns nothing about
 * the window), then the timestamp is within tolerance. Entries with unknown versions (`v2,…`) are
 * skipped, not errors; malformed `v1`/`v1a` entries simply do not match. For one-off use: it
 * parses the keys on every call — a receiver keeps a `createVerifier` instead.
 *
 * @throws {WebhookError} ERR_WEBHOOK_HEADERS_MISSING (400), ERR_WEBHOOK_ID_INVALID (400),
 *   ERR_WEBHOOK_TIMESTAMP_INVALID (400), ERR_WEBHOOK_SIGNATURE_MISMATCH (401),
 *   ERR_WEBHOOK_TIMESTAMP_TOO_OLD (401), ERR_WEBHOOK_TIMESTAMP_TOO_NEW (401),
 *   ERR_WEBHOOK_SECRET_INVALID (500: the receiver's configured key is bad)
 * @throws {OptionError} ERR_OPTION_INVALID, ERR_OPTION_UNKNOWN
 * @example
 * verifyStandard({ id: req.headers['webhook-id'], timestamp: req.headers['webhook-timestamp'],
 *   signature: req.headers['webhook-signature'], body: rawBody, secrets: ['whsec_…'] });
 */
export function verifyStandard(input: VerifyStandardInput): void {
  rejectUnknownKeys(input, VERIFY_KEYS, 'verifyStandard');
  const now = input.now ?? Math.floor(Date.now() / 1000);
  if (typeof now !== 'number' || !Number.isFinite(now)) {
    throw new OptionError('ERR_OPTION_INVALID', 'verifyStandard: now must be seconds since the epoch');
  }
  const { id, timestamp, signature, body } = input;
  verifierOf(input.secrets, input.toleranceSeconds, 'verifyStandard').verify({ id, timestamp, signature, body, now });
}

/** True when some `v1`/`v1a` entry verifies under some key; every entry is tried (no early exit on mismatch). */
function anySignatureMatches(header: string, content: SignedContent, keys: readonly WebhookKey[]): boolean {
  const entries = header.split(' ').filter((entry) => entry.length > 0);
  if (entries.length > MAX_SIGNATURES_PER_HEADER) return false;
  const hmacs = keys.flatMap((k) => (k.type === 'hmac' ? [hmacBase64(k.key, content)] : []));
  const publicKeys: KeyObject[] = keys.flatMap((k) => (k.type === 'hmac' ? [] : [k.publicKey]));
  let message: Buffer | undefined;
  let matched = false;
  for (const entry of entries) {
    const comma = entry.indexOf(',');
    if (comma < 0) continue;
    const version = entry.slice(0, comma);
    const value = entry.slice(comma + 1);
    if (version === 'v1') {
      for (const expected of hmacs) if (constantTimeEqual(value, expected)) matched = true;
    } else if (version === 'v1a') {
      const sig = decodeBase64Strict(value);
      if (sig?.length !== 64) continue;
      message ??= joined(content);
      for (const publicKey of publicKeys) if (edVerify(null, message, publicKey, sig)) matched = true;
    }
  }
  return matched;
}
