/** The controller Client API: certificate authentication, services, service sessions, edge routers. */
import { hostname, arch, platform, release } from 'node:os';
import { ZitiError } from '../../core/index.js';
import type { ZitiIdentity } from '../../pki/identity.js';
import type { ApiSession, ControllerVersion, EdgeRouterInfo, ServiceDetail, ServiceSession } from './controller-types.js';
import { apiErrorOf, RestClient, type RestResponse } from './rest.js';
import { zitiChannels } from './channels.js';

/** Page size for `GET /services` (the Go SDK uses 500). */
export const SERVICES_PAGE_LIMIT = 500;

/** SDK name and version reported to the controller in `sdkInfo`. */
export const SDK_INFO = { type: 'darkhook-ts', version: '0.1.0' } as const;


/**
 * Talks to one controller with one identity. Authentication is lazy: the first call that needs a
 * session authenticates, and a 401 on a session call triggers exactly one re-authentication.
 *
 * @example
 * const ctrl = new ControllerClient(identity);
 * const svc = await ctrl.serviceByName('jenkins-hooks');
 * const session = await ctrl.createSession(svc.id, 'Dial');
 */
export class ControllerClient {
  readonly #rest: RestClient;
  readonly #base: URL;
  #session: ApiSession | undefined;
  #authenticating: Promise<ApiSession> | undefined;

  constructor(identity: ZitiIdentity) {
    this.#base = clientApiBase(identity.ztAPI);
    this.#rest = new RestClient({ ca: identity.ca, cert: identity.cert, key: identity.key });
  }

  /** The Client API base URL, e.g. `https://127.0.0.1:1280/edge/client/v1`. */
  get baseUrl(): string {
    return this.#base.href.replace(/\/$/, '');
  }

  /** The current API session, if authenticated. */
  get apiSession(): ApiSession | undefined {
    return this.#session;
  }

  /** `GET /version`. @throws ERR_ZITI_CONTROLLER_UNAVAILABLE, ERR_ZITI_CONTROLLER_ERROR */
  async version(): Promise<ControllerVersion> {
    const res = await this.#rest.request({ method: 'GET', url: this.#url('version') });
    return dataOf(expectOk(res, 'version')) as ControllerVersion;
  }

  /**
   * Authenticate with the identity certificate (`POST /authenticate?method=cert`) and keep the session.
   * @throws ERR_ZITI_UNAUTHORIZED when the controller does not accept the certificate (unknown,
   *   deleted or foreign identity); ERR_ZITI_CONTROLLER_UNAVAILABLE
   */
  async authenticate(): Promise<ApiSession> {
    this.#authenticating ??= this.#doAuthenticate().finally(() => {
      this.#authenticating = undefined;
    });
    return this.#authenticating;
  }

  async #doAuthenticate(): Promise<ApiSession> {
    const body = JSON.stringify({
      sdkInfo: { type: SDK_INFO.type, version: SDK_INFO.version, appId: 'darkhook' },
      envInfo: { os: platform(), arch: arch(), osRelease: release(), hostname: hostname() },
    });
    const res = await this.#rest.request({
      method: 'POST',
      url: this.#url('authenticate', { method: 'cert' }),
      headers: { 'content-type': 'application/json' },
      body,
    });
    const session = parseApiSession(dataOf(expectOk(res, 'authenticate')));
    this.#session = session;
    zitiChannels.auth.publish({ event: 'authenticated', identity: session.identityName, expiresAt: session.expiresAt });
    return session;
  }

  /** Refresh the API session's idle timer (`GET /current-api-session`). @throws as `authenticate` */
  async refreshApiSession(): Promise<ApiSession> {
    const res = await this.#authed('GET', this.#url('current-api-session'));
    const session = parseApiSession(dataOf(res));
    this.#session = session;
    return session;
  }

  /** End the API session (`DELETE /current-api-session`); errors are ignored (it may be gone already). */
  async logout(): Promise<void> {
    const token = this.#session?.token;
    this.#session = undefined;
    if (token === undefined) return;
    await this.#rest
      .request({ method: 'DELETE', url: this.#url('current-api-session'), headers: { 'zt-session': token } })
      .catch(() => undefined);
  }

  /** Every service this identity may Dial or Bind. @throws ERR_ZITI_UNAUTHORIZED, ERR_ZITI_CONTROLLER_* */
  async services(nameFilter?: string): Promise<ServiceDetail[]> {
    const out: ServiceDetail[] = [];
    for (let offset = 0; ; offset += SERVICES_PAGE_LIMIT) {
      const query: Record<string, string> = { limit: String(SERVICES_PAGE_LIMIT), offset: String(offset) };
      if (nameFilter !== undefined) query['filter'] = `name="${nameFilter.replaceAll('"', '\\"')}"`;
      const res = await this.#authed('GET', this.#url('services', query));
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
    const res = await this.#authed('POST', this.#url('sessions'), JSON.stringify({ serviceId, type }));
    return parseServiceSession(dataOf(res));
  }

  /** Edge routers this identity may use (`GET /current-identity/edge-routers`). */
  async edgeRouters(): Promise<EdgeRouterInfo[]> {
    const res = await this.#authed('GET', this.#url('current-identity/edge-routers'));
    const data = dataOf(res);
    return Array.isArray(data) ? data.map(parseRouter) : [];
  }

  /** When the identity's services last changed (`GET /current-api-session/service-updates`). */
  async servicesChangedAt(): Promise<string | undefined> {
    const res = await this.#authed('GET', this.#url('current-api-session/service-updates'));
    const d = dataOf(res) as { lastChangeAt?: string } | undefined;
    return d?.lastChangeAt;
  }

  /** Close keep-alive sockets; does not log out. */
  close(): void {
    this.#rest.close();
  }

  async #authed(method: 'GET' | 'POST' | 'DELETE', url: URL, body?: string): Promise<RestResponse> {
    for (let attempt = 0; ; attempt++) {
      const session = this.#session ?? (await this.authenticate());
      const headers: Record<string, string> = { 'zt-session': session.token };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await this.#rest.request({ method, url, headers, body });
      if (res.status === 401 && attempt === 0) {
        // The API session expired or was removed: authenticate once more, then give up.
        this.#session = undefined;
        continue;
      }
      return expectOk(res, url.pathname);
    }
  }

  #url(path: string, query: Record<string, string> = {}): URL {
    const url = new URL(path, `${this.#base.href.replace(/\/?$/, '/')}`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url;
  }
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
