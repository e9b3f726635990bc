/**
 * What an edge router sees and can do, watched inside the real embedded router: on a service with
 * end-to-end encryption it relays only ciphertext, and a router that alters a relayed byte breaks the
 * connection instead of delivering altered data. The watch wraps `RouterChannel.decode`, the router's
 * own decoding of each frame an SDK sent it; nothing else is replaced.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ContentType } from '../../connector/ziti/constants.js';
import { enroll, ZitiContext, type ZitiConnection } from '../../connector/ziti/index.js';
import type { Message } from '../../connector/ziti/message.js';
import { createIdentityWithJwt, startFabric, type RunningFabric } from '../../fabric/fabric.js';
import { RouterChannel } from '../../fabric/router-channel.js';
import { readAll } from '../ziti/sdk-suite.js';

let fabric: RunningFabric;
let home: string;
const contexts: ZitiContext[] = [];
/** Every Data body the router decoded. */
const relayed: Buffer[] = [];
/** When set, the router flips the last byte of Data bodies longer than this (a compromised router). */
let tamperAbove: number | undefined;
const original = RouterChannel.prototype.decode;

before(async () => {
  RouterChannel.prototype.decode = function watched(this: RouterChannel, chunk: Buffer): Message[] {
    const messages = original.call(this, chunk);
    for (const m of messages) {
      if (m.contentType !== ContentType.Data) continue;
      relayed.push(Buffer.from(m.body));
      if (tamperAbove !== undefined && m.body.length > tamperAbove) m.body[m.body.length - 1]! ^= 0x01;
    }
    return messages;
  };
  home = mkdtempSync(join(tmpdir(), 'darkhook-router-view-'));
  fabric = await startFabric({ home, ctrlPort: 0, routerPort: 0 });
  fabric.store.createService({ name: 'secure', roleAttributes: ['t'] });
  fabric.store.createService({ name: 'plain', roleAttributes: ['t'], encryptionRequired: false });
  fabric.store.createPolicy({ name: 'bind', type: 'Bind', serviceRoles: ['#t'], identityRoles: ['#hosts'] });
  fabric.store.createPolicy({ name: 'dial', type: 'Dial', serviceRoles: ['#t'], identityRoles: ['#dialers'] });
});

after(async () => {
  RouterChannel.prototype.decode = original;
  for (const c of contexts) await c.close();
  await fabric.close();
  rmSync(home, { recursive: true, force: true });
});

async function context(name: string, attrs: string[], encryption: 'required' | 'off'): Promise<ZitiContext> {
  const ctx = new ZitiContext(await enroll(await createIdentityWithJwt(home, fabric.store, { name, roleAttributes: attrs })), { encryption });
  contexts.push(ctx);
  return ctx;
}

/** A host on `service` that collects what each connection brings and echoes nothing. */
async function collectingHost(name: string, service: string, encryption: 'required' | 'off'): Promise<ZitiConnection[]> {
  const host = await context(name, ['hosts'], encryption);
  const server = host.listen(service);
  const accepted: ZitiConnection[] = [];
  server.on('connection', (c: ZitiConnection) => {
    c.on('error', () => undefined);
    accepted.push(c);
  });
  await once(server, 'listening');
  return accepted;
}

const MARKER = 'refs/heads/main secret-payload-marker';

test('on an end-to-end encrypted service the router relays only ciphertext; on a plaintext one it would see the payload', { timeout: 30_000 }, async () => {
  for (const [service, encryption, routerSeesIt] of [['secure', 'required', false], ['plain', 'off', true]] as const) {
    const accepted = await collectingHost(`${service}-host`, service, encryption);
    const dialer = await context(`${service}-dialer`, ['dialers'], encryption);
    relayed.length = 0;
    const conn = await dialer.dial(service);
    conn.end(MARKER.repeat(50));
    const got = await readAll(accepted.at(-1)!);
    assert.equal(got.toString(), MARKER.repeat(50), `${service}: the host got the payload`);
    assert.ok(relayed.length > 0, `${service}: the router relayed Data frames`);
    const seen = Buffer.concat(relayed).includes(MARKER);
    assert.equal(seen, routerSeesIt, `${service}: the router ${routerSeesIt ? 'sees' : 'never sees'} the plaintext`);
  }
});

test('a router that flips one relayed byte breaks the connection (ERR_ZITI_E2E_DECRYPT_FAILED); nothing altered is delivered', { timeout: 30_000 }, async () => {
  fabric.store.createService({ name: 'tampered', roleAttributes: ['t'] });
  const accepted = await collectingHost('tamper-host', 'tampered', 'required');
  const dialer = await context('tamper-dialer', ['dialers'], 'required');
  const conn = await dialer.dial('tampered');
  conn.on('error', () => undefined);
  // The secretstream header (24 bytes) goes first, untouched; every later Data body is altered.
  tamperAbove = 24;
  try {
    const payload = Buffer.from(MARKER.repeat(20));
    conn.write(payload);
    assert.equal(accepted.length, 1, 'the host accepted the dial');
    const host = accepted[0]!;
    const chunks: Buffer[] = [];
    host.on('data', (c: Buffer) => chunks.push(c));
    const [err] = (await once(host, 'error')) as [{ code?: string }];
    assert.equal(err.code, 'ERR_ZITI_E2E_DECRYPT_FAILED');
    assert.equal(Buffer.concat(chunks).length, 0, 'no byte of the altered message reached the application');
  } finally {
    tamperAbove = undefined;
  }
});
