/** OpenZiti's OIDC certificate login (PROTOCOL.md §2.6): PKCE S256, authorize, login/cert over mTLS, token, refresh. */
import { createHash, randomBytes } from 'node:crypto';
import { arch, platform, release } from 'node:os';
import { ZitiError } from '../../core/index.js';
import type { RestClient, RestResponse } from './rest.js';

/**
 * The redirect URI the controller accepts for native clients (`http://localhost:*\/auth/callback`).
 * Nothing listens there: the code is read from the `Location` of the last redirect.
 */
export const OIDC_REDIRECT_URI = 'http://localhost:8080/auth/callback';

/** Client id of native SDKs (the Go SDK's; controllers also accept `openziti`). */
export const OIDC_CLIENT_ID = 'native';

/** Most redirects followed between `login/cert` and the callback. */
const MAX_REDIRECTS = 8;

/** Tokens from `/oidc/oauth/token`. Never logged, never in an error message. */
export interface OidcTokens {
  readonly accessToken: string;
  readonly refreshToken: string | undefined;
  /** When the access token expires (from `expires_in`, else its `exp` claim). */
  readonly expiresAt: Date | undefined;
  /** Claims of the access token that the SDK uses: `z_asid` (API session id) and `sub` (identity id). */
  readonly apiSessionId: string;
  readonly identityId: string;
}

/** The S256 code challenge of a PKCE verifier: base64url(SHA-256(verifier)) (RFC 7636 §4.2). */
export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** A fresh PKCE verifier (32 random bytes, 43 characters) and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: pkceChallenge(verifier) };
}

/**
 * Log in with the identity certificate (the `rest` client presents it) at `oidcBase`
 * (`https://ctrl:port/oidc`). Every step stays on this one controller: the auth request lives there.
 * @throws ERR_ZITI_UNAUTHORIZED when the certificate is refused; ERR_ZITI_CONTROLLER_UNAVAILABLE;
 *   ERR_ZITI_CONTROLLER_ERROR for an answer outside the flow
 */
export async function oidcLogin(rest: RestClient, oidcBase: URL, sdkInfo: { type: string; version: string }): Promise<OidcTokens> {
  const { verifier, challenge } = pkcePair();
  const state = randomBytes(16).toString('base64url');
  const nonce = randomBytes(16).toString('base64url');
  const authorize = sub(oidcBase, 'authorize', {
    client_id: OIDC_CLIENT_ID,
    response_type: 'code',
    scope: 'openid offline_access',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    redirect_uri: OIDC_REDIRECT_URI,
  });
  const started = await rest.request({ method: 'GET', url: authorize });
  const authRequestId = authRequestIdOf(started, oidcBase);
  const form = new URLSearchParams({
    id: authRequestId,
    sdkType: sdkInfo.type,
    sdkVersion: sdkInfo.version,
    sdkAppID: 'darkhook',
    envOs: platform(),
    envArch: arch(),
    envOsRelease: release(),
  });
  let res = await rest.request({
    method: 'POST',
    url: sub(oidcBase, 'login/cert', { id: authRequestId }),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  for (let hops = 0; ; hops++) {
    if (res.status === 200 && res.headers['totp-required'] !== undefined) {
      throw new ZitiError('ERR_ZITI_UNAUTHORIZED', 'oidc login: the controller asks for a TOTP code (MFA), which this SDK does not support');
    }
    if (res.status === 401 || res.status === 403 || res.status === 400) {
      throw new ZitiError('ERR_ZITI_UNAUTHORIZED', `oidc login/cert: the controller refused the identity certificate (HTTP ${res.status})`);
    }
    const location = header(res, 'location');
    if (res.status < 300 || res.status >= 400 || location === undefined) {
      throw new ZitiError('ERR_ZITI_CONTROLLER_ERROR', `oidc login/cert: expected a redirect, got HTTP ${res.status}`);
    }
    if (location.startsWith(OIDC_REDIRECT_URI)) {
      const cb = new URL(location);
      if (cb.searchParams.get('state') !== state) throw new ZitiError('ERR_ZITI_CONTROLLER_ERROR', 'oidc login: state mismatch in the callback');
      const code = cb.searchParams.get('code');
      if (code === null || code === '') throw new ZitiError('ERR_ZITI_UNAUTHORIZED', 'oidc login: the callback carries no authorization code');
      return tokenRequest(rest, oidcBase, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: OIDC_CLIENT_ID, redirect_uri: OIDC_REDIRECT_URI });
    }
    if (hops >= MAX_REDIRECTS) throw new ZitiError('ERR_ZITI_CONTROLLER_ERROR', 'oidc login: too many redirects');
    const next = new URL(location, oidcBase);
    if (next.origin !== oidcBase.origin) throw new ZitiError('ERR_ZITI_CONTROLLER_ERROR', `oidc login: redirect to a foreign origin ${next.origin}`);
    res = await rest.request({ method: 'GET', url: next });
  }
}

/**
 * Trade the refresh token for new tokens (`grant_type=refresh_token`, as the C SDK does).
 * @throws ERR_ZITI_UNAUTHORIZED when the refresh token is refused (expired, revoked identity)
 */
export function oidcRefresh(rest: RestClient, oidcBase: URL, refreshToken: string): Promise<OidcTokens> {
  return tokenRequest(rest, oidcBase, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: OIDC_CLIENT_ID });
}

