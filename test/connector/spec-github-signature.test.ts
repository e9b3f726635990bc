/** GitHub webhook signatures ("Validating webhook deliveries", docs.github.com): X-Hub-Signature-256 = sha256=<hex HMAC>. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signGithub, verifyGithub } from '../../connector/index.js';
import { rejectsWith } from './helpers.js';

// The documented test values: secret, payload and expected header.
const SECRET = "It's a Secret to Everybody";
const PAYLOAD = 'Hello, World!';
const EXPECTED = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';


test('signGithub reproduces the documented signature', () => {
  assert.equal(signGithub(PAYLOAD, SECRET), EXPECTED);
  assert.equal(signGithub(Buffer.from(PAYLOAD), SECRET), EXPECTED);
});

test('verifyGithub accepts the documented signature, in either hex case', () => {
  assert.doesNotThrow(() => verifyGithub(PAYLOAD, SECRET, EXPECTED));
  assert.doesNotThrow(() => verifyGithub(PAYLOAD, SECRET, `sha256=${EXPECTED.slice(7).toUpperCase()}`));
});

test('a changed body, secret or digest is a 401 mismatch', () => {
  rejectsWith(() => verifyGithub(`${PAYLOAD} `, SECRET, EXPECTED), 'ERR_WEBHOOK_SIGNATURE_MISMATCH', 401);
  rejectsWith(() => verifyGithub(PAYLOAD, 'another secret', EXPECTED), 'ERR_WEBHOOK_SIGNATURE_MISMATCH', 401);
  rejectsWith(() => verifyGithub(PAYLOAD, SECRET, `${EXPECTED.slice(0, -1)}0`), 'ERR_WEBHOOK_SIGNATURE_MISMATCH', 401);
  rejectsWith(() => verifyGithub(PAYLOAD, SECRET, EXPECTED.slice(0, -2)), 'ERR_WEBHOOK_SIGNATURE_MISMATCH', 401);
});

test('a prefix other than sha256= is refused, including the legacy sha1=', () => {
  rejectsWith(() => verifyGithub(PAYLOAD, SECRET, EXPECTED.slice(7)), 'ERR_WEBHOOK_SIGNATURE_MISMATCH', 401);
  rejectsWith(() => verifyGithub(PAYLOAD, SECRET, `sha1=${EXPECTED.slice(7)}`), 'ERR_WEBHOOK_SIGNATURE_MISMATCH', 401);
  rejectsWith(() => verifyGithub(PAYLOAD, SECRET, `SHA256=${EXPECTED.slice(7)}`), 'ERR_WEBHOOK_SIGNATURE_MISMATCH', 401);
});

test('a missing header is 400 and an empty secret is refused', () => {
  rejectsWith(() => verifyGithub(PAYLOAD, SECRET, undefined), 'ERR_WEBHOOK_HEADERS_MISSING', 400);
  rejectsWith(() => signGithub(PAYLOAD, ''), 'ERR_WEBHOOK_SECRET_INVALID', 500);
});

test('binary bodies are signed byte-exactly', () => {
  const body = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const signature = signGithub(body, SECRET);
  assert.doesNotThrow(() => verifyGithub(body, SECRET, signature));
  rejectsWith(() => verifyGithub(Buffer.from(body.toString('utf8')), SECRET, signature), 'ERR_WEBHOOK_SIGNATURE_MISMATCH', 401);
});
