/** Our SDK against a real OpenZiti quickstart network: enroll, bind, dial, E2E, Go SDK interop, faults. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Duplex } from 'node:stream';
import { ZitiContext, enroll } from '../../connector/ziti/index.js';
import type { ZitiListener } from '../../connector/ziti/listener.js';
import { createCa, issueClientCert, readIdentityFile, writeIdentityFile, type ZitiIdentity } from '../../pki/index.js';
import { Quickstart, zitiBinary } from './quickstart.js';

const ziti = zitiBinary();
const MiB = 1024 * 1024;

/** Read a stream to its end. */
async function readAll(stream: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Echo every connection back to itself (half-close propagates as FIN). */
function echo(server: ZitiListener): void {
  server.on('connection', (c) => c.pipe(c));
}

/** Retry `fn` until it resolves or `ms` passes (terminators are created asynchronously). */
async function eventually<T>(fn: () => Promise<T>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe('SDK interop with a real OpenZiti quickstart', { skip: ziti.reason, timeout: 600_000 }, () => {
  let qs: Quickstart;
  let receiver: ZitiContext;
  let sender: ZitiContext;
  let server: ZitiListener;
  let senderIdentityPath: string;

  before(async () => {
    qs = await Quickstart.start(ziti.path!);
    await qs.ziti('edge', 'create', 'service', 'echo', '-a', 'echo-svc');
    await qs.ziti('edge', 'create', 'service', 'echo-go', '-a', 'echo-svc');
    await qs.ziti('edge', 'create', 'service-policy', 'echo-bind', 'Bind', '--service-roles', '@echo', '--identity-roles', '#receivers');
    await qs.ziti('edge', 'create', 'service-policy', 'echo-dial', 'Dial', '--service-roles', '#echo-svc', '--identity-roles', '#senders');
    await qs.ziti('edge', 'create', 'service-policy', 'echo-go-bind', 'Bind', '--service-roles', '@echo-go', '--identity-roles', '#gohosts');
    const [rJwt, sJwt] = [await qs.createIdentity('receiver', ['receivers']), await qs.createIdentity('sender', ['senders'])];
    const [rId, sId] = await Promise.all([enroll(rJwt), enroll(sJwt)]);
    senderIdentityPath = join(qs.home, 'sender.json');
    await writeIdentityFile(senderIdentityPath, sId);
    receiver = new ZitiContext(rId);
    sender = await ZitiContext.fromFile(senderIdentityPath);
    server = receiver.listen('echo');
    echo(server);
    await once(server, 'listening');
  });

  after(async () => {
    await sender?.close();
    await receiver?.close();
    await qs?.dispose();
  });

  it('enrolls with the one-time token and writes an identity file the SDK loads', async () => {
    const id = await readIdentityFile(senderIdentityPath);
    assert.equal(id.ztAPI, `${qs.ctrlUrl}/edge/client/v1`);
    assert.match(id.key, /-----BEGIN RSA PRIVATE KEY-----/);
    assert.match(id.ca, /-----BEGIN CERTIFICATE-----/);
    // The token is burnt: a second enrollment is refused.
    const again = await qs.createIdentity('twice', []);
    await enroll(again);
    await assert.rejects(enroll(again), { code: 'ERR_ZITI_ENROLL_REJECTED' });
  });

  it('carries small writes intact both ways, end-to-end encrypted', async () => {
    const conn = await eventually(() => sender.dial('echo'));
    assert.equal(conn.encrypted, true);
    const parts = ['a', 'bc', 'hello ziti', '', 'x'.repeat(1000)];
    for (const p of parts) conn.write(p);
    conn.end();
    assert.equal((await readAll(conn)).toString(), parts.join(''));
  });

  it('moves 64 MiB each way with a matching SHA-256', async () => {
    const conn = await eventually(() => sender.dial('echo'));
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
    const conns = await Promise.all(Array.from({ length: 100 }, () => eventually(() => sender.dial('echo'))));
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

  it("interoperates with the ziti CLI's Go SDK: zcat dials our listener, our dial reaches its echo-server", async () => {
    await qs.createIdentity('sendergo', ['senders']);
    await qs.createIdentity('receivergo', ['gohosts']);
    const [sendergo, receivergo] = [await qs.enrollWithCli('sendergo'), await qs.enrollWithCli('receivergo')];

    // Go dialer (zcat) → our host. zcat copies stdin to the service and the answer to stdout.
    const zcat = qs.spawnZiti('demo', 'zcat', '-i', sendergo, 'ziti:echo');
    let zOut = '';
    zcat.stdout!.on('data', (c: Buffer) => (zOut += c.toString()));
    zcat.stdin!.write('ping from go\n');
    await eventually(async () => assert.match(zOut, /ping from go/), 20_000);
    zcat.kill('SIGTERM');

    // Our dialer → Go host (echo-server, which requires E2E because the service does).
    const host = qs.spawnZiti('demo', 'echo-server', '-i', receivergo, '-s', 'echo-go', '--cli-agent=false');
    try {
      const conn = await eventually(() => sender.dial('echo-go'), 30_000);
      assert.equal(conn.encrypted, true);
      conn.write('hello go\n');
      const [chunk] = (await once(conn, 'data')) as [Buffer];
      assert.match(chunk.toString(), /hello go/);
      conn.destroy();
    } finally {
      host.kill('SIGTERM');
    }
  });

  it('refuses an identity without a Dial policy with a coded error', async () => {
    const jwt = await qs.createIdentity('bindonly', ['receivers']);
    const ctx = new ZitiContext(await enroll(jwt));
    try {
      await assert.rejects(ctx.dial('echo'), { code: 'ERR_ZITI_SERVICE_NOT_PERMITTED' });
    } finally {
      await ctx.close();
    }
  });

  it('does not let a deleted identity authenticate again', async () => {
    const jwt = await qs.createIdentity('doomed', ['senders']);
    const identity = await enroll(jwt);
    const first = new ZitiContext(identity);
    await first.authenticate();
    await first.close();
    await qs.ziti('edge', 'delete', 'identity', 'doomed');
    const second = new ZitiContext(identity);
    try {
      await assert.rejects(second.authenticate(), { code: 'ERR_ZITI_UNAUTHORIZED' });
    } finally {
      await second.close();
    }
  });

  it('refuses a certificate from a foreign CA', async () => {
    const foreign = await createCa({ commonName: 'foreign-ca' });
    const client = await issueClientCert(foreign, { commonName: 'intruder' });
    const real = await readIdentityFile(senderIdentityPath);
    const forged: ZitiIdentity = { ...real, cert: client.certPem, key: client.keyPem! };
    const ctx = new ZitiContext(forged);
    try {
      await assert.rejects(ctx.authenticate(), { code: 'ERR_ZITI_UNAUTHORIZED' });
    } finally {
      await ctx.close();
    }
  });

  it('re-binds after the quickstart restarts, and new dials succeed without restarting us', async () => {
    const states: string[] = [];
    server.on('state', (s) => states.push(s.type));
    await qs.restart();
    await eventually(async () => assert.ok(server.listening && states.includes('reconnecting')), 60_000);
    const conn = await eventually(() => sender.dial('echo'), 60_000);
    conn.end('after restart');
    assert.equal((await readAll(conn)).toString(), 'after restart');
    assert.ok(states.includes('disconnected'));
  });
});
