/** One-time-token enrollment: JWT → pinned controller → CA bundle → key + CSR → certificate → identity. */
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { ZitiError } from '../../core/index.js';
import type { ZitiIdentity } from '../../pki/identity.js';
import { decodeEnrollmentJwt, verifyEnrollmentJwt } from '../../pki/jwt.js';
import { generateRsaKeyPair } from '../../pki/keys.js';
import { splitPemBundle } from '../../pki/pem.js';
import { ControllerClient, type AuthMode } from './controller-client.js';
import { zitiChannels } from './channels.js';
import { apiErrorOf, DEFAULT_REST_TIMEOUT_MS, RestClient } from './rest.js';
import { tlsServername } from './tls-names.js';

/** RSA key size for enrolled identities, in bits: 128-bit security; OpenZiti's CLI uses 4096, which takes seconds to generate. */
export const DEFAULT_ENROLL_RSA_BITS = 3072;


/** Options of `enroll`. */
export interface EnrollOptions {
  /** RSA modulus size of the new key, in bits. Default `DEFAULT_ENROLL_RSA_BITS`. */
  readonly keyBits?: number;
  /** Clock used to check the token's `exp`. Default now. */
  readonly now?: Date;
  /** Network timeout per step, in milliseconds. Default `DEFAULT_REST_TIMEOUT_MS`. */
  readonly timeoutMs?: number;
  /**
   * After enrolling, authenticate once and record every controller the cluster reports
   * (`GET /controllers`) in `ztAPIs`, so that the identity still connects when the controller it
   * enrolled against is down. Default true; a controller without that list leaves `ztAPIs` null.
   */
  readonly discoverControllers?: boolean;
  /** Authentication used for that discovery: as `ZitiContextOptions.auth`. Default `auto`. */
  readonly auth?: AuthMode;
}

/**
 * Enroll with a one-time token (`em = ott`) and return the new identity; nothing is written to disk.
 * The private key never leaves this process.
 *
 * @throws ERR_PKI_JWT_* for a malformed, foreign or expired token; ERR_ZITI_CONTROLLER_UNAVAILABLE when
 *   the controller cannot be reached; ERR_ZITI_ENROLL_REJECTED when it refuses (token used or unknown)
 * @example
 * const identity = await enroll(readFileSync('sender.jwt', 'utf8'));
 * await writeIdentityFile('sender.json', identity);
 */
