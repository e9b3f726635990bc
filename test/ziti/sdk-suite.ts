/** The SDK test suite, run unchanged against every fabric (embedded and real OpenZiti) so they cannot drift. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ZitiContext, enroll, type ZitiContextOptions, type ZitiListener } from '../../connector/ziti/index.js';
import { createCa, issueClientCert, readIdentityFile, writeIdentityFile, type ZitiIdentity } from '../../pki/index.js';

/** What the suite needs from a fabric: administration, as its own CLI or store would do it. */
export interface FabricUnderTest {
  /** `https://host:port` of the controller. */
  readonly ctrlUrl: string;
  createService(name: string, attributes: readonly string[]): Promise<void>;
  createPolicy(name: string, type: 'Dial' | 'Bind', serviceRoles: readonly string[], identityRoles: readonly string[]): Promise<void>;
  /** Create an identity; returns its one-time enrollment JWT. */
  createIdentity(name: string, attributes: readonly string[]): Promise<string>;
  deleteIdentity(name: string): Promise<void>;
  /** Stop controller and router and start them again with the same state and ports. */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

/** State shared with fabric-specific extra tests. */
export interface SuiteEnv {
  fabric: FabricUnderTest;
  sender: ZitiContext;
  receiver: ZitiContext;
  server: ZitiListener;
  dir: string;
}

const MiB = 1024 * 1024;

/** Read a stream to its end. */
export async function readAll(stream: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Retry `fn` until it resolves or `ms` passes (terminators are created asynchronously). */
export async function eventually<T>(fn: () => Promise<T>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Define the suite. `start` brings the fabric up; `extra` adds tests that only one fabric can run
 * (e.g. interop with the Go SDK), sharing the suite's identities and listener.
 */
export function sdkSuite(
  title: string,
  options: {
    skip?: string | undefined;
    start: () => Promise<FabricUnderTest>;
    extra?: (env: () => SuiteEnv) => void;
    /** Options of every context the suite creates (e.g. `auth: 'legacy'` to force legacy sessions). */
    contextOptions?: ZitiContextOptions;
  },
): void {
  const ctxOptions = options.contextOptions ?? {};
  describe(`SDK against ${title}`, { skip: options.skip, timeout: 600_000 }, () => {
    const env = {} as SuiteEnv;

    before(async () => {
      env.dir = mkdtempSync(join(tmpdir(), 'darkhook-sdk-'));
      env.fabric = await options.start();
      const f = env.fabric;
      await f.createService('echo', ['echo-svc']);
      await f.createPolicy('echo-bind', 'Bind', ['@echo'], ['#receivers']);
      await f.createPolicy('echo-dial', 'Dial', ['#echo-svc'], ['#senders']);
      const [rJwt, sJwt] = [await f.createIdentity('receiver', ['receivers']), await f.createIdentity('sender', ['senders'])];
      const [rId, sId] = await Promise.all([enroll(rJwt), enroll(sJwt)]);
      await writeIdentityFile(join(env.dir, 'sender.json'), sId);
      await writeIdentityFile(join(env.dir, 'receiver.json'), rId);
      env.receiver = new ZitiContext(rId, ctxOptions);
      env.sender = await ZitiContext.fromFile(join(env.dir, 'sender.json'), ctxOptions);
      env.server = env.receiver.listen('echo');
      env.server.on('connection', (c) => c.pipe(c));
      await once(env.server, 'listening');
    });

    after(async () => {
      await env.sender?.close();
      await env.receiver?.close();
      await env.fabric?.dispose();
    });

    it('enrolls with the one-time token, writes an identity file the SDK loads, and burns the token', async () => {
      const id = await readIdentityFile(join(env.dir, 'sender.json'));
      assert.equal(id.ztAPI, `${env.fabric.ctrlUrl}/edge/client/v1`);
      assert.match(id.key, /-----BEGIN RSA PRIVATE KEY-----/);
      assert.match(id.ca, /-----BEGIN CERTIFICATE-----/);
      const again = await env.fabric.createIdentity('twice', []);
      await enroll(again);
      await assert.rejects(enroll(again), { code: 'ERR_ZITI_ENROLL_REJECTED' });
    });

    it('carries small writes intact both ways, end-to-end encrypted, and names the caller', async () => {
      let caller: string | undefined;
      env.server.once('connection', (c) => (caller = c.caller?.identityName));
      const conn = await eventually(() => env.sender.dial('echo'));
      assert.equal(conn.encrypted, true);
      const parts = ['a', 'bc', 'hello ziti', '', 'x'.repeat(1000)];
      for (const p of parts) conn.write(p);
      conn.end();
      assert.equal((await readAll(conn)).toString(), parts.join(''));
      // Routers ≥ 2.0 and the embedded one name the dialing identity; 1.x routers send no name.
      assert.ok(caller === undefined || caller === 'sender', `caller ${caller}`);
    });

    it('moves 64 MiB each way with a matching SHA-256', async () => {
      const conn = await eventually(() => env.sender.dial('echo'));
      const sent = createHash('sha256');
      const received = createHash('sha256');
      let receivedBytes = 0;
      conn.on('data', (c: Buffer) => {
        received.update(c);
        receivedBytes += c.length;
      });
      const done = once(conn, 'end');
      for (let i = 0; i < 64; i++) {
        const chunk = randomBytes(MiB);
        sent.update(chunk);
        if (!conn.write(chunk)) await once(conn, 'drain');
      }
      conn.end();
      await done;
      assert.equal(receivedBytes, 64 * MiB);
      assert.equal(received.digest('hex'), sent.digest('hex'));
    });

    it('multiplexes 100 concurrent connections over one router link', async () => {
      const conns = await Promise.all(Array.from({ length: 100 }, () => eventually(() => env.sender.dial('echo'))));
      assert.equal(new Set(conns.map((c) => c.routerAddress)).size, 1);
      assert.equal(new Set(conns.map((c) => c.connId)).size, 100);
      const results = await Promise.all(
        conns.map(async (c, i) => {
          c.end(`message ${i}`);
          return (await readAll(c)).toString();
        }),
      );
      for (const [i, r] of results.entries()) assert.equal(r, `message ${i}`);
    });

    it('refuses an identity without a Dial policy with a coded error', async () => {
      const ctx = new ZitiContext(await enroll(await env.fabric.createIdentity('bindonly', ['receivers'])), ctxOptions);
      try {
        await assert.rejects(ctx.dial('echo'), { code: 'ERR_ZITI_SERVICE_NOT_PERMITTED' });
      } finally {
        await ctx.close();
      }
    });

    it('refuses a Bind without a policy with a coded error on the listener', async () => {
      const ctx = new ZitiContext(await enroll(await env.fabric.createIdentity('dialonly', ['senders'])), ctxOptions);
      try {
        const listener = ctx.listen('echo');
        const [err] = (await once(listener, 'error')) as [{ code: string }];
        assert.equal(err.code, 'ERR_ZITI_SERVICE_NOT_PERMITTED');
      } finally {
        await ctx.close();
      }
    });

    it('does not let a deleted identity authenticate again', async () => {
      const identity = await enroll(await env.fabric.createIdentity('doomed', ['senders']));
      const first = new ZitiContext(identity, ctxOptions);
      await first.authenticate();
      await first.close();
      await env.fabric.deleteIdentity('doomed');
      const second = new ZitiContext(identity, ctxOptions);
      try {
        await assert.rejects(second.authenticate(), { code: 'ERR_ZITI_UNAUTHORIZED' });
      } finally {
        await second.close();
      }
    });

    it('refuses a certificate from a foreign CA', async () => {
      const foreign = await createCa({ commonName: 'foreign-ca' });
      const client = await issueClientCert(foreign, { commonName: 'intruder' });
      const real = await readIdentityFile(join(env.dir, 'sender.json'));
      const forged: ZitiIdentity = { ...real, cert: client.certPem, key: client.keyPem! };
      const ctx = new ZitiContext(forged, ctxOptions);
      try {
        await assert.rejects(ctx.authenticate(), { code: 'ERR_ZITI_UNAUTHORIZED' });
      } finally {
        await ctx.close();
      }
    });

    options.extra?.(() => env);

    it('re-binds after the fabric restarts, and new dials succeed without restarting us', async () => {
      const states: string[] = [];
      env.server.on('state', (s) => states.push(s.type));
      await env.fabric.restart();
      await eventually(async () => assert.ok(env.server.listening && states.includes('reconnecting')), 60_000);
      const conn = await eventually(() => env.sender.dial('echo'), 60_000);
      conn.end('after restart');
      assert.equal((await readAll(conn)).toString(), 'after restart');
      assert.ok(states.includes('disconnected'));
    });
  });
}
