/** A self-signed root CA: creating one, and opening one (certificate + key) to sign with. */
import forge from 'node-forge';
import { PkiError } from '../core/index.js';
import { buildCertificate, type Issuer, toForgePublicKey } from './certificate-builder.js';
import { DEFAULT_RSA_BITS, generateRsaKeyPair, keysMatch, readPrivateKey, requireRsa } from './keys.js';
import { checkKeys, optionalInt, optionalString, requiredString } from './options.js';
import { parseCertificate } from './pem.js';

/** A CA as PEM text: its certificate and its unencrypted private key. */
export interface CaBundle {
  readonly certPem: string;
  readonly keyPem: string;
}

/** Options of {@link createCa}. */
export interface CreateCaOptions {
  /** Subject CN of the root, e.g. "darkhook fabric CA". */
  readonly commonName: string;
  /** Validity in days; default {@link DEFAULT_CA_VALIDITY_DAYS}. */
  readonly validityDays?: number;
  /** RSA key size in bits; default 2048. */
  readonly keyBits?: number;
  /** Subject O, optional. */
  readonly organization?: string;
}

/** CA validity in days when none is given (10 years). */
export const DEFAULT_CA_VALIDITY_DAYS = 3650;
/** Longest validity, in days, darkhook issues for any certificate (100 years). */
export const MAX_VALIDITY_DAYS = 36500;

/**
 * Create a self-signed root CA: basicConstraints CA:true (critical), keyUsage keyCertSign + cRLSign
 * (critical), subjectKeyIdentifier, a random positive 16-byte serial, sha256WithRSAEncryption.
 * @throws ERR_OPTION_INVALID, ERR_OPTION_UNKNOWN for bad options.
 * @example const ca = await createCa({ commonName: 'darkhook fabric CA' });
 */
export async function createCa(options: CreateCaOptions): Promise<CaBundle> {
  const o = checkKeys(options, ['commonName', 'validityDays', 'keyBits', 'organization'], 'options');
  const commonName = requiredString(o['commonName'], 'options.commonName');
  const organization = optionalString(o['organization'], 'options.organization');
  const validityDays = optionalInt(o['validityDays'], 'options.validityDays', 1, MAX_VALIDITY_DAYS, DEFAULT_CA_VALIDITY_DAYS);
  const keyBits = optionalInt(o['keyBits'], 'options.keyBits', 2048, 8192, DEFAULT_RSA_BITS);
  const { privateKeyPem } = await generateRsaKeyPair(keyBits);
  const key = readPrivateKey(privateKeyPem);
  const certPem = buildCertificate({
    subject: { commonName, organization },
    publicKey: toForgePublicKey(key),
    validityDays,
    selfKey: key,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  return Object.freeze({ certPem, keyPem: privateKeyPem });
}

/**
 * Check a CA bundle and prepare it for signing: the certificate is a CA, the key is RSA and belongs to it.
 * @throws ERR_PKI_PEM_INVALID, ERR_PKI_CERT_INVALID (not a CA certificate), ERR_PKI_KEY_INVALID,
 *   ERR_PKI_KEY_UNSUPPORTED (not RSA), ERR_PKI_KEY_MISMATCH.
 */
export function openCa(ca: CaBundle): Issuer {
  if (ca === null || typeof ca !== 'object') throw new PkiError('ERR_PKI_PEM_INVALID', 'ca must be { certPem, keyPem }');
  const x509 = parseCertificate(ca.certPem, 'the CA certificate');
  if (!x509.ca) throw new PkiError('ERR_PKI_CERT_INVALID', 'the CA certificate is not a CA (basicConstraints CA:false)');
  const key = readPrivateKey(ca.keyPem, undefined, 'the CA key');
  requireRsa(key, 'the CA key');
  if (!keysMatch(key, x509.publicKey)) {
    throw new PkiError('ERR_PKI_KEY_MISMATCH', 'the CA key does not belong to the CA certificate');
  }
  let cert: forge.pki.Certificate;
  try {
    cert = forge.pki.certificateFromAsn1(forge.asn1.fromDer(x509.raw.toString('binary')));
  } catch (cause) {
    throw new PkiError('ERR_PKI_CERT_INVALID', 'the CA certificate could not be read for signing', { cause });
  }
  return { cert, key };
}
