/** Reading PKCS#10 CSRs from DER: subject, public key, self-signature check, requested CA rights. */
import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import forge from 'node-forge';
import { PkiError } from '../core/index.js';
import { children, isContext, isUniversal, oidOf, parseDerExact, toDerBuffer } from './der.js';
import { describeKey } from './keys.js';
import { pemBlocks } from './pem.js';

const { Type } = forge.asn1;
type Asn1 = forge.asn1.Asn1;

/** Signature algorithms accepted on a CSR: OID → [digest, display name]. SHA-1 is not accepted. */
export const CSR_SIGNATURE_ALGORITHMS: Readonly<Record<string, readonly [string, string]>> = {
  '1.2.840.113549.1.1.11': ['sha256', 'sha256WithRSAEncryption'],
  '1.2.840.113549.1.1.12': ['sha384', 'sha384WithRSAEncryption'],
  '1.2.840.113549.1.1.13': ['sha512', 'sha512WithRSAEncryption'],
  '1.2.840.10045.4.3.2': ['sha256', 'ecdsa-with-SHA256'],
  '1.2.840.10045.4.3.3': ['sha384', 'ecdsa-with-SHA384'],
  '1.2.840.10045.4.3.4': ['sha512', 'ecdsa-with-SHA512'],
};

const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const NAME_LABELS: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/** A parsed CSR. `signatureValid` is false for a tampered CSR or an algorithm we do not accept. */
export interface ParsedCsr {
  readonly der: Buffer;
  readonly subject: string;
  readonly publicKey: KeyObject;
  readonly signatureAlgorithm: string;
  readonly signatureAccepted: boolean;
  readonly signatureValid: boolean;
  readonly requestsCa: boolean;
}

/** A log-safe summary of a CSR (what `darkhook pki show` prints). */
export interface CsrSummary {
  readonly subject: string;
  readonly keyType: string;
  readonly keyBits?: number;
  readonly signatureAlgorithm: string;
  readonly signatureValid: boolean;
  readonly requestsCa: boolean;
  readonly sha256: string;
}

function invalid(message: string, cause?: unknown): PkiError {
  return new PkiError('ERR_PKI_CSR_INVALID', message, cause === undefined ? {} : { cause });
}

/** RFC 4514-like one-line rendering of a Name: `CN=x, O=y` in encoded order. */
export function nameToString(name: Asn1): string {
  const parts: string[] = [];
  for (const rdn of children(name)) {
    for (const atv of children(rdn)) {
      const [typeNode, valueNode] = children(atv);
      const oid = oidOf(typeNode);
      if (oid === undefined || valueNode === undefined || typeof valueNode.value !== 'string') throw invalid('bad subject name');
      const raw = valueNode.value;
      const text = valueNode.type === Type.UTF8 ? forge.util.decodeUtf8(raw) : raw;
      parts.push(`${NAME_LABELS[oid] ?? oid}=${text}`);
    }
  }
  return parts.join(', ');
}

/** True when an extensionRequest attribute value asks for basicConstraints CA:true. */
function extensionsRequestCa(extensions: Asn1): boolean {
  for (const ext of children(extensions)) {
    const parts = children(ext);
    if (oidOf(parts[0]) !== OID_BASIC_CONSTRAINTS) continue;
    const octets = parts[parts.length - 1];
    if (!isUniversal(octets, Type.OCTETSTRING) || typeof octets.value !== 'string') throw invalid('bad basicConstraints');
    const bc = parseDerExact(Buffer.from(octets.value, 'binary'));
    if (!isUniversal(bc, Type.SEQUENCE)) throw invalid('bad basicConstraints');
    const cA = children(bc)[0];
    if (isUniversal(cA, Type.BOOLEAN) && cA.value !== '\x00') return true;
  }
  return false;
}

/**
 * Parse a PEM CSR (`CERTIFICATE REQUEST` or the old `NEW CERTIFICATE REQUEST`) and check its self-signature.
 * @throws ERR_PKI_PEM_INVALID when there is no CSR block; ERR_PKI_CSR_INVALID when it is not a well-formed
 *   DER PKCS#10 request.
 */
export function parseCsr(csrPem: string): ParsedCsr {
  if (typeof csrPem !== 'string') throw new PkiError('ERR_PKI_PEM_INVALID', 'expected a CSR as PEM text');
  const block = pemBlocks(csrPem).find((b) => b.label === 'CERTIFICATE REQUEST' || b.label === 'NEW CERTIFICATE REQUEST');
  if (block === undefined) throw new PkiError('ERR_PKI_PEM_INVALID', 'expected a CSR (a PEM "CERTIFICATE REQUEST" block)');
  const root = parseDerExact(block.der);
  if (!isUniversal(root, Type.SEQUENCE)) throw invalid('the CSR is not DER');
  const [info, sigAlg, sigBits] = children(root);
  const [version, subject, spki, attributes] = children(info);
  if (
    !isUniversal(info, Type.SEQUENCE) ||
    !isUniversal(version, Type.INTEGER) ||
    !isUniversal(subject, Type.SEQUENCE) ||
    !isUniversal(spki, Type.SEQUENCE) ||
    !isUniversal(sigAlg, Type.SEQUENCE) ||
    !isUniversal(sigBits, Type.BITSTRING) ||
    typeof sigBits.value !== 'string' ||
    !sigBits.value.startsWith('\x00')
  ) {
    throw invalid('the CSR does not have the PKCS#10 structure');
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: toDerBuffer(spki), format: 'der', type: 'spki' });
  } catch (cause) {
    throw invalid('the CSR public key could not be read', cause);
  }
  let requestsCa = false;
  if (attributes !== undefined) {
    if (!isContext(attributes, 0)) throw invalid('the CSR attributes are malformed');
    for (const attr of children(attributes)) {
      if (oidOf(children(attr)[0]) !== OID_EXTENSION_REQUEST) continue;
      for (const value of children(children(attr)[1])) requestsCa ||= extensionsRequestCa(value);
    }
  }
  const algOid = oidOf(children(sigAlg)[0]) ?? 'unknown';
  const alg = CSR_SIGNATURE_ALGORITHMS[algOid];
  let signatureValid = false;
  if (alg !== undefined) {
    try {
      const signature = Buffer.from(sigBits.value.slice(1), 'binary');
      signatureValid = verify(alg[0], toDerBuffer(info), publicKey, signature);
    } catch {
      signatureValid = false;
    }
  }
  return {
    der: block.der,
    subject: nameToString(subject),
    publicKey,
    signatureAlgorithm: alg?.[1] ?? algOid,
    signatureAccepted: alg !== undefined,
    signatureValid,
    requestsCa,
  };
}

/**
 * A log-safe summary of a CSR: subject, key type and size, signature algorithm and validity, whether it
 * asks for CA rights, and the SHA-256 of its DER. It does not throw for a bad signature (see `signatureValid`).
 * @throws ERR_PKI_PEM_INVALID, ERR_PKI_CSR_INVALID.
 */
export function describeCsr(csrPem: string): CsrSummary {
  const csr = parseCsr(csrPem);
  return Object.freeze({
    subject: csr.subject,
    ...describeKey(csr.publicKey),
    signatureAlgorithm: csr.signatureAlgorithm,
    signatureValid: csr.signatureValid,
    requestsCa: csr.requestsCa,
    sha256: createHash('sha256').update(csr.der).digest('hex'),
  });
}
