/** serveConnections' stalled-write watchdog: a connection whose answers stop leaving is dropped; a slow reader is kept. */
import assert from 'node:assert/strict';
import http from 'node:http';
import { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { serveConnections } from '../../receiver/ingest/source.js';
import { until } from './helpers.js';

const STALLED_MS = 300;

/** A connection whose writes complete after `writeDelayMs`, or never (`undefined`). */
function connection(writeDelayMs: number | undefined): Duplex & { written: number } {
  const conn = new Duplex({
    allowHalfOpen: true,
    read() {},
    write(chunk: Buffer, _enc, done) {
      if (writeDelayMs === undefined) return; // the peer never takes anything
      setTimeout(() => {
        conn.written += chunk.length;
        done();
      }, writeDelayMs);
    },
  }) as Duplex & { written: number };
  conn.written = 0;
  return conn;
}

/** Serve one connection with an answering server; resolves with it once `requests` are pushed. */
async function serve(conn: Duplex, requests: number): Promise<() => Promise<void>> {
  const server = http.createServer((_req, res) => res.end('x'.repeat(4096)));
  const served = serveConnections(server, { stalledWriteTimeoutMs: STALLED_MS, closeGraceMs: 100 });
  await served.start({ start: async (accept) => accept(conn, undefined), close: async () => undefined });
  const request = Buffer.from('GET / HTTP/1.1\r\nhost: x\r\nconnection: keep-alive\r\n\r\n');
  conn.push(Buffer.concat(Array(requests).fill(request)));
  return () => served.close();
}

describe('stalled-write watchdog', () => {
  it('drops a connection whose answers stop leaving, after the stalled-write timeout', async () => {
    const conn = connection(undefined);
    const close = await serve(conn, 5);
    try {
      await until(() => conn.writableLength > 0, 5_000, 'an answer queued');
      await until(() => conn.destroyed, STALLED_MS * 20, 'the stalled connection dropped');
    } finally {
      await close();
    }
  });

  it('keeps a slow reader whose answers keep leaving, for longer than the stalled-write timeout', async () => {
    const conn = connection(20);
    const close = await serve(conn, 100);
    try {
      // 100 answers at one write per 20 ms take several stall timeouts; the last one arrives.
      await until(() => conn.written >= 100 * 4096 || conn.destroyed, 30_000, 'all answers written');
      assert.equal(conn.destroyed, false, `dropped after ${conn.written} bytes`);
      assert.ok(conn.written >= 100 * 4096);
    } finally {
      await close();
    }
  });
});
