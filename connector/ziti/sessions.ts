/** One identity's standing with the fabric: its API session (refreshed), service lookups and sessions, router links. */
import { ZitiError } from '../../core/index.js';
import type { ZitiIdentity } from '../../pki/identity.js';
import { ControllerClient } from './controller-client.js';
import { routerTlsAddress, type ApiSession, type EdgeRouterInfo, type ServiceDetail, type ServiceSession } from './controller-types.js';
import { EdgeLink } from './edge-link.js';
import type { NormalizedContextOptions } from './options.js';

/**
 * How long a service looked up at the controller is reused, in milliseconds. The controller and the
 * router still check policy on every session and connect; the cache only saves a REST round trip
 * per dial, and is dropped when the router refuses a dial or the sessions are renewed.
 */
export const SERVICE_CACHE_TTL_MS = 60_000;

/** Most edge routers a context connects to ahead of its first dial. */
export const PREWARM_MAX_ROUTERS = 3;

/**
 * The sessions both dialing (`ZitiContext`) and hosting (`ZitiListener`) need: the API session,
 * kept fresh before it expires; services looked up and checked for a permission (cached briefly);
 * one service session per service and type; one link per edge router, shared by every connection.
 */
export class ZitiSessions {
  readonly identity: ZitiIdentity;
  readonly controller: ControllerClient;
  readonly options: NormalizedContextOptions;
  readonly #links = new Map<string, Promise<EdgeLink>>();
  readonly #sessions = new Map<string, Promise<ServiceSession>>();
  readonly #services = new Map<string, { readonly svc: ServiceDetail; readonly at: number }>();
  #refreshTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #prewarming = false;

  constructor(identity: ZitiIdentity, options: NormalizedContextOptions) {
    this.identity = identity;
    this.options = options;
    // Moving to another controller (HA): service lookups and sessions are made again there; links
    // and their terminators live on the routers and stay.
    const onSwitched = (): void => {
      this.#sessions.clear();
      this.#services.clear();
    };
    this.controller = new ControllerClient(identity, { auth: options.auth, onSwitched });
  }

  /** Authenticate now and start refreshing the API session. */
  async authenticate(): Promise<void> {
    const session = await this.controller.authenticate();
    this.#scheduleRefresh(session.expiresAt);
    this.#refreshControllers();
  }

  /**
   * Renew the API session now instead of at its scheduled time; with OIDC, every connected edge
   * router is then sent the new access token (UpdateToken). A router that refuses it has its link
   * closed; connections on it end and listeners re-bind on a new link.
   * @throws ERR_ZITI_UNAUTHORIZED, ERR_ZITI_CONTROLLER_UNAVAILABLE
   */
  async refreshSession(): Promise<void> {
    const session = await this.controller.refreshApiSession();
    if (session.kind === 'oidc') await this.#pushToken(session);
  }

  /** Send the access token to every open link; keep refused links out of the map (they close). */
  async #pushToken(session: ApiSession): Promise<void> {
    const entries = [...this.#links];
    await Promise.all(
      entries.map(async ([key, p]) => {
        const link = await p.catch(() => undefined);
        if (link === undefined || !link.isOpen) return;
        const ok = await link.updateToken(session.token, this.options.requestTimeoutMs);
        const newKey = `${link.address}|${session.id}`;
        if (ok && key !== newKey && this.#links.get(key) === p) {
          this.#links.delete(key);
          if (!this.#links.has(newKey)) this.#links.set(newKey, p);
        }
      }),
    );
  }

  /** Learn the cluster's controllers in the background (HA); failures leave the list as it is. */
  #refreshControllers(): void {
    this.controller.refreshControllers().catch(() => undefined);
  }

  /**
   * The service as this identity sees it, checked for `permission`.
   * @throws ERR_ZITI_SERVICE_NOT_FOUND, ERR_ZITI_SERVICE_NOT_PERMITTED
   */
  async service(name: string, permission: 'Dial' | 'Bind'): Promise<ServiceDetail> {
    const cached = this.#services.get(name);
    if (cached !== undefined && Date.now() - cached.at < SERVICE_CACHE_TTL_MS && cached.svc.permissions.includes(permission)) return cached.svc;
    // Missing from the cache, stale, or lacking the permission (a policy may have just been added): ask.
    this.#services.delete(name);
    const svc = await this.controller.serviceByName(name);
    this.#services.set(name, { svc, at: Date.now() });
    if (!svc.permissions.includes(permission)) {
      throw new ZitiError('ERR_ZITI_SERVICE_NOT_PERMITTED', `identity may not ${permission.toLowerCase()} service "${name}": no ${permission} policy grants it`);
    }
    return svc;
  }

