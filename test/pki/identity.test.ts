/** Ziti identity files (PROTOCOL.md §1.1): round trips, value encodings, validation, file mode. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import {
  createCa,
  issueClientCert,
  parseIdentity,
  readIdentityFile,
  serializeIdentity,
  writeIdentityFile,
  type ZitiIdentity,
} from '../../pki/index.js';
import { rejectsCode } from './helpers.js';

const ca = await createCa({ commonName: 'identity test CA' });
const issued = await issueClientCert(ca, { commonName: 'sender-1' });
const other = await issueClientCert(ca, { commonName: 'sender-2' });
const identity: ZitiIdentity = {
  ztAPI: 'https://127.0.0.1:1280/edge/client/v1',
  ztAPIs: null,
  configTypes: ['intercept.v1'],
  key: issued.keyPem!,
  cert: issued.certPem,
  ca: ca.certPem,
  enableHa: false,
};
const dir = await mkdtemp(join(tmpdir(), 'darkhook-identity-'));

test('serialize writes ziti edge enroll field order with pem: prefixes; parse gives the same identity', () => {
  const text = serializeIdentity(identity);
  const doc = JSON.parse(text) as Record<string, unknown> & { id: Record<string, string> };
  assert.deepEqual(Object.keys(doc), ['ztAPI', 'ztAPIs', 'configTypes', 'id', 'enableHa']);
  assert.deepEqual(Object.keys(doc.id), ['key', 'cert', 'ca']);
  assert.ok(doc.id['key']!.startsWith('pem:-----BEGIN RSA PRIVATE KEY-----'));
  assert.ok(text.startsWith('{\n  "ztAPI": '), '2-space indent');
  assert.deepEqual(parseIdentity(text), identity);
  assert.deepEqual(parseIdentity(doc), identity, 'an already-parsed object works too');
});

test('bare PEM, file:// and relative paths load (paths relative to baseDir)', async () => {
  await writeFile(join(dir, 'key.pem'), identity.key, { mode: 0o600 });
  await writeFile(join(dir, 'cert.pem'), identity.cert);
  const doc = {
    ztAPI: identity.ztAPI,
    configTypes: identity.configTypes,
    id: { key: 'key.pem', cert: pathToFileURL(join(dir, 'cert.pem')).href, ca: identity.ca },
  };
  assert.deepEqual(parseIdentity(doc, dir), identity, 'missing ztAPIs and enableHa default to null/false');
  await writeFile(join(dir, 'relative.json'), JSON.stringify(doc));
  assert.deepEqual(await readIdentityFile(join(dir, 'relative.json')), identity);
});

test('a missing or malformed field is ERR_PKI_IDENTITY_INVALID naming the field', () => {
  const good = JSON.parse(serializeIdentity(identity)) as Record<string, unknown> & { id: Record<string, unknown> };
  const cases: Array<[string, Record<string, unknown>]> = [
    ['id.cert', { ...good, id: { ...good.id, cert: undefined } }],
    ['id.key', { ...good, id: { ...good.id, key: 'pem:-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n' } }],
    ['id.ca', { ...good, id: { ...good.id, ca: 'pem:not a certificate' } }],
    ['id.key', { ...good, id: { ...good.id, key: 'engine:pkcs11?slot=0' } }],
    ['id must', { ...good, id: undefined }],
    ['ztAPI', { ...good, ztAPI: 42 }],
    ['enableHa', { ...good, enableHa: 'yes' }],
    ['configTypes', { ...good, configTypes: 'intercept.v1' }],
  ];
  for (const [field, doc] of cases) {
    assert.throws(() => parseIdentity(doc, dir), (err: { code?: string; message: string }) => {
      assert.equal(err.code, 'ERR_PKI_IDENTITY_INVALID', field);
      assert.ok(err.message.includes(field), `${err.message} names ${field}`);
      assert.doesNotMatch(err.message, /BEGIN|PRIVATE/);
      return true;
    });
  }
  assert.throws(() => parseIdentity('{not json'), { code: 'ERR_PKI_IDENTITY_INVALID' });
  assert.throws(() => parseIdentity({ ...good, id: { ...good.id, key: 'nope.pem' } }, dir), { code: 'ERR_FILE_NOT_FOUND' });
  assert.throws(() => parseIdentity({ ...good, id: { ...good.id, key: `pem:${other.keyPem}` } }), { code: 'ERR_PKI_KEY_MISMATCH' });
});

test('writeIdentityFile writes mode 0600 atomically and readIdentityFile reads it back', async () => {
  const path = join(dir, 'sender.json');
  await writeFile(path, 'old content', { mode: 0o644 });
  await writeIdentityFile(path, identity);
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  assert.equal(await readFile(path, 'utf8'), serializeIdentity(identity));
  assert.deepEqual(await readIdentityFile(path), identity);
  await rejectsCode(() => readIdentityFile(join(dir, 'absent.json')), 'ERR_FILE_NOT_FOUND');
  await rejectsCode(() => writeIdentityFile(join(dir, 'no-such-dir', 'x.json'), identity), 'ERR_FILE_NOT_FOUND');
});
