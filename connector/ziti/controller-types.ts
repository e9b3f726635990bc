/** The shapes of the controller REST objects an SDK uses (PROTOCOL.md §2.2–2.4), narrowed to what we read. */

/** `GET /version` data. */
export interface ControllerVersion {
  readonly version: string;
  readonly revision?: string;
  readonly buildDate?: string;
  readonly apiVersions?: Record<string, Record<string, { path: string; apiBaseUrls?: string[] }>>;
  readonly capabilities?: string[];
}

/** The current API session: a legacy one (`POST /authenticate`) or an OIDC access token. */
export interface ApiSession {
  /** `legacy`: the token goes in `zt-session`; `oidc`: it is a JWT sent as `Authorization: Bearer`. */
  readonly kind: 'legacy' | 'oidc';
  /** The API session id (OIDC: the access token's `z_asid`, kept across refreshes). */
  readonly id: string;
  /** Used on REST calls (see `kind`) and as the router hello SessionToken. Never logged. */
  readonly token: string;
  readonly identityId: string;
  readonly identityName: string;
  /** When the controller will expire the session if it sees no activity. */
  readonly expiresAt: Date | undefined;
}

/** A service this identity can see, with the permissions policies grant it. */
export interface ServiceDetail {
  readonly id: string;
  readonly name: string;
  readonly permissions: readonly ('Dial' | 'Bind')[];
  readonly encryptionRequired: boolean;
  readonly config: Readonly<Record<string, unknown>>;
}

/** An edge router as listed in a session or for the current identity. */
export interface EdgeRouterInfo {
  readonly name: string;
  readonly hostname?: string;
  /** e.g. `{ tls: 'tls://127.0.0.1:3022' }`. */
  readonly supportedProtocols: Readonly<Record<string, string>>;
  readonly isOnline: boolean;
}

/** A service session from `POST /sessions`. */
export interface ServiceSession {
  readonly id: string;
  /** Passed unchanged to the router in Connect/Bind bodies. */
  readonly token: string;
  readonly type: 'Dial' | 'Bind';
  readonly serviceId: string;
  readonly edgeRouters: readonly EdgeRouterInfo[];
}

/** `tls://host:port` of an edge router, parsed; undefined when it offers no TLS edge listener. */
export function routerTlsAddress(router: EdgeRouterInfo): { host: string; port: number } | undefined {
  const raw = router.supportedProtocols['tls'];
  if (raw === undefined) return undefined;
  const m = /^tls:(?:\/\/)?(\[[^\]]+\]|[^:]+):(\d+)$/.exec(raw);
  if (m === null) return undefined;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}
