/** CA creation, server/client issuance, a real mutual-TLS handshake, and the CA folder on disk. */
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import forge from 'node-forge';
import {
  createCa,
  describeCertificate,
  generateRsaKeyPair,
  issueClientCert,
  issueServerCert,
  loadCa,
  saveCa,
  verifyIssuedBy,
} from '../../pki/index.js';
import { rejectsCode } from './helpers.js';

/** Selected fields of a forge extension object. */
function pick(ext: unknown, keys: readonly string[]): Record<string, unknown> {
  const e = (ext ?? {}) as Record<string, unknown>;
  return Object.fromEntries(keys.map((k) => [k, e[k]]));
}

const ca = await createCa({ commonName: 'darkhook test CA', organization: 'darkhook' });
const otherCa = await createCa({ commonName: 'some other CA' });
const server = await issueServerCert(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });
const client = await issueClientCert(ca, { commonName: 'ci-sender', organization: 'acme' });
const foreignClient = await issueClientCert(otherCa, { commonName: 'intruder' });

test('the CA is a self-signed root with CA:true, keyCertSign and a 16-byte positive serial', () => {
  const x = new X509Certificate(ca.certPem);
  assert.ok(x.ca);
  assert.ok(x.verify(x.publicKey), 'self-signed');
  assert.equal(x.subject, 'O=darkhook\nCN=darkhook test CA');
  assert.equal(x.serialNumber.length, 32);
  assert.ok(Number.parseInt(x.serialNumber.slice(0, 2), 16) < 0x80, 'positive');
  assert.match(ca.keyPem, /^-----BEGIN RSA PRIVATE KEY-----/);
  const days = (Date.parse(x.validTo) - Date.now()) / 86_400_000;
  assert.ok(days > 3640 && days <= 3650, `default validity ~10 years, got ${days}`);
  const parsed = forge.pki.certificateFromPem(ca.certPem);
  assert.deepEqual(pick(parsed.getExtension('basicConstraints'), ['critical', 'cA']), { critical: true, cA: true });
  assert.deepEqual(pick(parsed.getExtension('keyUsage'), ['critical', 'keyCertSign', 'cRLSign', 'digitalSignature']), {
    critical: true,
    keyCertSign: true,
    cRLSign: true,
    digitalSignature: false,
  });
  assert.ok(parsed.getExtension('subjectKeyIdentifier'));
});

test('server and client certificates verify against the CA and carry their EKUs and SANs', () => {
  const caX = new X509Certificate(ca.certPem);
  for (const issued of [server, client]) {
    const x = new X509Certificate(issued.certPem);
    assert.ok(x.verify(caX.publicKey));
    assert.ok(x.checkIssued(caX));
    assert.equal(x.ca, false);
    assert.ok(issued.keyPem !== undefined);
    assert.ok(verifyIssuedBy(issued.certPem, ca.certPem));
  }
  assert.deepEqual(new X509Certificate(server.certPem).keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.deepEqual(new X509Certificate(client.certPem).keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.deepEqual(describeCertificate(server.certPem).sans, ['DNS:localhost', 'IP:127.0.0.1', 'IP:0:0:0:0:0:0:0:1']);
  assert.equal(describeCertificate(client.certPem).subject, 'O=acme, CN=ci-sender');
  assert.equal(verifyIssuedBy(foreignClient.certPem, ca.certPem), false);
});

test('a certificate for a given public key has no keyPem and certifies that key', async () => {
  const { publicKeyPem } = await generateRsaKeyPair();
  const issued = await issueClientCert(ca, { commonName: 'bring-your-own-key', publicKeyPem, validityDays: 7 });
  assert.equal(issued.keyPem, undefined);
  const x = new X509Certificate(issued.certPem);
  assert.equal(x.publicKey.export({ type: 'spki', format: 'pem' }), publicKeyPem);
  const days = (Date.parse(x.validTo) - Date.now()) / 86_400_000;
  assert.ok(days > 6.9 && days <= 7, `validityDays honoured, got ${days}`);
});

test('bad options are coded errors naming the option', async () => {
  await rejectsCode(() => issueServerCert(ca, { commonName: 'x', ipAddresses: ['300.1.1.1'] }), 'ERR_OPTION_INVALID');
  await rejectsCode(() => issueServerCert(ca, { commonName: 'x', dnsNames: ['bad name'] }), 'ERR_OPTION_INVALID');
  await rejectsCode(() => issueClientCert(ca, { commonName: 'x', colour: 'red' } as never), 'ERR_OPTION_UNKNOWN');
  await rejectsCode(() => createCa({ commonName: '' }), 'ERR_OPTION_INVALID');
  await rejectsCode(() => generateRsaKeyPair(1024), 'ERR_OPTION_INVALID');
  await rejectsCode(() => issueClientCert({ certPem: server.certPem, keyPem: server.keyPem! }, { commonName: 'x' }), 'ERR_PKI_CERT_INVALID');
  await rejectsCode(() => issueClientCert({ certPem: ca.certPem, keyPem: otherCa.keyPem }, { commonName: 'x' }), 'ERR_PKI_KEY_MISMATCH');
});

/** Start a mutual-TLS server that greets every authorized client with its CN. */
async function mtlsServer(t: { after: (fn: () => unknown) => void }) {
  const rejected: Error[] = [];
  const srv = tls.createServer({ key: server.keyPem, cert: server.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (socket) => {
    socket.end(`hello ${socket.getPeerCertificate().subject.CN}`);
  });
  srv.on('tlsClientError', (err) => rejected.push(err));
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => new Promise((resolve) => srv.close(resolve)));
  return { port: (srv.address() as AddressInfo).port, rejected };
}

/** Connect with a client certificate; resolve with what the server said (or '' on failure). */
function talk(port: number, cert: { certPem: string; keyPem?: string | undefined }): Promise<{ data: string; error?: Error }> {
  return new Promise((resolve) => {
    let data = '';
    const socket = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem, cert: cert.certPem, key: cert.keyPem });
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('utf8');
    });
    socket.on('error', (error) => resolve({ data, error }));
    socket.on('close', () => resolve({ data }));
  });
}

