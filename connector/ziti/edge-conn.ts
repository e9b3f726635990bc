/** One Ziti connection as a Node Duplex: Data frames, half-close, full close, end-to-end encryption. */
import { Duplex } from 'node:stream';
import { ZitiError } from '../../core/index.js';
import { ContentType, EdgeFlag, HeaderId } from './constants.js';
import { E2E_HEADER_BYTES, E2EReceiver, E2ESender, type SessionKeys } from './e2e.js';
import type { ConnSink, EdgeLink } from './edge-link.js';
import { createMessage, getHeaderU32, setHeaderU32, type Message } from './message.js';
import { parseMultipart } from './multipart.js';

/**
 * How much a connection buffers for its reader before it holds the shared router link paused, in
 * bytes: a receive window like TCP's. Legacy edge data has no per-connection flow control, so past
 * this a reader that does not read stalls the other connections on its link (head-of-line).
 */
export const DEFAULT_CONN_WINDOW_BYTES = 4 * 1024 * 1024;

/** Largest plaintext carried by one Data message, in bytes (writes are split; OpenZiti SDKs keep ≤ 64 KiB). */
export const MAX_DATA_CHUNK_BYTES = 64 * 1024 - 32;

/** Who is on the other end of an accepted connection (from the router's Dial message). */
export interface CallerInfo {
  /** The dialing identity's id (routers ≥ 2.0 send it). */
  readonly identityId: string | undefined;
  /** The dialing identity's name (routers ≥ 2.0 send it). */
  readonly identityName: string | undefined;
  /** Free-form caller id the dialer chose (CallerId header); may be empty. */
  readonly callerId: string;
  /** Application data the dialer attached (AppData header). */
  readonly appData: Buffer | undefined;
}

/** Construction parameters (internal; use `ZitiContext.dial` or a listener). */
export interface EdgeConnInit {
  readonly link: EdgeLink;
  readonly connId: number;
  readonly service: string;
  readonly role: 'dial' | 'accept';
  readonly circuitId: string | undefined;
  readonly keys: SessionKeys | undefined;
  readonly caller?: CallerInfo;
}

/**
 * A bidirectional byte stream over the fabric. `end()` half-closes (FIN); `destroy()` closes fully.
 * With end-to-end encryption on, routers only ever see ciphertext. It also offers the few socket
 * methods `http` and fastify call, so an HTTP server or client can run over it.
 */
export class ZitiConnection extends Duplex implements ConnSink {
  readonly service: string;
  readonly role: 'dial' | 'accept';
  readonly circuitId: string | undefined;
  readonly caller: CallerInfo | undefined;
  readonly #link: EdgeLink;
  readonly #connId: number;
  readonly #sender: E2ESender | undefined;
  readonly #rxKey: Uint8Array | undefined;
  #receiver: E2EReceiver | undefined;
  #peerClosed = false;
  #localClosed = false;
  #paused = false;
  #multipart = false;
  #idle: NodeJS.Timeout | undefined;

  constructor(init: EdgeConnInit) {
    super({ allowHalfOpen: true, readableHighWaterMark: DEFAULT_CONN_WINDOW_BYTES });
    this.#link = init.link;
    this.#connId = init.connId;
    this.service = init.service;
    this.role = init.role;
    this.circuitId = init.circuitId;
    this.caller = init.caller;
    if (init.keys !== undefined) {
      this.#sender = new E2ESender(init.keys.tx);
      this.#rxKey = init.keys.rx;
    }
  }

  /** Whether the stream is end-to-end encrypted. */
  get encrypted(): boolean {
    return this.#sender !== undefined;
  }

  /** `host:port` of the edge router carrying this connection. */
  get routerAddress(): string {
    return this.#link.address;
  }

  /** The connection id on its router link. */
  get connId(): number {
    return this.#connId;
  }

  /** Send our secretstream header (must be the first Data on the connection, alone). */
  start(): void {
    if (this.#sender !== undefined) this.#sendData(this.#sender.header, 0);
  }

  // --- ConnSink -----------------------------------------------------------------------------------

  onMessage(msg: Message): void {
    try {
      this.#handle(msg);
    } catch (err) {
      // What the peer sends (flags, multipart framing inside the encrypted stream) is untrusted: a
      // malformed message fails this connection only.
      this.#fail(err instanceof ZitiError ? err : new ZitiError('ERR_ZITI_CONN_CLOSED', `invalid message on "${this.service}"`, { cause: err }));
    }
  }

  #handle(msg: Message): void {
    switch (msg.contentType) {
      case ContentType.Data:
        this.#onData(msg);
        return;
      case ContentType.StateClosed:
        this.#peerClosed = true;
        this.#link.unregister(this.#connId);
        // A full close from the far side: nothing more can be written either. Buffered data is
        // still delivered; the stream destroys itself once the reader has consumed it.
        this.push(null);
        if (!this.writableEnded) this.end();
        return;
      default:
        return;
    }
  }

