/** The controller Client API: authentication (legacy or OIDC), services, sessions, routers, over one or several controllers. */
import { hostname, arch, platform, release } from 'node:os';
import { ZitiError } from '../../core/index.js';
import type { ZitiIdentity } from '../../pki/identity.js';
import type { ApiSession, ControllerVersion, EdgeRouterInfo, ServiceDetail, ServiceSession } from './controller-types.js';
import { oidcLogin, oidcRefresh } from './oidc.js';
import { zitiChannels } from './channels.js';
import { apiErrorOf, RestClient, type RestResponse } from './rest.js';

/** Page size for `GET /services` (the Go SDK uses 500). */
export const SERVICES_PAGE_LIMIT = 500;

/** SDK name and version reported to the controller in `sdkInfo`. */
export const SDK_INFO = { type: 'darkhook-ts', version: '0.1.0' } as const;

/** How the SDK authenticates: `auto` picks OIDC when the controller advertises it, else legacy. */
export type AuthMode = 'auto' | 'oidc' | 'legacy';

/** Options of `new ControllerClient`. */
export interface ControllerClientOptions {
  /** Authentication: `auto` (default), or force `oidc` or `legacy`. */
  readonly auth?: AuthMode;
  /** Called after calls moved to another controller because the current one could not be reached. */
  readonly onSwitched?: (from: string, to: string) => void;
}


/**
 * Talks to the controllers of one network with one identity. The identity's `ztAPI` and `ztAPIs`
 * are tried in turn: a controller that cannot be reached hands the call to the next one, and the
 * one that answered stays current. Authentication is lazy: the first call that needs a session
 * authenticates, and a 401 on a session call triggers exactly one re-authentication.
 *
 * @example
 * const ctrl = new ControllerClient(identity);
 * const svc = await ctrl.serviceByName('jenkins-hooks');
 * const session = await ctrl.createSession(svc.id, 'Dial');
 */
export class ControllerClient {
  readonly #rest: RestClient;
  readonly #auth: AuthMode;
  readonly #onSwitched: ((from: string, to: string) => void) | undefined;
  #bases: URL[];
  #current = 0;
  #mode: 'oidc' | 'legacy' | undefined;
  #session: ApiSession | undefined;
  #refreshToken: string | undefined;
  /** The controller that made the session (a legacy session is valid there only). */
  #sessionAt = '';
  #authenticating: Promise<ApiSession> | undefined;

