/** JSON shapes of the controller's Client API answers, modelled on OpenZiti's edge-api `rest_model` (v1.7.x). */
import type { FabricApiSession, FabricIdentity, FabricService, FabricSession } from './store.js';

/** An edge router as the controller advertises it. */
export interface AdvertisedRouter {
  /** Router name, e.g. `darkhook-router`. */
  readonly name: string;
  /** Host (IP or DNS name) SDKs connect to. */
  readonly host: string;
  /** TLS edge listener port. */
  readonly port: number;
}

/** One OpenZiti API error: `code` is theirs (e.g. `INVALID_AUTH`), `status` the HTTP status. */
export interface ApiErrorSpec {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly cause?: Readonly<Record<string, unknown>>;
}

/** The error catalogue of the real controller that this fabric answers with (controller/apierror, foundation/errorz). */
export const API_ERRORS = {
  unauthorized: { status: 401, code: 'UNAUTHORIZED', message: 'The request could not be completed. The session is not authorized or the credentials are invalid' },
  invalidAuth: { status: 401, code: 'INVALID_AUTH', message: 'The authentication request failed' },
  invalidAuthMethod: { status: 400, code: 'INVALID_AUTH_METHOD', message: 'The supplied authentication method is not valid' },
  invalidEnrollmentToken: { status: 400, code: 'INVALID_ENROLLMENT_TOKEN', message: 'The supplied token is not valid' },
  enrollmentExpired: { status: 400, code: 'ENROLLMENT_EXPIRED', message: 'The window for this enrollment has expired' },
  invalidEnrollMethod: { status: 400, code: 'INVALID_ENROLL_METHOD', message: 'The supplied enrollment method is not valid' },
  couldNotProcessCsr: { status: 400, code: 'COULD_NOT_PROCESS_CSR', message: 'The supplied csr could not be processed' },
  alreadyEnrolled: { status: 409, code: 'IDENTITY_ALREADY_ENROLLED', message: 'The identity already has a certificate; ask for a new identity' },
  unsupportedMedia: { status: 415, code: 'UNSUPPORTED_MEDIA', message: 'No suitable accept media types were detected, supports: application/json' },
  notFound: { status: 404, code: 'NOT_FOUND', message: 'The resource requested was not found or is no longer available' },
  couldNotValidate: {
    status: 400,
    code: 'COULD_NOT_VALIDATE',
    message: 'The supplied request contains an invalid document or no valid accept content were available, see cause',
  },
  couldNotParseBody: { status: 400, code: 'COULD_NOT_PARSE_BODY', message: 'The body of the request could not be parsed' },
  invalidFilter: { status: 400, code: 'INVALID_FILTER', message: 'The filter query supplied is invalid' },
  invalidPagination: { status: 400, code: 'INVALID_PAGINATION', message: 'The pagination properties provided are invalid' },
  noEdgeRouters: { status: 400, code: 'NO_EDGE_ROUTERS_AVAILABLE', message: 'No edge routers are assigned and online to handle the requested connection' },
  unhandled: { status: 500, code: 'UNHANDLED', message: 'An unhandled error occurred' },
} as const satisfies Record<string, ApiErrorSpec>;

/** `{error:{code,message,cause?,requestId}, meta:{}}`. */
export function errorEnvelope(spec: ApiErrorSpec, requestId: string): object {
  const error: Record<string, unknown> = { code: spec.code, message: spec.message, requestId };
  if (spec.cause !== undefined) error['cause'] = spec.cause;
  return { error, meta: {} };
}

/** A field-level cause, as OpenZiti attaches to COULD_NOT_VALIDATE. */
export function fieldCause(field: string, reason: string, value: unknown): Record<string, unknown> {
  return { field, reason, value: String(value ?? '') };
}

function base(id: string, created: Date, kind: string): Record<string, unknown> {
  const at = created.toISOString();
  return { id, createdAt: at, updatedAt: at, tags: {}, _links: { self: { href: `./${kind}/${id}` } } };
}

/** `currentApiSessionDetail`. */
export function apiSessionView(s: FabricApiSession, identity: FabricIdentity, idleTimeoutMs: number, ipAddress: string): object {
  return {
    ...base(s.id, s.lastActivityAt, 'current-api-session'),
    token: s.token,
    identityId: s.identityId,
    identity: { id: identity.id, name: identity.name, entity: 'identities', urlName: 'identities', _links: {} },
    expiresAt: s.expiresAt.toISOString(),
    expirationSeconds: Math.round(idleTimeoutMs / 1000),
    lastActivityAt: s.lastActivityAt.toISOString(),
    cachedLastActivityAt: s.lastActivityAt.toISOString(),
    configTypes: [],
    ipAddress,
    authQueries: [],
    isMfaRequired: false,
    isMfaComplete: false,
    authenticatorId: `cert-${identity.id}`,
    isCertExtendable: false,
    isCertExtendRequested: false,
    isCertKeyRollRequested: false,
  };
}

/** `identityDetail` of the caller. */
export function identityView(identity: FabricIdentity): object {
  return {
    ...base(identity.id, identity.createdAt, 'identities'),
    name: identity.name,
    roleAttributes: identity.roleAttributes,
    typeId: 'Default',
    type: { id: 'Default', name: 'Default', entity: 'identity-types', _links: {} },
    isAdmin: false,
    isDefaultAdmin: false,
    authPolicyId: 'default',
    externalId: null,
    hasApiSession: true,
    hasEdgeRouterConnection: false,
    appData: {},
    enrollment: {},
    authenticators: identity.enrolled ? { cert: { fingerprint: identity.certSha1 } } : {},
    disabled: false,
  };
}

/** `serviceDetail` as the caller sees it (with its permissions). */
export function serviceView(service: FabricService, permissions: readonly string[], created: Date): object {
  return {
    ...base(service.id, created, 'services'),
    name: service.name,
    permissions,
    encryptionRequired: service.encryptionRequired,
    roleAttributes: service.roleAttributes,
    config: {},
    configs: [],
    postureQueries: [],
    terminatorStrategy: 'smartrouting',
    maxIdleTimeMillis: 0,
  };
}

/** `commonEdgeRouterProperties` (+ id for the current-identity list). */
export function routerView(router: AdvertisedRouter): Record<string, unknown> {
  const tls = `tls://${router.host.includes(':') ? `[${router.host}]` : router.host}:${router.port}`;
  return {
    name: router.name,
    hostname: router.host,
    supportedProtocols: { tls },
    urls: { tls },
    isOnline: true,
    syncStatus: 'SYNC_DONE',
    cost: 0,
    noTraversal: false,
    disabled: false,
  };
}

/** `sessionDetail` for `POST /sessions`. */
export function sessionView(session: FabricSession, service: FabricService, routers: readonly AdvertisedRouter[]): object {
  return {
    ...base(session.id, new Date(), 'sessions'),
    token: session.token,
    type: session.type,
    serviceId: session.serviceId,
    service: { id: service.id, name: service.name, entity: 'services', urlName: 'services', _links: {} },
    apiSessionId: session.apiSessionId,
    identityId: session.identityId,
    edgeRouters: routers.map(routerView),
    servicePolicies: [],
  };
}