  onLinkClosed(err: ZitiError, local: boolean): void {
    this.#peerClosed = true;
    // Our own shutdown ends the connection quietly (as closing a server's sockets does); a fault is an error.
    if (local) this.destroy();
    else this.destroy(new ZitiError('ERR_ZITI_CONN_CLOSED', `connection to "${this.service}" lost: ${err.message}`, { cause: err }));
  }

  #onData(msg: Message): void {
    this.#idle?.refresh();
    const flags = getHeaderU32(msg, HeaderId.Flags) ?? 0;
    if ((flags & EdgeFlag.MULTIPART) !== 0) this.#multipart = true;
    let body = msg.body;
    if (this.#rxKey !== undefined) {
      if (this.#receiver === undefined) {
        if (body.length === 0 && (flags & EdgeFlag.FIN) !== 0) {
          this.push(null);
          return;
        }
        if (body.length !== E2E_HEADER_BYTES) {
          this.#fail(new ZitiError('ERR_ZITI_E2E_HEADER_INVALID', `peer sent a ${body.length}-byte first message; expected the ${E2E_HEADER_BYTES}-byte stream header`));
          return;
        }
        this.#receiver = new E2EReceiver(this.#rxKey, body);
        return;
      }
      if (body.length > 0) {
        try {
          body = this.#receiver.open(body);
        } catch (err) {
          this.#fail(err as ZitiError);
          return;
        }
      }
    }
    if (body.length > 0) {
      const parts = (flags & EdgeFlag.MULTIPART_MSG) !== 0 ? parseMultipart(body) : [body];
      for (const part of parts) {
        if (!this.push(part) && !this.#paused) {
          // Legacy edge mode has no per-connection window: slow down the whole link.
          this.#paused = true;
          this.#link.pauseReading(this.#connId);
        }
      }
    }
    if ((flags & EdgeFlag.FIN) !== 0) this.push(null);
  }

  // --- Duplex -------------------------------------------------------------------------------------

  override _read(): void {
    if (this.#paused) {
      this.#paused = false;
      this.#link.resumeReading(this.#connId);
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#writeChunks(chunk).then(() => callback(), callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    this.#writeChunks(Buffer.concat(chunks.map((c) => c.chunk))).then(() => callback(), callback);
  }

  async #writeChunks(data: Buffer): Promise<void> {
    for (let off = 0; off < data.length; off += MAX_DATA_CHUNK_BYTES) {
      if (this.#peerClosed || !this.#link.isOpen) {
        throw new ZitiError('ERR_ZITI_CONN_CLOSED', `connection to "${this.service}" is closed`);
      }
      const piece = data.subarray(off, off + MAX_DATA_CHUNK_BYTES);
      const wire = this.#sender !== undefined ? this.#sender.seal(piece) : piece;
      this.#idle?.refresh();
      if (!this.#sendData(wire, 0)) await this.#link.whenWritable();
    }
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (!this.#peerClosed && this.#link.isOpen) this.#sendData(Buffer.alloc(0), EdgeFlag.FIN);
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (this.#idle !== undefined) clearTimeout(this.#idle);
    // libsodium keeps stream states in WASM memory until freed explicitly.
    this.#sender?.destroy();
    this.#receiver?.destroy();
    if (this.#paused) {
      this.#paused = false;
      this.#link.resumeReading(this.#connId);
    }
    if (!this.#localClosed) {
      this.#localClosed = true;
      this.#link.unregister(this.#connId);
      if (!this.#peerClosed && this.#link.isOpen) {
        const close = createMessage(ContentType.StateClosed);
        setHeaderU32(close, HeaderId.ConnId, this.#connId);
        this.#link.send(close);
      }
    }
    callback(err);
  }

  #sendData(body: Buffer, flags: number): boolean {
    const msg = createMessage(ContentType.Data, body);
    setHeaderU32(msg, HeaderId.ConnId, this.#connId);
    if (flags !== 0) setHeaderU32(msg, HeaderId.Flags, flags);
    return this.#link.send(msg);
  }

  #fail(err: ZitiError): void {
    this.destroy(err);
  }

  // --- socket compatibility for node:http / fastify -----------------------------------------------

  /** No TCP underneath; accepted for `http` compatibility. */
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  /** No TCP underneath; accepted for `http` compatibility. */
  setKeepAlive(_enable?: boolean, _delay?: number): this {
    return this;
  }

  /** Idle timeout like `net.Socket#setTimeout`: emits 'timeout' after `ms` without traffic; 0 disables. */
  setTimeout(ms: number, callback?: () => void): this {
    if (callback !== undefined) this.once('timeout', callback);
    if (this.#idle !== undefined) clearTimeout(this.#idle);
    this.#idle = undefined;
    if (ms > 0) {
      this.#idle = setTimeout(() => this.emit('timeout'), ms);
      this.#idle.unref();
    }
    return this;
  }

  /** A label standing in for the peer address (there is no IP: the peer is an identity). */
  get remoteAddress(): string {
    return `ziti:${this.caller?.identityName ?? this.service}`;
  }

  get remotePort(): number {
    return this.#connId;
  }

  /** The multipart capability the peer advertised (we never send multipart ourselves). */
  get peerSupportsMultipart(): boolean {
    return this.#multipart;
  }
}
