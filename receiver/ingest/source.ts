/** Connection sources (a Ziti bind is one) and the HTTP server fed from them: never a listening socket. */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { ZitiConnection } from '../../connector/ziti/edge-conn.js';
import type { ZitiListener } from '../../connector/ziti/listener.js';

/** Idle time after which a caller's connection is closed, in milliseconds (the sender redials). */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
/** How long `close()` lets requests in flight finish before it cuts their connections, in milliseconds. */
export const DEFAULT_CLOSE_GRACE_MS = 2_000;
/** How long answers may wait unread by a client before its connection is dropped, in milliseconds. */
export const DEFAULT_STALLED_WRITE_TIMEOUT_MS = 30_000;

/**
 * Where connections come from: the mirror of the sender's `Connect`. `start` resolves once
 * connections can arrive (the service is bound); `accept` gets each byte stream with the caller's
 * identity name, when the source knows it.
 */
export interface ConnectionSource {
  start(accept: (socket: Duplex, caller: string | undefined) => void): Promise<void>;
  /** Stop accepting (unbind). Connections already accepted are the server's to close. */
  close(): Promise<void>;
}

/** A Ziti bind as a connection source: the caller is the dialing identity the router names. */
export function zitiSource(listener: ZitiListener): ConnectionSource {
  // Connections that arrive between the bind and start() wait here, so none is left unanswered.
  let waiting: ZitiConnection[] | undefined = [];
  let accepting: ((socket: Duplex, caller: string | undefined) => void) | undefined;
  let fatal: Error | undefined;
  listener.on('error', (err: Error) => {
    fatal ??= err;
  });
  listener.on('connection', (conn: ZitiConnection) => {
    if (accepting !== undefined) accepting(conn, conn.caller?.identityName);
    else waiting?.push(conn);
  });
  return {
    async start(accept) {
      accepting = accept;
      for (const conn of waiting ?? []) accept(conn, conn.caller?.identityName);
      waiting = undefined;
      if (fatal !== undefined) throw fatal;
      if (listener.listening) return;
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => {
          listener.off('listening', onListening);
          reject(err);
        };
        const onListening = (): void => {
          listener.off('error', onError);
          resolve();
        };
        listener.once('listening', onListening);
        listener.once('error', onError);
      });
    },
    close: async () => {
      for (const conn of waiting ?? []) conn.destroy();
      waiting = undefined;
      await listener.close();
    },
  };
}

/** Options of `serveConnections`. */
export interface ServeOptions {
  readonly idleTimeoutMs?: number;
  readonly closeGraceMs?: number;
  readonly stalledWriteTimeoutMs?: number;
  /** Told about a connection's error (a faulty peer fails its own connection, never the process). */
  readonly onConnectionError?: (err: Error, caller: string | undefined) => void;
}

/** An HTTP server fed from a connection source. */
export interface ConnectionServer {
  /** The caller identity of a request's socket. */
  callerOf(socket: unknown): string | undefined;
  /** Connections open now. */
  readonly connections: number;
  /** Start accepting from the source. */
  start(source: ConnectionSource): Promise<void>;
  /** Stop the source, let requests in flight finish (up to the grace), then cut what is left. */
  close(): Promise<void>;
}

/**
 * An `http.Server` that never listens: `serveConnections` hands it the source's streams. It
 * answers every complete request it has read — after the client's half-close (FIN), pipelined
 * requests in order, many requests on one kept-alive connection — then closes. A client that
 * stops reading its answers is dropped after `stalledWriteTimeoutMs`, so its queued answers
 * cannot grow without bound.
 */
export function serveConnections(server: http.Server, options: ServeOptions = {}): ConnectionServer {
  const callers = new WeakMap<object, string>();
  const open = new Set<Duplex>();
  const stalledMs = options.stalledWriteTimeoutMs ?? DEFAULT_STALLED_WRITE_TIMEOUT_MS;
  server.setTimeout(options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
  // Node ends a socket as soon as the client's FIN arrives, even with an answer still being made.
  // A half-closed client is still reading: answer what it sent, then end (undocumented, stable since Node 0.x).
  (server as unknown as { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  let source: ConnectionSource | undefined;
  let closing = false;

  // A stall is "answers queued and no byte of them leaving for stalledMs". Progress is counted as
  // bytes handed to the socket minus bytes still queued in it, so a slow reader whose queue level
  // looks the same at every sample (one answer leaves, the next arrives) is seen moving and kept.
  // (A byte threshold misses a stall: node:http keeps a socket's own queue near one answer and
  // holds the rest.)
  const watch = (socket: Duplex): NodeJS.Timeout => {
    let handed = 0;
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    (socket as unknown as { write: (...args: unknown[]) => boolean }).write = (chunk: unknown, ...rest: unknown[]): boolean => {
      handed += typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8') : (chunk as Uint8Array).byteLength;
      return write(chunk, ...rest);
    };
    let since: number | undefined;
    let left = 0;
    const timer = setInterval(() => {
      const queued = socket.writableLength;
      const gone = handed - queued;
      const moved = queued === 0 || gone > left;
      left = gone;
      if (moved) {
        since = undefined;
        return;
      }
      since ??= Date.now();
      if (Date.now() - since >= stalledMs) socket.destroy();
    }, Math.max(10, Math.min(1_000, stalledMs / 4)));
    timer.unref();
    return timer;
  };

  const accept = (socket: Duplex, caller: string | undefined): void => {
    if (closing) {
      socket.destroy();
      return;
    }
    if (caller !== undefined) callers.set(socket, caller);
    open.add(socket);
    const timer = watch(socket);
    socket.once('close', () => {
      clearInterval(timer);
      open.delete(socket);
    });
    socket.on('error', (err: Error) => options.onConnectionError?.(err, caller));
    server.emit('connection', socket);
  };

  return {
    callerOf: (socket) => (typeof socket === 'object' && socket !== null ? callers.get(socket) : undefined),
    get connections() {
      return open.size;
    },
    async start(s) {
      source = s;
      await s.start(accept);
    },
    async close() {
      closing = true;
      await source?.close();
      server.closeIdleConnections();
      const deadline = Date.now() + (options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS);
      while (open.size > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        server.closeIdleConnections();
      }
      for (const socket of open) socket.destroy();
    },
  };
}
