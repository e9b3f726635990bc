/**
 * Interception and redirection: a controller or an edge router that cannot show a certificate issued
 * by the identity's CA (the bundle enrollment pinned) is refused during the TLS handshake, before the
 * client sends a byte of its request, its API session token or its hello.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { ControllerClient, EdgeLink, enroll } from '../../connector/ziti/index.js';
import { createIdentityWithJwt, startFabric, type RunningFabric } from '../../fabric/fabric.js';
import { createCa, issueServerCert, type ZitiIdentity } from '../../pki/index.js';

let fabric: RunningFabric;
let home: string;
let identity: ZitiIdentity;
let impostor: tls.Server;
let impostorPort: number;
/** Application bytes the impostor received from clients. */
let received = 0;
let handshakes = 0;

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'darkhook-impostor-'));
  fabric = await startFabric({ home, ctrlPort: 0, routerPort: 0 });
  identity = await enroll(await createIdentityWithJwt(home, fabric.store, { name: 'victim' }));
  // A server on the right address, with a valid certificate for it, from a CA of its own.
  const rogue = await createCa({ commonName: 'rogue network' });
  const cert = await issueServerCert(rogue, { commonName: 'ctrl', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'] });
  impostor = tls.createServer({ cert: cert.certPem, key: cert.keyPem });
  impostor.on('secureConnection', (s) => {
    handshakes++;
    s.on('data', (c: Buffer) => (received += c.length));
    s.on('error', () => undefined);
  });
  impostor.on('tlsClientError', () => undefined);
  impostor.listen(0, '127.0.0.1');
  await once(impostor, 'listening');
  impostorPort = (impostor.address() as { port: number }).port;
});

after(async () => {
  impostor.close();
  await fabric.close();
  rmSync(home, { recursive: true, force: true });
});

test('a controller impersonator (a certificate from another CA) is refused before the client sends anything', async () => {
  // The identity file redirected to the impostor, as DNS spoofing or an edited ztAPI would.
  const redirected: ZitiIdentity = { ...identity, ztAPI: `https://127.0.0.1:${impostorPort}/edge/client/v1` };
  const client = new ControllerClient(redirected);
  try {
    await assert.rejects(client.authenticate(), { code: 'ERR_ZITI_CONTROLLER_UNAVAILABLE' });
  } finally {
    client.close();
  }
  assert.equal(received, 0, 'no request byte reached the impostor');
  // The same client code reaches the genuine controller (the refusal is the certificate, not the code path).
  const genuine = new ControllerClient(identity);
  try {
    assert.ok((await genuine.authenticate()).token.length > 0);
  } finally {
    genuine.close();
  }
});

test('a router impersonator is refused before the hello, so the API session token never leaves', async () => {
  await assert.rejects(
    EdgeLink.connect({ host: '127.0.0.1', port: impostorPort, ca: identity.ca, cert: identity.cert, key: identity.key, sessionToken: 'api-session-token', label: 'victim' }),
    { code: 'ERR_ZITI_ROUTER_UNAVAILABLE' },
  );
  assert.equal(received, 0, 'no hello reached the impostor');
  assert.equal(handshakes, 0, 'the client aborted the handshake');
});
