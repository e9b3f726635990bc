/** Hosting a service: Bind on a router, accept Dial requests as connections, re-bind after faults. */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ZitiError } from '../../core/index.js';
import { constantTimeEqual } from '../../core/constant-time.js';
import { ContentType, HeaderId } from './constants.js';
import { ensureCryptoReady, generateKxKeyPair, serverSessionKeys, type KxKeyPair, type SessionKeys } from './e2e.js';
import type { ZitiSessions } from './sessions.js';
import type { ConnSink, EdgeLink } from './edge-link.js';
import { ZitiConnection } from './edge-conn.js';
import { createMessage, getHeaderBytes, getHeaderString, getHeaderU32, setHeaderBool, setHeaderBytes, setHeaderString, setHeaderU16, setHeaderU32, type Message } from './message.js';
import { zitiChannels } from './channels.js';

/** First delay before re-binding after a fault, in milliseconds; doubles up to the maximum. */
export const DEFAULT_REBIND_MIN_DELAY_MS = 250;
/** Longest delay between re-bind attempts, in milliseconds. */
export const DEFAULT_REBIND_MAX_DELAY_MS = 15_000;


/** Options of `ZitiContext.listen`. */
export interface ListenOptions {
  /** Terminator cost (0–65535); lower wins. Default 0. */
  readonly cost?: number;
  /** Delay of the first re-bind attempt after a fault, in milliseconds. Default 250. */
  readonly rebindMinDelayMs?: number;
  /** Longest delay between re-bind attempts, in milliseconds. Default 15 000. */
  readonly rebindMaxDelayMs?: number;
}

/** Lifecycle of a listener, delivered as `state` events. */
export type ListenerState =
  | { readonly type: 'connected'; readonly router: string }
  | { readonly type: 'disconnected'; readonly error: ZitiError }
  | { readonly type: 'reconnecting'; readonly attempt: number; readonly delayMs: number }
  | { readonly type: 'closed' };

interface ListenerEvents {
  listening: [];
  connection: [ZitiConnection];
  state: [ListenerState];
  error: [ZitiError];
  close: [];
}

/**
 * Like `net.Server`, but for a Ziti service: emits `connection` with a `ZitiConnection` whose
 * `caller` names the dialing identity. Keeps itself bound: after a router or controller fault it
 * re-binds with backoff; it gives up (emitting `error`, then `close`) only when the controller says
 * the identity may no longer bind.
 */
export class ZitiListener extends EventEmitter<ListenerEvents> implements ConnSink {
  readonly service: string;
  readonly #sessions: ZitiSessions;
  readonly #cost: number;
  readonly #minDelay: number;
  readonly #maxDelay: number;
  readonly #listenerId = randomUUID();
  #link: EdgeLink | undefined;
  #connId = 0;
  #token = '';
  #serviceId = '';
  #keyPair: KxKeyPair | undefined;
  #closing = false;
  #listening = false;
  #attempt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  /** The router refused our session: start over with new API and service sessions. */
  #renew = false;

  constructor(sessions: ZitiSessions, service: string, options: ListenOptions) {
    super();
    this.#sessions = sessions;
    this.service = service;
    this.#cost = options.cost ?? 0;
    this.#minDelay = options.rebindMinDelayMs ?? DEFAULT_REBIND_MIN_DELAY_MS;
    this.#maxDelay = options.rebindMaxDelayMs ?? DEFAULT_REBIND_MAX_DELAY_MS;
  }

  /** Whether the service is bound right now. */
  get listening(): boolean {
    return this.#listening;
  }

  /** `net.Server` compatibility: what this listener hosts. */
  address(): { service: string } {
    return { service: this.service };
  }

  /** Begin binding (called by `ZitiContext.listen`). */
  start(): void {
    void this.#bind();
  }

