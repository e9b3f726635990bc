/** The SDK entry: one identity, its controller, its router links; `dial` and `listen` by service name. */
import { ZitiError } from '../../core/index.js';
import { readIdentityFile, type ZitiIdentity } from '../../pki/identity.js';
import { ContentType, HeaderId } from './constants.js';
import type { ControllerClient } from './controller-client.js';
import type { ServiceDetail, ServiceSession } from './controller-types.js';
import { clientSessionKeys, ensureCryptoReady, generateKxKeyPair } from './e2e.js';
import type { ConnSink } from './edge-link.js';
import { ZitiConnection } from './edge-conn.js';
import { ZitiListener, type ListenOptions } from './listener.js';
import { createMessage, getHeaderBytes, getHeaderString, setHeaderBytes, setHeaderString, setHeaderU32, type Message } from './message.js';
import { normalizeContextOptions, type ZitiContextOptions, type NormalizedContextOptions } from './options.js';
import { zitiChannels } from './channels.js';
import { ZitiSessions } from './sessions.js';

/** Options of one dial. */
export interface DialOptions {
  /** Free-form caller id passed to the host (CallerId header). */
  readonly callerId?: string;
  /** Application data passed to the host (AppData header). */
  readonly appData?: Buffer;
}

/**
 * A Ziti identity in use. Authenticates lazily, keeps one link per edge router, refreshes its API
 * session before it expires, and hands out connections (`dial`) and listeners (`listen`).
 *
 * @example
 * const ziti = await ZitiContext.fromFile('sender.json');
 * const conn = await ziti.dial('jenkins-hooks');
 * conn.end('hello');
 */
export class ZitiContext {
  readonly identity: ZitiIdentity;
  readonly controller: ControllerClient;
  readonly options: NormalizedContextOptions;
  /** The API session, service sessions and router links this context's dials and listeners share. */
  readonly sessions: ZitiSessions;
  readonly #listeners = new Set<ZitiListener>();
  #closed = false;

  constructor(identity: ZitiIdentity, options: ZitiContextOptions = {}) {
    this.identity = identity;
    this.options = normalizeContextOptions(options);
    this.sessions = new ZitiSessions(identity, this.options);
    this.controller = this.sessions.controller;
  }

  /** Load an identity file (as written by `darkhook enroll` or `ziti edge enroll`). */
  static async fromFile(path: string, options: ZitiContextOptions = {}): Promise<ZitiContext> {
    return new ZitiContext(await readIdentityFile(path), options);
  }

  /** Authenticate now (otherwise the first dial or listen does) and start refreshing the session. */
  async authenticate(): Promise<void> {
    this.#assertOpen();
    await this.sessions.authenticate();
  }

  /**
   * Renew the API session now instead of at its scheduled time; with OIDC, every connected edge
   * router is then sent the new access token (UpdateToken). A router that refuses it has its link
   * closed; connections on it end and listeners re-bind on a new link.
   * @throws ERR_ZITI_UNAUTHORIZED, ERR_ZITI_CONTROLLER_UNAVAILABLE
   */
  async refreshSession(): Promise<void> {
    this.#assertOpen();
    await this.sessions.refreshSession();
  }

  /**
   * Connect to a service.
   * @throws ERR_ZITI_SERVICE_NOT_FOUND, ERR_ZITI_SERVICE_NOT_PERMITTED (no Dial policy),
   *   ERR_ZITI_SERVICE_UNAVAILABLE (no host bound right now: retry later), ERR_ZITI_DIAL_REFUSED (the
   *   router refused: policy, encryption, session), ERR_ZITI_E2E_REQUIRED,
   *   ERR_ZITI_UNAUTHORIZED, ERR_ZITI_CONTROLLER_UNAVAILABLE, ERR_ZITI_ROUTER_UNAVAILABLE, ERR_ZITI_TIMEOUT
   */
  async dial(serviceName: string, options: DialOptions = {}): Promise<ZitiConnection> {
    this.#assertOpen();
    const cryptoReady = ensureCryptoReady();
    // A first dial opens router links while the service and session are looked up.
    this.sessions.prewarmLinks();
    const service = await this.sessions.service(serviceName, 'Dial');
    await cryptoReady;
    for (let attempt = 0; ; attempt++) {
      let session: ServiceSession;
      try {
        session = await this.sessions.session(service.id, 'Dial');
      } catch (err) {
        // The controller in use sees no online router (HA: just restarted, its routers not back yet): ask the next one.
        if (attempt === 0 && err instanceof ZitiError && err.code === 'ERR_ZITI_NO_EDGE_ROUTER' && this.sessions.controller.moveToNext()) continue;
        throw err;
      }
      try {
        return await this.#dialOnce(service, session, options);
      } catch (err) {
        // A stale session or a link the router just dropped: one fresh try, then report.
        if (attempt > 0 || !(err instanceof ZitiError)) throw err;
        if (err.code === 'ERR_ZITI_HELLO_REJECTED' || /invalid (api )?session|session not found|token/i.test(err.message)) {
          await this.sessions.renewSessions();
        } else if (err.code === 'ERR_ZITI_NO_EDGE_ROUTER' && this.sessions.controller.moveToNext()) {
          // As above, seen in the session's router list: its routers all offline by this controller's view.
        } else if (err.code !== 'ERR_ZITI_LINK_CLOSED') {
          throw err;
        }
      }
    }
  }

