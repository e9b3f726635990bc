/** Builds and signs X.509 certificates with node-forge: serials, names, validity, key identifiers. */
import assert from 'node:assert/strict';
import { createPublicKey, type KeyObject, randomBytes, sign } from 'node:crypto';
import forge from 'node-forge';
import { derToPem } from './pem.js';

/** How far `notBefore` is set in the past, in milliseconds, so a peer with a slow clock accepts a new cert. */
export const NOT_BEFORE_BACKDATE_MS = 5 * 60 * 1000;

const DAY_MS = 24 * 60 * 60 * 1000;
const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
// Present in node-forge (used by cert.sign) but missing from its typings.
const getTBSCertificate = (forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 })
  .getTBSCertificate;

/** The subject fields darkhook writes. Strings are UTF-8; `country` is two letters. */
export interface SubjectFields {
  readonly commonName: string;
  readonly organization?: string | undefined;
  readonly country?: string | undefined;
}

/** The issuing side of a certificate: the CA's parsed certificate and its private key. */
export interface Issuer {
  readonly cert: forge.pki.Certificate;
  /** The CA's RSA private key (signing goes through node:crypto: ~50x faster than forge). */
  readonly key: KeyObject;
}

/** Everything needed to build one certificate. */
export interface CertificateSpec {
  readonly subject: SubjectFields;
  readonly publicKey: forge.pki.rsa.PublicKey;
  /** Validity in days from now; clamped to the issuer's own `notAfter`. */
  readonly validityDays: number;
  /** node-forge extension objects, SKI/AKI excluded (added here). */
  readonly extensions: readonly object[];
  /** Signs with this; absent means self-signed with `selfKey`. */
  readonly issuer?: Issuer;
  readonly selfKey?: KeyObject;
}

/** A random positive 16-byte serial as forge wants it (hex, first byte 0x01–0x7f so DER needs no padding). */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) || 0x40;
  return bytes.toString('hex');
}

// forge types valueTagClass as a tag class, but it holds the value's universal type (UTF8String = 12).
const UTF8 = forge.asn1.Type.UTF8 as number as forge.asn1.Class;
const PRINTABLE = forge.asn1.Type.PRINTABLESTRING as number as forge.asn1.Class;

/** forge name attributes for our subject fields: UTF8String for names, PrintableString for the country. */
export function subjectAttributes(subject: SubjectFields): forge.pki.CertificateField[] {
  const attrs: forge.pki.CertificateField[] = [];
  if (subject.country !== undefined) {
    attrs.push({ type: '2.5.4.6', shortName: 'C', value: subject.country, valueTagClass: PRINTABLE });
  }
  if (subject.organization !== undefined) {
    attrs.push({ type: '2.5.4.10', shortName: 'O', value: subject.organization, valueTagClass: UTF8 });
  }
  attrs.push({ type: '2.5.4.3', shortName: 'CN', value: subject.commonName, valueTagClass: UTF8 });
  return attrs;
}

/**
 * The issuer name for a child of `caCert`, byte-identical to the CA's subject. forge parses UTF8String
 * values as raw bytes but UTF-8-encodes them again when writing, so decode them first.
 */
function issuerAttributes(caCert: forge.pki.Certificate): forge.pki.CertificateField[] {
  return caCert.subject.attributes.map((attr) => {
    const copy: forge.pki.CertificateField = { ...attr };
    if (attr.valueTagClass === UTF8 && typeof attr.value === 'string') {
      copy.value = forge.util.decodeUtf8(attr.value);
    }
    return copy;
  });
}

/** The key identifier a child's authorityKeyIdentifier must carry: the CA's SKI, or one computed like it. */
function authorityKeyId(caCert: forge.pki.Certificate): string {
  const ski = caCert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null;
  if (ski?.subjectKeyIdentifier !== undefined) return forge.util.hexToBytes(ski.subjectKeyIdentifier);
  return caCert.generateSubjectKeyIdentifier().getBytes();
}

/** Build, sign (sha256WithRSAEncryption) and PEM-encode one certificate. */
export function buildCertificate(spec: CertificateSpec): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = spec.publicKey;
  cert.serialNumber = randomSerialHex();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - NOT_BEFORE_BACKDATE_MS);
  let notAfter = new Date(now + spec.validityDays * DAY_MS);
  if (spec.issuer !== undefined && spec.issuer.cert.validity.notAfter < notAfter) {
    notAfter = spec.issuer.cert.validity.notAfter;
  }
  cert.validity.notAfter = notAfter;
  cert.setSubject(subjectAttributes(spec.subject));
  // forge writes computed fields into extension objects, so give it copies.
  const extensions: object[] = [...spec.extensions.map((e) => ({ ...e })), { name: 'subjectKeyIdentifier' }];
  if (spec.issuer === undefined) {
    cert.setIssuer(subjectAttributes(spec.subject));
  } else {
    cert.setIssuer(issuerAttributes(spec.issuer.cert));
    extensions.push({ name: 'authorityKeyIdentifier', keyIdentifier: authorityKeyId(spec.issuer.cert) });
  }
  cert.setExtensions(extensions);
  const signingKey = spec.issuer?.key ?? spec.selfKey;
  assert(signingKey !== undefined, 'buildCertificate needs an issuer or a selfKey');
  // What forge's cert.sign() does, with the RSA signature computed by node:crypto instead.
  cert.signatureOid = cert.siginfo.algorithmOid = SHA256_WITH_RSA;
  const tbs = getTBSCertificate(cert);
  cert.tbsCertificate = tbs;
  cert.signature = sign('sha256', Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary'), signingKey).toString('binary');
  const der = forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes();
  return derToPem(Buffer.from(der, 'binary'), 'CERTIFICATE');
}

/** The node-forge form of an RSA public key, from a public or private KeyObject (forge embeds it in certificates). */
export function toForgePublicKey(key: KeyObject): forge.pki.rsa.PublicKey {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const pem = pub.export({ type: 'spki', format: 'pem' }) as string;
  return forge.pki.publicKeyFromPem(pem) as forge.pki.rsa.PublicKey;
}