  async #bind(): Promise<void> {
    if (this.#closing) return;
    try {
      await ensureCryptoReady();
      const svc = await this.#sessions.service(this.service, 'Bind');
      this.#serviceId = svc.id;
      if (this.#renew) {
        this.#renew = false;
        await this.#sessions.renewSessions();
      }
      const session = await this.#sessions.session(svc.id, 'Bind');
      const link = await this.#sessions.linkFor(session.edgeRouters);
      if (this.#closing) return;
      this.#keyPair ??= this.#sessions.options.encryption === 'off' ? undefined : generateKxKeyPair();
      const connId = link.register(this);
      const bind = createMessage(ContentType.Bind, session.token);
      setHeaderU32(bind, HeaderId.ConnId, connId);
      setHeaderBool(bind, HeaderId.RouterProvidedConnId, true);
      setHeaderBool(bind, HeaderId.SupportsBindSuccess, true);
      setHeaderString(bind, HeaderId.ListenerId, this.#listenerId);
      if (this.#cost !== 0) setHeaderU16(bind, HeaderId.Cost, this.#cost);
      if (this.#keyPair !== undefined) setHeaderBytes(bind, HeaderId.PublicKey, Buffer.from(this.#keyPair.publicKey));
      let reply: Message;
      try {
        const pending = link.request(bind);
        zitiChannels.bind.publish({ event: 'bind-sent', service: this.service, router: link.address });
        reply = await pending;
      } catch (err) {
        link.unregister(connId);
        throw err;
      }
      if (reply.contentType !== ContentType.StateConnected) {
        link.unregister(connId);
        this.#renew = true;
        throw new ZitiError('ERR_ZITI_BIND_REFUSED', `bind "${this.service}" refused by router: ${reply.body.toString('utf8') || 'no reason given'}`);
      }
      if (this.#closing) {
        // close() ran while the Bind was in flight: take the new terminator down again at once.
        this.#unbind(link, connId, session.token);
        return;
      }
      this.#link = link;
      this.#connId = connId;
      this.#token = session.token;
      zitiChannels.bind.publish({ event: 'bound', service: this.service, router: link.address });
      // Where the router can say so, we are listening only once the terminator exists.
      if (!link.supportsBindSuccess) this.#onBound();
    } catch (err) {
      this.#onBindFailure(err instanceof ZitiError ? err : new ZitiError('ERR_ZITI_BIND_REFUSED', String(err), { cause: err }));
    }
  }

  #onBound(): void {
    this.#attempt = 0;
    this.#listening = true;
    this.emit('state', { type: 'connected', router: this.#link?.address ?? '' });
    this.emit('listening');
  }

  #onBindFailure(err: ZitiError): void {
    if (this.#closing) return;
    // Lost permission is final; everything else (controller or router down, timeouts) is retried.
    if (err.code === 'ERR_ZITI_SERVICE_NOT_PERMITTED' || err.code === 'ERR_ZITI_SERVICE_NOT_FOUND' || err.code === 'ERR_ZITI_UNAUTHORIZED') {
      this.emit('error', err);
      void this.close();
      return;
    }
    this.#scheduleRebind(err);
  }

  #scheduleRebind(err: ZitiError): void {
    if (this.#closing || this.#retryTimer !== undefined) return;
    this.#listening = false;
    this.emit('state', { type: 'disconnected', error: err });
    this.#attempt++;
    const base = Math.min(this.#maxDelay, this.#minDelay * 2 ** Math.min(this.#attempt - 1, 16));
    const delayMs = Math.round(base / 2 + Math.random() * (base / 2));
    this.emit('state', { type: 'reconnecting', attempt: this.#attempt, delayMs });
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#bind();
    }, delayMs);
  }

  // --- ConnSink (messages addressed to the listener id) -------------------------------------------

  onMessage(msg: Message): void {
    if (this.#closing) return;
    if (msg.contentType === ContentType.Dial) {
      try {
        this.#accept(msg);
      } catch (err) {
        // A Dial with malformed headers is refused; the listener carries on.
        zitiChannels.bind.publish({ event: 'dial-invalid', service: this.service, code: (err as ZitiError).code });
      }
    } else if (msg.contentType === ContentType.StateClosed) {
      // The router dropped our terminator (session refused, policy changed): bind again, afresh.
      this.#link?.unregister(this.#connId);
      this.#link = undefined;
      this.#renew = true;
      this.#scheduleRebind(new ZitiError('ERR_ZITI_BIND_REFUSED', `router closed the binding: ${msg.body.toString('utf8') || 'no reason given'}`));
    } else if (msg.contentType === ContentType.BindSuccess) {
      zitiChannels.bind.publish({ event: 'terminator-created', service: this.service });
      if (!this.#listening) this.#onBound();
    }
  }

  onLinkClosed(err: ZitiError, local: boolean): void {
    this.#link = undefined;
    // A link we closed ourselves (the context shutting down) is not a fault to recover from.
    if (local) return;
    this.#scheduleRebind(err);
  }


  #accept(dial: Message): void {
    const link = this.#link;
    if (link === undefined) return;
    const fail = (reason: string): void => {
      const res = createMessage(ContentType.DialFailed, reason);
      setHeaderU32(res, HeaderId.ConnId, this.#connId);
      link.reply(dial, res);
      zitiChannels.bind.publish({ event: 'dial-failed', service: this.service, reason });
    };
    if (!constantTimeEqual(dial.body, this.#token)) {
      fail('invalid token');
      return;
    }
    const newId = getHeaderU32(dial, HeaderId.RouterProvidedConnId);
    if (newId === undefined) {
      fail('missing router-provided connection id');
      return;
    }
    const dialerKey = getHeaderBytes(dial, HeaderId.PublicKey);
    let keys: SessionKeys | undefined;
    if (this.#keyPair !== undefined && dialerKey !== undefined) {
      try {
        keys = serverSessionKeys(this.#keyPair, dialerKey);
      } catch {
        fail('invalid public key');
        return;
      }
    } else if (this.#sessions.options.encryption === 'required') {
      fail('encryption required: the dialer sent no public key');
      return;
    }
    const conn = new ZitiConnection({
      link,
      connId: newId,
      service: this.service,
      role: 'accept',
      circuitId: getHeaderString(dial, HeaderId.CircuitId),
      keys,
      caller: {
        identityId: getHeaderString(dial, HeaderId.DialerIdentityId),
        identityName: getHeaderString(dial, HeaderId.DialerIdentityName),
        callerId: getHeaderString(dial, HeaderId.CallerId) ?? '',
        appData: getHeaderBytes(dial, HeaderId.AppData),
      },
    });
    link.register(conn, newId);
    const ok = createMessage(ContentType.DialSuccess, u32le(newId));
    setHeaderU32(ok, HeaderId.ConnId, this.#connId);
    link.reply(dial, ok);
    conn.start();
    this.emit('connection', conn);
  }

  /** Unbind and close listener `connId` on `link` (if it is still open), and stop routing its messages. */
  #unbind(link: EdgeLink, connId: number, token: string): void {
    link.unregister(connId);
    if (!link.isOpen) return;
    const unbind = createMessage(ContentType.Unbind, token);
    setHeaderU32(unbind, HeaderId.ConnId, connId);
    link.send(unbind);
    const close = createMessage(ContentType.StateClosed);
    setHeaderU32(close, HeaderId.ConnId, connId);
    link.send(close);
  }

  /** Stop hosting: Unbind, close the listener id. Accepted connections stay open. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#listening = false;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    if (this.#link !== undefined) this.#unbind(this.#link, this.#connId, this.#token);
    this.#link = undefined;
    this.emit('state', { type: 'closed' });
    this.emit('close');
  }

  /** The service id this listener is bound to (after the first bind). */
  get serviceId(): string {
    return this.#serviceId;
  }
}

function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
