/** One SDK's channel on the embedded edge router: framing, sequence numbers, request/reply. */
import { randomUUID } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { FabricError } from '../core/index.js';
import { encodeMessage, FrameDecoder } from '../connector/ziti/codec.js';
import { replyFor, setReplyFor, type Message } from '../connector/ziti/message.js';
import type { FabricApiSession, FabricIdentity } from './store.js';

/** How long the router waits for a host to answer a Dial, in milliseconds (OpenZiti routers: ≤ 5 s). */
export const DIAL_TIMEOUT_MS = 5_000;
/** Router-assigned connection ids start here (PROTOCOL.md §4.2). */
const ROUTER_CONN_ID_BASE = 0x80000000;
/** Where a frame's int32 sequence sits: after the magic and the content type (PROTOCOL.md §3.2). */
const FRAME_SEQUENCE_OFFSET = 8;

interface Pending {
  readonly resolve: (m: Message) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** The authenticated state of a channel, set once the hello's session validates. */
export interface ChannelAuth {
  readonly apiSession: FabricApiSession;
  readonly identity: FabricIdentity;
}

/** A live SDK channel. The router owns the policy logic; this class only moves messages. */
export class RouterChannel {
  readonly id = randomUUID();
  readonly socket: TLSSocket;
  readonly peerCertSha1: string;
  auth: ChannelAuth | undefined;
  // Frames are kept whole so the router can forward Data with a patched header (see sendFrame).
  readonly #decoder = new FrameDecoder(undefined, { keepFrames: true });
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  #routerConnId = ROUTER_CONN_ID_BASE;
  #closed = false;

  constructor(socket: TLSSocket, peerCertSha1: string) {
    this.socket = socket;
    this.peerCertSha1 = peerCertSha1;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes received but not yet decoded into a message. */
  get bufferedBytes(): number {
    return this.#decoder.bufferedBytes;
  }

  /** Decode a chunk; replies to our requests are consumed here, the rest returned. @throws ZitiCodecError */
  decode(chunk: Buffer): Message[] {
    const out: Message[] = [];
    for (const m of this.#decoder.push(chunk)) {
      const rf = replyFor(m);
      const waiter = rf === undefined ? undefined : this.#pending.get(rf);
      if (waiter !== undefined && rf !== undefined) {
        this.#pending.delete(rf);
        clearTimeout(waiter.timer);
        waiter.resolve(m);
      } else {
        out.push(m);
      }
    }
    return out;
  }

  /** Next router-assigned connection id for an accepted dial, wrapping within 2³¹…2³²−1. */
  nextRouterConnId(): number {
    const id = this.#routerConnId;
    this.#routerConnId = id >= 0xfffffffe ? ROUTER_CONN_ID_BASE : id + 1;
    return id;
  }

  /** Send; returns false when the socket buffer is full. */
  send(msg: Message): boolean {
    if (this.#closed) return false;
    msg.sequence = this.#nextSeq();
    return this.socket.write(encodeMessage(msg));
  }

  /**
   * Send an already encoded frame (from `decodedFrame`), writing our next sequence number into it in
   * place; returns false when the socket buffer is full. The caller gives up the frame.
   */
  sendFrame(frame: Buffer): boolean {
    if (this.#closed) return false;
    frame.writeInt32LE(this.#nextSeq(), FRAME_SEQUENCE_OFFSET);
    return this.socket.write(frame);
  }

  /** Send `msg` as the reply to `request`. */
  reply(request: Message, msg: Message): boolean {
    setReplyFor(msg, request);
    return this.send(msg);
  }

  /** Send a request and wait for its reply. @throws ERR_FABRIC_DIAL_TIMEOUT, ERR_FABRIC_CHANNEL_CLOSED */
  request(msg: Message, timeoutMs = DIAL_TIMEOUT_MS): Promise<Message> {
    if (this.#closed) return Promise.reject(new FabricError('ERR_FABRIC_CHANNEL_CLOSED', 'channel closed'));
    const seq = this.#nextSeq();
    msg.sequence = seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(new FabricError('ERR_FABRIC_DIAL_TIMEOUT', `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(seq, { resolve, reject, timer });
      this.socket.write(encodeMessage(msg));
    });
  }

  /** Mark closed, fail pending requests and destroy the socket. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new FabricError('ERR_FABRIC_CHANNEL_CLOSED', 'channel closed'));
    }
    this.#pending.clear();
    this.socket.destroy();
  }

  #nextSeq(): number {
    this.#seq = this.#seq >= 0x7fffffff ? 1 : this.#seq + 1;
    return this.#seq;
  }
}
