/** GitHub-style webhook signatures: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`. */
import { createHmac } from 'node:crypto';
import { WebhookError } from '../../core/index.js';
import { constantTimeEqual } from '../../core/constant-time.js';

/** Header GitHub (and the Jenkins GitHub plugin) use for the SHA-256 signature. */
export const GITHUB_SIGNATURE_HEADER = 'x-hub-signature-256';

const PREFIX = 'sha256=';
const HEX_DIGEST = /^[0-9a-fA-F]{64}$/;

function digestHex(body: Uint8Array | string, secret: string): string {
  // GitHub keys the HMAC with the secret's text as typed (UTF-8), not with decoded bytes.
  if (typeof secret !== 'string' || secret.length === 0) {
    throw new WebhookError('ERR_WEBHOOK_SECRET_INVALID', 'the GitHub webhook secret must be a non-empty string', {
      statusCode: 500,
    });
  }
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex');
}

/**
 * The `X-Hub-Signature-256` value for `body` (bytes as sent; a string is taken as UTF-8).
 *
 * @throws {WebhookError} ERR_WEBHOOK_SECRET_INVALID (empty secret)
 * @example
 * signGithub('Hello, World!', "It's a Secret to Everybody");
 * // 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'
 */
export function signGithub(body: Uint8Array | string, secret: string): string {
  return PREFIX + digestHex(body, secret);
}

/**
 * Check an `X-Hub-Signature-256` header value against `body`, or throw. Only `sha256=` is accepted
 * (the legacy SHA-1 `sha1=` form is refused); hex case is ignored.
 *
 * @throws {WebhookError} ERR_WEBHOOK_HEADERS_MISSING (400), ERR_WEBHOOK_SIGNATURE_MISMATCH (401),
 *   ERR_WEBHOOK_SECRET_INVALID (500)
 * @example
 * verifyGithub(rawBody, secret, req.headers['x-hub-signature-256']);
 */
export function verifyGithub(body: Uint8Array | string, secret: string, header: string | undefined): void {
  const expected = digestHex(body, secret);
  if (!header) {
    throw new WebhookError('ERR_WEBHOOK_HEADERS_MISSING', `missing header: ${GITHUB_SIGNATURE_HEADER}`, { statusCode: 400 });
  }
  const hex = header.startsWith(PREFIX) ? header.slice(PREFIX.length) : '';
  if (!HEX_DIGEST.test(hex) || !constantTimeEqual(hex.toLowerCase(), expected)) {
    throw new WebhookError('ERR_WEBHOOK_SIGNATURE_MISMATCH', 'the sha256= signature does not match the body', { statusCode: 401 });
  }
}
