/** Raw HTTP/1.1 over a Ziti connection: request bytes written by hand, answers parsed from the byte stream. */
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { signedHeaders } from './helpers.js';

/** One parsed HTTP answer. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** The body as JSON (`{}` when empty). */
  readonly json: Record<string, unknown>;
}

/** A signed POST as wire bytes, `Connection: keep-alive` unless `close` is set. */
export function signedRequest(input: { id: string; secret: string; path?: string; close?: boolean; body?: Buffer }): Buffer {
  const body = input.body ?? Buffer.from(JSON.stringify({ id: input.id, ref: 'refs/heads/main' }));
  const headers = { ...signedHeaders({ id: input.id, body, secret: input.secret, type: 'push' }), 'content-length': String(body.length) };
  return rawRequest('POST', input.path ?? '/webhooks', { ...headers, connection: input.close === true ? 'close' : 'keep-alive' }, body);
}

/** Any request as wire bytes. */
export function rawRequest(method: string, path: string, headers: Record<string, string>, body: Buffer = Buffer.alloc(0)): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, 'host: hooks', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

/**
 * Parse complete answers from `data`; returns them and the bytes left over. Only
 * `content-length` framing is accepted (the receiver's answers are never chunked): anything else fails.
 */
export function parseAnswers(data: Buffer): { answers: RawAnswer[]; rest: Buffer } {
  const answers: RawAnswer[] = [];
  let off = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', off, 'latin1');
    if (end < 0) break;
    const [statusLine, ...headerLines] = data.subarray(off, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine ?? '');
    assert.ok(m, `not an HTTP status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    assert.equal(headers['transfer-encoding'], undefined, 'answers carry content-length');
    const length = Number(headers['content-length'] ?? 'NaN');
    assert.ok(Number.isSafeInteger(length), `answer without content-length: ${statusLine}`);
    if (data.length < end + 4 + length) break;
    const body = data.subarray(end + 4, end + 4 + length);
    answers.push({ status: Number(m[1]), headers, body, json: JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown> });
    off = end + 4 + length;
  }
  return { answers, rest: data.subarray(off) };
}

/**
 * Read `conn` until it ends (or closes) and parse every answer in it. Fails after `timeoutMs`,
 * and when bytes are left that do not make a whole answer.
 */
export function readAllAnswers(conn: Duplex, timeoutMs = 20_000): Promise<RawAnswer[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`no end of answers after ${timeoutMs} ms (${Buffer.concat(chunks).length} bytes read)`));
    }, timeoutMs);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        const { answers, rest } = parseAnswers(Buffer.concat(chunks));
        assert.equal(rest.length, 0, `a partial answer is left: ${rest.toString('latin1').slice(0, 200)}`);
        resolve(answers);
      } catch (err) {
        reject(err as Error);
      }
    };
    conn.on('data', (c: Buffer) => chunks.push(c));
    conn.once('end', finish);
    conn.once('close', finish);
    conn.once('error', (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Read from `conn` until `count` answers have arrived; the connection stays open. Fails after `timeoutMs`. */
export function readAnswers(conn: Duplex, count: number, timeoutMs = 20_000): Promise<RawAnswer[]> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const answers: RawAnswer[] = [];
    const cleanup = (): void => {
      clearTimeout(timer);
      conn.off('data', onData);
      conn.off('close', onClose);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${answers.length} of ${count} answers after ${timeoutMs} ms`));
    }, timeoutMs);
    const onData = (c: Buffer): void => {
      try {
        const parsed = parseAnswers(Buffer.concat([buffered, c]));
        answers.push(...parsed.answers);
        buffered = Buffer.from(parsed.rest);
      } catch (err) {
        cleanup();
        reject(err as Error);
        return;
      }
      if (answers.length >= count) {
        cleanup();
        resolve(answers);
      }
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`connection closed after ${answers.length} of ${count} answers`));
    };
    conn.on('data', onData);
    conn.once('close', onClose);
  });
}
