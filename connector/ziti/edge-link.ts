/** One channel to one edge router: TLS + hello, request/reply by sequence, dispatch by connection id. */
import { EventEmitter } from 'node:events';
import tls from 'node:tls';
import { ZitiError } from '../../core/index.js';
import { encodeMessage, FrameDecoder } from './codec.js';
import { ContentType, HeaderId } from './constants.js';
import { createMessage, getHeaderBool, getHeaderString, getHeaderU32, replyFor, setHeaderString, setHeaderU64, setReplyFor, type Message } from './message.js';
import { tlsServername } from './tls-names.js';
import { zitiChannels } from './channels.js';

/** Time allowed for TCP + TLS + hello, in milliseconds (routers drop a hello later than 5 s). */
export const DEFAULT_LINK_CONNECT_TIMEOUT_MS = 10_000;
/** Time a request (Connect, Bind, probe) waits for its reply, in milliseconds. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Interval between latency probes, in milliseconds (OpenZiti SDKs use 30 s). */
export const DEFAULT_PROBE_INTERVAL_MS = 30_000;
/** A link closing this soon after its hello was answered was refused (bad session or certificate), in milliseconds. */
const HELLO_REFUSAL_WINDOW_MS = 1_000;


/** Where and as whom to connect. */
export interface EdgeLinkOptions {
  readonly host: string;
  readonly port: number;
  /** PEM bundle that must have issued the router's certificate. */
  readonly ca: string;
  /** Our certificate chain and key; the same certificate that authenticated to the controller. */
  readonly cert: string;
  readonly key: string;
  /** API session token sent in the hello. */
  readonly sessionToken: string;
  /** A label the router logs for this channel (the Go SDK sends the certificate CN). */
  readonly label: string;
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly probeIntervalMs?: number;
}

/** Receives the messages addressed to one connection id. */
export interface ConnSink {
  /** Called for every message whose ConnId header names this sink. */
  onMessage(msg: Message): void;
  /**
   * Called once when the link closes; the connection is gone with it. `local` is true when this side
   * closed the link on purpose (`close()`, e.g. the context shutting down), not a fault.
   */
  onLinkClosed(err: ZitiError, local: boolean): void;
}

/** Lifecycle of a link. */
export type EdgeLinkEvent =
  | { readonly type: 'connected'; readonly routerId: string; readonly routerVersion: string }
  | { readonly type: 'closed'; readonly error: ZitiError | undefined };

interface Pending {
  readonly resolve: (m: Message) => void;
  readonly reject: (e: ZitiError) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * An open channel to an edge router. Create with `EdgeLink.connect`. Conn ids 1…2³¹−2 are ours;
 * ids the router assigns to accepted dials start at 2³¹ (PROTOCOL.md §4.2).
 */
export class EdgeLink extends EventEmitter<{ state: [EdgeLinkEvent] }> {
  readonly routerId: string;
  readonly routerVersion: string;
  readonly address: string;
  readonly supportsBindSuccess: boolean;
  readonly #socket: tls.TLSSocket;
  readonly #decoder: FrameDecoder;
  readonly #pending = new Map<number, Pending>();
  readonly #sinks = new Map<number, ConnSink>();
  /** The pending wait for 'drain' that every blocked writer shares. */
  #writable: Promise<void> | undefined;
  /** Connections whose unread data holds the link paused. */
  readonly #pausedBy = new Set<number>();
  readonly #requestTimeoutMs: number;
  readonly #helloAt = Date.now();
  #seq = 0;
  #nextConnId = 1;
  #closed: ZitiError | undefined;
  #isClosed = false;
  #lastReadAt = Date.now();
  #probe: NodeJS.Timeout | undefined;

