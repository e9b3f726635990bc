/** CSRs: building, signing under policy, and refusing tampered, weak, CA-seeking or non-RSA requests. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createCa, createCsr, describeCertificate, describeCsr, generateRsaKeyPair, signCsr } from '../../pki/index.js';
import { flipByte, forgeCsr, HAVE_OPENSSL, NO_OPENSSL, opensslEcPair, pemDer, toPem } from './helpers.js';

const ca = await createCa({ commonName: 'csr test CA' });
const requester = await generateRsaKeyPair();
const csrPem = createCsr(requester.privateKeyPem, { commonName: 'tamper-me', organization: 'NetFoundry', country: 'US' });

test('createCsr makes a PKCS#10 request that signCsr turns into a client cert for the same key', () => {
  assert.match(csrPem, /^-----BEGIN CERTIFICATE REQUEST-----\n/);
  const summary = describeCsr(csrPem);
  assert.equal(summary.subject, 'C=US, O=NetFoundry, CN=tamper-me');
  assert.equal(summary.signatureAlgorithm, 'sha256WithRSAEncryption');
  assert.equal(summary.signatureValid, true);
  assert.equal(summary.requestsCa, false);

  const certPem = signCsr(ca, csrPem, { commonName: 'assigned-by-ca', validityDays: 30 });
  const x = new X509Certificate(certPem);
  assert.ok(x.verify(new X509Certificate(ca.certPem).publicKey));
  assert.equal(x.subject, 'CN=assigned-by-ca', 'the CA sets the subject, never the requester');
  assert.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.2'], 'clientAuth only');
  assert.equal(x.ca, false);
  assert.ok(x.publicKey.equals(createPublicKey(requester.privateKeyPem)));
  const days = (describeCertificate(certPem).notAfter.getTime() - Date.now()) / 86_400_000;
  assert.ok(days > 29.9 && days <= 30);
});

test('openssl verifies createCsr output, and signCsr accepts an openssl-made CSR', { skip: HAVE_OPENSSL ? false : NO_OPENSSL }, (t) => {
  const verified = execFileSync('openssl', ['req', '-verify', '-noout'], { input: csrPem, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  assert.equal(verified, '');
  const dir = mkdtempSync(join(tmpdir(), 'darkhook-csr-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'key.pem'), requester.privateKeyPem, { mode: 0o600 });
  const fromOpenssl = execFileSync('openssl', ['req', '-new', '-key', join(dir, 'key.pem'), '-subj', '/CN=openssl-req'], {
    encoding: 'utf8',
  });
  assert.equal(describeCsr(fromOpenssl).signatureValid, true);
  assert.match(signCsr(ca, fromOpenssl, { commonName: 'ok' }), /BEGIN CERTIFICATE/);
});

test('a CSR tampered in its subject, its key or its signature is ERR_PKI_CSR_INVALID', () => {
  const der = pemDer(csrPem);
  const subjectAt = der.indexOf(Buffer.from('tamper-me'));
  const spki = createPublicKey(requester.privateKeyPem).export({ type: 'spki', format: 'der' });
  const keyAt = der.indexOf(spki) + Math.floor(spki.length / 2);
  assert.ok(subjectAt > 0 && keyAt > spki.length / 2);
  for (const [where, index] of [['subject', subjectAt + 2], ['key', keyAt], ['signature', der.length - 5]] as const) {
    const tampered = toPem(flipByte(der, index), 'CERTIFICATE REQUEST');
    assert.throws(() => signCsr(ca, tampered, { commonName: 'x' }), { code: 'ERR_PKI_CSR_INVALID' }, where);
  }
});

test('a CSR asking for CA:true is refused with ERR_PKI_CSR_POLICY (and reported by describeCsr)', () => {
  const askCa = forgeCsr(requester.privateKeyPem, 'wants-to-be-a-ca', true);
  assert.equal(describeCsr(askCa).requestsCa, true);
  assert.throws(() => signCsr(ca, askCa, { commonName: 'x' }), { code: 'ERR_PKI_CSR_POLICY' });
  // The same forge-built request without the extension is fine: the refusal is about CA:true.
  assert.match(signCsr(ca, forgeCsr(requester.privateKeyPem, 'plain', false), { commonName: 'x' }), /BEGIN CERTIFICATE/);
});

test('a CSR with a 1024-bit RSA key is refused; a policy may demand more bits', () => {
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
  assert.throws(() => signCsr(ca, createCsr(weak, { commonName: 'weak' }), { commonName: 'x' }), { code: 'ERR_PKI_CSR_POLICY' });
  assert.throws(() => signCsr(ca, csrPem, { commonName: 'x', minRsaBits: 3072 }), { code: 'ERR_PKI_CSR_POLICY' });
  assert.throws(() => signCsr(ca, csrPem, { commonName: 'x', minRsaBits: 1024 }), { code: 'ERR_OPTION_INVALID' });
});

test('an EC CSR is well-formed but refused with ERR_PKI_KEY_UNSUPPORTED', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' }) as string;
  const ecCsr = createCsr(ec, { commonName: 'ec' });
  assert.deepEqual([describeCsr(ecCsr).keyType, describeCsr(ecCsr).keyBits, describeCsr(ecCsr).signatureValid], ['ec', 256, true]);
  assert.throws(() => signCsr(ca, ecCsr, { commonName: 'x' }), { code: 'ERR_PKI_KEY_UNSUPPORTED' });
});

test('garbage, the wrong PEM type and a missing policy CN are coded errors', () => {
  assert.throws(() => signCsr(ca, 'hello', { commonName: 'x' }), { code: 'ERR_PKI_PEM_INVALID' });
  assert.throws(() => signCsr(ca, ca.certPem, { commonName: 'x' }), { code: 'ERR_PKI_PEM_INVALID' });
  assert.throws(() => signCsr(ca, toPem(Buffer.from('not der at all'), 'CERTIFICATE REQUEST'), { commonName: 'x' }), {
    code: 'ERR_PKI_CSR_INVALID',
  });
  assert.throws(() => signCsr(ca, csrPem, {} as never), { code: 'ERR_OPTION_INVALID' });
  const ecPair = opensslEcPair('P-256');
  if (ecPair !== undefined) {
    assert.throws(() => signCsr({ certPem: ecPair.certPem, keyPem: ecPair.keyPem }, csrPem, { commonName: 'x' }), {
      code: /^ERR_PKI_(CERT_INVALID|KEY_UNSUPPORTED)$/,
    });
  }
});
