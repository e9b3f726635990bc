/** PKCS#10 certificate requests: building one for a key, and signing one under a CA-side policy. */
import { createPublicKey, sign } from 'node:crypto';
import forge from 'node-forge';
import { OptionError, PkiError } from '../core/index.js';
import { type CaBundle, MAX_VALIDITY_DAYS, openCa } from './ca.js';
import { buildCertificate, subjectAttributes, toForgePublicKey } from './certificate-builder.js';
import { parseCsr } from './csr-parse.js';
import { oidNode, parseDerExact, toDerBuffer } from './der.js';
import { DEFAULT_CERT_VALIDITY_DAYS, CLIENT_EXTENSIONS } from './issue.js';
import { MIN_RSA_BITS, readPrivateKey } from './keys.js';
import { checkKeys, optionalInt, optionalString, requiredString } from './options.js';
import { derToPem } from './pem.js';

const { asn1 } = forge;
const OID_SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

/** Subject of a CSR built by {@link createCsr}. */
export interface CsrSubject {
  readonly commonName: string;
  readonly organization?: string;
  /** Two-letter country code, e.g. "US". */
  readonly country?: string;
}

/** What the CA decides when it signs a CSR; nothing in the request overrides it. */
export interface CsrPolicy {
  /** Subject CN of the issued certificate (the requester's CN is ignored). */
  readonly commonName: string;
  /** Validity in days; default 365, clamped to the CA's own expiry. */
  readonly validityDays?: number;
  /** Smallest RSA modulus accepted, in bits; default and minimum 2048. */
  readonly minRsaBits?: number;
  /** Subject O of the issued certificate, optional. */
  readonly organization?: string;
}

/**
 * Build a PKCS#10 CSR for `privateKeyPem` (RSA, or EC P-256/P-384/P-521), self-signed with that key
 * using SHA-256 (sha256WithRSAEncryption or ecdsa-with-SHA256). Returns `CERTIFICATE REQUEST` PEM.
 * @throws ERR_PKI_PEM_INVALID, ERR_PKI_KEY_INVALID, ERR_PKI_KEY_UNSUPPORTED (other key types);
 *   ERR_OPTION_INVALID, ERR_OPTION_UNKNOWN for a bad subject.
 * @example const csrPem = createCsr(privateKeyPem, { commonName: claims.sub, organization: 'NetFoundry', country: 'US' });
 */
export function createCsr(privateKeyPem: string, subject: CsrSubject): string {
  const s = checkKeys(subject, ['commonName', 'organization', 'country'], 'subject');
  const commonName = requiredString(s['commonName'], 'subject.commonName');
  const organization = optionalString(s['organization'], 'subject.organization');
  const country = optionalString(s['country'], 'subject.country');
  if (country !== undefined && !/^[A-Z]{2}$/.test(country)) {
    throw new OptionError('ERR_OPTION_INVALID', 'subject.country must be two capital letters');
  }
  const key = readPrivateKey(privateKeyPem);
  let algorithm: forge.asn1.Asn1;
  if (key.asymmetricKeyType === 'rsa') {
    algorithm = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      oidNode(OID_SHA256_WITH_RSA),
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ''),
    ]);
  } else if (key.asymmetricKeyType === 'ec') {
    algorithm = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [oidNode(OID_ECDSA_WITH_SHA256)]);
  } else {
    throw new PkiError('ERR_PKI_KEY_UNSUPPORTED', `a CSR needs an RSA or EC key, not ${key.asymmetricKeyType ?? 'unknown'}`);
  }
  const spki = parseDerExact(createPublicKey(key).export({ type: 'spki', format: 'der' }));
  if (spki === undefined) throw new PkiError('ERR_PKI_KEY_INVALID', 'the public key could not be encoded');
  const info = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, '\x00'),
    forge.pki.distinguishedNameToAsn1({ attributes: subjectAttributes({ commonName, organization, country }) }),
    spki,
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, []),
  ]);
  const signature = sign('sha256', toDerBuffer(info), key);
  const csr = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    info,
    algorithm,
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\x00${signature.toString('binary')}`),
  ]);
  return derToPem(toDerBuffer(csr), 'CERTIFICATE REQUEST');
}

/**
 * Sign a CSR as a client certificate (EKU clientAuth) after checking it: PEM type, DER structure,
 * self-signature (a tampered CSR fails), an accepted signature algorithm, an RSA key of at least
 * `policy.minRsaBits`, and no request for CA rights. The subject comes from `policy`, never from the
 * request, and other requested extensions are ignored.
 * @throws ERR_PKI_PEM_INVALID; ERR_PKI_CSR_INVALID (malformed, bad signature); ERR_PKI_KEY_UNSUPPORTED
 *   (not RSA); ERR_PKI_CSR_POLICY (weak key, CA:true, SHA-1 or unknown signature algorithm); the ERR_PKI_*
 *   codes of an unusable CA; ERR_OPTION_INVALID, ERR_OPTION_UNKNOWN for a bad policy.
 * @example const certPem = signCsr(ca, csrPem, { commonName: identityId });
 */
export function signCsr(ca: CaBundle, csrPem: string, policy: CsrPolicy): string {
  const p = checkKeys(policy, ['commonName', 'validityDays', 'minRsaBits', 'organization'], 'policy');
  const commonName = requiredString(p['commonName'], 'policy.commonName');
  const organization = optionalString(p['organization'], 'policy.organization');
  const validityDays = optionalInt(p['validityDays'], 'policy.validityDays', 1, MAX_VALIDITY_DAYS, DEFAULT_CERT_VALIDITY_DAYS);
  const minRsaBits = optionalInt(p['minRsaBits'], 'policy.minRsaBits', MIN_RSA_BITS, 16384, MIN_RSA_BITS);
  const issuer = openCa(ca);
  const csr = parseCsr(csrPem);
  if (!csr.signatureAccepted) {
    throw new PkiError('ERR_PKI_CSR_POLICY', `the CSR signature algorithm ${csr.signatureAlgorithm} is not accepted`);
  }
  if (!csr.signatureValid) throw new PkiError('ERR_PKI_CSR_INVALID', 'the CSR signature does not verify');
  if (csr.publicKey.asymmetricKeyType !== 'rsa') {
    throw new PkiError('ERR_PKI_KEY_UNSUPPORTED', `the CSR key is ${csr.publicKey.asymmetricKeyType ?? 'unknown'}; RSA is needed`);
  }
  const bits = csr.publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < minRsaBits) {
    throw new PkiError('ERR_PKI_CSR_POLICY', `the CSR key has ${bits} bits; the policy needs at least ${minRsaBits}`);
  }
  if (csr.requestsCa) throw new PkiError('ERR_PKI_CSR_POLICY', 'the CSR asks for CA rights (basicConstraints CA:true)');
  return buildCertificate({
    subject: { commonName, organization },
    publicKey: toForgePublicKey(csr.publicKey),
    validityDays,
    issuer,
    extensions: CLIENT_EXTENSIONS,
  });
}
