/** The embedded edge router: authenticates SDK channels, keeps terminators, routes dials, relays data. */
import { X509Certificate, randomBytes } from 'node:crypto';
import { channel as diag } from 'node:diagnostics_channel';
import tls from 'node:tls';
import { ContentType, FRAME_HEADER_BYTES, HELLO_MAX_BODY_BYTES, HELLO_MAX_HEADERS_BYTES, HeaderId } from '../connector/ziti/constants.js';
import { decodedFrame, encodeMessage } from '../connector/ziti/codec.js';
import { createMessage, getHeaderBool, getHeaderBytes, getHeaderString, getHeaderU16, getHeaderU32, setHeaderBool, setHeaderBytes, setHeaderI32, setHeaderString, setHeaderU32, type Message } from '../connector/ziti/message.js';
import { RouterChannel } from './router-channel.js';
import type { FabricService, FabricStore } from './store.js';

/** Extend an API session's idle timer for live channels this often, in milliseconds. */
export const SESSION_TOUCH_INTERVAL_MS = 60_000;
/** Check that every channel's API session still exists (identity not deleted) this often, in milliseconds. */
export const SESSION_SWEEP_INTERVAL_MS = 1_000;
/** A channel must say hello within this time, in milliseconds (as OpenZiti's listener). */
export const HELLO_TIMEOUT_MS = 5_000;
/**
 * Data queued for one SDK channel before the router stops reading from the senders feeding it, in
 * bytes. Above the socket's 16 KiB high-water mark so that one 64 KiB Data frame does not pause the
 * sender each time; the bound per channel stays this plus one read's worth of frames.
 */
export const RELAY_BUFFER_BYTES = 256 * 1024;
/** Largest hello frame accepted before authentication, in bytes (OpenZiti's listener limits). */
const MAX_HELLO_FRAME_BYTES = FRAME_HEADER_BYTES + HELLO_MAX_HEADERS_BYTES + HELLO_MAX_BODY_BYTES;
/** Idle lifetime given to API sessions kept alive by router activity, in milliseconds. */
const API_SESSION_TTL_MS = 30 * 60_000;

const routerDiag = diag('darkhook:fabric:router');

/** Options of `new EdgeRouter`. */
export interface EdgeRouterOptions {
  readonly store: FabricStore;
  /** Router TLS certificate and key (PEM), issued by the fabric CA. */
  readonly certPem: string;
  readonly keyPem: string;
  /** The fabric CA: client certificates must chain to it. */
  readonly caPem: string;
  /** Address to listen on and to advertise. */
  readonly host: string;
  /** Port; 0 picks a free one. */
  readonly port: number;
  /** Router name, sent as the hello Id. */
  readonly name: string;
  /** Version string sent in the hello reply. */
  readonly version?: string;
}

interface Terminator {
  readonly serviceId: string;
  readonly channel: RouterChannel;
  readonly listenerConnId: number;
  readonly token: string;
  readonly publicKey: Buffer | undefined;
  readonly cost: number;
}

/** One end of a circuit: a connection id on a channel, and the other end. */
interface CircuitEnd {
  readonly channel: RouterChannel;
  readonly connId: number;
  /** The service, and the permission this end's identity needs to keep the circuit. */
  readonly serviceId: string;
  readonly needs: 'Dial' | 'Bind';
  peer: CircuitEnd | undefined;
  /** Data that arrived before the circuit was confirmed to the dialer. */
  early: Message[] | undefined;
}

/**
 * An edge router speaking OpenZiti's edge protocol (PROTOCOL.md §3–4) for the embedded fabric.
 * It never holds end-to-end keys: Data bodies are relayed as they arrive.
 */
export class EdgeRouter {
  readonly #o: EdgeRouterOptions;
  readonly #server: tls.Server;
  readonly #channels = new Set<RouterChannel>();
  readonly #terminators = new Map<string, Terminator[]>();
  /** circuit ends by channel id, then conn id */
  readonly #ends = new Map<string, Map<number, CircuitEnd>>();
  #port = 0;
  #sweep: NodeJS.Timeout | undefined;
  /** The store's policy change marker last enforced on live terminators and circuits. */
  #policyVersion = 0;
  #lastTouch = Date.now();

