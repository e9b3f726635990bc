/**
 * Standard Webhooks v1.0.0 (standard-webhooks/standard-webhooks, spec/standard-webhooks.md):
 * `v1` HMAC-SHA256 and `v1a` Ed25519 over `msg_id.timestamp.payload`, headers, rotation, tolerance.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import sodium from 'libsodium-wrappers';
import {
  createSigner,
  createVerifier,
  DEFAULT_TOLERANCE_SECONDS,
  generateEd25519Keys,
  generateHmacSecret,
  parseHmacSecret,
  publicKeyOf,
  signStandard,
  type VerifyStandardInput,
  verifyStandard,
} from '../../connector/index.js';
import { WebhookError } from '../../core/index.js';
import { rejectsWith } from './helpers.js';

// The fixed vector every reference library tests ("sign function works" in libraries/javascript/src/webhook.test.ts,
// TestWebhookSign in libraries/go/webhook_test.go, testSignFunctionWorks in libraries/php/tests/WebhookTest.php).
const REF = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
} as const;

// RFC 8032 §7.1 TEST 1: seed and the public key it must derive.
const RFC8032_SEED = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
const RFC8032_PUBLIC = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');

/** Verify the reference message at its own time unless overridden. */
function verifyRef(overrides: Partial<VerifyStandardInput> = {}): void {
  verifyStandard({
    id: REF.id,
    timestamp: String(REF.timestamp),
    signature: REF.signature,
    body: REF.body,
    secrets: [REF.secret],
    now: REF.timestamp,
    ...overrides,
  });
}


describe('reference vector (libraries/*: sign function works)', () => {
  test('signStandard reproduces the reference signature', () => {
    assert.equal(signStandard({ id: REF.id, timestamp: REF.timestamp, body: REF.body, secret: REF.secret }), REF.signature);
  });

  test('the body may be given as bytes with the same result', () => {
    const signature = signStandard({ id: REF.id, timestamp: REF.timestamp, body: Buffer.from(REF.body), secret: REF.secret });
    assert.equal(signature, REF.signature);
  });

  test('verifyStandard accepts the reference signature', () => {
    assert.doesNotThrow(() => verifyRef());
  });

  test('the HMAC key is the base64-decoded secret (24 bytes here)', () => {
    assert.equal(parseHmacSecret(REF.secret).length, 24);
  });
});

describe('negative vectors', () => {
  test('the secret text used as an ASCII key gives a signature that fails', () => {
    const content = `${REF.id}.${REF.timestamp}.${REF.body}`;
    const asciiKeyed = `v1,${createHmac('sha256', REF.secret).update(content).digest('base64')}`;
    assert.notEqual(asciiKeyed, REF.signature);
    rejectsWith(() => verifyRef({ signature: asciiKeyed }), 'ERR_WEBHOOK_SIGNATURE_MISMATCH', 401);
  });

  test('a re-serialised JSON body fails (spec: verify the payload as sent)', () => {
    const reserialised = JSON.stringify(JSON.parse(REF.body));
    assert.notEqual(reserialised, REF.body);
    rejectsWith(() => verifyRef({ body: reserialised }), 'ERR_WEBHOOK_SIGNATURE_MISMATCH', 401);
  });

  test('a header with only an unknown version (v2) is a mismatch, not a parse error', () => {
    rejectsWith(() => verifyRef({ signature: REF.signature.replace('v1,', 'v2,') }), 'ERR_WEBHOOK_SIGNATURE_MISMATCH', 401);
  });

  test('unknown versions and junk entries next to a valid one are ignored', () => {
    const header = `v2,${REF.signature.slice(3)} v1,dawfeoifkpqwoekfpqoekf nocomma v1a,AAAA ${REF.signature}`;
    assert.doesNotThrow(() => verifyRef({ signature: header }));
  });

  test('truncated and empty v1 signatures fail', () => {
    rejectsWith(() => verifyRef({ signature: REF.signature.slice(0, 8) }), 'ERR_WEBHOOK_SIGNATURE_MISMATCH');
    rejectsWith(() => verifyRef({ signature: 'v1,' }), 'ERR_WEBHOOK_SIGNATURE_MISMATCH');
  });

  test('a different id or timestamp under the same signature fails', () => {
    rejectsWith(() => verifyRef({ id: 'msg_other' }), 'ERR_WEBHOOK_SIGNATURE_MISMATCH');
    rejectsWith(() => verifyRef({ timestamp: String(REF.timestamp + 1), now: REF.timestamp }), 'ERR_WEBHOOK_SIGNATURE_MISMATCH');
  });

  test('missing headers are 400 ERR_WEBHOOK_HEADERS_MISSING', () => {
    rejectsWith(() => verifyRef({ id: undefined }), 'ERR_WEBHOOK_HEADERS_MISSING', 400);
    rejectsWith(() => verifyRef({ timestamp: '' }), 'ERR_WEBHOOK_HEADERS_MISSING', 400);
    rejectsWith(() => verifyRef({ signature: undefined }), 'ERR_WEBHOOK_HEADERS_MISSING', 400);
  });

  test('an id containing "." is refused on both sides (spec: ids must not include ".")', () => {
    rejectsWith(() => verifyRef({ id: 'msg.1' }), 'ERR_WEBHOOK_ID_INVALID', 400);
    rejectsWith(() => signStandard({ id: 'msg.1', timestamp: 1, body: '', secret: REF.secret }), 'ERR_WEBHOOK_ID_INVALID');
  });
});

