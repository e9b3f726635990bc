/** `darkhook pki` as a user runs it: ca create, cert issue, show; bad input gives one coded line and exit 3. */
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import forge from 'node-forge';
import {
  certFingerprint,
  createCa,
  generateRsaKeyPair,
  issueClientCert,
  saveCa,
  writeIdentityFile,
} from '../../pki/index.js';
import { type CliRun, runCli } from '../cli/helpers.js';
import { forgeCsr } from './helpers.js';

const dir = await mkdtemp(join(tmpdir(), 'darkhook-cli-pki-'));
const caDir = join(dir, 'ca');
const ca = await createCa({ commonName: 'cli test CA' });
await saveCa(caDir, ca);

/** Assert a failed run: `exit`, exactly one `darkhook: CODE:` line on stderr, no stack trace. */
function assertCoded(r: CliRun, code: string, exit = 3): void {
  assert.equal(r.code, exit, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, new RegExp(`^darkhook: ${code}: `));
  assert.doesNotMatch(r.stderr, /\n\s+at |PRIVATE KEY/);
}

test('pki ca create writes a CA, then refuses to overwrite it without --force', async () => {
  const target = join(dir, 'new-ca');
  const r = await runCli(['--json', 'pki', 'ca', 'create', '--dir', target, '--cn', 'Fresh CA', '--days', '30']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { subject: string; sha256: string };
  assert.equal(out.subject, 'CN=Fresh CA');
  const certPem = await readFile(join(target, 'ca.cert.pem'), 'utf8');
  assert.equal(out.sha256, certFingerprint(certPem, 'sha256'));
  assert.ok(new X509Certificate(certPem).ca);
  assert.equal((await stat(join(target, 'ca.key.pem'))).mode & 0o777, 0o600);
  assert.doesNotMatch(r.stdout, /PRIVATE KEY/);

  assertCoded(await runCli(['pki', 'ca', 'create', '--dir', target]), 'ERR_FILE_EXISTS');
  assert.equal(await readFile(join(target, 'ca.cert.pem'), 'utf8'), certPem, 'the CA is untouched');
});

test('pki cert issue --server writes a verifiable cert with SANs and a 0600 key', async () => {
  const cert = join(dir, 'server.pem');
  const key = join(dir, 'server.key');
  const r = await runCli(['pki', 'cert', 'issue', '--ca-dir', caDir, '--cn', 'receiver', '--server', '--dns', 'receiver,localhost', '--ip', '127.0.0.1,::1', '--out-cert', cert, '--out-key', key, '--days', '10']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /issued server certificate "CN=receiver"/);
  const x = new X509Certificate(await readFile(cert, 'utf8'));
  assert.ok(x.verify(new X509Certificate(ca.certPem).publicKey));
  assert.equal(x.subjectAltName, 'DNS:receiver, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  assert.ok(createPrivateKey(await readFile(key, 'utf8')));
  assert.equal((await stat(key)).mode & 0o777, 0o600);
});

test('pki cert issue --client, then pki show prints subject, issuer, validity and SHA-256 but no key', async () => {
  const cert = join(dir, 'client.pem');
  const key = join(dir, 'client.key');
  const issued = await runCli(['pki', 'cert', 'issue', '--ca-dir', caDir, '--cn', 'ci-sender', '--client', '--out-cert', cert, '--out-key', key]);
  assert.equal(issued.code, 0, issued.stderr);
  const certPem = await readFile(cert, 'utf8');
  assert.deepEqual(new X509Certificate(certPem).keyUsage, ['1.3.6.1.5.5.7.3.2']);

  const r = await runCli(['pki', 'show', cert]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /subject\s+CN=ci-sender/);
  assert.match(r.stdout, /issuer\s+CN=cli test CA/);
  assert.match(r.stdout, /\((364|365) days left\)/);
  assert.ok(r.stdout.includes(certFingerprint(certPem, 'sha256')));
  assert.doesNotMatch(r.stdout, /WARNING/);
});

test('pki show of an identity JSON summarises it and never prints the key', async () => {
  const client = await issueClientCert(ca, { commonName: 'identity-sender' });
  const path = join(dir, 'sender.json');
  await writeIdentityFile(path, { ztAPI: 'https://ctrl.example:1280/edge/client/v1', ztAPIs: null, configTypes: null, key: client.keyPem!, cert: client.certPem, ca: ca.certPem, enableHa: false });
  const keyBody = client.keyPem!.split('\n')[5]!;

  const human = await runCli(['pki', 'show', path]);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /controller\s+https:\/\/ctrl\.example:1280\/edge\/client\/v1/);
  assert.match(human.stdout, /subject\s+CN=identity-sender/);
  assert.match(human.stdout, /trusted CA 1 of 1/);
  const json = await runCli(['--json', 'pki', 'show', path]);
  assert.equal(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout) as { kind: string; cert: Array<{ sha256: string }>; key: { type: string } };
  assert.equal(doc.kind, 'ziti-identity');
  assert.equal(doc.cert[0]!.sha256, certFingerprint(client.certPem, 'sha256'));
  assert.equal(doc.key.type, 'rsa');
  for (const r of [human, json]) {
    assert.doesNotMatch(r.stdout, /PRIVATE KEY/);
    assert.ok(!r.stdout.includes(keyBody), 'no key material');
  }
});

test('pki show warns about an expired certificate', async () => {
  const { privateKeyPem } = await generateRsaKeyPair();
  const key = forge.pki.privateKeyFromPem(privateKeyPem) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date('2020-01-01T00:00:00Z');
  cert.validity.notAfter = new Date('2021-01-01T00:00:00Z');
  cert.setSubject([{ name: 'commonName', value: 'old' }]);
  cert.setIssuer([{ name: 'commonName', value: 'old' }]);
  cert.sign(key, forge.md.sha256.create());
  const path = join(dir, 'expired.pem');
  await writeFile(path, forge.pki.certificateToPem(cert));
  const r = await runCli(['pki', 'show', path]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\(expired\)/);
  assert.match(r.stdout, /WARNING: this certificate expired \d+ days ago/);
});

test('bad input files give one coded line and exit 3', async () => {
  const garbage = join(dir, 'garbage.pem');
  await writeFile(garbage, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
  assertCoded(await runCli(['pki', 'show', garbage]), 'ERR_PKI_CERT_INVALID');
  await writeFile(join(dir, 'text.txt'), 'hello');
  assertCoded(await runCli(['pki', 'show', join(dir, 'text.txt')]), 'ERR_PKI_PEM_INVALID');
  assertCoded(await runCli(['pki', 'show', join(dir, 'missing.pem')]), 'ERR_FILE_NOT_FOUND');
  assertCoded(await runCli(['pki', 'show', join(caDir, 'ca.key.pem')]), 'ERR_PKI_PEM_INVALID');
  const out = ['--out-cert', join(dir, 'x.pem'), '--out-key', join(dir, 'x.key')];
  assertCoded(await runCli(['pki', 'cert', 'issue', '--ca-dir', join(dir, 'no-ca'), '--cn', 'x', '--client', ...out]), 'ERR_PKI_CA_NOT_FOUND');
});

test('a wrong CA passphrase and a CSR asking for CA:true are refused with their codes', async () => {
  const encDir = join(dir, 'encrypted-ca');
  await saveCa(encDir, ca);
  const encrypted = createPrivateKey(ca.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'right' });
  await writeFile(join(encDir, 'ca.key.pem'), encrypted, { mode: 0o600 });
  await writeFile(join(dir, 'wrong.pass'), 'wrong\n');
  await writeFile(join(dir, 'right.pass'), 'right\n');
  const base = ['pki', 'cert', 'issue', '--ca-dir', encDir, '--cn', 'x', '--client'];
  const out = ['--out-cert', join(dir, 'enc.pem'), '--out-key', join(dir, 'enc.key')];
  assertCoded(await runCli([...base, ...out, '--ca-passphrase-file', join(dir, 'wrong.pass')]), 'ERR_PKI_KEY_INVALID');
  assertCoded(await runCli([...base, ...out]), 'ERR_PKI_KEY_INVALID');

  const { privateKeyPem } = await generateRsaKeyPair();
  await writeFile(join(dir, 'ca-wish.csr'), forgeCsr(privateKeyPem, 'wants-ca', true));
  await writeFile(join(dir, 'plain.csr'), forgeCsr(privateKeyPem, 'plain', false));
  const csrBase = [...base, '--ca-passphrase-file', join(dir, 'right.pass'), '--out-cert', join(dir, 'csr.pem')];
  assertCoded(await runCli([...csrBase, '--csr', join(dir, 'ca-wish.csr')]), 'ERR_PKI_CSR_POLICY');
  const ok = await runCli([...csrBase, '--csr', join(dir, 'plain.csr')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(new X509Certificate(await readFile(join(dir, 'csr.pem'), 'utf8')).subject, 'CN=x', 'CN from --cn, not the CSR');
});

test('contradictory flags are usage errors (exit 2)', async () => {
  const out = ['--out-cert', join(dir, 'u.pem'), '--out-key', join(dir, 'u.key')];
  assertCoded(await runCli(['pki', 'cert', 'issue', '--ca-dir', caDir, '--cn', 'x', '--server', '--client', ...out]), 'ERR_CLI_USAGE', 2);
  assertCoded(await runCli(['pki', 'cert', 'issue', '--ca-dir', caDir, '--cn', 'x', '--client', ...out, '--days', 'ten']), 'ERR_OPTION_INVALID', 2);
});

test('cert issue --force replaces an existing key file with a new 0600 file and does not follow a symlink', async () => {
  const { chmod, symlink, lstat } = await import('node:fs/promises');
  const cert = join(dir, 'forced.cert.pem');
  const key = join(dir, 'forced.key.pem');
  await writeFile(key, 'old key\n');
  await chmod(key, 0o644);
  const r = await runCli(['pki', 'cert', 'issue', '--ca-dir', caDir, '--cn', 'forced', '--client', '--out-cert', cert, '--out-key', key, '--force']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await stat(key)).mode & 0o777, 0o600);
  assert.match(await readFile(key, 'utf8'), /BEGIN (RSA )?PRIVATE KEY/);

  const target = join(dir, 'symlink-target.txt');
  await writeFile(target, 'must stay untouched\n');
  const linked = join(dir, 'linked.key.pem');
  await symlink(target, linked);
  const r2 = await runCli(['pki', 'cert', 'issue', '--ca-dir', caDir, '--cn', 'linked', '--client', '--out-cert', join(dir, 'linked.cert.pem'), '--out-key', linked, '--force']);
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(await readFile(target, 'utf8'), 'must stay untouched\n');
  assert.equal((await lstat(linked)).isSymbolicLink(), false);
  assert.equal((await stat(linked)).mode & 0o777, 0o600);
});
