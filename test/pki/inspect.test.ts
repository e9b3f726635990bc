/** Certificate inspection: fingerprints, bundles, validity windows, summaries of RSA and EC certificates. */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { certFingerprint, checkCertValidity, createCa, describeCertificate, splitPemBundle, verifyIssuedBy } from '../../pki/index.js';
import { NO_OPENSSL, opensslEcPair, pemDer } from './helpers.js';

const ca = await createCa({ commonName: 'inspect CA', validityDays: 10 });
const other = await createCa({ commonName: 'other CA' });
const ec = opensslEcPair('P-384', 'ec-inspect');

test('fingerprints are lowercase hex of the DER of the first certificate', () => {
  const der = pemDer(ca.certPem);
  assert.equal(certFingerprint(ca.certPem, 'sha256'), createHash('sha256').update(der).digest('hex'));
  assert.equal(certFingerprint(`${ca.certPem}${other.certPem}`, 'sha1'), createHash('sha1').update(der).digest('hex'));
  assert.throws(() => certFingerprint(ca.certPem, 'md5' as never), { code: 'ERR_OPTION_INVALID' });
  assert.throws(() => certFingerprint('no pem here', 'sha1'), { code: 'ERR_PKI_PEM_INVALID' });
});

test('splitPemBundle returns every CERTIFICATE block and skips keys', () => {
  const bundle = `junk\n${ca.certPem}${ca.keyPem}\r\n${other.certPem.replace(/\n/g, '\r\n')}`;
  assert.deepEqual(splitPemBundle(bundle), [ca.certPem, other.certPem]);
  assert.deepEqual(splitPemBundle(''), []);
});

test('checkCertValidity refuses certificates before notBefore and after notAfter', () => {
  checkCertValidity(ca.certPem);
  const notAfter = new Date(new X509Certificate(ca.certPem).validTo);
  assert.throws(() => checkCertValidity(ca.certPem, new Date(notAfter.getTime() + 1000)), { code: 'ERR_PKI_CERT_EXPIRED' });
  assert.throws(() => checkCertValidity(ca.certPem, new Date('2000-01-01')), { code: 'ERR_PKI_CERT_NOT_YET_VALID' });
});

test('describeCertificate summarises an RSA CA', () => {
  const s = describeCertificate(ca.certPem);
  assert.equal(s.subject, 'CN=inspect CA');
  assert.equal(s.issuer, 'CN=inspect CA');
  assert.deepEqual(s.sans, []);
  assert.equal(s.isCa, true);
  assert.equal(s.keyType, 'rsa');
  assert.equal(s.keyBits, 2048);
  assert.match(s.serialNumber, /^[0-9a-f]{32}$/);
  assert.equal(s.sha256, certFingerprint(ca.certPem, 'sha256'));
  assert.ok(s.notBefore < new Date() && s.notAfter > new Date());
  assert.equal(verifyIssuedBy(ca.certPem, ca.certPem), true);
  assert.equal(verifyIssuedBy(ca.certPem, other.certPem), false);
});

test('describeCertificate works for an EC certificate', { skip: ec === undefined ? NO_OPENSSL : false }, () => {
  const s = describeCertificate(ec!.certPem);
  assert.equal(s.subject, 'CN=ec-inspect');
  assert.equal(s.keyType, 'ec');
  assert.equal(s.keyBits, 384);
  assert.equal(s.sha1, certFingerprint(ec!.certPem, 'sha1'));
});
