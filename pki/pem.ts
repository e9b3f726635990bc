/** PEM text helpers: find blocks by type, convert between PEM and DER, split certificate bundles. */
import { X509Certificate } from 'node:crypto';
import { PkiError } from '../core/index.js';

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/;

/** One PEM block: its label (e.g. `CERTIFICATE`) and decoded DER bytes. */
export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

/**
 * Every PEM block in `text`, in order. Blocks with encapsulated headers (legacy encrypted PEM) keep only
 * their base64 body, so callers that need those hand the raw text to node:crypto instead.
 * @throws ERR_PKI_PEM_INVALID when a block body is not base64.
 */
export function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    const label = match[1]!;
    const body = (match[2] ?? '').replace(/^[A-Za-z-]+:.*$/gm, '');
    if (!BASE64_BODY.test(body)) throw new PkiError('ERR_PKI_PEM_INVALID', `the ${label} PEM block is not base64`);
    blocks.push({ label, der: Buffer.from(body.replace(/\s+/g, ''), 'base64') });
  }
  return blocks;
}

/** Encode DER bytes as PEM with 64-character lines and a trailing newline. */
export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/**
 * The DER of the first block labelled `label`.
 * @throws ERR_PKI_PEM_INVALID when there is no such block (`what` names the expected thing).
 */
export function firstBlockDer(text: string, label: string, what: string): Buffer {
  const block = pemBlocks(text).find((b) => b.label === label);
  if (block === undefined || block.der.length === 0) {
    throw new PkiError('ERR_PKI_PEM_INVALID', `expected ${what} (a PEM "${label}" block)`);
  }
  return block.der;
}

/**
 * Every `CERTIFICATE` block of a PEM bundle, each re-encoded as canonical PEM (64-column lines,
 * `\n` endings). Other blocks (keys, CSRs) are skipped; text without certificates gives `[]`.
 * @throws ERR_PKI_PEM_INVALID when a certificate block is not base64.
 * @example splitPemBundle(identity.ca).length // number of trusted CAs
 */
export function splitPemBundle(pem: string): string[] {
  return pemBlocks(pem)
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => derToPem(b.der, 'CERTIFICATE'));
}

/**
 * Parse the first certificate of a PEM text with node:crypto (works for RSA, EC and Ed25519 keys).
 * @throws ERR_PKI_PEM_INVALID when there is no certificate block; ERR_PKI_CERT_INVALID when it does not parse.
 */
export function parseCertificate(certPem: string, what = 'a certificate'): X509Certificate {
  if (typeof certPem !== 'string') throw new PkiError('ERR_PKI_PEM_INVALID', `expected ${what} as PEM text`);
  const der = firstBlockDer(certPem, 'CERTIFICATE', what);
  try {
    return new X509Certificate(der);
  } catch (cause) {
    throw new PkiError('ERR_PKI_CERT_INVALID', `${what} could not be parsed`, { cause });
  }
}