  async #dialOnce(service: ServiceDetail, session: ServiceSession, options: DialOptions): Promise<ZitiConnection> {
    const link = await this.sessions.linkFor(session.edgeRouters);
    const keyPair = this.options.encryption === 'off' ? undefined : generateKxKeyPair();
    // Messages for the new id can arrive right behind the reply: hold them until the conn exists.
    const early: Message[] = [];
    const holding: ConnSink = { onMessage: (m) => early.push(m), onLinkClosed: () => undefined };
    const connId = link.register(holding);
    const connect = createMessage(ContentType.Connect, session.token);
    setHeaderU32(connect, HeaderId.ConnId, connId);
    if (keyPair !== undefined) setHeaderBytes(connect, HeaderId.PublicKey, Buffer.from(keyPair.publicKey));
    if (options.callerId !== undefined) setHeaderString(connect, HeaderId.CallerId, options.callerId);
    if (options.appData !== undefined) setHeaderBytes(connect, HeaderId.AppData, options.appData);
    let reply: Message;
    try {
      reply = await link.request(connect, this.options.dialTimeoutMs);
    } catch (err) {
      link.unregister(connId);
      throw err;
    }
    if (reply.contentType !== ContentType.StateConnected) {
      link.unregister(connId);
      const reason = reply.body.toString('utf8') || 'no reason given';
      zitiChannels.dial.publish({ event: 'refused', service: service.name, reason });
      this.sessions.forgetService(service.name);
      // Routers only say why in text (PROTOCOL.md §4.3): "no terminators" means no host is bound now.
      if (/has no terminators|no terminator/i.test(reason)) {
        throw new ZitiError('ERR_ZITI_SERVICE_UNAVAILABLE', `dial "${service.name}": no host is bound to the service right now (${reason})`);
      }
      throw new ZitiError('ERR_ZITI_DIAL_REFUSED', `dial "${service.name}" refused by router: ${reason}`);
    }
    const hostKey = getHeaderBytes(reply, HeaderId.PublicKey);
    if (hostKey === undefined && (this.options.encryption === 'required' || service.encryptionRequired)) {
      link.unregister(connId);
      const close = createMessage(ContentType.StateClosed);
      setHeaderU32(close, HeaderId.ConnId, connId);
      link.send(close);
      throw new ZitiError('ERR_ZITI_E2E_REQUIRED', `the host of "${service.name}" offered no end-to-end encryption key`);
    }
    const keys = keyPair !== undefined && hostKey !== undefined ? clientSessionKeys(keyPair, hostKey) : undefined;
    const conn = new ZitiConnection({
      link,
      connId,
      service: service.name,
      role: 'dial',
      circuitId: getHeaderString(reply, HeaderId.CircuitId),
      keys,
    });
    link.register(conn, connId);
    conn.start();
    for (const m of early) conn.onMessage(m);
    zitiChannels.dial.publish({ event: 'connected', service: service.name, connId, encrypted: conn.encrypted, router: link.address });
    return conn;
  }

  /**
   * Host a service: returns a `net.Server`-like listener that emits a `ZitiConnection` per caller.
   * @example
   * const server = ziti.listen('jenkins-hooks');
   * server.on('connection', (conn) => conn.pipe(conn));
   */
  listen(serviceName: string, options: ListenOptions = {}): ZitiListener {
    this.#assertOpen();
    const listener = new ZitiListener(this.sessions, serviceName, options);
    this.#listeners.add(listener);
    listener.once('close', () => this.#listeners.delete(listener));
    listener.start();
    return listener;
  }

  /** Close every listener and link and log out. Connections on the links close with them. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.sessions.stopRefreshing();
    await Promise.all([...this.#listeners].map((l) => l.close()));
    await this.sessions.close();
  }

  /** Whether `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ZitiError('ERR_ZITI_CONTEXT_CLOSED', 'this Ziti context was closed');
  }


}
