/** Issuing end-entity certificates from a CA: TLS servers (with SANs) and mutual-TLS clients. */
import { isIP } from 'node:net';
import { OptionError } from '../core/index.js';
import { type CaBundle, MAX_VALIDITY_DAYS, openCa } from './ca.js';
import { buildCertificate, type SubjectFields, toForgePublicKey } from './certificate-builder.js';
import { generateRsaKeyPair, readPrivateKey, readPublicKey, requireRsa } from './keys.js';
import { checkKeys, optionalInt, optionalString, optionalStrings, requiredString } from './options.js';

/** Validity of an end-entity certificate, in days, when none is given. */
export const DEFAULT_CERT_VALIDITY_DAYS = 365;

/** An issued certificate; `keyPem` (PKCS#1 PEM) is present only when darkhook generated the key. */
export interface IssuedCert {
  readonly certPem: string;
  readonly keyPem?: string;
}

/** Options of {@link issueServerCert}. */
export interface ServerCertOptions {
  /** Subject CN. Used as the only SAN when neither `dnsNames` nor `ipAddresses` is given. */
  readonly commonName: string;
  /** DNS subjectAltNames (a leading `*.` wildcard is allowed). */
  readonly dnsNames?: readonly string[];
  /** IP subjectAltNames, IPv4 or IPv6. */
  readonly ipAddresses?: readonly string[];
  /** Validity in days; default 365, clamped to the CA's own expiry. */
  readonly validityDays?: number;
  /** Certify this RSA public key (SPKI PEM) instead of generating a key pair. */
  readonly publicKeyPem?: string;
}

/** Options of {@link issueClientCert}. */
export interface ClientCertOptions {
  /** Subject CN: the client's identity name. */
  readonly commonName: string;
  /** Validity in days; default 365, clamped to the CA's own expiry. */
  readonly validityDays?: number;
  /** Certify this RSA public key (SPKI PEM) instead of generating a key pair. */
  readonly publicKeyPem?: string;
  /** Subject O, optional. */
  readonly organization?: string;
}

const DNS_NAME = /^(\*\.)?[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

function dnsName(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length > 253 || !DNS_NAME.test(value)) {
    throw new OptionError('ERR_OPTION_INVALID', `${path} must be a DNS name`);
  }
  return value;
}

function ipAddress(value: unknown, path: string): string {
  if (typeof value !== 'string' || isIP(value) === 0 || value.includes('%')) {
    throw new OptionError('ERR_OPTION_INVALID', `${path} must be an IPv4 or IPv6 address (no zone)`);
  }
  return value;
}

/** The 4 or 16 network-order bytes of an address already checked by `isIP`. */
export function ipToBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  let text = ip;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4 !== null) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  const groups = [...headGroups, ...zeros, ...tailGroups];
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  return out;
}

/** The subject public key: the caller's (checked RSA ≥ 2048) or a fresh pair. */
async function subjectKey(publicKeyPem: string | undefined) {
  if (publicKeyPem !== undefined) {
    const pub = readPublicKey(publicKeyPem, 'options.publicKeyPem');
    requireRsa(pub, 'options.publicKeyPem');
    return { publicKey: toForgePublicKey(pub), keyPem: undefined };
  }
  const { privateKeyPem } = await generateRsaKeyPair();
  return { publicKey: toForgePublicKey(readPrivateKey(privateKeyPem)), keyPem: privateKeyPem };
}

