/** The embedded edge router refuses, at TLS, any client certificate not issued by the fabric CA. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { encodeMessage } from '../../connector/ziti/codec.js';
import { ContentType, HeaderId } from '../../connector/ziti/constants.js';
import { enroll } from '../../connector/ziti/index.js';
import { createMessage, setHeaderString } from '../../connector/ziti/message.js';
import { createIdentityWithJwt, startFabric, type RunningFabric } from '../../fabric/fabric.js';
import { createCa, issueClientCert, type ZitiIdentity } from '../../pki/index.js';

let fabric: RunningFabric;
let home: string;
let identity: ZitiIdentity;

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'darkhook-router-tls-'));
  fabric = await startFabric({ home, ctrlPort: 0, routerPort: 0 });
  identity = await enroll(await createIdentityWithJwt(home, fabric.store, { name: 'member' }));
});

after(async () => {
  await fabric.close();
  rmSync(home, { recursive: true, force: true });
});

/**
 * Open TLS with the given client certificate and send a hello. The router answers every hello it
 * receives (it acknowledges first, then validates), so an answer means the certificate was accepted;
 * an error or a close without one means it was refused.
 */
function probe(cert: string | undefined, key: string | undefined): Promise<'answered' | 'refused'> {
  const { port } = new URL(fabric.routerAddress.replace(/^tls:/, 'https:'));
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port: Number(port), ca: identity.ca, cert, key });
    socket.once('secureConnect', () => {
      const hello = createMessage(ContentType.Hello, 'probe');
      hello.sequence = -1;
      setHeaderString(hello, HeaderId.SessionToken, 'no-session');
      socket.write(encodeMessage(hello));
    });
    socket.once('data', () => {
      resolve('answered');
      socket.destroy();
    });
    socket.once('error', () => resolve('refused'));
    socket.once('close', () => resolve('refused'));
  });
}

test('a certificate from a foreign CA is refused at the TLS layer', async () => {
  const foreign = await createCa({ commonName: 'foreign' });
  const client = await issueClientCert(foreign, { commonName: 'intruder' });
  assert.equal(await probe(client.certPem, client.keyPem), 'refused');
});

test('no client certificate at all is refused at the TLS layer', async () => {
  assert.equal(await probe(undefined, undefined), 'refused');
});

test('an enrolled identity gets through TLS: the same probe is answered', async () => {
  assert.equal(await probe(identity.cert, identity.key), 'answered');
});

test('before a valid hello, the router holds at most one hello frame and closes a larger one', async () => {
  const { channel } = await import('node:diagnostics_channel');
  const router = channel('darkhook:fabric:router');
  const reasons: string[] = [];
  const onEvent = (e: unknown): void => {
    const ev = e as { event: string; reason?: string };
    if (ev.event === 'channel-closed' && ev.reason !== undefined) reasons.push(ev.reason);
  };
  router.subscribe(onEvent);
  try {
    const { port } = new URL(fabric.routerAddress.replace(/^tls:/, 'https:'));
    const socket = tls.connect({ host: '127.0.0.1', port: Number(port), ca: identity.ca, cert: identity.cert, key: identity.key });
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    // A hello frame header announcing a 1 MiB body (far past OpenZiti's 4,192-byte hello body limit), then 64 KiB of it.
    const head = Buffer.alloc(20);
    Buffer.from([3, 6, 9, 12]).copy(head, 0);
    head.writeInt32LE(ContentType.Hello, 4);
    head.writeInt32LE(-1, 8);
    head.writeInt32LE(0, 12);
    head.writeInt32LE(1024 * 1024, 16);
    socket.write(Buffer.concat([head, Buffer.alloc(64 * 1024)]));
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('close', resolve));
    assert.ok(reasons.includes('hello too large'), `closed for: ${reasons.join(', ')}`);
  } finally {
    router.unsubscribe(onEvent);
  }
});