describe('timestamp tolerance (default 300 s)', () => {
  test('the default tolerance is 300 seconds', () => {
    assert.equal(DEFAULT_TOLERANCE_SECONDS, 300);
  });

  test('±300 s passes', () => {
    assert.doesNotThrow(() => verifyRef({ now: REF.timestamp + 300 }));
    assert.doesNotThrow(() => verifyRef({ now: REF.timestamp - 300 }));
  });

  test('a timestamp 301 s in the past is too old', () => {
    rejectsWith(() => verifyRef({ now: REF.timestamp + 301 }), 'ERR_WEBHOOK_TIMESTAMP_TOO_OLD', 401);
  });

  test('a timestamp 301 s in the future is too new', () => {
    rejectsWith(() => verifyRef({ now: REF.timestamp - 301 }), 'ERR_WEBHOOK_TIMESTAMP_TOO_NEW', 401);
  });

  test('toleranceSeconds widens or narrows the window', () => {
    assert.doesNotThrow(() => verifyRef({ now: REF.timestamp + 3600, toleranceSeconds: 3600 }));
    rejectsWith(() => verifyRef({ now: REF.timestamp + 2, toleranceSeconds: 1 }), 'ERR_WEBHOOK_TIMESTAMP_TOO_OLD');
  });

  test('the current clock is the default: a reference-era timestamp is too old today', () => {
    rejectsWith(() => verifyRef({ now: undefined }), 'ERR_WEBHOOK_TIMESTAMP_TOO_OLD');
  });

  test('a signature is checked before the window, so a forger learns nothing about the clock', () => {
    rejectsWith(() => verifyRef({ signature: 'v1,AAAA', now: REF.timestamp + 10_000 }), 'ERR_WEBHOOK_SIGNATURE_MISMATCH');
  });

  for (const bad of ['hello', '1614265330.0', '1.6e9', '-1614265330', '+1614265330', ' 1614265330', '01614265330', '0x60']) {
    test(`a non-integer timestamp ${JSON.stringify(bad)} is 400 ERR_WEBHOOK_TIMESTAMP_INVALID`, () => {
      rejectsWith(() => verifyRef({ timestamp: bad }), 'ERR_WEBHOOK_TIMESTAMP_INVALID', 400);
    });
  }

  test('signing with a non-integer timestamp is refused', () => {
    rejectsWith(() => signStandard({ id: REF.id, timestamp: 1.5, body: '', secret: REF.secret }), 'ERR_WEBHOOK_TIMESTAMP_INVALID');
  });
});