/** Extensions of a TLS client certificate (also used for CSRs signed by the CA). */
export const CLIENT_EXTENSIONS: readonly object[] = Object.freeze([
  { name: 'basicConstraints', cA: false, critical: true },
  { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
  { name: 'extKeyUsage', clientAuth: true },
]);

function result(certPem: string, keyPem: string | undefined): IssuedCert {
  return Object.freeze(keyPem === undefined ? { certPem } : { certPem, keyPem });
}

/**
 * Issue a TLS server certificate signed by `ca`: EKU serverAuth + clientAuth, SANs for every DNS name
 * and IP address, authorityKeyIdentifier. Node's `tls` verifies it with `ca: ca.certPem`.
 * @throws ERR_OPTION_INVALID, ERR_OPTION_UNKNOWN; ERR_PKI_KEY_INVALID/ERR_PKI_KEY_UNSUPPORTED for a bad
 *   `publicKeyPem`; the ERR_PKI_* codes of an unusable CA.
 * @example const { certPem, keyPem } = await issueServerCert(ca, { commonName: 'localhost', ipAddresses: ['127.0.0.1'] });
 */
export async function issueServerCert(ca: CaBundle, options: ServerCertOptions): Promise<IssuedCert> {
  const o = checkKeys(options, ['commonName', 'dnsNames', 'ipAddresses', 'validityDays', 'publicKeyPem'], 'options');
  const commonName = requiredString(o['commonName'], 'options.commonName');
  const dnsNames = optionalStrings(o['dnsNames'], 'options.dnsNames', dnsName);
  const ipAddresses = optionalStrings(o['ipAddresses'], 'options.ipAddresses', ipAddress);
  const validityDays = optionalInt(o['validityDays'], 'options.validityDays', 1, MAX_VALIDITY_DAYS, DEFAULT_CERT_VALIDITY_DAYS);
  const publicKeyPem = optionalString(o['publicKeyPem'], 'options.publicKeyPem', 64 * 1024);
  if (dnsNames.length === 0 && ipAddresses.length === 0) {
    if (isIP(commonName) !== 0 && !commonName.includes('%')) ipAddresses.push(commonName);
    else if (DNS_NAME.test(commonName)) dnsNames.push(commonName);
  }
  const issuer = openCa(ca);
  const { publicKey, keyPem } = await subjectKey(publicKeyPem);
  const altNames = [
    ...dnsNames.map((value) => ({ type: 2, value })),
    ...ipAddresses.map((ip) => ({ type: 7, value: ipToBytes(ip).toString('binary') })),
  ];
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
  ];
  if (altNames.length > 0) extensions.push({ name: 'subjectAltName', altNames });
  const certPem = buildCertificate({ subject: { commonName }, publicKey, validityDays, issuer, extensions });
  return result(certPem, keyPem);
}

/**
 * Issue a mutual-TLS client certificate signed by `ca`: EKU clientAuth, keyUsage digitalSignature +
 * keyEncipherment, authorityKeyIdentifier.
 * @throws ERR_OPTION_INVALID, ERR_OPTION_UNKNOWN; ERR_PKI_KEY_INVALID/ERR_PKI_KEY_UNSUPPORTED for a bad
 *   `publicKeyPem`; the ERR_PKI_* codes of an unusable CA.
 * @example const { certPem, keyPem } = await issueClientCert(ca, { commonName: 'ci-sender' });
 */
export async function issueClientCert(ca: CaBundle, options: ClientCertOptions): Promise<IssuedCert> {
  const o = checkKeys(options, ['commonName', 'validityDays', 'publicKeyPem', 'organization'], 'options');
  const subject: SubjectFields = {
    commonName: requiredString(o['commonName'], 'options.commonName'),
    organization: optionalString(o['organization'], 'options.organization'),
  };
  const validityDays = optionalInt(o['validityDays'], 'options.validityDays', 1, MAX_VALIDITY_DAYS, DEFAULT_CERT_VALIDITY_DAYS);
  const publicKeyPem = optionalString(o['publicKeyPem'], 'options.publicKeyPem', 64 * 1024);
  const issuer = openCa(ca);
  const { publicKey, keyPem } = await subjectKey(publicKeyPem);
  const certPem = buildCertificate({ subject, publicKey, validityDays, issuer, extensions: CLIENT_EXTENSIONS });
  return result(certPem, keyPem);
}
