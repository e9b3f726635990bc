/**
 * The sinks' HTTP call over node:http's kept-alive agent: a pooled connection that the server
 * dropped while it was idle (the keep-alive race) is not an attempt's failure — the request goes
 * once more on a fresh connection — while a reset on a fresh connection is reported, not repeated.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { it, type TestContext } from 'node:test';
import { httpCall } from '../../receiver/sinks/http-call.js';

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=30\r\n\r\nok';

/** A raw HTTP server: `onRequest(n, socket)` for the n-th request head (1-based) on each connection; counts connections. */
async function rawServer(t: TestContext, onRequest: (connection: number, nth: number, socket: net.Socket) => void): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    const connection = ++connections;
    let nth = 0;
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      // Each test request is a small POST with a body of "x": one head and its body per request.
      while (buffered.includes('\r\n\r\nx')) {
        buffered = buffered.slice(buffered.indexOf('\r\n\r\nx') + 5);
        onRequest(connection, ++nth, socket);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, connections: () => connections };
}

const post = (url: string) => httpCall(url, { headers: { 'content-type': 'text/plain' }, body: 'x' }, new AbortController().signal);

it('a kept-alive connection dropped by the server is retried once on a fresh one, and the answer is the fresh one’s', async (t) => {
  const seen: string[] = [];
  const server = await rawServer(t, (connection, nth, socket) => {
    if (connection === 1 && nth === 2) {
      // As a server that had closed the idle connection: it never handles this request.
      socket.resetAndDestroy();
      return;
    }
    seen.push(`${connection}.${nth}`);
    socket.write(OK);
  });
  const first = await post(server.url);
  assert.ok(first.ok && first.status === 200);
  const second = await post(server.url);
  assert.ok(second.ok && second.status === 200, JSON.stringify(second));
  assert.deepEqual(seen, ['1.1', '2.1'], 'handled once, on a second connection');
  assert.equal(server.connections(), 2);
});

it('a reset on a fresh connection is the attempt’s network fault, not sent again', async (t) => {
  const server = await rawServer(t, (_connection, _nth, socket) => socket.resetAndDestroy());
  const answer = await post(server.url);
  assert.ok(!answer.ok);
  assert.match(answer.error, /ECONNRESET/);
  assert.equal(server.connections(), 1, 'one connection: not retried');
});