describe('bodies', () => {
  test('an empty body is legal', () => {
    const secret = generateHmacSecret();
    const signature = signStandard({ id: REF.id, timestamp: REF.timestamp, body: '', secret });
    assert.doesNotThrow(() => verifyRef({ body: new Uint8Array(0), secrets: [secret], signature }));
  });

  test('a non-UTF-8 binary body (bytes 0x00..0xff) is signed and verified byte-exactly', () => {
    const body = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const signature = signStandard({ id: REF.id, timestamp: REF.timestamp, body, secret: REF.secret });
    // Independent computation over the raw bytes: prefix then body, no text decoding anywhere.
    const content = Buffer.concat([Buffer.from(`${REF.id}.${REF.timestamp}.`), body]);
    const expected = createHmac('sha256', parseHmacSecret(REF.secret)).update(content).digest('base64');
    assert.equal(signature, `v1,${expected}`);
    assert.doesNotThrow(() => verifyRef({ body, signature }));
    // A lossy UTF-8 round trip (what a text-based verifier would do) changes the bytes and must fail.
    const lossy = Buffer.from(body.toString('utf8'), 'utf8');
    rejectsWith(() => verifyRef({ body: lossy, signature }), 'ERR_WEBHOOK_SIGNATURE_MISMATCH');
  });

  test('a Uint8Array view over a larger buffer signs only its own bytes', () => {
    const backing = Buffer.from(`xx${REF.body}yy`);
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 2, REF.body.length);
    assert.equal(signStandard({ id: REF.id, timestamp: REF.timestamp, body: view, secret: REF.secret }), REF.signature);
  });
});

describe('rotation (spec: webhook-signature is a space-delimited list)', () => {
  const oldSecret = REF.secret;
  const newSecret = generateHmacSecret();
  const sign = (secret: string): string => signStandard({ id: REF.id, timestamp: REF.timestamp, body: REF.body, secret });
  const both = `${sign(newSecret)} ${sign(oldSecret)}`;

  test('a header signed with old and new secrets verifies with either one', () => {
    assert.doesNotThrow(() => verifyRef({ signature: both, secrets: [oldSecret] }));
    assert.doesNotThrow(() => verifyRef({ signature: both, secrets: [newSecret] }));
  });

  test('a receiver trusting both secrets accepts a header with either signature alone', () => {
    assert.doesNotThrow(() => verifyRef({ signature: sign(oldSecret), secrets: [newSecret, oldSecret] }));
    assert.doesNotThrow(() => verifyRef({ signature: sign(newSecret), secrets: [newSecret, oldSecret] }));
  });

  test('a receiver with an unrelated secret rejects the pair', () => {
    rejectsWith(() => verifyRef({ signature: both, secrets: [generateHmacSecret()] }), 'ERR_WEBHOOK_SIGNATURE_MISMATCH');
  });
});

