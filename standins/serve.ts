/** What the stand-in servers share: a node:http listener that can be stopped and started again on its port, and body reading. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Where a stand-in listens: loopback and an ephemeral port unless told otherwise. */
export interface ListenOptions {
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** Default 0 (an ephemeral port, kept across `stop()`/`start()`). */
  readonly port?: number;
}

/** A listening stand-in. */
export interface Served {
  /** `http://host:port` (IPv6 hosts in brackets). */
  readonly origin: string;
  readonly port: number;
  /** Close the listener and every open connection: clients then see a refused connection. */
  stop(): Promise<void>;
  /** Listen again on the same port after `stop()`. */
  start(): Promise<void>;
}

/** Listen with `handler`; its rejections answer 500 and never escape. */
export async function serve(handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>, options: ListenOptions): Promise<Served> {
  const host = options.host ?? '127.0.0.1';
  let server: Server | undefined;
  let port = options.port ?? 0;
  const listen = async (): Promise<void> => {
    const s = createServer((req, res) => {
      handler(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, host, () => resolve());
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  await listen();
  return {
    origin: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    async stop() {
      const s = server;
      server = undefined;
      if (s === undefined) return;
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      s.closeAllConnections();
      await closed;
    },
    async start() {
      if (server === undefined) await listen();
    },
  };
}

/** The request body, or undefined when it exceeds `max` bytes (the rest is drained). */
export async function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= max) chunks.push(chunk as Buffer);
  }
  return size > max ? undefined : Buffer.concat(chunks);
}

/** Answer with a status, a body and headers. */
export function answer(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

/** Lower-case header value (the first, when repeated). */
export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