  constructor(identity: ZitiIdentity, options: ControllerClientOptions = {}) {
    this.#bases = controllerBases(identity);
    this.#rest = new RestClient({ ca: identity.ca, cert: identity.cert, key: identity.key });
    this.#auth = options.auth ?? 'auto';
    this.#onSwitched = options.onSwitched;
    if (this.#auth !== 'auto') this.#mode = this.#auth;
  }

  /** The Client API base URL in use, e.g. `https://127.0.0.1:1280/edge/client/v1`. */
  get baseUrl(): string {
    return this.#bases[this.#current]!.href.replace(/\/$/, '');
  }

  /** Every controller this client may use, the current one included, in the order they are tried. */
  get controllerUrls(): string[] {
    return this.#bases.map((b) => b.href.replace(/\/$/, ''));
  }

  /** The authentication in use once known: `oidc` or `legacy`. */
  get authMode(): 'oidc' | 'legacy' | undefined {
    return this.#mode;
  }

  /** The current API session, if authenticated. */
  get apiSession(): ApiSession | undefined {
    return this.#session;
  }

  /** `GET /version` of the current controller (or the next that answers). @throws ERR_ZITI_CONTROLLER_UNAVAILABLE, ERR_ZITI_CONTROLLER_ERROR */
  version(): Promise<ControllerVersion> {
    return this.#onAny(async (base) => {
      const res = await this.#rest.request({ method: 'GET', url: url(base, 'version') });
      return dataOf(expectOk(res, 'version')) as ControllerVersion;
    });
  }

  /**
   * Authenticate with the identity certificate and keep the session: OIDC (`/oidc/…`, PROTOCOL.md
   * §2.6) when chosen or advertised, else `POST /authenticate?method=cert`.
   * @throws ERR_ZITI_UNAUTHORIZED when the controller does not accept the certificate (unknown,
   *   deleted or foreign identity); ERR_ZITI_CONTROLLER_UNAVAILABLE when no controller answers
   */
  async authenticate(): Promise<ApiSession> {
    this.#authenticating ??= this.#onAny((base) => this.#doAuthenticate(base)).finally(() => {
      this.#authenticating = undefined;
    });
    return this.#authenticating;
  }

  async #doAuthenticate(base: URL): Promise<ApiSession> {
    this.#mode ??= await this.#detectMode(base);
    const session = this.#mode === 'oidc' ? await this.#oidcAuthenticate(base) : await this.#legacyAuthenticate(base);
    this.#session = session;
    this.#sessionAt = base.href;
    zitiChannels.auth.publish({ event: 'authenticated', mode: session.kind, controller: base.origin, identity: session.identityName, expiresAt: session.expiresAt });
    return session;
  }

  /** OIDC when `/version` lists `OIDC_AUTH` and an `edge-oidc` API (as the Go and C SDKs decide). */
  async #detectMode(base: URL): Promise<'oidc' | 'legacy'> {
    const res = await this.#rest.request({ method: 'GET', url: url(base, 'version') });
    const v = dataOf(expectOk(res, 'version')) as ControllerVersion;
    const oidc = (v.capabilities ?? []).includes('OIDC_AUTH') && v.apiVersions?.['edge-oidc'] !== undefined;
    return oidc ? 'oidc' : 'legacy';
  }

  async #legacyAuthenticate(base: URL): Promise<ApiSession> {
    const body = JSON.stringify({
      sdkInfo: { type: SDK_INFO.type, version: SDK_INFO.version, appId: 'darkhook' },
      envInfo: { os: platform(), arch: arch(), osRelease: release(), hostname: hostname() },
    });
    const res = await this.#rest.request({
      method: 'POST',
      url: url(base, 'authenticate', { method: 'cert' }),
      headers: { 'content-type': 'application/json' },
      body,
    });
    return parseApiSession(dataOf(expectOk(res, 'authenticate')));
  }

  async #oidcAuthenticate(base: URL): Promise<ApiSession> {
    const tokens = await oidcLogin(this.#rest, new URL('/oidc', base), SDK_INFO);
    this.#refreshToken = tokens.refreshToken;
    return { kind: 'oidc', id: tokens.apiSessionId, token: tokens.accessToken, identityId: tokens.identityId, identityName: '', expiresAt: tokens.expiresAt };
  }

  /**
   * Renew the session before it expires. Legacy: `GET /current-api-session` extends its idle timer.
   * OIDC: a new access token from the refresh token (a new login when that is refused); the API
   * session id is kept, so router links stay keyed the same and only need `UpdateToken`.
   * @throws as `authenticate`
   */
  async refreshApiSession(): Promise<ApiSession> {
    if (this.#session?.kind === 'oidc') {
      const old = this.#session;
      const refresh = this.#refreshToken;
      if (refresh !== undefined) {
        try {
          const tokens = await this.#onAny((base) => oidcRefresh(this.#rest, new URL('/oidc', base), refresh));
          this.#refreshToken = tokens.refreshToken ?? refresh;
          this.#session = { ...old, id: tokens.apiSessionId || old.id, token: tokens.accessToken, expiresAt: tokens.expiresAt };
          zitiChannels.auth.publish({ event: 'refreshed', mode: 'oidc', controller: this.#bases[this.#current]!.origin, expiresAt: tokens.expiresAt });
          return this.#session;
        } catch (err) {
          if (!(err instanceof ZitiError) || err.code !== 'ERR_ZITI_UNAUTHORIZED') throw err;
        }
      }
      this.#session = undefined;
      return this.authenticate();
    }
    const res = await this.#authed('GET', 'current-api-session');
    const session = parseApiSession(dataOf(res));
    this.#session = session;
    return session;
  }

  /** End the API session (`DELETE /current-api-session`); errors are ignored (it may be gone already). */
  async logout(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    this.#refreshToken = undefined;
    if (session === undefined) return;
    await this.#rest
      .request({ method: 'DELETE', url: url(this.#bases[this.#current]!, 'current-api-session'), headers: authHeaders(session) })
      .catch(() => undefined);
  }

  /**
   * The Client API URLs of every controller of the cluster (`GET /controllers`, `edge-client` v1
   * addresses), and from now on try them all. A controller without that endpoint (single node, the
   * embedded fabric) yields the current list unchanged.
   * @throws ERR_ZITI_UNAUTHORIZED, ERR_ZITI_CONTROLLER_UNAVAILABLE
   */
  async refreshControllers(): Promise<string[]> {
    let res: RestResponse;
    try {
      res = await this.#authed('GET', 'controllers');
    } catch (err) {
      if (err instanceof ZitiError && (err.code === 'ERR_ZITI_NOT_FOUND' || err.code === 'ERR_ZITI_FORBIDDEN')) return this.controllerUrls;
      throw err;
    }
    const reported = parseControllerList(dataOf(res));
    if (reported.length > 0) {
      const current = this.#bases[this.#current]!;
      const next = dedupe([current, ...reported.map(clientApiBase)]);
      const changed = next.map((u) => u.href).join(' ') !== this.#bases.map((u) => u.href).join(' ');
      this.#bases = next;
      this.#current = 0;
      if (changed) zitiChannels.controller.publish({ event: 'list', controllers: this.controllerUrls });
    }
    return this.controllerUrls;
  }

  /** Every service this identity may Dial or Bind. @throws ERR_ZITI_UNAUTHORIZED, ERR_ZITI_CONTROLLER_* */
  async services(nameFilter?: string): Promise<ServiceDetail[]> {
    const out: ServiceDetail[] = [];
    for (let offset = 0; ; offset += SERVICES_PAGE_LIMIT) {
      const query: Record<string, string> = { limit: String(SERVICES_PAGE_LIMIT), offset: String(offset) };
      if (nameFilter !== undefined) query['filter'] = `name="${nameFilter.replaceAll('"', '\\"')}"`;
      const res = await this.#authed('GET', 'services', query);
      const page = dataOf(res);
      if (!Array.isArray(page)) throw protocolError('services', 'data is not a list');
      out.push(...page.map(parseService));
      const total = (res.json as { meta?: { pagination?: { totalCount?: number } } }).meta?.pagination?.totalCount;
      if (page.length < SERVICES_PAGE_LIMIT || total === undefined || out.length >= total) return out;
    }
  }

  /**
   * The service called `name`, as this identity sees it.
   * @throws ERR_ZITI_SERVICE_NOT_FOUND when no policy lets this identity see it
   */
  async serviceByName(name: string): Promise<ServiceDetail> {
    const found = (await this.services(name)).find((s) => s.name === name);
    if (found === undefined) {
      throw new ZitiError('ERR_ZITI_SERVICE_NOT_FOUND', `service "${name}" does not exist or this identity has no policy for it`);
    }
    return found;
  }

  /**
   * Create a Dial or Bind session for a service (`POST /sessions`). Check `permissions` first: a
   * controller answers a session it will not grant with a generic 400 ("service not found").
   * @throws ERR_ZITI_NO_EDGE_ROUTER when no edge router serves both identity and service;
   *   ERR_ZITI_REQUEST_REJECTED when the controller refuses the session
   */
  async createSession(serviceId: string, type: 'Dial' | 'Bind'): Promise<ServiceSession> {
    const res = await this.#authed('POST', 'sessions', {}, JSON.stringify({ serviceId, type }));
    return parseServiceSession(dataOf(res));
  }

  /** Edge routers this identity may use (`GET /current-identity/edge-routers`). */
  async edgeRouters(): Promise<EdgeRouterInfo[]> {
    const res = await this.#authed('GET', 'current-identity/edge-routers');
    const data = dataOf(res);
    return Array.isArray(data) ? data.map(parseRouter) : [];
  }

  /** When the identity's services last changed (`GET /current-api-session/service-updates`). */
  async servicesChangedAt(): Promise<string | undefined> {
    const res = await this.#authed('GET', 'current-api-session/service-updates');
    const d = dataOf(res) as { lastChangeAt?: string } | undefined;
    return d?.lastChangeAt;
  }

  /** Close keep-alive sockets; does not log out. */
  close(): void {
    this.#rest.close();
  }

  async #authed(method: 'GET' | 'POST' | 'DELETE', path: string, query: Record<string, string> = {}, body?: string): Promise<RestResponse> {
    for (let attempt = 0; ; attempt++) {
      const session = this.#session ?? (await this.authenticate());
      const headers: Record<string, string> = authHeaders(session);
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await this.#onAny((base) => this.#rest.request({ method, url: url(base, path, query), headers, body }));
      if (res.status === 401 && attempt === 0) {
        // The session expired, was removed, or belongs to a controller we moved away from: once more.
        if (this.#session === session) this.#session = undefined;
        continue;
      }
      return expectOk(res, `/${path}`);
    }
  }

  /**
   * Make the next controller of the cluster current (HA), for a failure the current one answers
   * rather than one that leaves it unreachable: right after a restart a controller can list every
   * edge router as offline until the routers have reconnected to it, while the other members see
   * them online. A `switched` diagnostics event, as for a controller that cannot be reached.
   * Returns false when the identity knows one controller only.
   */
  moveToNext(): boolean {
    if (this.#bases.length < 2) return false;
    const from = this.#bases[this.#current]!.origin;
    this.#current = (this.#current + 1) % this.#bases.length;
    const to = this.#bases[this.#current]!;
    // A legacy API session is only valid where it was made (PROTOCOL.md §2.6).
    if (this.#session?.kind === 'legacy' && this.#sessionAt !== to.href) this.#session = undefined;
    zitiChannels.controller.publish({ event: 'switched', from, to: to.origin });
    this.#onSwitched?.(from, to.origin);
    return true;
  }

  /**
   * Run `fn` against the current controller; when it cannot be reached, against each other one in
   * turn. The first that answers becomes current (a `switched` diagnostics event).
   * @throws ERR_ZITI_CONTROLLER_UNAVAILABLE naming every controller tried
   */
  async #onAny<T>(fn: (base: URL) => Promise<T>): Promise<T> {
    const failures: string[] = [];
    const start = this.#current;
    for (let i = 0; i < this.#bases.length; i++) {
      const index = (start + i) % this.#bases.length;
      const base = this.#bases[index]!;
      try {
        const result = await fn(base);
        if (index !== this.#current) {
          const from = this.#bases[this.#current]!.origin;
          this.#current = index;
          // A legacy API session is only valid where it was made (PROTOCOL.md §2.6).
          if (this.#session?.kind === 'legacy' && this.#sessionAt !== base.href) this.#session = undefined;
          zitiChannels.controller.publish({ event: 'switched', from, to: base.origin });
          this.#onSwitched?.(from, base.origin);
        }
        return result;
      } catch (err) {
        if (!(err instanceof ZitiError) || err.code !== 'ERR_ZITI_CONTROLLER_UNAVAILABLE') throw err;
        failures.push(err.message);
        zitiChannels.controller.publish({ event: 'unavailable', controller: base.origin, reason: err.message });
      }
    }
    if (failures.length === 1) throw new ZitiError('ERR_ZITI_CONTROLLER_UNAVAILABLE', failures[0]!);
    throw new ZitiError('ERR_ZITI_CONTROLLER_UNAVAILABLE', `none of the ${failures.length} controllers answered: ${failures.join('; ')}`);
  }
}

/** The identity's controllers as Client API bases: `ztAPI` first, then each of `ztAPIs`, once each. */
export function controllerBases(identity: Pick<ZitiIdentity, 'ztAPI' | 'ztAPIs'>): URL[] {
  return dedupe([identity.ztAPI, ...(identity.ztAPIs ?? [])].map(clientApiBase));
}

function dedupe(urls: readonly URL[]): URL[] {
  const seen = new Set<string>();
  return urls.filter((u) => {
    const k = u.href.replace(/\/$/, '');
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function authHeaders(session: ApiSession): Record<string, string> {
  return session.kind === 'oidc' ? { authorization: `Bearer ${session.token}` } : { 'zt-session': session.token };
}

function url(base: URL, path: string, query: Record<string, string> = {}): URL {
  const u = new URL(path, `${base.href.replace(/\/?$/, '/')}`);
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  return u;
}

/** `GET /controllers` data: each controller's `apiAddresses["edge-client"]` entries of version v1. */
export function parseControllerList(d: unknown): string[] {
  if (!Array.isArray(d)) return [];
  const out: string[] = [];
  for (const c of d as Record<string, unknown>[]) {
    const addrs = ((c?.['apiAddresses'] ?? {}) as Record<string, unknown>)['edge-client'];
    if (!Array.isArray(addrs)) continue;
    for (const a of addrs as Record<string, unknown>[]) {
      if (a?.['version'] === 'v1' && typeof a['url'] === 'string' && URL.canParse(a['url'])) out.push(a['url']);
    }
  }
  return out;
}

/** Normalise `ztAPI` to the Client API base (`…/edge/client/v1`). */
export function clientApiBase(ztAPI: string): URL {
  const withScheme = /^[a-z]+:\/\//i.test(ztAPI) ? ztAPI : `https://${ztAPI}`;
  const url = new URL(withScheme);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/edge/client/v1';
  return url;
}

function expectOk(res: RestResponse, what: string): RestResponse {
  if (res.status >= 200 && res.status < 300) return res;
  const api = apiErrorOf(res);
  const detail = api?.message !== undefined ? `${api.code ?? 'ERROR'}: ${api.message}` : `HTTP ${res.status}`;
  const text = `${what}: ${detail}`;
  if (res.status === 401) throw new ZitiError('ERR_ZITI_UNAUTHORIZED', text);
  if (res.status === 403) throw new ZitiError('ERR_ZITI_FORBIDDEN', text);
  if (res.status === 404) throw new ZitiError('ERR_ZITI_NOT_FOUND', text);
  if (api?.code === 'NO_EDGE_ROUTERS_AVAILABLE') throw new ZitiError('ERR_ZITI_NO_EDGE_ROUTER', text);
  if (res.status >= 500) throw new ZitiError('ERR_ZITI_CONTROLLER_ERROR', text);
  throw new ZitiError('ERR_ZITI_REQUEST_REJECTED', text);
}

function dataOf(res: RestResponse): unknown {
  const json = res.json as { data?: unknown } | undefined;
  if (json === undefined || typeof json !== 'object' || json === null) throw protocolError('response', 'not a JSON envelope');
  return json.data;
}

function protocolError(what: string, why: string): ZitiError {
  return new ZitiError('ERR_ZITI_CONTROLLER_ERROR', `${what}: unexpected response: ${why}`);
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw protocolError(what, 'missing string field');
  return v;
}

function parseApiSession(d: unknown): ApiSession {
  const o = (d ?? {}) as Record<string, unknown>;
  const identity = (o['identity'] ?? {}) as Record<string, unknown>;
  const exp = typeof o['expiresAt'] === 'string' ? new Date(o['expiresAt']) : undefined;
  return {
    kind: 'legacy',
    id: str(o['id'], 'api session id'),
    token: str(o['token'], 'api session token'),
    identityId: str(o['identityId'] ?? identity['id'], 'identity id'),
    identityName: typeof identity['name'] === 'string' ? identity['name'] : '',
    expiresAt: exp !== undefined && !Number.isNaN(exp.getTime()) ? exp : undefined,
  };
}

function parseService(d: unknown): ServiceDetail {
  const o = (d ?? {}) as Record<string, unknown>;
  const perms = Array.isArray(o['permissions']) ? o['permissions'].filter((p) => p === 'Dial' || p === 'Bind') : [];
  return {
    id: str(o['id'], 'service id'),
    name: str(o['name'], 'service name'),
    permissions: perms as ('Dial' | 'Bind')[],
    encryptionRequired: o['encryptionRequired'] !== false,
    config: (o['config'] ?? {}) as Record<string, unknown>,
  };
}

function parseRouter(d: unknown): EdgeRouterInfo {
  const o = (d ?? {}) as Record<string, unknown>;
  const protocols = (o['supportedProtocols'] ?? o['urls'] ?? {}) as Record<string, string>;
  return {
    name: typeof o['name'] === 'string' ? o['name'] : '',
    hostname: typeof o['hostname'] === 'string' ? o['hostname'] : undefined,
    supportedProtocols: protocols,
    isOnline: o['isOnline'] !== false,
  };
}

function parseServiceSession(d: unknown): ServiceSession {
  const o = (d ?? {}) as Record<string, unknown>;
  const type = o['type'] === 'Bind' ? 'Bind' : 'Dial';
  return {
    id: str(o['id'], 'session id'),
    token: str(o['token'], 'session token'),
    type,
    serviceId: str(o['serviceId'] ?? (o['service'] as Record<string, unknown> | undefined)?.['id'], 'session serviceId'),
    edgeRouters: Array.isArray(o['edgeRouters']) ? o['edgeRouters'].map(parseRouter) : [],
  };
}
