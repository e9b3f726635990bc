/** The fabric controller: the OpenZiti Client API subset of PROTOCOL.md §9 over HTTPS (fastify), backed by the store. */
import { randomUUID } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { FabricError, OptionError, PkiError } from '../core/index.js';
import { type CaBundle, certFingerprint, encodeCaBundlePkcs7, signCsr } from '../pki/index.js';
import {
  API_ERRORS,
  type AdvertisedRouter,
  type ApiErrorSpec,
  apiSessionView,
  errorEnvelope,
  fieldCause,
  identityView,
  routerView,
  serviceView,
  sessionView,
} from './controller-views.js';
import { hostPort } from './home.js';
import type { FabricApiSession, FabricIdentity, FabricStore } from './store.js';

export type { AdvertisedRouter } from './controller-views.js';

/** Idle timeout of an API session, in milliseconds (OpenZiti's `edge.api.sessionTimeout` default, 30 min). */
export const API_SESSION_IDLE_TIMEOUT_MS = 30 * 60 * 1000;
/** Base path of the Client API; un-prefixed and `/edge/v1` paths are served too, as OpenZiti does. */
export const CLIENT_API_PATH = '/edge/client/v1';
/** Largest request body accepted, in bytes (a CSR or a small JSON document). */
export const CONTROLLER_BODY_LIMIT_BYTES = 64 * 1024;
/** Validity of enrolled identity certificates, in days. */
export const IDENTITY_CERT_VALIDITY_DAYS = 365;
/** Default page size of list endpoints, and the largest allowed (OpenZiti: 10 and 500). */
export const DEFAULT_PAGE_LIMIT = 10;
export const MAX_PAGE_LIMIT = 500;

const PREFIXES = ['', CLIENT_API_PATH, '/edge/v1'] as const;
const fabricChannel = channel('darkhook:fabric:controller');

/** Options of {@link startController}. */
export interface ControllerOptions {
  /** The fabric database. */
  readonly store: FabricStore;
  /** The fabric CA: trusted for client certificates, signs enrollment CSRs. */
  readonly ca: CaBundle;
  /** The controller's HTTPS server certificate and key (PEM). */
  readonly tls: { readonly certPem: string; readonly keyPem: string };
  /** Address to listen on and to advertise in URLs. */
  readonly host: string;
  /** Port; 0 = any free port. */
  readonly port: number;
  /** Edge routers to advertise in sessions and `/current-identity/edge-routers`. Default none. */
  readonly edgeRouters?: readonly AdvertisedRouter[];
  /** API session idle timeout in milliseconds. Default {@link API_SESSION_IDLE_TIMEOUT_MS}. */
  readonly apiSessionIdleTimeoutMs?: number;
  /** Logger (pino-compatible); silent when omitted. Request lines carry no query strings, tokens or keys. */
  readonly logger?: FastifyBaseLogger;
}

/** A listening controller. */
export interface RunningController {
  /** `https://host:port` (the actual port when it was 0). */
  readonly url: string;
  readonly port: number;
  /** Replace the advertised edge routers (e.g. once a router on an ephemeral port listens). */
  setEdgeRouters(routers: readonly AdvertisedRouter[]): void;
  close(): Promise<void>;
}

/**
 * Start the controller and resolve when it listens.
 * @throws ERR_FABRIC_LISTEN_FAILED; ERR_OPTION_INVALID for a bad port or timeout
 * @example const ctrl = await startController({ store, ca: home.ca, tls: home.controller, host: '127.0.0.1', port: 0 });
 */