  private constructor(socket: tls.TLSSocket, decoder: FrameDecoder, hello: Message, options: EdgeLinkOptions) {
    super();
    this.#socket = socket;
    this.#decoder = decoder;
    this.address = `${options.host}:${options.port}`;
    this.routerId = getHeaderString(hello, HeaderId.Id) ?? '';
    this.routerVersion = getHeaderString(hello, HeaderId.HelloVersion) ?? '';
    this.supportsBindSuccess = getHeaderBool(hello, HeaderId.SupportsBindSuccess) === true;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#shutdown(new ZitiError('ERR_ZITI_LINK_CLOSED', `router ${this.address}: ${err.message}`, { cause: err })));
    socket.on('close', () => this.#shutdown(this.#closeReason()));
    const interval = options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    if (interval > 0) {
      this.#probe = setInterval(() => this.#sendProbe(interval), interval);
      this.#probe.unref();
    }
  }

  /**
   * Open TLS to the router, send the hello and wait for its answer.
   * @throws ERR_ZITI_ROUTER_UNAVAILABLE (cannot connect, TLS refused, timeout), ERR_ZITI_HELLO_REJECTED
   */
  static connect(options: EdgeLinkOptions): Promise<EdgeLink> {
    const timeoutMs = options.connectTimeoutMs ?? DEFAULT_LINK_CONNECT_TIMEOUT_MS;
    const where = `${options.host}:${options.port}`;
    return new Promise((resolve, reject) => {
      const decoder = new FrameDecoder();
      let settled = false;
      const fail = (err: ZitiError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const socket = tls.connect({
        host: options.host,
        port: options.port,
        servername: tlsServername(options.host),
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        // No ALPN: routers fail the handshake for protocols they have no handler for (PROTOCOL.md §3.1).
      });
      socket.setNoDelay(true);
      const timer = setTimeout(() => fail(new ZitiError('ERR_ZITI_ROUTER_UNAVAILABLE', `router ${where}: no hello answer within ${timeoutMs} ms`)), timeoutMs);
      socket.once('secureConnect', () => {
        const hello = createMessage(ContentType.Hello, options.label);
        hello.sequence = -1;
        setHeaderString(hello, HeaderId.SessionToken, options.sessionToken);
        socket.write(encodeMessage(hello));
      });
      const onData = (chunk: Buffer): void => {
        let messages: Message[];
        try {
          messages = decoder.push(chunk);
        } catch (err) {
          fail(err as ZitiError);
          return;
        }
        const first = messages[0];
        if (first === undefined) return;
        if (first.contentType !== ContentType.Result || getHeaderBool(first, HeaderId.ResultSuccess) !== true) {
          fail(new ZitiError('ERR_ZITI_HELLO_REJECTED', `router ${where} refused the hello: ${first.body.toString('utf8') || 'no reason given'}`));
          return;
        }
        settled = true;
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('error', onError);
        socket.off('close', onClose);
        const link = new EdgeLink(socket, decoder, first, options);
        zitiChannels.link.publish({ event: 'connected', address: where, routerId: link.routerId });
        resolve(link);
        // Frames that arrived in the same chunk as the hello answer.
        link.#dispatchAll(messages.slice(1));
        link.emit('state', { type: 'connected', routerId: link.routerId, routerVersion: link.routerVersion });
      };
      const onError = (err: Error): void =>
        fail(new ZitiError('ERR_ZITI_ROUTER_UNAVAILABLE', `router ${where}: ${err.message}`, { cause: err }));
      const onClose = (): void => fail(new ZitiError('ERR_ZITI_ROUTER_UNAVAILABLE', `router ${where} closed the connection during the hello`));
      socket.on('data', onData);
      socket.on('error', onError);
      socket.on('close', onClose);
    });
  }

  /** Whether the link still carries traffic. */
  get isOpen(): boolean {
    return !this.#isClosed;
  }

  /** Number of connections and listeners using this link. */
  get connectionCount(): number {
    return this.#sinks.size;
  }

  /** Reserve a connection id and route its messages to `sink`; register before sending (§4.2). */
  register(sink: ConnSink, connId?: number): number {
    this.#assertOpen();
    const id = connId ?? this.#allocConnId();
    this.#sinks.set(id, sink);
    return id;
  }

  /** Stop routing messages for `connId`. */
  unregister(connId: number): void {
    this.#sinks.delete(connId);
  }

  /**
   * Send a message; returns false when the socket buffer is full (wait for `whenWritable`).
   * @throws ERR_ZITI_LINK_CLOSED
   */
  send(msg: Message): boolean {
    this.#assertOpen();
    msg.sequence = this.#nextSeq();
    return this.#socket.write(encodeMessage(msg));
  }

  /** Send a reply to `request` (ReplyFor + reflected headers). */
  reply(request: Message, msg: Message): boolean {
    setReplyFor(msg, request);
    return this.send(msg);
  }

  /**
   * Send a request and wait for the message that names it in ReplyFor.
   * @throws ERR_ZITI_TIMEOUT, ERR_ZITI_LINK_CLOSED
   */
  request(msg: Message, timeoutMs = this.#requestTimeoutMs): Promise<Message> {
    this.#assertOpen();
    const seq = this.#nextSeq();
    msg.sequence = seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(new ZitiError('ERR_ZITI_TIMEOUT', `router ${this.address} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(seq, { resolve, reject, timer });
      this.#socket.write(encodeMessage(msg));
    });
  }

  /**
   * Hand the router a renewed OIDC access token (UpdateToken, 60803). A router that refuses it
   * (60802) or does not answer would drop the channel when the old token expires, so this link is
   * closed at once, cleanly: its connections end with ERR_ZITI_LINK_CLOSED, listeners re-bind on a
   * new link, and the method resolves false. The token itself never appears in events or errors.
   */
  async updateToken(token: string, timeoutMs = this.#requestTimeoutMs): Promise<boolean> {
    let reply: Message;
    try {
      reply = await this.request(createMessage(ContentType.UpdateToken, token), timeoutMs);
    } catch (err) {
      const why = err instanceof ZitiError ? err.code : 'error';
      this.#shutdown(new ZitiError('ERR_ZITI_LINK_CLOSED', `router ${this.address} did not take the renewed token (${why})`, { cause: err }));
      return false;
    }
    if (reply.contentType === ContentType.UpdateTokenSuccess) {
      zitiChannels.link.publish({ event: 'token-updated', address: this.address });
      return true;
    }
    const reason = reply.body.toString('utf8') || 'no reason given';
    zitiChannels.link.publish({ event: 'token-refused', address: this.address, reason });
    this.#shutdown(new ZitiError('ERR_ZITI_LINK_CLOSED', `router ${this.address} refused the renewed token: ${reason}`));
    return false;
  }

  /**
   * Resolves when the socket can take more data (immediately if it can now). Every writer waiting on
   * the same full socket shares one promise, so one pair of listeners serves them all.
   */
  whenWritable(): Promise<void> {
    if (this.#isClosed || !this.#socket.writableNeedDrain) return Promise.resolve();
    this.#writable ??= new Promise((resolve) => {
      const done = (): void => {
        this.#socket.off('drain', done);
        this.off('state', done);
        this.#writable = undefined;
        resolve();
      };
      this.#socket.on('drain', done);
      this.on('state', done);
    });
    return this.#writable;
  }

  /**
   * Stop reading from the router because connection `connId` has more buffered than its reader took.
   * Legacy edge data has no per-connection window, so the whole link waits (head-of-line): a reader
   * that never reads stalls the other connections on this link until it reads or is destroyed.
   */
  pauseReading(connId: number): void {
    this.#pausedBy.add(connId);
    this.#socket.pause();
  }

  /** Connection `connId` has room again; reading resumes once no connection holds the link paused. */
  resumeReading(connId: number): void {
    this.#pausedBy.delete(connId);
    if (this.#pausedBy.size === 0 && !this.#isClosed) this.#socket.resume();
  }

  /** Close the channel; every connection on it closes with ERR_ZITI_LINK_CLOSED. */
  close(): void {
    this.#shutdown(new ZitiError('ERR_ZITI_LINK_CLOSED', `link to router ${this.address} closed locally`), true);
  }

  #nextSeq(): number {
    this.#seq = this.#seq >= 0x7fffffff ? 1 : this.#seq + 1;
    return this.#seq;
  }

  #allocConnId(): number {
    for (let i = 0; i < 0x7ffffffe; i++) {
      const id = this.#nextConnId;
      this.#nextConnId = id >= 0x7ffffffe ? 1 : id + 1;
      if (!this.#sinks.has(id)) return id;
    }
    throw new ZitiError('ERR_ZITI_LINK_CLOSED', 'no free connection id on this link');
  }

  #assertOpen(): void {
    if (this.#isClosed) throw this.#closed ?? new ZitiError('ERR_ZITI_LINK_CLOSED', `link to router ${this.address} is closed`);
  }

  #onData(chunk: Buffer): void {
    this.#lastReadAt = Date.now();
    let messages: Message[];
    try {
      messages = this.#decoder.push(chunk);
    } catch (err) {
      // A misbehaving peer closes this link, never the process.
      this.#shutdown(new ZitiError('ERR_ZITI_LINK_CLOSED', `router ${this.address} sent an invalid frame`, { cause: err }));
      return;
    }
    this.#dispatchAll(messages);
  }

  #dispatchAll(messages: readonly Message[]): void {
    for (const m of messages) {
      if (this.#isClosed) return;
      try {
        this.#dispatch(m);
      } catch (err) {
        // A malformed message from the router (wrong-size ConnId or ReplyFor) closes this link only.
        this.#shutdown(new ZitiError('ERR_ZITI_LINK_CLOSED', `router ${this.address} sent an invalid message`, { cause: err }));
        return;
      }
    }
  }

  #dispatch(msg: Message): void {
    const rf = replyFor(msg);
    if (rf !== undefined) {
      const waiter = this.#pending.get(rf);
      if (waiter !== undefined) {
        this.#pending.delete(rf);
        clearTimeout(waiter.timer);
        waiter.resolve(msg);
        return;
      }
    }
    const connId = getHeaderU32(msg, HeaderId.ConnId);
    if (connId !== undefined) {
      const sink = this.#sinks.get(connId);
      if (sink !== undefined) {
        sink.onMessage(msg);
        return;
      }
      this.#onUnknownConn(msg, connId);
      return;
    }
    if (msg.contentType === ContentType.InspectRequest) {
      const res = createMessage(ContentType.InspectResponse, JSON.stringify({ success: true, values: {} }));
      this.reply(msg, res);
    }
    // Other unaddressed messages (trace, posture) are not used by this SDK; dropping them is safe.
  }

  #onUnknownConn(msg: Message, connId: number): void {
    if (msg.contentType === ContentType.Dial) {
      const res = createMessage(ContentType.DialFailed, 'invalid conn id');
      res.headers.set(HeaderId.ConnId, msg.headers.get(HeaderId.ConnId)!);
      this.reply(msg, res);
    } else if (msg.contentType === ContentType.Data) {
      // Tell the router to tear down a circuit nobody here owns (as the C SDK does).
      const res = createMessage(ContentType.StateClosed, 'unknown connection');
      res.headers.set(HeaderId.ConnId, msg.headers.get(HeaderId.ConnId)!);
      this.send(res);
    }
    zitiChannels.link.publish({ event: 'unknown-conn', address: this.address, connId, contentType: msg.contentType });
  }

  #sendProbe(interval: number): void {
    if (this.#isClosed) return;
    const probe = createMessage(ContentType.Latency);
    setHeaderU64(probe, HeaderId.Reflected, process.hrtime.bigint());
    const started = Date.now();
    this.request(probe).then(
      () => zitiChannels.link.publish({ event: 'latency', address: this.address, ms: Date.now() - started }),
      () => {
        if (Date.now() - this.#lastReadAt > interval) {
          this.#shutdown(new ZitiError('ERR_ZITI_LINK_CLOSED', `router ${this.address} stopped answering latency probes`));
        }
      },
    );
  }

  #closeReason(): ZitiError {
    if (Date.now() - this.#helloAt < HELLO_REFUSAL_WINDOW_MS) {
      return new ZitiError(
        'ERR_ZITI_HELLO_REJECTED',
        `router ${this.address} closed the link right after the hello: it did not accept the API session or certificate`,
      );
    }
    return new ZitiError('ERR_ZITI_LINK_CLOSED', `router ${this.address} closed the link`);
  }

  #shutdown(reason: ZitiError, local = false): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#closed = reason;
    if (this.#probe !== undefined) clearInterval(this.#probe);
    this.#socket.destroy();
    for (const [, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(reason);
    }
    this.#pending.clear();
    const sinks = [...this.#sinks.values()];
    this.#sinks.clear();
    for (const s of sinks) s.onLinkClosed(reason, local);
    zitiChannels.link.publish({ event: 'closed', address: this.address, code: reason.code });
    this.emit('state', { type: 'closed', error: reason });
  }
}