  /** A cached service session (one per service and type). */
  session(serviceId: string, type: 'Dial' | 'Bind'): Promise<ServiceSession> {
    const key = `${type}:${serviceId}`;
    let p = this.#sessions.get(key);
    if (p === undefined) {
      p = this.controller.createSession(serviceId, type);
      this.#sessions.set(key, p);
      p.catch(() => this.#sessions.delete(key));
    }
    return p;
  }

  /** Look the service up again next time (a router refused a dial to it). */
  forgetService(name: string): void {
    this.#services.delete(name);
  }

  /**
   * Start over with a new API session and new service sessions, after a router refused ours.
   * Service sessions are otherwise reused for the life of the API session: OpenZiti controllers
   * (seen on v1.7.2) answer a second `POST /sessions` for the same API session, service and type
   * with a token naming a session id they never store, which routers then refuse as "invalid session".
   */
  async renewSessions(): Promise<void> {
    this.#sessions.clear();
    this.#services.clear();
    const session = await this.controller.authenticate();
    this.#scheduleRefresh(session.expiresAt);
    // Links authenticated with an older API session keep serving their connections; idle ones go.
    for (const [key, p] of this.#links) {
      if (key.endsWith(`|${session.id}`)) continue;
      const link = await p.catch(() => undefined);
      if (link === undefined || link.connectionCount === 0) {
        link?.close();
        this.#links.delete(key);
      }
    }
  }

  /**
   * An open link to one of `routers`: an existing one if any, else the first to answer when all are
   * tried at once. @throws ERR_ZITI_NO_EDGE_ROUTER, ERR_ZITI_ROUTER_UNAVAILABLE, ERR_ZITI_HELLO_REJECTED
   */
  async linkFor(routers: readonly EdgeRouterInfo[]): Promise<EdgeLink> {
    const addresses = routers.filter((r) => r.isOnline).map(routerTlsAddress).filter((a) => a !== undefined);
    if (addresses.length === 0) throw new ZitiError('ERR_ZITI_NO_EDGE_ROUTER', 'no online edge router with a TLS edge listener serves this service');
    const session = this.controller.apiSession ?? (await this.controller.authenticate());
    for (const a of addresses) {
      const existing = this.#links.get(`${a.host}:${a.port}|${session.id}`);
      if (existing !== undefined) {
        const link = await existing.catch(() => undefined);
        if (link?.isOpen === true) return link;
      }
    }
    return Promise.any(addresses.map((a) => this.#openLink(a.host, a.port, session))).catch((agg: AggregateError) => {
      throw agg.errors[0] as ZitiError;
    });
  }

  /**
   * With no router link yet, start links to (at most `PREWARM_MAX_ROUTERS` of) the identity's edge
   * routers in the background, as OpenZiti SDKs connect to their routers up front. `linkFor` then finds
   * the link open or in flight. Failures are ignored here: the dial reports its own.
   */
  prewarmLinks(): void {
    if (this.#links.size > 0 || this.#prewarming) return;
    this.#prewarming = true;
    void (async () => {
      const session = this.controller.apiSession ?? (await this.controller.authenticate());
      const routers = await this.controller.edgeRouters();
      const addresses = routers.filter((r) => r.isOnline).map(routerTlsAddress).filter((a) => a !== undefined);
      for (const a of addresses.slice(0, PREWARM_MAX_ROUTERS)) void this.#openLink(a.host, a.port, session).catch(() => undefined);
    })()
      .catch(() => undefined)
      .finally(() => {
        this.#prewarming = false;
      });
  }

  #openLink(host: string, port: number, session: ApiSession): Promise<EdgeLink> {
    const key = `${host}:${port}|${session.id}`;
    const existing = this.#links.get(key);
    if (existing !== undefined) return existing;
    const p: Promise<EdgeLink> = (async () => {
      this.#scheduleRefresh(session.expiresAt);
      // The newest token of this session: an OIDC refresh may have replaced it since.
      const current = this.controller.apiSession;
      const token = current?.id === session.id ? current.token : session.token;
      const link = await EdgeLink.connect({
        host,
        port,
        ca: this.identity.ca,
        cert: this.identity.cert,
        key: this.identity.key,
        sessionToken: token,
        label: session.identityName || 'darkhook',
        connectTimeoutMs: this.options.connectTimeoutMs,
        requestTimeoutMs: this.options.requestTimeoutMs,
        probeIntervalMs: this.options.probeIntervalMs,
      });
      link.on('state', (e) => {
        if (e.type !== 'closed') return;
        // The entry may have been re-keyed after a token update: delete it by value.
        for (const [k, v] of this.#links) if (v === p) this.#links.delete(k);
      });
      return link;
    })();
    this.#links.set(key, p);
    p.catch(() => this.#links.delete(key));
    return p;
  }

  /** Stop refreshing the API session (the first step of closing: nothing new is started). */
  stopRefreshing(): void {
    this.#stopped = true;
    if (this.#refreshTimer !== undefined) clearTimeout(this.#refreshTimer);
  }

  /** Close every link and log out. Connections on the links close with them. */
  async close(): Promise<void> {
    this.stopRefreshing();
    for (const p of this.#links.values()) (await p.catch(() => undefined))?.close();
    this.#links.clear();
    await this.controller.logout();
    this.controller.close();
  }

  /** Refresh at a random point between 1/2 and 5/6 of the remaining lifetime, as OpenZiti SDKs do. */
  #scheduleRefresh(expiresAt: Date | undefined): void {
    if (this.#stopped || this.#refreshTimer !== undefined) return;
    const remaining = expiresAt === undefined ? 10 * 60_000 : Math.max(5_000, expiresAt.getTime() - Date.now());
    const delay = remaining / 2 + Math.random() * (remaining * (5 / 6 - 1 / 2));
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = undefined;
      this.#refreshControllers();
      this.refreshSession().then(
        () => this.#scheduleRefresh(this.controller.apiSession?.expiresAt),
        () => this.#scheduleRefresh(new Date(Date.now() + 10_000)),
      );
    }, delay);
    this.#refreshTimer.unref();
  }
}