export async function startController(options: ControllerOptions): Promise<RunningController> {
  const idleMs = options.apiSessionIdleTimeoutMs ?? API_SESSION_IDLE_TIMEOUT_MS;
  if (!Number.isInteger(idleMs) || idleMs < 1000) throw new OptionError('ERR_OPTION_INVALID', 'apiSessionIdleTimeoutMs must be an integer ≥ 1000');
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw new OptionError('ERR_OPTION_INVALID', 'port must be 0-65535');
  const state = { routers: [...(options.edgeRouters ?? [])], url: '' };
  const app = Fastify({
    https: {
      cert: options.tls.certPem,
      key: options.tls.keyPem,
      ca: [options.ca.certPem],
      // Ask for a client certificate but decide ourselves, so a stranger gets a 401 JSON answer
      // instead of a TLS alert, and enrollment (no certificate yet) works on the same port.
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    ...(options.logger === undefined ? { logger: false } : { loggerInstance: options.logger }),
    // Our own onResponse line instead: fastify's would include the URL query (enrollment tokens).
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    bodyLimit: CONTROLLER_BODY_LIMIT_BYTES,
  });
  installParsers(app);
  installReplies(app);
  const ctx: RouteContext = { ...options, idleMs, state, caBundle: encodeCaBundlePkcs7([options.ca.certPem]) };
  for (const prefix of PREFIXES) {
    app.register(async (scoped) => registerRoutes(scoped, ctx), { prefix });
  }
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (cause) {
    await app.close().catch(() => undefined);
    throw new FabricError('ERR_FABRIC_LISTEN_FAILED', `controller could not listen on ${hostPort(options.host, options.port)}: ${(cause as Error).message}`, { cause });
  }
  const port = (app.server.address() as AddressInfo).port;
  state.url = `https://${hostPort(options.host, port)}`;
  return {
    url: state.url,
    port,
    setEdgeRouters(routers) {
      state.routers = [...routers];
    },
    close: () => app.close(),
  };
}

interface RouteContext extends ControllerOptions {
  readonly idleMs: number;
  readonly state: { routers: AdvertisedRouter[]; url: string };
  readonly caBundle: string;
}

/** JSON that may be empty (some SDKs POST /authenticate without a body), CSRs as text, anything else as text. */
function installParsers(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(Object.assign(new Error('the body is not JSON'), { statusCode: 400 }), undefined);
    }
  });
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, String(body)));
}

/** Every answer, including unknown routes and framework errors, is an OpenZiti envelope. */
function installReplies(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) => sendError(reply, req, API_ERRORS.notFound));
  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) {
      req.log.error({ err, reqId: req.id }, 'request failed');
      return sendError(reply, req, API_ERRORS.unhandled);
    }
    const spec = status === 415 ? API_ERRORS.unsupportedMedia : API_ERRORS.couldNotParseBody;
    return sendError(reply, req, { ...spec, status });
  });
  app.addHook('onResponse', async (req, reply) => {
    // Paths only: query strings carry enrollment tokens.
    const fields = { reqId: req.id, method: req.method, path: req.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    if (reply.statusCode >= 500) req.log.error(fields, 'request');
    else if (reply.statusCode >= 400) req.log.info(fields, 'request');
    else req.log.debug(fields, 'request');
  });
}

function sendError(reply: FastifyReply, req: FastifyRequest, spec: ApiErrorSpec): FastifyReply {
  return reply.code(spec.status).type('application/json').send(errorEnvelope(spec, req.id));
}

function ok(reply: FastifyReply, data: unknown, status = 200, meta: object = {}): FastifyReply {
  return reply.code(status).type('application/json').send({ data, meta });
}

function remoteIp(req: FastifyRequest): string {
  return req.socket.remoteAddress ?? '';
}

function registerRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store } = ctx;

  /** Resolve the `zt-session` header to a live API session, extending its idle timer; or answer 401. */
  const session = (req: FastifyRequest, reply: FastifyReply): { api: FabricApiSession; identity: FabricIdentity } | undefined => {
    const token = req.headers['zt-session'];
    const api = typeof token === 'string' && token !== '' ? store.touchApiSession(token, ctx.idleMs) : undefined;
    const identity = api === undefined ? undefined : store.identity(api.identityId);
    if (api === undefined || identity === undefined) {
      sendError(reply, req, API_ERRORS.unauthorized);
      return undefined;
    }
    return { api, identity };
  };

  app.get('/version', async (_req, reply) => {
    const v1 = { path: CLIENT_API_PATH, apiBaseUrls: [`${ctx.state.url}${CLIENT_API_PATH}`] };
    return ok(reply, {
      version: `darkhook-fabric-${PACKAGE_VERSION}`,
      revision: 'darkhook',
      buildDate: '',
      runtimeVersion: process.version,
      apiVersions: { 'edge-client': { v1 }, edge: { v1 } },
    });
  });

  app.get('/.well-known/est/cacerts', async (_req, reply) =>
    reply.code(200).header('content-type', 'application/pkcs7-mime').header('content-transfer-encoding', 'base64').send(ctx.caBundle),
  );

  const enroll = (req: FastifyRequest, reply: FastifyReply, token: unknown, csr: unknown): FastifyReply => {
    if (!acceptsJson(req.headers.accept)) return sendError(reply, req, API_ERRORS.unsupportedMedia);
    if (typeof token !== 'string' || token === '') return sendError(reply, req, API_ERRORS.invalidEnrollmentToken);
    const pending = store.enrollment(token);
    if (pending === undefined) return sendError(reply, req, API_ERRORS.invalidEnrollmentToken);
    if (pending.expiresAt.getTime() <= Date.now()) return sendError(reply, req, API_ERRORS.enrollmentExpired);
    if (pending.identity.enrolled) return sendError(reply, req, API_ERRORS.alreadyEnrolled);
    let certPem: string;
    try {
      if (typeof csr !== 'string') throw new PkiError('ERR_PKI_PEM_INVALID', 'the body is not a PEM CSR');
      // The CA decides the subject: CN = identity id, whatever the request asked for.
      certPem = signCsr(ctx.ca, csr, { commonName: pending.identity.id, organization: 'darkhook', validityDays: IDENTITY_CERT_VALIDITY_DAYS });
    } catch (err) {
      if (!(err instanceof PkiError)) throw err;
      req.log.info({ identity: pending.identity.name, code: err.code }, 'csr refused');
      return sendError(reply, req, { ...API_ERRORS.couldNotProcessCsr, cause: { code: err.code, message: err.message } });
    }
    // Burn the token and record the certificate in one transaction: a concurrent second use loses here.
    const enrolled = store.completeEnrollment(token, certPem, certFingerprint(certPem, 'sha1'));
    if (enrolled === undefined) return sendError(reply, req, API_ERRORS.invalidEnrollmentToken);
    fabricChannel.publish({ event: 'enrolled', identityId: enrolled.id, identity: enrolled.name });
    req.log.info({ identity: enrolled.name }, 'enrolled');
    return ok(reply, { cert: certPem });
  };

  app.post('/enroll', async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    if (q['method'] !== undefined && q['method'] !== 'ott') return sendError(reply, req, API_ERRORS.invalidEnrollMethod);
    return enroll(req, reply, q['token'], req.body);
  });
  app.post('/enroll/ott', async (req, reply) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    return enroll(req, reply, b['token'], b['clientCsr']);
  });

  app.post('/authenticate', async (req, reply) => {
    const method = (req.query as Record<string, string | undefined>)['method'];
    if (method !== 'cert') return sendError(reply, req, API_ERRORS.invalidAuthMethod);
    const socket = req.raw.socket as TLSSocket;
    const peer = socket.getPeerX509Certificate?.();
    // `authorized` is OpenSSL's verdict against the fabric CA (chain, dates); then the exact certificate must be enrolled.
    const sha1 = peer === undefined || !socket.authorized ? undefined : peer.fingerprint.replaceAll(':', '').toLowerCase();
    const identity = sha1 === undefined ? undefined : store.identityByCertSha1(sha1);
    if (sha1 === undefined || identity === undefined) {
      req.log.info({ reason: peer === undefined ? 'no certificate' : socket.authorized ? 'unknown certificate' : 'untrusted certificate' }, 'authentication refused');
      return sendError(reply, req, API_ERRORS.invalidAuth);
    }
    const api = store.createApiSession(identity.id, sha1, ctx.idleMs);
    fabricChannel.publish({ event: 'authenticated', identityId: identity.id, identity: identity.name });
    req.log.info({ identity: identity.name }, 'authenticated');
    reply.header('zt-session', api.token);
    return ok(reply, apiSessionView(api, identity, ctx.idleMs, remoteIp(req)));
  });

  app.get('/current-api-session', async (req, reply) => {
    const s = session(req, reply);
    return s === undefined ? reply : ok(reply, apiSessionView(s.api, s.identity, ctx.idleMs, remoteIp(req)));
  });

  app.delete('/current-api-session', async (req, reply) => {
    const s = session(req, reply);
    if (s === undefined) return reply;
    store.deleteApiSession(s.api.token);
    return ok(reply, {});
  });

  app.get('/current-api-session/service-updates', async (req, reply) => {
    const s = session(req, reply);
    return s === undefined ? reply : ok(reply, { lastChangeAt: store.servicesChangedAt().toISOString() });
  });

  app.get('/current-identity', async (req, reply) => {
    const s = session(req, reply);
    return s === undefined ? reply : ok(reply, identityView(s.identity));
  });

  app.get('/current-identity/edge-routers', async (req, reply) => {
    const s = session(req, reply);
    if (s === undefined) return reply;
    const list = ctx.state.routers.map((r) => ({ id: r.name, ...routerView(r) }));
    return ok(reply, list, 200, { pagination: { limit: MAX_PAGE_LIMIT, offset: 0, totalCount: list.length } });
  });

  app.get('/services', async (req, reply) => {
    const s = session(req, reply);
    if (s === undefined) return reply;
    const q = req.query as Record<string, string | undefined>;
    const page = pagination(q);
    if (page === undefined) return sendError(reply, req, API_ERRORS.invalidPagination);
    const filter = parseFilter(q['filter']);
    if (filter === null) return sendError(reply, req, API_ERRORS.invalidFilter);
    const visible = store.servicesFor(s.identity.id).filter(({ service }) => filter === undefined || service[filter.field] === filter.value);
    const data = visible.slice(page.offset, page.offset + page.limit).map(({ service, permissions }) => serviceView(service, permissions, new Date()));
    return ok(reply, data, 200, { pagination: { ...page, totalCount: visible.length }, filterableFields: ['id', 'name'] });
  });

  app.post('/sessions', async (req, reply) => {
    const s = session(req, reply);
    if (s === undefined) return reply;
    const body = (req.body ?? {}) as Record<string, unknown>;
    const type = body['type'] ?? 'Dial';
    const serviceId = body['serviceId'];
    if (type !== 'Dial' && type !== 'Bind') {
      return sendError(reply, req, { ...API_ERRORS.couldNotValidate, cause: fieldCause('type', 'must be Dial or Bind', type) });
    }
    if (typeof serviceId !== 'string' || serviceId === '') {
      return sendError(reply, req, { ...API_ERRORS.couldNotValidate, cause: fieldCause('serviceId', 'is required', serviceId) });
    }
    const service = store.service(serviceId);
    const permissions = service === undefined || service.id !== serviceId ? [] : store.permissions(s.identity.id, service.id);
    // As OpenZiti: a service the identity cannot see at all is 404; seen but without this permission is 400.
    if (service === undefined || permissions.length === 0) return sendError(reply, req, API_ERRORS.notFound);
    if (!permissions.includes(type)) {
      return sendError(reply, req, { ...API_ERRORS.couldNotValidate, cause: fieldCause('ServiceId', 'service not found', serviceId) });
    }
    if (ctx.state.routers.length === 0) return sendError(reply, req, API_ERRORS.noEdgeRouters);
    const created = store.createSession(s.api.id, service.id, type);
    req.log.info({ identity: s.identity.name, service: service.name, type }, 'session created');
    return ok(reply, sessionView(created, service, ctx.state.routers), 201);
  });
}

/** OpenZiti answers JSON unless the client accepts neither JSON nor anything. */
function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return accept.split(',').some((part) => ['application/json', '*/*', 'application/*'].includes(part.split(';')[0]!.trim().toLowerCase()));
}

function pagination(q: Record<string, string | undefined>): { limit: number; offset: number } | undefined {
  const limit = q['limit'] === undefined ? DEFAULT_PAGE_LIMIT : Number(q['limit']);
  const offset = q['offset'] === undefined ? 0 : Number(q['offset']);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT || !Number.isInteger(offset) || offset < 0) return undefined;
  return { limit, offset };
}

/** The subset of OpenZiti's filter language SDKs use: `name="x"` or `id="x"`. Null = unsupported. */
function parseFilter(filter: string | undefined): { field: 'id' | 'name'; value: string } | undefined | null {
  if (filter === undefined || filter.trim() === '') return undefined;
  const m = /^\s*(id|name)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$/.exec(filter);
  if (m === null) return null;
  return { field: m[1] as 'id' | 'name', value: m[2]!.replace(/\\(.)/g, '$1') };
}

/** darkhook's version, from package.json (two levels up from the built file). */
const PACKAGE_VERSION = ((): string => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();
