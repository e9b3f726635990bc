/** Enrollment JWTs (PROTOCOL.md §1.2–1.3): ES256 and RS256 verify; each kind of bad token has its own code. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  certFingerprint,
  createEnrollmentJwt,
  decodeEnrollmentJwt,
  type EnrollmentClaims,
  issueServerCert,
  createCa,
  verifyEnrollmentJwt,
} from '../../pki/index.js';
import { NO_OPENSSL, opensslEcPair } from './helpers.js';

const ca = await createCa({ commonName: 'controller CA' });
const rsaLeaf = await issueServerCert(ca, { commonName: 'controller', ipAddresses: ['127.0.0.1'] });
const rsaSigner = { keyPem: rsaLeaf.keyPem!, certPem: rsaLeaf.certPem };
const otherLeaf = await issueServerCert(ca, { commonName: 'another-controller' });
const ecSigner = opensslEcPair('P-256', 'ec-controller');

const NOW = new Date('2030-01-01T00:00:00Z');
const claims: EnrollmentClaims = {
  iss: 'https://127.0.0.1:1280',
  sub: 'Ew1BTl.Hi',
  jti: '5a3b4c1e-1111-4222-8333-944445555666',
  em: 'ott',
  exp: NOW.getTime() / 1000 + 180 * 60,
  aud: [''],
  ctrls: ['tls:127.0.0.1:1280'],
};

/** Replace one part (0 header, 1 payload, 2 signature) of a token. */
function withPart(token: string, index: number, value: string): string {
  const parts = token.split('.');
  parts[index] = value;
  return parts.join('.');
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

test('an RS256 token verifies and carries kid = SHA-1 of the controller certificate', () => {
  const token = createEnrollmentJwt(claims, rsaSigner);
  const { header, claims: decoded } = decodeEnrollmentJwt(token);
  assert.deepEqual(header, { alg: 'RS256', kid: certFingerprint(rsaLeaf.certPem, 'sha1'), typ: 'JWT' });
  assert.deepEqual(decoded, claims);
  assert.deepEqual(verifyEnrollmentJwt(token, rsaLeaf.certPem, { now: NOW }), claims);
});

test('an ES256 token (raw r||s signature) verifies', { skip: ecSigner === undefined ? NO_OPENSSL : false }, () => {
  const token = createEnrollmentJwt(claims, ecSigner!);
  assert.equal(decodeEnrollmentJwt(token).header.alg, 'ES256');
  assert.equal(Buffer.from(token.split('.')[2]!, 'base64url').length, 64, 'JOSE signature, not DER');
  assert.deepEqual(verifyEnrollmentJwt(token, ecSigner!.certPem, { now: NOW }), claims);
});

test('ES384 is chosen for a P-384 key', { skip: ecSigner === undefined ? NO_OPENSSL : false }, () => {
  const p384 = opensslEcPair('P-384')!;
  const token = createEnrollmentJwt(claims, p384);
  assert.equal(decodeEnrollmentJwt(token).header.alg, 'ES384');
  assert.deepEqual(verifyEnrollmentJwt(token, p384.certPem, { now: NOW }), claims);
});

test('a wrong signature is ERR_PKI_JWT_SIGNATURE', () => {
  const token = createEnrollmentJwt(claims, rsaSigner);
  const sig = Buffer.from(token.split('.')[2]!, 'base64url');
  sig[10] = sig[10]! ^ 0xff;
  assert.throws(() => verifyEnrollmentJwt(withPart(token, 2, sig.toString('base64url')), rsaLeaf.certPem, { now: NOW }), {
    code: 'ERR_PKI_JWT_SIGNATURE',
  });
  const forgedClaims = withPart(token, 1, b64({ ...claims, sub: 'someone-else' }));
  assert.throws(() => verifyEnrollmentJwt(forgedClaims, rsaLeaf.certPem, { now: NOW }), { code: 'ERR_PKI_JWT_SIGNATURE' });
  if (ecSigner !== undefined) {
    // An ES256 header on an RSA certificate cannot verify: the alg must fit the certificate key.
    const noKid = withPart(createEnrollmentJwt(claims, ecSigner), 0, b64({ alg: 'ES256', typ: 'JWT' }));
    assert.throws(() => verifyEnrollmentJwt(noKid, rsaLeaf.certPem, { now: NOW }), { code: 'ERR_PKI_JWT_SIGNATURE' });
  }
});

test('a kid that is not the SHA-1 of the given certificate is ERR_PKI_JWT_KID_MISMATCH', () => {
  const token = createEnrollmentJwt(claims, rsaSigner);
  assert.throws(() => verifyEnrollmentJwt(token, otherLeaf.certPem, { now: NOW }), { code: 'ERR_PKI_JWT_KID_MISMATCH' });
});

test('an expired token is ERR_PKI_JWT_EXPIRED', () => {
  const token = createEnrollmentJwt(claims, rsaSigner);
  const later = new Date((claims.exp + 1) * 1000);
  assert.throws(() => verifyEnrollmentJwt(token, rsaLeaf.certPem, { now: later }), { code: 'ERR_PKI_JWT_EXPIRED' });
  const stale = createEnrollmentJwt({ ...claims, exp: Math.floor(Date.now() / 1000) - 60 }, rsaSigner);
  assert.throws(() => verifyEnrollmentJwt(stale, rsaLeaf.certPem), { code: 'ERR_PKI_JWT_EXPIRED' }, 'default now is the clock');
});

test('an enrollment method other than the allowed ones is ERR_PKI_JWT_METHOD_UNSUPPORTED', () => {
  const token = createEnrollmentJwt({ ...claims, em: 'ottca' }, rsaSigner);
  assert.throws(() => verifyEnrollmentJwt(token, rsaLeaf.certPem, { now: NOW }), { code: 'ERR_PKI_JWT_METHOD_UNSUPPORTED' });
  assert.equal(verifyEnrollmentJwt(token, rsaLeaf.certPem, { now: NOW, methods: ['ott', 'ottca'] }).em, 'ottca');
});

test('alg none and other algorithms are ERR_PKI_JWT_ALG_UNSUPPORTED', () => {
  const token = createEnrollmentJwt(claims, rsaSigner);
  for (const alg of ['none', 'None', 'HS256', 'PS256', 'toString']) {
    const forged = withPart(withPart(token, 0, b64({ alg, typ: 'JWT' })), 2, '');
    assert.throws(() => verifyEnrollmentJwt(forged, rsaLeaf.certPem, { now: NOW }), { code: 'ERR_PKI_JWT_ALG_UNSUPPORTED' }, alg);
  }
});

test('malformed tokens and missing claims have their own codes', () => {
  for (const bad of ['', 'a.b', 'a.b.c.d', '!!.e30.', `${b64({ alg: 'RS256' })}.bm90IGpzb24.`, `${b64({ typ: 'JWT' })}.${b64(claims)}.`]) {
    assert.throws(() => decodeEnrollmentJwt(bad), { code: 'ERR_PKI_JWT_MALFORMED' }, bad);
  }
  const { jti: _jti, ...noJti } = claims;
  assert.throws(() => decodeEnrollmentJwt(`${b64({ alg: 'RS256' })}.${b64(noJti)}.`), { code: 'ERR_PKI_JWT_CLAIMS' });
  assert.throws(() => createEnrollmentJwt({ ...claims, exp: 'soon' } as never, rsaSigner), { code: 'ERR_PKI_JWT_CLAIMS' });
  assert.throws(() => createEnrollmentJwt(claims, { keyPem: rsaSigner.keyPem, certPem: otherLeaf.certPem }), {
    code: 'ERR_PKI_KEY_MISMATCH',
  });
});