describe('v1a Ed25519 (spec: whsk_ / whpk_, signature identifier v1a)', () => {
  test('a whsk_ key signs v1a and the matching whpk_ verifies', () => {
    const { signingKey, publicKey } = generateEd25519Keys();
    assert.match(signingKey, /^whsk_/);
    assert.match(publicKey, /^whpk_/);
    const signature = signStandard({ id: REF.id, timestamp: REF.timestamp, body: REF.body, secret: signingKey });
    assert.match(signature, /^v1a,[A-Za-z0-9+/]{86}==$/);
    assert.doesNotThrow(() => verifyRef({ signature, secrets: [publicKey] }));
    assert.doesNotThrow(() => verifyRef({ signature, secrets: [signingKey] }), 'a whsk_ is accepted for verifying');
    rejectsWith(() => verifyRef({ signature, secrets: [generateEd25519Keys().publicKey] }), 'ERR_WEBHOOK_SIGNATURE_MISMATCH');
    rejectsWith(() => verifyRef({ signature, secrets: [publicKey], body: `${REF.body} ` }), 'ERR_WEBHOOK_SIGNATURE_MISMATCH');
  });

  test('the 32-byte seed derives the RFC 8032 TEST 1 public key', () => {
    const whsk = `whsk_${RFC8032_SEED.toString('base64')}`;
    assert.equal(publicKeyOf(whsk), `whpk_${RFC8032_PUBLIC.toString('base64')}`);
  });

  test('32-byte and 64-byte (seed ‖ public key) whsk_ forms sign identically', () => {
    const short = `whsk_${RFC8032_SEED.toString('base64')}`;
    const long = `whsk_${Buffer.concat([RFC8032_SEED, RFC8032_PUBLIC]).toString('base64')}`;
    const input = { id: REF.id, timestamp: REF.timestamp, body: REF.body };
    const signature = signStandard({ ...input, secret: short });
    assert.equal(signStandard({ ...input, secret: long }), signature, 'Ed25519 is deterministic');
    assert.doesNotThrow(() => verifyRef({ signature, secrets: [`whpk_${RFC8032_PUBLIC.toString('base64')}`] }));
  });

  test('a 64-byte whsk_ whose public half is not its seed’s is refused', () => {
    const wrong = `whsk_${Buffer.concat([RFC8032_SEED, Buffer.alloc(32, 7)]).toString('base64')}`;
    rejectsWith(() => signStandard({ id: REF.id, timestamp: 1, body: '', secret: wrong }), 'ERR_WEBHOOK_SECRET_INVALID');
  });

  test('signatures interoperate with libsodium (an independent Ed25519) in both directions', async () => {
    await sodium.ready;
    const pair = sodium.crypto_sign_seed_keypair(RFC8032_SEED);
    const whsk = `whsk_${Buffer.from(pair.privateKey).toString('base64')}`; // libsodium's 64-byte layout
    const whpk = `whpk_${Buffer.from(pair.publicKey).toString('base64')}`;
    const content = Buffer.from(`${REF.id}.${REF.timestamp}.${REF.body}`);
    const ours = signStandard({ id: REF.id, timestamp: REF.timestamp, body: REF.body, secret: whsk });
    assert.ok(sodium.crypto_sign_verify_detached(Buffer.from(ours.slice(4), 'base64'), content, pair.publicKey));
    const theirs = `v1a,${Buffer.from(sodium.crypto_sign_detached(content, pair.privateKey)).toString('base64')}`;
    assert.doesNotThrow(() => verifyRef({ signature: theirs, secrets: [whpk] }));
  });

  test('v1 and v1a signatures can travel together; each key checks its own kind', () => {
    const { signingKey, publicKey } = generateEd25519Keys();
    const v1a = signStandard({ id: REF.id, timestamp: REF.timestamp, body: REF.body, secret: signingKey });
    const header = `${REF.signature} ${v1a}`;
    assert.doesNotThrow(() => verifyRef({ signature: header, secrets: [publicKey] }));
    assert.doesNotThrow(() => verifyRef({ signature: header, secrets: [REF.secret] }));
    // A v1a value under the v1 label (or the reverse) never matches.
    rejectsWith(() => verifyRef({ signature: v1a.replace('v1a,', 'v1,'), secrets: [publicKey] }), 'ERR_WEBHOOK_SIGNATURE_MISMATCH');
  });

  test('a whpk_ cannot sign', () => {
    const { publicKey } = generateEd25519Keys();
    rejectsWith(() => signStandard({ id: REF.id, timestamp: 1, body: '', secret: publicKey }), 'ERR_WEBHOOK_SECRET_INVALID');
  });
});