test('mutual TLS on 127.0.0.1: our client certificate is accepted, one from another CA is refused', async (t) => {
  const { port, rejected } = await mtlsServer(t);
  const ok = await talk(port, client);
  assert.equal(ok.error, undefined);
  assert.equal(ok.data, 'hello ci-sender');

  const bad = await talk(port, foreignClient);
  assert.equal(bad.data, '', 'the server never greets a client from another CA');
  assert.equal(rejected.length, 1);
});

test('saveCa writes 0700/0644/0600 files, refuses to overwrite, and loadCa reads them back', async () => {
  const dir = join(await mkdtemp(join(tmpdir(), 'darkhook-ca-')), 'ca');
  await saveCa(dir, ca);
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  assert.equal((await stat(join(dir, 'ca.cert.pem'))).mode & 0o777, 0o644);
  assert.equal((await stat(join(dir, 'ca.key.pem'))).mode & 0o777, 0o600);
  assert.deepEqual({ ...(await loadCa(dir)) }, { ...ca });
  await rejectsCode(() => saveCa(dir, otherCa), 'ERR_FILE_EXISTS');
  await saveCa(dir, otherCa, { overwrite: true });
  assert.equal((await loadCa(dir)).certPem, otherCa.certPem);
  await rejectsCode(() => loadCa(join(dir, 'missing')), 'ERR_PKI_CA_NOT_FOUND');
});

test('loadCa accepts PKCS#8 and encrypted PKCS#8 keys; a wrong or missing passphrase is ERR_PKI_KEY_INVALID', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'darkhook-ca-'));
  await saveCa(dir, ca);
  const key = createPrivateKey(ca.keyPem);
  await writeFile(join(dir, 'ca.key.pem'), key.export({ type: 'pkcs8', format: 'pem' }));
  assert.equal((await loadCa(dir)).certPem, ca.certPem);

  const encrypted = key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'correct horse' });
  await writeFile(join(dir, 'ca.key.pem'), encrypted);
  const loaded = await loadCa(dir, { passphrase: 'correct horse' });
  assert.equal(loaded.keyPem, ca.keyPem, 'decrypted to the PKCS#1 form');
  const issued = await issueClientCert(loaded, { commonName: 'from-encrypted-ca' });
  assert.ok(verifyIssuedBy(issued.certPem, ca.certPem));
  await rejectsCode(() => loadCa(dir, { passphrase: 'wrong' }), 'ERR_PKI_KEY_INVALID');
  await rejectsCode(() => loadCa(dir), 'ERR_PKI_KEY_INVALID');
  await assert.rejects(loadCa(dir, { passphrase: 'wrong' }), (err: Error) => !err.message.includes('PRIVATE KEY'));
  assert.equal(await readFile(join(dir, 'ca.key.pem'), 'utf8'), encrypted, 'the file on disk is untouched');
});
