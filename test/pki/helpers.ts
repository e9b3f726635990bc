/** Shared PKI test fixtures: EC material from the openssl binary, DER byte flips, forge-built CSRs. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';

/** True when an `openssl` binary can be run (EC fixtures need it: node-forge has no EC). */
export const HAVE_OPENSSL = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Why EC cases skip when openssl is absent. */
export const NO_OPENSSL = 'openssl is not installed; EC certificates cannot be made with node-forge';

/** A self-signed EC certificate and its SEC1 key, made by `openssl req -x509`, or undefined without openssl. */
export function opensslEcPair(curve: 'P-256' | 'P-384' | 'P-521', cn = 'ec-test'): { certPem: string; keyPem: string } | undefined {
  if (!HAVE_OPENSSL) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'darkhook-ec-'));
  try {
    const keyPath = join(dir, 'key.pem');
    const certPem = execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-nodes', '-subj', `/CN=${cn}`, '-days', '2', '-keyout', keyPath, '-out', '-'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    return { certPem, keyPem: readFileSync(keyPath, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The DER inside the first PEM block of `pem`. */
export function pemDer(pem: string): Buffer {
  const body = /-----BEGIN [^-]+-----([\s\S]*?)-----END/.exec(pem)?.[1];
  assert.ok(body !== undefined, 'no PEM block');
  return Buffer.from(body.replace(/\s+/g, ''), 'base64');
}

/** Re-wrap DER as PEM with `label`. */
export function toPem(der: Buffer, label: string): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END ${label}-----\n`;
}

/** A copy of `der` with the byte at `index` XOR 0x01. */
export function flipByte(der: Buffer, index: number): Buffer {
  assert.ok(index >= 0 && index < der.length, `index ${index} outside the DER`);
  const copy = Buffer.from(der);
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

/** A CSR built and signed by node-forge, optionally asking for basicConstraints CA:true. */
export function forgeCsr(privateKeyPem: string, commonName: string, askCa: boolean): string {
  const key = forge.pki.privateKeyFromPem(privateKeyPem) as forge.pki.rsa.PrivateKey;
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  csr.setSubject([{ name: 'commonName', value: commonName }]);
  if (askCa) {
    csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'basicConstraints', cA: true, critical: true }] }]);
  }
  csr.sign(key, forge.md.sha256.create());
  return forge.pki.certificationRequestToPem(csr);
}

/** Assert that `fn` throws (or rejects with) a darkhook error with `code`. */
export async function rejectsCode(fn: () => unknown, code: string, message?: string): Promise<void> {
  await assert.rejects(async () => fn(), (err: { code?: unknown }) => {
    assert.equal(err.code, code, message);
    return true;
  });
}
