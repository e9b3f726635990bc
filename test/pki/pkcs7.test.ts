/** PKCS#7 certs-only CA bundles (PROTOCOL.md §1.4): round trips, EC certificates, interop with openssl. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { certFingerprint, createCa, decodeCaBundlePkcs7, encodeCaBundlePkcs7, splitPemBundle } from '../../pki/index.js';
import { HAVE_OPENSSL, NO_OPENSSL, opensslEcPair } from './helpers.js';

const rootA = await createCa({ commonName: 'root A' });
const rootB = await createCa({ commonName: 'root B' });
const ec = opensslEcPair('P-256', 'ec root');
const fingerprints = (pems: string[]) => pems.map((p) => certFingerprint(p, 'sha256'));

test('encode then decode gives back the same certificates, in order, byte for byte', () => {
  const body = encodeCaBundlePkcs7([rootA.certPem, rootB.certPem]);
  assert.ok(body.split('\n').every((line) => line.length <= 64 && /^[A-Za-z0-9+/=]+$/.test(line)), 'base64 wrapped at 64');
  const decoded = decodeCaBundlePkcs7(body);
  assert.deepEqual(decoded, [rootA.certPem, rootB.certPem]);
  assert.deepEqual(decodeCaBundlePkcs7(body.replace(/\n/g, '\r\n  ')), decoded, 'any whitespace is ignored');
});

test('EC certificates (which node-forge cannot parse) round-trip', { skip: ec === undefined ? NO_OPENSSL : false }, () => {
  const decoded = decodeCaBundlePkcs7(encodeCaBundlePkcs7([ec!.certPem, rootA.certPem]));
  assert.deepEqual(fingerprints(decoded), fingerprints([ec!.certPem, rootA.certPem]));
});

test('interop with openssl in both directions', { skip: HAVE_OPENSSL ? false : NO_OPENSSL }, (t) => {
  const certs = ec === undefined ? [rootA.certPem, rootB.certPem] : [rootA.certPem, ec.certPem, rootB.certPem];
  const ours = Buffer.from(encodeCaBundlePkcs7(certs), 'base64');
  const printed = execFileSync('openssl', ['pkcs7', '-inform', 'DER', '-print_certs'], { input: ours, encoding: 'utf8' });
  assert.deepEqual(fingerprints(splitPemBundle(printed)), fingerprints(certs), 'openssl reads our bundle');

  const dir = mkdtempSync(join(tmpdir(), 'darkhook-p7-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'bundle.pem'), certs.join(''));
  const theirs = execFileSync('openssl', ['crl2pkcs7', '-nocrl', '-certfile', join(dir, 'bundle.pem'), '-outform', 'DER']);
  assert.deepEqual(fingerprints(decodeCaBundlePkcs7(theirs.toString('base64'))), fingerprints(certs), 'we read openssl bundle');
});

test('garbage is ERR_PKI_PKCS7_INVALID; an empty list is an option error', () => {
  for (const bad of ['', 'not base64!', Buffer.from('hello world').toString('base64'), rootA.certPem]) {
    assert.throws(() => decodeCaBundlePkcs7(bad), { code: 'ERR_PKI_PKCS7_INVALID' }, bad.slice(0, 20));
  }
  assert.throws(() => encodeCaBundlePkcs7([]), { code: 'ERR_OPTION_INVALID' });
  assert.throws(() => encodeCaBundlePkcs7(['junk']), { code: 'ERR_PKI_PEM_INVALID' });
});
