/** Ziti enrollment JWTs (PROTOCOL.md §1.2–1.3) with node:crypto: create, decode, verify against a leaf cert. */
import { createHash, type KeyObject, sign, verify } from 'node:crypto';
import { OptionError, PkiError } from '../core/index.js';
import { keysMatch, readPrivateKey } from './keys.js';
import { checkKeys } from './options.js';
import { parseCertificate } from './pem.js';

/** The claims of an enrollment token. `exp` is in epoch seconds. */
export interface EnrollmentClaims {
  iss: string;
  sub: string;
  jti: string;
  em: string;
  exp: number;
  aud?: string[];
  ctrls?: string[];
}

/** A decoded JWT header. */
export interface JwtHeader {
  alg: string;
  kid?: string;
  typ?: string;
}

/** Enrollment methods accepted by {@link verifyEnrollmentJwt} when none are given. */
export const DEFAULT_ENROLLMENT_METHODS: readonly string[] = Object.freeze(['ott']);

/** JWS algorithms a Ziti controller signs with: digest, key type, EC curve. `none` is never accepted. */
const ALGORITHMS: Readonly<Record<string, { hash: string; keyType: string; curve?: string }>> = {
  RS256: { hash: 'sha256', keyType: 'rsa' },
  ES256: { hash: 'sha256', keyType: 'ec', curve: 'prime256v1' },
  ES384: { hash: 'sha384', keyType: 'ec', curve: 'secp384r1' },
  ES512: { hash: 'sha512', keyType: 'ec', curve: 'secp521r1' },
};
const BASE64URL = /^[A-Za-z0-9_-]*$/;

function algorithmFor(key: KeyObject): string | undefined {
  for (const [alg, spec] of Object.entries(ALGORITHMS)) {
    if (spec.keyType === key.asymmetricKeyType && spec.curve === key.asymmetricKeyDetails?.namedCurve) return alg;
  }
  return undefined;
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

function claimsError(message: string): PkiError {
  return new PkiError('ERR_PKI_JWT_CLAIMS', message);
}

/** Check and copy the known claims (unknown claims are dropped). */
function readClaims(raw: Record<string, unknown>): EnrollmentClaims {
  const claims: EnrollmentClaims = { iss: '', sub: '', jti: '', em: '', exp: 0 };
  for (const name of ['iss', 'sub', 'jti', 'em'] as const) {
    const value = raw[name];
    if (typeof value !== 'string' || value === '') throw claimsError(`claim ${name} must be a non-empty string`);
    claims[name] = value;
  }
  const exp = raw['exp'];
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw claimsError('claim exp must be a number (epoch seconds)');
  claims.exp = exp;
  // RFC 7519 allows a single string audience; Ziti writes [""].
  const aud = typeof raw['aud'] === 'string' ? [raw['aud']] : raw['aud'];
  for (const [name, value] of [['aud', aud], ['ctrls', raw['ctrls']]] as const) {
    if (value === undefined) continue;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw claimsError(`claim ${name} must be an array of strings`);
    claims[name] = [...value];
  }
  return claims;
}

interface JwtParts {
  header: JwtHeader;
  rawClaims: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

function splitJwt(token: string): JwtParts {
  if (typeof token !== 'string') throw new PkiError('ERR_PKI_JWT_MALFORMED', 'the token must be a string');
  const parts = token.trim().split('.');
  if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p)) || parts[0] === '' || parts[1] === '') {
    throw new PkiError('ERR_PKI_JWT_MALFORMED', 'the token is not three base64url parts (header.payload.signature)');
  }
  const [h, p, s] = parts as [string, string, string];
  const json = (part: string, what: string): Record<string, unknown> => {
    let value: unknown;
    try {
      value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    } catch (cause) {
      throw new PkiError('ERR_PKI_JWT_MALFORMED', `the token ${what} is not JSON`, { cause });
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new PkiError('ERR_PKI_JWT_MALFORMED', `the token ${what} is not a JSON object`);
    }
    return value as Record<string, unknown>;
  };
  const rawHeader = json(h, 'header');
  const { alg, kid, typ } = rawHeader;
  if (typeof alg !== 'string' || (kid !== undefined && typeof kid !== 'string') || (typ !== undefined && typeof typ !== 'string')) {
    throw new PkiError('ERR_PKI_JWT_MALFORMED', 'the token header needs a string alg (and string kid/typ if present)');
  }
  const header: JwtHeader = { alg };
  if (kid !== undefined) header.kid = kid;
  if (typ !== undefined) header.typ = typ;
  return { header, rawClaims: json(p, 'payload'), signingInput: `${h}.${p}`, signature: Buffer.from(s, 'base64url') };
}

/**
 * Create a signed enrollment token like a Ziti controller does: `alg` from the signer key (RSA ⇒ RS256,
 * EC P-256/384/521 ⇒ ES256/384/512 with raw r||s signatures), `kid` = lowercase hex SHA-1 of the DER of
 * `signer.certPem`, `typ` JWT.
 * @throws ERR_PKI_JWT_CLAIMS for bad claims; ERR_PKI_KEY_INVALID, ERR_PKI_KEY_UNSUPPORTED (other key
 *   types), ERR_PKI_KEY_MISMATCH (key not for the certificate); ERR_PKI_PEM_INVALID, ERR_PKI_CERT_INVALID.
 * @example const jwt = createEnrollmentJwt({ iss, sub: id, jti: randomUUID(), em: 'ott', exp }, serverTls);
 */
