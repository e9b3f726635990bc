/** The demo's attacker tools: a tap that records the request bytes a sender writes, and a raw replay of such bytes. */
import type { Duplex } from 'node:stream';
import { CliError } from '../core/index.js';

/** The bytes written to every connection a `Connect` opened, in order. */
export interface Tap {
  /** Wraps a connect function; every chunk written to its connections is appended to `bytes`. */
  wrap(connect: () => Promise<Duplex>): () => Promise<Duplex>;
  readonly bytes: () => Buffer;
}

/**
 * A wiretap on the sender's side of the end-to-end encryption: what an attacker who read one request
 * (a proxy log, a leaked CI artefact) would hold.
 */
export function createTap(): Tap {
  const chunks: Buffer[] = [];
  return {
    wrap(connect) {
      return async () => {
        const conn = await connect();
        const write = conn.write.bind(conn) as (chunk: unknown, ...rest: unknown[]) => boolean;
        conn.write = ((chunk: unknown, ...rest: unknown[]) => {
          if (typeof chunk === 'string') chunks.push(Buffer.from(chunk, typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8'));
          else if (chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
          return write(chunk, ...rest);
        }) as Duplex['write'];
        return conn;
      };
    },
    bytes: () => Buffer.concat(chunks),
  };
}

/** The HTTP request in `bytes` with one byte of its body changed (same length, so it still parses). */
export function tamperBody(bytes: Buffer): Buffer {
  const start = bytes.indexOf('\r\n\r\n');
  if (start < 0) throw new CliError('ERR_CLI_DEMO_FAILED', 'the captured request has no body');
  const copy = Buffer.from(bytes);
  // Change the first digit of the body: a commit sha, a count, an id — the JSON stays valid.
  for (let i = start + 4; i < copy.length; i++) {
    const c = copy[i]!;
    if (c >= 0x30 && c <= 0x39) {
      copy[i] = c === 0x39 ? 0x30 : c + 1;
      return copy;
    }
  }
  throw new CliError('ERR_CLI_DEMO_FAILED', 'the captured body has no digit to change');
}

/** Write raw request bytes to a fresh connection and resolve with the answer's status code. */
export async function replay(conn: Duplex, bytes: Buffer, timeoutMs = 15_000): Promise<number> {
  try {
    return await new Promise<number>((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => reject(new CliError('ERR_CLI_DEMO_FAILED', 'no answer to the replayed request')), timeoutMs);
      conn.on('data', (c: Buffer) => {
        text += c.toString('latin1');
        const m = /^HTTP\/1\.[01] (\d{3}) /.exec(text);
        if (m !== null) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      conn.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      conn.once('end', () => {
        clearTimeout(timer);
        reject(new CliError('ERR_CLI_DEMO_FAILED', 'the connection closed before an answer'));
      });
      conn.write(bytes);
    });
  } finally {
    conn.destroy();
  }
}
