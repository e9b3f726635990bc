/** Reading certificates with node:crypto: fingerprints, validity, summaries, issuer checks (RSA and EC). */
import { createHash, type X509Certificate } from 'node:crypto';
import { OptionError, PkiError } from '../core/index.js';
import { describeKey } from './keys.js';
import { parseCertificate } from './pem.js';

/** A log-safe summary of one certificate. Names are one line, `CN=x, O=y`; SANs read `DNS:x`, `IP:y`. */
export interface CertSummary {
  readonly subject: string;
  readonly issuer: string;
  readonly sans: string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Lowercase hex. */
  readonly serialNumber: string;
  /** Lowercase hex SHA-1 of the DER, no colons. */
  readonly sha1: string;
  /** Lowercase hex SHA-256 of the DER, no colons. */
  readonly sha256: string;
  readonly isCa: boolean;
  /** `rsa`, `ec`, `ed25519`, … */
  readonly keyType: string;
  /** RSA modulus or EC curve size in bits, when known. */
  readonly keyBits?: number;
}

function fingerprint(x509: X509Certificate, algorithm: string): string {
  return createHash(algorithm).update(x509.raw).digest('hex');
}

/**
 * Lowercase hex fingerprint, without colons, of the DER of the first certificate in `certPem`. The
 * SHA-1 form is what enrollment JWTs carry as `kid`.
 * @throws ERR_OPTION_INVALID for another algorithm; ERR_PKI_PEM_INVALID, ERR_PKI_CERT_INVALID.
 * @example certFingerprint(certPem, 'sha256') // 'a3f1…'
 */
export function certFingerprint(certPem: string, algorithm: 'sha1' | 'sha256'): string {
  if (algorithm !== 'sha1' && algorithm !== 'sha256') {
    throw new OptionError('ERR_OPTION_INVALID', 'algorithm must be "sha1" or "sha256"');
  }
  return fingerprint(parseCertificate(certPem), algorithm);
}

/**
 * Require the first certificate in `certPem` to be valid at `now` (default: the current time).
 * @throws ERR_PKI_CERT_EXPIRED, ERR_PKI_CERT_NOT_YET_VALID; ERR_PKI_PEM_INVALID, ERR_PKI_CERT_INVALID.
 */
export function checkCertValidity(certPem: string, now: Date = new Date()): void {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new OptionError('ERR_OPTION_INVALID', 'now must be a valid Date');
  const x509 = parseCertificate(certPem);
  const notBefore = new Date(x509.validFrom);
  const notAfter = new Date(x509.validTo);
  if (now < notBefore) {
    throw new PkiError('ERR_PKI_CERT_NOT_YET_VALID', `certificate "${oneLine(x509.subject)}" is valid only from ${notBefore.toISOString()}`);
  }
  if (now > notAfter) {
    throw new PkiError('ERR_PKI_CERT_EXPIRED', `certificate "${oneLine(x509.subject)}" expired on ${notAfter.toISOString()}`);
  }
}

/** Node prints names one attribute per line; a summary wants `CN=x, O=y`. */
function oneLine(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}

/** Node's subjectAltName text (`DNS:a, IP Address:1.2.3.4`, values with commas quoted) as a list. */
function parseSans(text: string | undefined): string[] {
  if (text === undefined || text === '') return [];
  const items = text.match(/(?:[^,"]|"(?:[^"\\]|\\.)*")+/g) ?? [];
  return items.map((item) => item.trim().replace(/^IP Address:/, 'IP:')).filter(Boolean);
}

/**
 * Summarise the first certificate in `certPem` (any key type, EC included): names, SANs, validity,
 * serial, fingerprints, CA flag, key type and size. Never includes key material.
 * @throws ERR_PKI_PEM_INVALID, ERR_PKI_CERT_INVALID.
 * @example describeCertificate(identity.cert).notAfter
 */
export function describeCertificate(certPem: string): CertSummary {
  const x509 = parseCertificate(certPem);
  return Object.freeze({
    subject: oneLine(x509.subject),
    issuer: oneLine(x509.issuer),
    sans: parseSans(x509.subjectAltName),
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    serialNumber: x509.serialNumber.toLowerCase(),
    sha1: fingerprint(x509, 'sha1'),
    sha256: fingerprint(x509, 'sha256'),
    isCa: x509.ca,
    ...describeKey(x509.publicKey),
  });
}

/**
 * True when the first certificate in `certPem` names the first certificate in `caCertPem` as issuer
 * and its signature verifies with that CA's public key. Validity dates are not checked.
 * @throws ERR_PKI_PEM_INVALID, ERR_PKI_CERT_INVALID when either does not parse.
 */
export function verifyIssuedBy(certPem: string, caCertPem: string): boolean {
  const cert = parseCertificate(certPem);
  const ca = parseCertificate(caCertPem, 'the CA certificate');
  try {
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}