async function tokenRequest(rest: RestClient, oidcBase: URL, form: Record<string, string>): Promise<OidcTokens> {
  const res = await rest.request({
    method: 'POST',
    url: sub(oidcBase, 'oauth/token'),
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(form).toString(),
  });
  const json = (res.json ?? {}) as Record<string, unknown>;
  if (res.status !== 200) {
    // The OAuth error fields only (RFC 6749 §5.2): never the request, which holds the secrets.
    const why = typeof json['error'] === 'string' ? `${json['error']}${typeof json['error_description'] === 'string' ? `: ${json['error_description']}` : ''}` : `HTTP ${res.status}`;
    const code = res.status >= 500 ? 'ERR_ZITI_CONTROLLER_ERROR' : 'ERR_ZITI_UNAUTHORIZED';
    throw new ZitiError(code, `oidc token (${form['grant_type']}): ${why}`);
  }
  const access = json['access_token'];
  if (typeof access !== 'string' || access === '') throw new ZitiError('ERR_ZITI_CONTROLLER_ERROR', 'oidc token: no access_token in the answer');
  const claims = jwtClaims(access);
  const expiresIn = typeof json['expires_in'] === 'number' ? json['expires_in'] : undefined;
  const exp = expiresIn !== undefined ? Date.now() + expiresIn * 1000 : typeof claims['exp'] === 'number' ? claims['exp'] * 1000 : undefined;
  return {
    accessToken: access,
    refreshToken: typeof json['refresh_token'] === 'string' && json['refresh_token'] !== '' ? json['refresh_token'] : undefined,
    expiresAt: exp !== undefined ? new Date(exp) : undefined,
    apiSessionId: typeof claims['z_asid'] === 'string' ? claims['z_asid'] : '',
    identityId: typeof claims['sub'] === 'string' ? claims['sub'] : '',
  };
}

/** The payload of a JWT, unverified: it came over TLS verified against the identity's CA. */
export function jwtClaims(jwt: string): Record<string, unknown> {
  const part = jwt.split('.')[1];
  if (part === undefined) return {};
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * The auth request id after `/authorize`: controllers answer with a redirect to the login page whose
 * `Location` carries `authRequestID` (the C SDK reads it), or, when the redirect was followed, the
 * `auth-request-id` header (the Go SDK reads it).
 */
function authRequestIdOf(res: RestResponse, oidcBase: URL): string {
  const fromHeader = header(res, 'auth-request-id');
  if (fromHeader !== undefined && fromHeader !== '') return fromHeader;
  const location = header(res, 'location');
  if (location !== undefined) {
    const u = new URL(location, oidcBase);
    const id = u.searchParams.get('authRequestID') ?? u.searchParams.get('id');
    if (id !== null && id !== '') return id;
  }
  throw new ZitiError('ERR_ZITI_CONTROLLER_ERROR', `oidc authorize: no auth request id in the answer (HTTP ${res.status})`);
}

function header(res: RestResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sub(base: URL, path: string, query: Record<string, string> = {}): URL {
  const url = new URL(path, base.href.replace(/\/?$/, '/'));
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return url;
}
