/**
 * The receiver answers every complete request it has read, whatever the client does with its half
 * of the connection: half-close, pipelining, long keep-alive, a client that never reads.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import type { ZitiConnection, ZitiContext } from '../../connector/ziti/index.js';
import { type RunningReceiver, startReceiver } from '../../receiver/server.js';
import { CLI } from '../cli/helpers.js';
import { memoryLogger, startTestNet, type TestNet, until } from './helpers.js';
import { rawRequest, readAllAnswers, readAnswers, signedRequest } from './raw-http.js';

const SERVICE = 'hooks';
const CHILD_SERVICE = 'hooks-child';
const STALLED_MS = 1_500;

/** Run `fn` over `items` with at most `width` at a time. */
async function inBatches<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) out.push(...(await Promise.all(items.slice(i, i + width).map(fn))));
  return out;
}

describe('the receiver answers whatever the client does with its half of the connection', { timeout: 240_000 }, () => {
  let net: TestNet;
  let sender: ZitiContext;
  let receiver: RunningReceiver;
  const secret = generateHmacSecret();

  before(async () => {
    net = await startTestNet();
    net.createService(SERVICE);
    net.createService(CHILD_SERVICE);
    const receiverZiti = await net.context('hooks-receiver', ['receivers']);
    sender = await net.context('ci-sender', ['senders']);
    await receiverZiti.authenticate();
    receiver = await startReceiver({
      ziti: receiverZiti,
      service: SERVICE,
      secrets: [secret],
      storePath: join(net.dir, 'receiver.db'),
      logger: memoryLogger().logger,
    });
  });
  after(async () => {
    await receiver?.close();
    await net?.close();
  });

  const stored = async (id: string): Promise<number> => (await receiver.store.list({ limit: 100_000 })).filter((m) => m.id === id).length;

  it('answers 100 requests, each written and then half-closed with conn.end(request)', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `msg_half_${i}`);
    const answered = await inBatches(ids, 20, async (id) => {
      const conn = await sender.dial(SERVICE);
      const answers = readAllAnswers(conn);
      conn.end(signedRequest({ id, secret }));
      return { id, answers: await answers };
    });
    const ok = answered.filter(({ id, answers }) => answers.length === 1 && answers[0]!.status === 200 && answers[0]!.json['id'] === id);
    assert.equal(ok.length, 100, `answered: ${JSON.stringify(answered.filter((a) => !ok.includes(a)).slice(0, 3))}`);
    for (const id of ids) assert.equal(await stored(id), 1, id);
  });

  it('answers 50 pipelined requests on one half-closed connection, in order', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `msg_pipe_${i}`);
    const conn = await sender.dial(SERVICE);
    const answers = readAllAnswers(conn);
    conn.end(Buffer.concat(ids.map((id) => signedRequest({ id, secret }))));
    const got = await answers;
    assert.equal(got.length, 50);
    assert.deepEqual(got.map((a) => [a.status, a.json['id']]), ids.map((id) => [200, id]));
  });

  it('answers 1,000 requests on one kept-alive connection, one after the other', async () => {
    const conn = await sender.dial(SERVICE);
    try {
      let ok = 0;
      for (let i = 0; i < 1_000; i++) {
        const id = `msg_keep_${i}`;
        const answer = readAnswers(conn, 1);
        conn.write(signedRequest({ id, secret }));
        const [a] = await answer;
        if (a!.status === 200 && a!.json['id'] === id) ok++;
      }
      assert.equal(ok, 1_000);
      assert.equal(conn.destroyed, false, 'the connection is still open');
    } finally {
      conn.destroy();
    }
  });

  it('answers a replay of a POST whose answer was lost as a duplicate (202) and stores it once', async () => {
    const id = 'msg_lost_answer';
    const first = await sender.dial(SERVICE);
    first.write(signedRequest({ id, secret }));
    // The receiver has stored it; the client goes away without reading the answer.
    await until(async () => (await stored(id)) === 1, 20_000, 'the first copy stored');
    first.destroy();
    const again = await sender.dial(SERVICE);
    const answers = readAllAnswers(again);
    again.end(signedRequest({ id, secret }));
    const [answer, ...more] = await answers;
    assert.equal(more.length, 0);
    assert.equal(answer!.status, 202, answer!.body.toString());
    assert.deepEqual(answer!.json, { id, stored: 0, duplicates: 1 });
    assert.equal(await stored(id), 1);
  });

  it('stores a POST once when the client cuts the connection right after writing it and then re-sends it', async () => {
    const id = 'msg_cut_after_write';
    const first = await sender.dial(SERVICE);
    await new Promise<void>((resolve, reject) => first.write(signedRequest({ id, secret }), (err) => (err ? reject(err) : resolve())));
    first.destroy();
    const again = await sender.dial(SERVICE);
    const answers = readAllAnswers(again);
    again.end(signedRequest({ id, secret }));
    const [answer] = await answers;
    // A full close before the body was read aborts the first copy (node:http), or it was stored
    // first: either way the replay is answered and the store holds the message once.
    assert.ok(answer!.status === 200 || answer!.status === 202, String(answer!.status));
    assert.equal(await stored(id), 1);
  });

  describe('a client that sends 1,000 requests and never reads (receiver in a child process)', () => {
    let child: ChildProcess;
    let stdout = '';
    let stderr = '';

    before(async () => {
      const identity = await net.identityFile('child-receiver', ['receivers']);
      const config = join(net.dir, 'child-receiver.config.json');
      writeFileSync(config, JSON.stringify({
        identity,
        service: CHILD_SERVICE,
        store: join(net.dir, 'child-receiver.db'),
        secrets: ['env:DARKHOOK_SECRET'],
        stalledWriteTimeoutMs: STALLED_MS,
        routes: [{ path: '/webhooks' }],
      }));
      child = spawn(process.execPath, [CLI, '--log-level', 'silent', '--json', 'receive', '--config', config], {
        env: { ...process.env, DARKHOOK_SECRET: secret },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      await until(() => stdout.includes('"event":"ready"') || child.exitCode !== null, 30_000, 'the child receiver ready');
      assert.match(stdout, /"event":"ready"/, stderr);
    });
    after(async () => {
      if (child === undefined || child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    });

    /** The child's resident set, in bytes (from /proc). */
    const rss = (): number => {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      assert.ok(m, 'VmRSS in /proc status');
      return Number(m[1]) * 1024;
    };
    const ask = async (id: string): Promise<number> => {
      const conn = await sender.dial(CHILD_SERVICE);
      const answers = readAllAnswers(conn, 20_000);
      conn.end(signedRequest({ id, secret }));
      const [a] = await answers;
      return a!.status;
    };

    const warmUp = async (): Promise<void> => {
      // The terminator may lag the ready line by a moment.
      for (let tries = 0; ; tries++) {
        try {
          assert.equal(await ask('msg_warm_first'), 200);
          break;
        } catch (err) {
          if (tries >= 100) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      // So that the first figure is not the cold start.
      for (let i = 0; i < 20; i++) assert.equal(await ask(`msg_warm_${i}`), 200);
    };

    /** Pipeline `count` copies of `request` on a connection that is never read; returns it. */
    const nonReader = async (request: Buffer, count: number): Promise<ZitiConnection> => {
      const hog = await sender.dial(CHILD_SERVICE);
      hog.pause();
      hog.on('error', () => undefined);
      for (let i = 0; i < count && !hog.destroyed; i++) hog.write(request);
      return hog;
    };

    it('keeps its memory bounded and serves other clients while one sends 1,000 signed POSTs and never reads', async () => {
      await warmUp();
      const before = rss();
      const hog = await nonReader(signedRequest({ id: 'msg_hog', secret }), 1_000);
      let peak = before;
      const served = await inBatches(Array.from({ length: 10 }, (_, i) => `msg_meanwhile_${i}`), 5, ask);
      assert.deepEqual(served, Array(10).fill(200));
      // The answers (200, then duplicates) pile up on the non-reader's own side, unread.
      await until(() => {
        peak = Math.max(peak, rss());
        return hog.readableLength >= 1_000 * 100;
      }, 30_000, 'the non-reader\'s answers buffered on its side');
      const unread = hog.readableLength;
      assert.equal(hog.destroyed, false);
      hog.destroy();
      assert.equal(await ask('msg_after_hog'), 200, 'still serving');
      peak = Math.max(peak, rss());
      process.stdout.write(`# 1,000 unread POSTs: ${unread} answer bytes held by the client; receiver RSS before ${before >> 20} MiB, peak ${peak >> 20} MiB\n`);
      // What is retained here is under 1 MiB (the answers above sit in the client's window); the growth
      // is V8 garbage not yet collected: +17–18 MiB on Node 20, +22–32 MiB on Node 24 on this machine.
      // So the bound is a coarse guard against gross retention, above that noise floor.
      assert.ok(peak - before < 48 * 1024 * 1024, `RSS grew ${(peak - before) >> 20} MiB`);
    });

    it('drops a non-reader whose unread answers outgrow the buffers after the stalled-write timeout, memory bounded', {
      // Over loopback the 12 MB of unread answers fit in the client's 4 MiB window, the kernel's
      // socket buffers and the fabric router's relay queue: the receiver's writes never stall (its
      // queue is empty once every answer is written), so there is nothing for the watchdog to drop,
      // and parsing 1,000 pipelined 12 KB requests at once costs the receiver ~65 MiB RSS.
      // test/receiver/stalled-write.test.ts shows the watchdog on a connection that does stall.
      todo: 'the receiver does not stall over loopback (answers absorbed by buffers along the way) and RSS grows ~65 MiB',
    }, async () => {
      const before = rss();
      // A 404 names the path it did not find: 1,000 such answers (12 MB) outgrow the client's
      // 4 MiB window and the relay buffers, so the receiver's writes stall.
      const hog = await nonReader(rawRequest('GET', `/${'x'.repeat(12_000)}`, { connection: 'keep-alive' }), 1_000);
      let closed = false;
      hog.once('close', () => (closed = true));
      let peak = before;
      await until(() => {
        peak = Math.max(peak, rss());
        return closed;
      }, STALLED_MS * 5, 'the non-reading client dropped');
      assert.equal(await ask('msg_after_drop'), 200, 'still serving');
      process.stdout.write(`# 1,000 unread 12 KB answers: receiver RSS before ${before >> 20} MiB, peak ${peak >> 20} MiB\n`);
      assert.ok(peak - before < 32 * 1024 * 1024, `RSS grew ${(peak - before) >> 20} MiB`);
    });
  });
});