describe('secrets', () => {
  const invalidSecrets: Array<[string, string]> = [
    ['empty', ''],
    ['prefix only', 'whsec_'],
    ['bad base64', 'whsec_not*base64!'],
    ['bad padding', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw='],
    // 25 zero bytes end in "AA=="; "AB==" sets an unused bit: Node would decode it to the same bytes.
    ['non-canonical base64', `whsec_${Buffer.alloc(25).toString('base64').replace('AA==', 'AB==')}`],
    ['under 24 bytes', `whsec_${Buffer.alloc(16, 1).toString('base64')}`],
    ['bare base64 without whsec_', 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    ['unknown prefix', 'sk_live_abcdef'],
    ['whpk_ of the wrong length', `whpk_${Buffer.alloc(31).toString('base64')}`],
    ['whsk_ of the wrong length', `whsk_${Buffer.alloc(48).toString('base64')}`],
  ];
  for (const [name, secret] of invalidSecrets) {
    test(`${name} is ERR_WEBHOOK_SECRET_INVALID and the message does not contain it`, () => {
      assert.throws(
        () => signStandard({ id: REF.id, timestamp: 1, body: '', secret }),
        (err: unknown) => {
          assert.ok(err instanceof WebhookError);
          assert.equal(err.code, 'ERR_WEBHOOK_SECRET_INVALID');
          assert.equal(err.statusCode, 500);
          if (secret.length > 6) assert.ok(!err.message.includes(secret.slice(6)), err.message);
          assert.ok(!JSON.stringify(err).includes(secret.slice(6) || '\u0000'));
          return true;
        },
      );
    });
  }

  test('a bare base64 secret gets a hint to add the whsec_ prefix, which then verifies', () => {
    assert.throws(() => parseHmacSecret(REF.secret.slice(6)), (err: WebhookError) => /whsec_/.test(err.hint));
    assert.deepEqual(parseHmacSecret(`whsec_${REF.secret.slice(6)}`), parseHmacSecret(REF.secret));
  });

  test('generateHmacSecret makes 32 random bytes', () => {
    const a = generateHmacSecret();
    assert.equal(parseHmacSecret(a).length, 32);
    assert.notEqual(a, generateHmacSecret());
  });

  test('verifyStandard needs at least one secret and rejects unknown options', () => {
    assert.throws(() => verifyRef({ secrets: [] }), { code: 'ERR_OPTION_INVALID' });
    assert.throws(() => verifyRef({ tolerance: 5 } as unknown as VerifyStandardInput), { code: 'ERR_OPTION_UNKNOWN' });
    assert.throws(() => verifyRef({ toleranceSeconds: -1 }), { code: 'ERR_OPTION_INVALID' });
  });
});

describe('a signer and a verifier built once from their keys', () => {
  test('createSigner reproduces the reference signature on every call and assembles the three headers', () => {
    const signer = createSigner(REF.secret);
    assert.equal(signer.sign(REF.id, REF.timestamp, REF.body), REF.signature);
    assert.equal(signer.sign(REF.id, REF.timestamp, Buffer.from(REF.body)), REF.signature);
    assert.deepEqual(signer.headers(REF.id, REF.timestamp, REF.body), {
      'webhook-id': REF.id,
      'webhook-timestamp': String(REF.timestamp),
      'webhook-signature': REF.signature,
    });
    rejectsWith(() => signer.sign('msg.1', 1, ''), 'ERR_WEBHOOK_ID_INVALID');
    rejectsWith(() => signer.sign(REF.id, 1.5, ''), 'ERR_WEBHOOK_TIMESTAMP_INVALID');
  });

  test('createSigner refuses a bad key or a whpk_ at once, before any message', () => {
    rejectsWith(() => createSigner('whsec_'), 'ERR_WEBHOOK_SECRET_INVALID');
    rejectsWith(() => createSigner(generateEd25519Keys().publicKey), 'ERR_WEBHOOK_SECRET_INVALID');
  });

  test('createVerifier accepts what verifyStandard accepts and refuses with the same codes', () => {
    const { signingKey, publicKey } = generateEd25519Keys();
    const verifier = createVerifier({ secrets: [REF.secret, publicKey] });
    const check = (signature: string, now: number = REF.timestamp): void =>
      verifier.verify({ id: REF.id, timestamp: String(REF.timestamp), signature, body: REF.body, now });
    assert.doesNotThrow(() => check(REF.signature));
    assert.doesNotThrow(() => check(createSigner(signingKey).sign(REF.id, REF.timestamp, REF.body)));
    rejectsWith(() => check(REF.signature.replace('g0hM', 'g0hN')), 'ERR_WEBHOOK_SIGNATURE_MISMATCH');
    rejectsWith(() => check(REF.signature, REF.timestamp + DEFAULT_TOLERANCE_SECONDS + 1), 'ERR_WEBHOOK_TIMESTAMP_TOO_OLD');
    rejectsWith(() => verifier.verify({ id: REF.id, timestamp: undefined, signature: REF.signature, body: REF.body }), 'ERR_WEBHOOK_HEADERS_MISSING');
    const strict = createVerifier({ secrets: [REF.secret], toleranceSeconds: 0 });
    rejectsWith(() => strict.verify({ id: REF.id, timestamp: String(REF.timestamp), signature: REF.signature, body: REF.body, now: REF.timestamp + 1 }), 'ERR_WEBHOOK_TIMESTAMP_TOO_OLD');
  });

  test('createVerifier checks its keys and options when built', () => {
    assert.throws(() => createVerifier({ secrets: [] }), { code: 'ERR_OPTION_INVALID' });
    assert.throws(() => createVerifier({ secrets: [REF.secret], toleranceSeconds: -1 }), { code: 'ERR_OPTION_INVALID' });
    assert.throws(() => createVerifier({ secrets: [REF.secret], now: 1 } as never), { code: 'ERR_OPTION_UNKNOWN' });
    rejectsWith(() => createVerifier({ secrets: ['whsec_'] }), 'ERR_WEBHOOK_SECRET_INVALID');
  });
});