  constructor(options: EdgeRouterOptions) {
    this.#o = options;
    this.#server = tls.createServer({
      cert: options.certPem,
      key: options.keyPem,
      ca: options.caPem,
      requestCert: true,
      rejectUnauthorized: true,
    });
    this.#server.on('secureConnection', (socket) => this.#onSocket(socket));
    // A failed handshake (foreign CA, no certificate) only concerns that socket.
    this.#server.on('tlsClientError', () => undefined);
  }

  /** Start listening. */
  listen(): Promise<{ port: number }> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#o.port, this.#o.host, () => {
        const addr = this.#server.address();
        this.#port = typeof addr === 'object' && addr !== null ? addr.port : this.#o.port;
        this.#policyVersion = this.#o.store.servicesChangedAt().getTime();
        this.#sweep = setInterval(() => this.#sweepSessions(), SESSION_SWEEP_INTERVAL_MS);
        this.#sweep.unref();
        resolve({ port: this.#port });
      });
    });
  }

  /** `tls://host:port` as advertised to SDKs. */
  get address(): string {
    const host = this.#o.host.includes(':') ? `[${this.#o.host}]` : this.#o.host;
    return `tls://${host}:${this.#port}`;
  }

  /** Number of live terminators for a service (for tests and status). */
  terminatorCount(serviceId: string): number {
    return this.#terminators.get(serviceId)?.length ?? 0;
  }

  /** Stop accepting, close every channel. */
  async close(): Promise<void> {
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    for (const ch of this.#channels) this.#closeChannel(ch, 'router shutting down');
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  // --- channels -----------------------------------------------------------------------------------

  #onSocket(socket: tls.TLSSocket): void {
    const der = socket.getPeerCertificate().raw;
    const sha1 = der === undefined ? '' : new X509Certificate(der).fingerprint.replaceAll(':', '').toLowerCase();
    const ch = new RouterChannel(socket, sha1);
    this.#channels.add(ch);
    this.#ends.set(ch.id, new Map());
    socket.setNoDelay(true);
    const helloTimer = setTimeout(() => this.#closeChannel(ch, 'no hello'), HELLO_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => {
      let messages: Message[];
      try {
        messages = ch.decode(chunk);
      } catch {
        this.#closeChannel(ch, 'invalid frame');
        return;
      }
      // Before a valid hello nobody is authenticated: hold no more than one hello's worth (PROTOCOL.md §3.2).
      if (ch.auth === undefined && messages.length === 0 && ch.bufferedBytes > MAX_HELLO_FRAME_BYTES) {
        this.#closeChannel(ch, 'hello too large');
        return;
      }
      for (const m of messages) {
        if (ch.closed) return;
        try {
          if (ch.auth === undefined) {
            clearTimeout(helloTimer);
            this.#onHello(ch, m);
          } else {
            this.#onMessage(ch, m);
          }
        } catch {
          // A malformed message (e.g. a header of the wrong size) closes its channel, never the fabric.
          this.#closeChannel(ch, 'invalid message');
          return;
        }
      }
    });
    socket.on('error', () => this.#closeChannel(ch, 'socket error'));
    socket.on('close', () => {
      clearTimeout(helloTimer);
      this.#closeChannel(ch, 'closed');
    });
  }

  #onHello(ch: RouterChannel, hello: Message): void {
    if (hello.contentType !== ContentType.Hello) {
      this.#closeChannel(ch, 'first message was not a hello');
      return;
    }
    // Like OpenZiti's listener: acknowledge first, then validate, and close on failure.
    const res = createMessage(ContentType.Result);
    res.sequence = -1;
    setHeaderI32(res, HeaderId.ReplyFor, -1);
    setHeaderBool(res, HeaderId.ResultSuccess, true);
    setHeaderString(res, HeaderId.ConnectionId, ch.id);
    setHeaderString(res, HeaderId.Id, this.#o.name);
    setHeaderString(res, HeaderId.HelloVersion, `${this.#o.version ?? 'v0.0.0'}|darkhook|-|${process.platform}|${process.arch}`);
    setHeaderBool(res, HeaderId.SupportsBindSuccess, true);
    // The hello reply uses sequence −1 and ReplyFor −1, outside the channel's counter.
    ch.socket.write(encodeMessage(res));
    const token = getHeaderString(hello, HeaderId.SessionToken) ?? '';
    const apiSession = this.#o.store.apiSessionByToken(token);
    const identity = apiSession === undefined ? undefined : this.#o.store.identity(apiSession.identityId);
    if (apiSession === undefined || identity === undefined || apiSession.certSha1 !== ch.peerCertSha1) {
      routerDiag.publish({ event: 'hello-refused', channel: ch.id });
      this.#closeChannel(ch, 'invalid api session');
      return;
    }
    ch.auth = { apiSession, identity };
    routerDiag.publish({ event: 'channel-open', channel: ch.id, identity: identity.name });
  }

  #onMessage(ch: RouterChannel, msg: Message): void {
    switch (msg.contentType) {
      case ContentType.Data:
        this.#relay(ch, msg);
        return;
      case ContentType.Connect:
        this.#onConnect(ch, msg).catch(() => this.#closeChannel(ch, 'invalid message'));
        return;
      case ContentType.Bind:
        this.#onBind(ch, msg);
        return;
      case ContentType.Unbind:
        this.#removeTerminator(ch, getHeaderU32(msg, HeaderId.ConnId));
        return;
      case ContentType.StateClosed:
        this.#onStateClosed(ch, msg);
        return;
      case ContentType.Latency: {
        const res = createMessage(ContentType.Result);
        setHeaderBool(res, HeaderId.ResultSuccess, true);
        ch.reply(msg, res);
        return;
      }
      default:
        return;
    }
  }

  /**
   * Policy at the router, for a Connect (Dial) or Bind on an authenticated channel: the session token
   * in the body is of that type and belongs to the channel's API session, the identity still holds the
   * permission, and a service that requires end-to-end encryption got a public key. Returns the
   * service and key, or the refusal reason (OpenZiti routers refuse with text only).
   */
  #authorize(ch: RouterChannel, msg: Message, type: 'Dial' | 'Bind'): { service: FabricService; publicKey: Buffer | undefined } | string {
    const auth = ch.auth!;
    const session = this.#o.store.sessionByToken(msg.body.toString('utf8'));
    if (session === undefined || session.type !== type || session.apiSessionId !== auth.apiSession.id) return 'invalid session';
    const service = this.#o.store.service(session.serviceId);
    if (service === undefined) return 'service not found';
    if (!this.#o.store.permissions(auth.identity.id, service.id).includes(type)) {
      return `access denied: identity may not ${type.toLowerCase()} service ${service.name}`;
    }
    const publicKey = getHeaderBytes(msg, HeaderId.PublicKey);
    if (service.encryptionRequired && publicKey === undefined) {
      return `encryption required on service, ${type === 'Dial' ? 'initiator' : 'terminator'} did not send public header`;
    }
    return { service, publicKey };
  }

  /** Refuse a Connect or Bind: StateClosed as the reply, with the reason as its body. */
  #refuse(ch: RouterChannel, msg: Message, connId: number, what: 'dial' | 'bind', reason: string): void {
    const res = createMessage(ContentType.StateClosed, reason);
    setHeaderU32(res, HeaderId.ConnId, connId);
    ch.reply(msg, res);
    routerDiag.publish({ event: `${what}-refused`, channel: ch.id, reason });
  }

  // --- dial (Connect) -----------------------------------------------------------------------------

  async #onConnect(ch: RouterChannel, msg: Message): Promise<void> {
    const connId = getHeaderU32(msg, HeaderId.ConnId);
    if (connId === undefined) return;
    const refuse = (reason: string): void => this.#refuse(ch, msg, connId, 'dial', reason);
    const granted = this.#authorize(ch, msg, 'Dial');
    if (typeof granted === 'string') {
      refuse(granted);
      return;
    }
    const auth = ch.auth!;
    const { service, publicKey: dialerKey } = granted;
    const term = this.#pickTerminator(service.id);
    if (term === undefined) {
      refuse(`service ${service.name} has no terminators`);
      return;
    }
    if (service.encryptionRequired && term.publicKey === undefined) {
      refuse('encryption required on service, terminator did not send public header');
      return;
    }

    const circuitId = randomBytes(9).toString('base64url');
    const hostConnId = term.channel.nextRouterConnId();
    const dialerEnd: CircuitEnd = { channel: ch, connId, serviceId: service.id, needs: 'Dial', peer: undefined, early: undefined };
    const hostEnd: CircuitEnd = { channel: term.channel, connId: hostConnId, serviceId: service.id, needs: 'Bind', peer: dialerEnd, early: [] };
    // Register the host side first: its stream header may follow DialSuccess in the same read.
    this.#ends.get(term.channel.id)?.set(hostConnId, hostEnd);
    const dial = createMessage(ContentType.Dial, term.token);
    setHeaderU32(dial, HeaderId.ConnId, term.listenerConnId);
    setHeaderU32(dial, HeaderId.RouterProvidedConnId, hostConnId);
    setHeaderString(dial, HeaderId.CircuitId, circuitId);
    setHeaderString(dial, HeaderId.CallerId, getHeaderString(msg, HeaderId.CallerId) ?? '');
    setHeaderString(dial, HeaderId.DialerIdentityId, auth.identity.id);
    setHeaderString(dial, HeaderId.DialerIdentityName, auth.identity.name);
    if (dialerKey !== undefined) setHeaderBytes(dial, HeaderId.PublicKey, dialerKey);
    const appData = getHeaderBytes(msg, HeaderId.AppData);
    if (appData !== undefined) setHeaderBytes(dial, HeaderId.AppData, appData);
    let answer: Message;
    try {
      answer = await term.channel.request(dial);
    } catch (err) {
      this.#ends.get(term.channel.id)?.delete(hostConnId);
      refuse(`dial to terminator failed: ${(err as Error).message}`);
      return;
    }
    if (answer.contentType !== ContentType.DialSuccess || answer.body.length !== 4 || ch.closed) {
      this.#ends.get(term.channel.id)?.delete(hostConnId);
      if (!ch.closed) {
        refuse(`host refused the dial: ${answer.body.toString('utf8') || 'no reason given'}`);
        return;
      }
      this.#sendClosed(hostEnd, 'dialer gone');
      return;
    }
    dialerEnd.peer = hostEnd;
    this.#ends.get(ch.id)?.set(connId, dialerEnd);
    const ok = createMessage(ContentType.StateConnected);
    setHeaderU32(ok, HeaderId.ConnId, connId);
    setHeaderString(ok, HeaderId.CircuitId, circuitId);
    if (term.publicKey !== undefined) setHeaderBytes(ok, HeaderId.PublicKey, term.publicKey);
    ch.reply(msg, ok);
    const early = hostEnd.early ?? [];
    hostEnd.early = undefined;
    for (const m of early) this.#forward(hostEnd, m);
    routerDiag.publish({ event: 'circuit', circuitId, service: service.name, dialer: auth.identity.name });
  }

  #pickTerminator(serviceId: string): Terminator | undefined {
    const live = (this.#terminators.get(serviceId) ?? []).filter((t) => !t.channel.closed);
    if (live.length === 0) return undefined;
    const best = Math.min(...live.map((t) => t.cost));
    const candidates = live.filter((t) => t.cost === best);
    return candidates[Math.floor(Math.random() * candidates.length)];
  }

  // --- bind ---------------------------------------------------------------------------------------

  #onBind(ch: RouterChannel, msg: Message): void {
    const connId = getHeaderU32(msg, HeaderId.ConnId);
    if (connId === undefined) return;
    const granted = this.#authorize(ch, msg, 'Bind');
    if (typeof granted === 'string') {
      this.#refuse(ch, msg, connId, 'bind', granted);
      return;
    }
    const auth = ch.auth!;
    const token = msg.body.toString('utf8');
    const { service, publicKey } = granted;
    this.#removeTerminator(ch, connId);
    const list = this.#terminators.get(service.id) ?? [];
    list.push({ serviceId: service.id, channel: ch, listenerConnId: connId, token, publicKey, cost: getHeaderU16(msg, HeaderId.Cost) ?? 0 });
    this.#terminators.set(service.id, list);
    const ok = createMessage(ContentType.StateConnected);
    setHeaderU32(ok, HeaderId.ConnId, connId);
    if (getHeaderBool(msg, HeaderId.RouterProvidedConnId) === true) setHeaderBool(ok, HeaderId.RouterProvidedConnId, true);
    ch.reply(msg, ok);
    if (getHeaderBool(msg, HeaderId.SupportsBindSuccess) === true) {
      const success = createMessage(ContentType.BindSuccess);
      setHeaderU32(success, HeaderId.ConnId, connId);
      ch.send(success);
    }
    routerDiag.publish({ event: 'terminator', service: service.name, identity: auth.identity.name, count: list.length });
  }

  #removeTerminator(ch: RouterChannel, listenerConnId: number | undefined): void {
    if (listenerConnId === undefined) return;
    for (const [serviceId, list] of this.#terminators) {
      const kept = list.filter((t) => !(t.channel === ch && t.listenerConnId === listenerConnId));
      if (kept.length !== list.length) {
        if (kept.length === 0) this.#terminators.delete(serviceId);
        else this.#terminators.set(serviceId, kept);
      }
    }
  }

  // --- data and close -----------------------------------------------------------------------------

  #relay(ch: RouterChannel, msg: Message): void {
    const connId = getHeaderU32(msg, HeaderId.ConnId);
    const end = connId === undefined ? undefined : this.#ends.get(ch.id)?.get(connId);
    if (end === undefined) return;
    if (end.early !== undefined) {
      end.early.push(msg);
      return;
    }
    this.#forward(end, msg);
  }

  #forward(from: CircuitEnd, msg: Message): void {
    const to = from.peer;
    if (to === undefined || to.channel.closed) return;
    const sender = from.channel.socket;
    const receiver = to.channel.socket;
    if (!this.#send(to, msg) && receiver.writableLength >= RELAY_BUFFER_BYTES && !sender.isPaused()) {
      // The receiving SDK is slower than the sender: stop reading from the sender until it drains.
      sender.pause();
      receiver.once('drain', () => sender.resume());
    }
  }

  /**
   * Send Data on to `to` carrying only ConnId (now `to`'s) and Flags. When the received frame holds
   * exactly those headers, in that order, it is forwarded as is with ConnId patched in place: the
   * bytes are those a re-encode would produce, without copying the body again.
   */
  #send(to: CircuitEnd, msg: Message): boolean {
    const frame = decodedFrame(msg);
    if (frame !== undefined && onlyConnIdAndFlags(msg)) {
      msg.headers.get(HeaderId.ConnId)!.writeUInt32LE(to.connId, 0);
      return to.channel.sendFrame(frame);
    }
    const out = createMessage(ContentType.Data, msg.body);
    setHeaderU32(out, HeaderId.ConnId, to.connId);
    const flags = msg.headers.get(HeaderId.Flags);
    if (flags !== undefined) out.headers.set(HeaderId.Flags, flags);
    return to.channel.send(out);
  }

  #onStateClosed(ch: RouterChannel, msg: Message): void {
    const connId = getHeaderU32(msg, HeaderId.ConnId);
    if (connId === undefined) return;
    const end = this.#ends.get(ch.id)?.get(connId);
    if (end === undefined) {
      this.#removeTerminator(ch, connId);
      return;
    }
    this.#ends.get(ch.id)?.delete(connId);
    if (end.peer !== undefined) {
      this.#ends.get(end.peer.channel.id)?.delete(end.peer.connId);
      this.#sendClosed(end.peer, msg.body.toString('utf8'));
    }
  }

  #sendClosed(end: { readonly channel: RouterChannel; readonly connId: number }, reason: string): void {
    if (end.channel.closed) return;
    const close = createMessage(ContentType.StateClosed, reason);
    setHeaderU32(close, HeaderId.ConnId, end.connId);
    end.channel.send(close);
  }

  #closeChannel(ch: RouterChannel, reason: string): void {
    if (!this.#channels.delete(ch)) return;
    ch.close();
    for (const [serviceId, list] of this.#terminators) {
      const kept = list.filter((t) => t.channel !== ch);
      if (kept.length === 0) this.#terminators.delete(serviceId);
      else if (kept.length !== list.length) this.#terminators.set(serviceId, kept);
    }
    const ends = this.#ends.get(ch.id);
    this.#ends.delete(ch.id);
    for (const end of ends?.values() ?? []) {
      if (end.peer === undefined) continue;
      this.#ends.get(end.peer.channel.id)?.delete(end.peer.connId);
      this.#sendClosed(end.peer, `peer ${reason}`);
      end.peer.channel.socket.resume();
    }
    routerDiag.publish({ event: 'channel-closed', channel: ch.id, reason });
  }

  /** Close channels whose API session is gone (identity deleted, session expired or logged out). */
  #sweepSessions(): void {
    const touch = Date.now() - this.#lastTouch >= SESSION_TOUCH_INTERVAL_MS;
    if (touch) this.#lastTouch = Date.now();
    for (const ch of this.#channels) {
      const token = ch.auth?.apiSession.token;
      if (token === undefined) continue;
      const alive = touch ? this.#o.store.touchApiSession(token, API_SESSION_TTL_MS) : this.#o.store.apiSessionByToken(token);
      if (alive === undefined) this.#closeChannel(ch, 'api session ended');
    }
    const version = this.#o.store.servicesChangedAt().getTime();
    if (version !== this.#policyVersion) {
      this.#policyVersion = version;
      this.#enforcePolicies();
    }
  }

  /**
   * After identities, services or policies changed: drop every terminator whose host may no longer
   * bind its service, and close every circuit one of whose ends lost its permission, as OpenZiti
   * routers do when the controller removes the sessions a policy change invalidated.
   */
  #enforcePolicies(): void {
    const allowed = (ch: RouterChannel, serviceId: string, type: 'Dial' | 'Bind'): boolean =>
      ch.auth !== undefined && this.#o.store.permissions(ch.auth.identity.id, serviceId).includes(type);
    for (const list of [...this.#terminators.values()]) {
      for (const t of list) {
        if (allowed(t.channel, t.serviceId, 'Bind')) continue;
        this.#removeTerminator(t.channel, t.listenerConnId);
        this.#sendClosed({ channel: t.channel, connId: t.listenerConnId }, 'access removed');
      }
    }
    for (const ends of this.#ends.values()) {
      for (const end of [...ends.values()]) {
        if (allowed(end.channel, end.serviceId, end.needs)) continue;
        ends.delete(end.connId);
        this.#sendClosed(end, 'access removed');
        if (end.peer !== undefined) {
          this.#ends.get(end.peer.channel.id)?.delete(end.peer.connId);
          this.#sendClosed(end.peer, 'access removed');
        }
      }
    }
    routerDiag.publish({ event: 'policies-enforced' });
  }
}

/** Whether a Data message's headers are a 4-byte ConnId, optionally followed by Flags (what SDKs send). */
function onlyConnIdAndFlags(msg: Message): boolean {
  let i = 0;
  for (const [id, value] of msg.headers) {
    const expected = i === 0 ? id === HeaderId.ConnId && value.length === 4 : i === 1 && id === HeaderId.Flags;
    if (!expected) return false;
    i++;
  }
  return i > 0;
}