export async function enroll(jwt: string, options: EnrollOptions = {}): Promise<ZitiIdentity> {
  const token = jwt.trim();
  const { claims } = decodeEnrollmentJwt(token);
  // CSR building and PKCS#7 parsing need node-forge; load it only when enrolling, so that dialing
  // and listening processes start without it.
  const [{ createCsr }, { decodeCaBundlePkcs7 }] = await Promise.all([import('../../pki/csr.js'), import('../../pki/pkcs7.js')]);
  const issuer = new URL(/^https?:\/\//.test(claims.iss) ? claims.iss : `https://${claims.iss}`);
  const timeoutMs = options.timeoutMs ?? DEFAULT_REST_TIMEOUT_MS;

  // Trust bootstrap (PROTOCOL.md §1.3): the token is signed by the controller's TLS key, so the leaf
  // that verifies it becomes the only thing we trust until we hold the CA bundle.
  const leafPem = await fetchServerLeaf(issuer, timeoutMs);
  verifyEnrollmentJwt(token, leafPem, { now: options.now });
  const pinnedSha256 = new X509Certificate(leafPem).fingerprint256.replaceAll(':', '').toLowerCase();
  zitiChannels.enroll.publish({ event: 'token-verified', issuer: issuer.origin, identityId: claims.sub });

  const pinned = new RestClient({ pinnedSha256 });
  let caPems: string[];
  try {
    const res = await pinned.request({
      method: 'GET',
      url: new URL('/edge/client/v1/.well-known/est/cacerts', issuer),
      headers: { accept: 'application/pkcs7-mime' },
      timeoutMs,
    });
    if (res.status !== 200) throw new ZitiError('ERR_ZITI_ENROLL_REJECTED', `CA bundle request answered HTTP ${res.status}`);
    caPems = decodeCaBundlePkcs7(res.body.toString('latin1'));
  } finally {
    pinned.close();
  }
  if (caPems.length === 0) throw new ZitiError('ERR_ZITI_ENROLL_REJECTED', 'the controller sent an empty CA bundle');
  const ca = caPems.join('');

  const { privateKeyPem } = await generateRsaKeyPair(options.keyBits ?? DEFAULT_ENROLL_RSA_BITS);
  const csr = createCsr(privateKeyPem, { commonName: claims.sub, organization: 'darkhook' });

  // From here on the controller must chain to the bundle it just gave us.
  const verified = new RestClient({ ca });
  let certPem: string;
  try {
    const url = new URL('/edge/client/v1/enroll', issuer);
    url.searchParams.set('method', 'ott');
    url.searchParams.set('token', claims.jti);
    const res = await verified.request({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-pem-file', accept: 'application/json' },
      body: csr,
      timeoutMs,
    });
    if (res.status !== 200) {
      const api = apiErrorOf(res);
      const why = api?.message !== undefined ? `${api.code ?? 'ERROR'}: ${api.message}` : `HTTP ${res.status}`;
      throw new ZitiError('ERR_ZITI_ENROLL_REJECTED', `the controller refused the enrollment (${why})`);
    }
    certPem = enrolledCertificate(res.json, res.body);
  } finally {
    verified.close();
  }
  zitiChannels.enroll.publish({ event: 'enrolled', issuer: issuer.origin, identityId: claims.sub });
  const identity: ZitiIdentity = {
    ztAPI: `${issuer.origin}/edge/client/v1`,
    ztAPIs: null,
    configTypes: null,
    key: privateKeyPem,
    cert: certPem,
    ca,
    enableHa: false,
  };
  if (options.discoverControllers !== false) identity.ztAPIs = await discoverControllers(identity, options.auth ?? 'auto');
  return identity;
}

/**
 * Every controller of the cluster as Client API URLs, or null when there is only the one enrolled
 * against. The enrollment has already succeeded: a failure here only leaves the list empty.
 */
async function discoverControllers(identity: ZitiIdentity, auth: AuthMode): Promise<string[] | null> {
  const ctrl = new ControllerClient(identity, { auth });
  try {
    const urls = await ctrl.refreshControllers();
    zitiChannels.enroll.publish({ event: 'controllers', controllers: urls });
    return urls.length > 1 ? urls : null;
  } catch (err) {
    zitiChannels.enroll.publish({ event: 'controllers-unknown', code: err instanceof ZitiError ? err.code : 'error' });
    return null;
  } finally {
    await ctrl.logout();
    ctrl.close();
  }
}

/** Current controllers answer `{data:{cert}}`; very old ones sent the PEM itself. */
function enrolledCertificate(json: unknown, body: Buffer): string {
  const fromJson = (json as { data?: { cert?: unknown } } | undefined)?.data?.cert;
  const pem = typeof fromJson === 'string' ? fromJson : body.toString('utf8');
  if (splitPemBundle(pem).length === 0) {
    throw new ZitiError('ERR_ZITI_ENROLL_REJECTED', 'the controller answered without a certificate');
  }
  return pem;
}

/** Open TLS without validation only to read the presented leaf certificate, then close. */
function fetchServerLeaf(issuer: URL, timeoutMs: number): Promise<string> {
  const port = Number(issuer.port || 443);
  const host = issuer.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, servername: tlsServername(host), rejectUnauthorized: false, timeout: timeoutMs });
    socket.once('secureConnect', () => {
      const der = socket.getPeerCertificate().raw;
      socket.destroy();
      if (der === undefined) {
        reject(new ZitiError('ERR_ZITI_CONTROLLER_ERROR', `${issuer.host} presented no certificate`));
        return;
      }
      resolve(new X509Certificate(der).toString());
    });
    socket.once('timeout', () => socket.destroy(new ZitiError('ERR_ZITI_CONTROLLER_UNAVAILABLE', `${issuer.host}: no TLS answer within ${timeoutMs} ms`)));
    socket.once('error', (err) =>
      reject(err instanceof ZitiError ? err : new ZitiError('ERR_ZITI_CONTROLLER_UNAVAILABLE', `${issuer.host}: ${err.message}`, { cause: err })),
    );
  });
}
