/** An HTTP/1.1 client over any Duplex (a Ziti connection in production): one kept-alive connection, reused. */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { SendError } from '../../core/index.js';

/** Opens one byte stream to the receiver, e.g. `() => ziti.dial('jenkins-hooks')`. */
export type Connect = () => Promise<Duplex>;

export { DEFAULT_WEBHOOK_PATH } from '../webhook/headers.js';
/** Longest wait for a complete answer to one request (connect included), in milliseconds. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Largest response body read, in bytes; a bigger answer is treated as a fault. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

/** Options of `createTransport`. */
export interface TransportOptions {
  /** Opens the underlying stream; called again only when the kept-alive one is gone. */
  readonly connect: Connect;
  /** Request path, default `DEFAULT_WEBHOOK_PATH` (`/webhooks`). */
  readonly path: string;
  /** `Host` header value (the service name is a good choice); default `darkhook`. */
  readonly host: string;
  /** Per-request timeout in milliseconds; default `DEFAULT_REQUEST_TIMEOUT_MS` (30 000). */
  readonly requestTimeoutMs: number;
  /** Response body cap in bytes; default `DEFAULT_MAX_RESPONSE_BYTES` (64 KiB). */
  readonly maxResponseBytes: number;
}

/** The receiver's answer. */
export interface TransportResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** Round trip in milliseconds, connect included when a connection had to be opened. */
  readonly ms: number;
}

/** The POST client the sender uses. */
export interface Transport {
  /**
   * POST `body` with `headers` and resolve with the answer, whatever its status.
   * @throws ERR_SEND_TIMEOUT, ERR_SEND_RESPONSE_TOO_LARGE, the `connect` error, or a socket error
   */
  post(headers: Readonly<Record<string, string>>, body: Buffer): Promise<TransportResponse>;
  /** Abort the request in flight, if any, and close the connection. */
  close(): void;
}

const SOCKET_METHODS = ['ref', 'unref', 'setKeepAlive', 'setNoDelay', 'setTimeout'] as const;

/** node:http's agent calls a few `net.Socket` methods; give any Duplex harmless ones where missing. */
function asSocket(stream: Duplex): Duplex {
  const s = stream as Duplex & Partial<Record<(typeof SOCKET_METHODS)[number], unknown>>;
  for (const name of SOCKET_METHODS) {
    if (typeof s[name] !== 'function') {
      Object.defineProperty(s, name, { value: () => s, configurable: true, writable: true });
    }
  }
  return s;
}

/**
 * An agent whose connections come from `connect`. node:http lets `createConnection` answer through
 * its callback, so an asynchronous dial fits; keep-alive and reuse are the stock agent's.
 */
class DuplexAgent extends http.Agent {
  readonly #connect: Connect;

  constructor(connect: Connect) {
    // `servername: ''` (copied into every request's options): no TLS on these sockets, and without it the agent
    // works one out with net.isIP(host), whose IPv6 pattern V8 compiles on first use, ~2 ms of a cold send.
    super({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1, servername: '' } as http.AgentOptions);
    this.#connect = connect;
  }

  override createConnection(_options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): undefined {
    this.#connect().then(
      (stream) => callback?.(null, asSocket(stream)),
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/**
 * Create the client. It keeps at most one connection, opened on first use and reused for every
 * request while the receiver keeps it alive.
 *
 * @example
 * const transport = createTransport({ connect: () => ziti.dial('hooks'), path: '/webhooks', host: 'hooks',
 *   requestTimeoutMs: 30_000, maxResponseBytes: 65_536 });
 * const res = await transport.post({ 'content-type': 'application/json' }, Buffer.from('{}'));
 */
export function createTransport(options: TransportOptions): Transport {
  const agent = new DuplexAgent(options.connect);
  let current: http.ClientRequest | undefined;

  const post = (headers: Readonly<Record<string, string>>, body: Buffer): Promise<TransportResponse> =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      let settled = false;
      const finish = (err: Error | undefined, value?: TransportResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        current = undefined;
        if (err !== undefined) reject(err);
        else resolve(value!);
      };
      const req = http.request(
        {
          agent,
          method: 'POST',
          host: options.host,
          path: options.path,
          headers: { ...headers, 'content-length': String(body.length) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > options.maxResponseBytes) {
              const err = new SendError('ERR_SEND_RESPONSE_TOO_LARGE', `the response body exceeded ${options.maxResponseBytes} bytes`, {
                status: res.statusCode,
              });
              finish(err);
              req.destroy(err);
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () =>
            finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), ms: performance.now() - started }),
          );
          res.on('error', (err) => finish(err));
          res.on('close', () => finish(new SendError('ERR_SEND_TIMEOUT', 'the connection closed before the response was complete')));
        },
      );
      const timer = setTimeout(() => {
        const err = new SendError('ERR_SEND_TIMEOUT', `no complete response within ${options.requestTimeoutMs} ms`);
        finish(err);
        req.destroy(err);
      }, options.requestTimeoutMs);
      req.on('error', (err) => finish(err));
      current = req;
      req.end(body);
    });

  return {
    post,
    close(): void {
      current?.destroy(new SendError('ERR_SEND_CLOSED', 'the sender was closed'));
      agent.destroy();
    },
  };
}