export function createEnrollmentJwt(claims: EnrollmentClaims, signer: { keyPem: string; certPem: string }): string {
  if (claims === null || typeof claims !== 'object') throw claimsError('claims must be an object');
  const body = readClaims(claims as unknown as Record<string, unknown>);
  const s = checkKeys(signer, ['keyPem', 'certPem'], 'signer');
  const key = readPrivateKey(s['keyPem'] as string, undefined, 'signer.keyPem');
  const cert = parseCertificate(s['certPem'] as string, 'signer.certPem');
  if (!keysMatch(key, cert.publicKey)) throw new PkiError('ERR_PKI_KEY_MISMATCH', 'signer.keyPem does not belong to signer.certPem');
  const alg = algorithmFor(key);
  if (alg === undefined) throw new PkiError('ERR_PKI_KEY_UNSUPPORTED', 'the signer key must be RSA or EC P-256/P-384/P-521');
  const kid = createHash('sha1').update(cert.raw).digest('hex');
  const input = `${b64url(JSON.stringify({ alg, kid, typ: 'JWT' }))}.${b64url(JSON.stringify(body))}`;
  const spec = ALGORITHMS[alg]!;
  const signature = sign(spec.hash, Buffer.from(input), spec.keyType === 'ec' ? { key, dsaEncoding: 'ieee-p1363' } : key);
  return `${input}.${b64url(signature)}`;
}

/**
 * Decode an enrollment token WITHOUT verifying it (to read `iss` before the controller cert is known).
 * @throws ERR_PKI_JWT_MALFORMED, ERR_PKI_JWT_CLAIMS.
 * @example const { claims } = decodeEnrollmentJwt(await readFile('sender.jwt', 'utf8'));
 */
export function decodeEnrollmentJwt(token: string): { header: JwtHeader; claims: EnrollmentClaims } {
  const { header, rawClaims } = splitJwt(token);
  return { header, claims: readClaims(rawClaims) };
}

/**
 * Verify an enrollment token against the controller's leaf certificate (PROTOCOL.md §1.3), in order:
 * algorithm (ES256/ES384/ES512/RS256, matching the certificate key), `kid` when present, signature,
 * claims, expiry (`exp` at or before `now` is expired), enrollment method.
 * @param options.now the time to check `exp` against; default the current time.
 * @param options.methods accepted `em` values; default `['ott']`.
 * @throws ERR_PKI_JWT_MALFORMED, ERR_PKI_JWT_ALG_UNSUPPORTED, ERR_PKI_JWT_KID_MISMATCH, ERR_PKI_JWT_SIGNATURE,
 *   ERR_PKI_JWT_CLAIMS, ERR_PKI_JWT_EXPIRED, ERR_PKI_JWT_METHOD_UNSUPPORTED; ERR_PKI_PEM_INVALID,
 *   ERR_PKI_CERT_INVALID for the certificate; ERR_OPTION_INVALID, ERR_OPTION_UNKNOWN.
 * @example const claims = verifyEnrollmentJwt(jwt, leafPemFromTls);
 */
export function verifyEnrollmentJwt(
  token: string,
  controllerLeafCertPem: string,
  options: { now?: Date; methods?: readonly string[] } = {},
): EnrollmentClaims {
  const o = checkKeys(options, ['now', 'methods'], 'options');
  const now = o['now'] ?? new Date();
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new OptionError('ERR_OPTION_INVALID', 'options.now must be a valid Date');
  const methods = o['methods'] ?? DEFAULT_ENROLLMENT_METHODS;
  if (!Array.isArray(methods) || !methods.every((m) => typeof m === 'string')) {
    throw new OptionError('ERR_OPTION_INVALID', 'options.methods must be an array of strings');
  }
  const cert = parseCertificate(controllerLeafCertPem, 'the controller certificate');
  const { header, rawClaims, signingInput, signature } = splitJwt(token);
  const spec = Object.hasOwn(ALGORITHMS, header.alg) ? ALGORITHMS[header.alg] : undefined;
  if (spec === undefined) throw new PkiError('ERR_PKI_JWT_ALG_UNSUPPORTED', `the token alg "${header.alg.slice(0, 16)}" is not accepted`);
  if (header.kid !== undefined) {
    const sha1 = createHash('sha1').update(cert.raw).digest('hex');
    if (header.kid.toLowerCase() !== sha1) {
      throw new PkiError('ERR_PKI_JWT_KID_MISMATCH', 'the token kid is not the SHA-1 of the controller certificate');
    }
  }
  const key = cert.publicKey;
  // The alg must fit the certificate's key, so a token cannot pick a weaker interpretation of it.
  const fits = key.asymmetricKeyType === spec.keyType && key.asymmetricKeyDetails?.namedCurve === spec.curve;
  let valid = false;
  if (fits) {
    try {
      const verifyKey = spec.keyType === 'ec' ? { key, dsaEncoding: 'ieee-p1363' as const } : key;
      valid = verify(spec.hash, Buffer.from(signingInput), verifyKey, signature);
    } catch {
      valid = false;
    }
  }
  if (!valid) throw new PkiError('ERR_PKI_JWT_SIGNATURE', `the token ${header.alg} signature does not verify with the controller certificate`);
  const claims = readClaims(rawClaims);
  if (claims.exp * 1000 <= now.getTime()) {
    throw new PkiError('ERR_PKI_JWT_EXPIRED', `the token expired (exp ${claims.exp}, now ${Math.floor(now.getTime() / 1000)})`);
  }
  if (!methods.includes(claims.em)) {
    throw new PkiError('ERR_PKI_JWT_METHOD_UNSUPPORTED', `enrollment method "${claims.em.slice(0, 32)}" is not supported`);
  }
  return claims;
}
