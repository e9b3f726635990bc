/** The fabric controller driven by the real SDK code (connector/ziti enroll + ControllerClient) over real TLS. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { ControllerClient } from '../../connector/ziti/controller-client.js';
import { enroll } from '../../connector/ziti/enroll.js';
import { type RunningController, startController } from '../../fabric/controller.js';
import { createIdentityWithJwt } from '../../fabric/fabric.js';
import { type FabricHome, initHome } from '../../fabric/home.js';
import { FabricStore } from '../../fabric/store.js';
import { createCa, decodeEnrollmentJwt, describeCertificate, generateRsaKeyPair, issueClientCert, type ZitiIdentity } from '../../pki/index.js';
import { forgeCsr, rejectsCode } from '../pki/helpers.js';

const KEY_BITS = 2048;
const ROUTER = { name: 'test-router', host: '127.0.0.1', port: 3999 };

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: { data?: unknown; meta?: Record<string, unknown>; error?: { code: string; message: string; requestId: string; cause?: unknown } };
  text: string;
}

describe('fabric controller', () => {
  let dir: string;
  let home: FabricHome;
  let store: FabricStore;
  let ctrl: RunningController;
  const logLines: string[] = [];
  const clients: ControllerClient[] = [];
  let sender: ZitiIdentity;
  let receiver: ZitiIdentity;

  /** A raw HTTPS request to the controller, trusting the fabric CA, optionally with a client certificate. */
  function raw(method: string, path: string, o: { body?: string; headers?: Record<string, string>; cert?: string; key?: string } = {}): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        new URL(path, ctrl.url),
        { method, ca: home.ca.certPem, cert: o.cert, key: o.key, headers: o.headers, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json = {};
            try {
              json = JSON.parse(text);
            } catch {
              // not JSON (the CA bundle)
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, json, text });
          });
        },
      );
      req.on('error', reject);
      req.end(o.body);
    });
  }

  function client(identity: ZitiIdentity): ControllerClient {
    const c = new ControllerClient(identity);
    clients.push(c);
    return c;
  }

  async function newIdentity(name: string, roleAttributes: string[] = []): Promise<ZitiIdentity> {
    const jwt = await createIdentityWithJwt(home, store, { name, roleAttributes });
    return enroll(jwt, { keyBits: KEY_BITS });
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'darkhook-ctrl-'));
    home = await initHome(dir, { ctrlPort: 0, routerPort: 0 });
    store = FabricStore.open(dir);
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    });
    ctrl = await startController({ store, ca: home.ca, tls: home.controller, host: '127.0.0.1', port: 0, edgeRouters: [ROUTER], logger: pino({ level: 'trace' }, sink) });
    store.setRuntime({ ctrlUrl: ctrl.url, routerAddress: `tls://127.0.0.1:${ROUTER.port}`, pid: process.pid });

    store.createService({ name: 'hooks', roleAttributes: ['webhooks'] });
    store.createService({ name: 'secret', encryptionRequired: false });
    store.createPolicy({ name: 'hooks-dial', type: 'Dial', identityRoles: ['#senders'], serviceRoles: ['#webhooks'] });
    store.createPolicy({ name: 'hooks-bind', type: 'Bind', identityRoles: ['@receiver'], serviceRoles: ['@hooks'] });
    sender = await newIdentity('sender', ['senders']);
    receiver = await newIdentity('receiver');
  });

  after(async () => {
    for (const c of clients) c.close();
    await ctrl?.close();
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('enroll() yields an identity whose certificate the fabric CA issued with CN = identity id', () => {
    const id = store.identity('sender')!;
    assert.equal(sender.ztAPI, `${ctrl.url}/edge/client/v1`);
    const cert = describeCertificate(sender.cert);
    assert.equal(cert.subject.includes(`CN=${id.id}`), true, cert.subject);
    assert.equal(cert.isCa, false);
    assert.equal(id.enrolled, true);
    assert.equal(id.certSha1, cert.sha1);
    assert.equal(sender.ca.trim(), home.ca.certPem.trim());
  });

  test('the enrollment JWT carries the PROTOCOL §1.2 claims and the controller cert kid', () => {
    // decode a fresh one: the sender's was consumed
    return createIdentityWithJwt(home, store, { name: 'claims-check' }).then((jwt) => {
      const { header, claims } = decodeEnrollmentJwt(jwt);
      assert.equal(header.alg, 'RS256');
      assert.equal(header.kid, describeCertificate(home.controller.certPem).sha1);
      assert.equal(claims.iss, ctrl.url);
      assert.equal(claims.sub, store.identity('claims-check')?.id);
      assert.equal(claims.em, 'ott');
      assert.deepEqual(claims.aud, ['']);
      assert.deepEqual(claims.ctrls, [`tls:${new URL(ctrl.url).host}`]);
      assert.match(claims.jti, /^[0-9a-f-]{36}$/);
      const hours = (claims.exp * 1000 - Date.now()) / 3_600_000;
      assert.ok(hours > 2.9 && hours <= 3, String(hours));
    });
  });

  test('ControllerClient: version, authenticate, services filtered by permission, sessions, edge routers', async () => {
    const c = client(sender);
    const version = await c.version();
    assert.match(version.version, /^darkhook-fabric-\d+\.\d+\.\d+/);
    assert.equal(version.apiVersions?.['edge-client']?.['v1']?.path, '/edge/client/v1');
    const session = await c.authenticate();
    assert.equal(session.identityName, 'sender');
    assert.equal(session.identityId, store.identity('sender')?.id);
    assert.ok(session.expiresAt !== undefined && session.expiresAt.getTime() > Date.now() + 29 * 60_000);

    const services = await c.services();
    assert.deepEqual(
      services.map((s) => [s.name, s.permissions, s.encryptionRequired]),
      [['hooks', ['Dial'], true]],
    );
    assert.deepEqual((await c.services('secret')).length, 0);
    const hooks = await c.serviceByName('hooks');

    const dial = await c.createSession(hooks.id, 'Dial');
    assert.equal(dial.type, 'Dial');
    assert.equal(dial.serviceId, hooks.id);
    assert.equal(store.sessionByToken(dial.token)?.identityId, session.identityId);
    assert.deepEqual(dial.edgeRouters.map((r) => [r.name, r.supportedProtocols['tls'], r.isOnline]), [['test-router', 'tls://127.0.0.1:3999', true]]);
    assert.deepEqual((await c.edgeRouters()).map((r) => r.supportedProtocols['tls']), ['tls://127.0.0.1:3999']);

    // Bind is not granted to the sender: visible service, missing permission → 400, as OpenZiti.
    await rejectsCode(() => c.createSession(hooks.id, 'Bind'), 'ERR_ZITI_REQUEST_REJECTED');
    // No policy at all for "secret": OpenZiti answers 404.
    await rejectsCode(() => c.createSession(store.service('secret')!.id, 'Dial'), 'ERR_ZITI_NOT_FOUND');
    assert.ok((await c.servicesChangedAt()) !== undefined);
  });

  test('the receiver sees only what it may Bind, and ephemeral router ports are advertised as set', async () => {
    const c = client(receiver);
    const [hooks] = await c.services();
    assert.deepEqual([hooks?.name, hooks?.permissions], ['hooks', ['Bind']]);
    await rejectsCode(() => c.createSession(hooks!.id, 'Dial'), 'ERR_ZITI_REQUEST_REJECTED');
    ctrl.setEdgeRouters([{ ...ROUTER, port: 4001 }]);
    try {
      const bind = await c.createSession(hooks!.id, 'Bind');
      assert.equal(bind.edgeRouters[0]?.supportedProtocols['tls'], 'tls://127.0.0.1:4001');
    } finally {
      ctrl.setEdgeRouters([ROUTER]);
    }
  });

  test('a JWT cannot be used twice', async () => {
    const jwt = await createIdentityWithJwt(home, store, { name: 'twice' });
    await enroll(jwt, { keyBits: KEY_BITS });
    await rejectsCode(() => enroll(jwt, { keyBits: KEY_BITS }), 'ERR_ZITI_ENROLL_REJECTED');
  });

  test('an expired token is refused by the controller (400 ENROLLMENT_EXPIRED)', async () => {
    const jwt = await createIdentityWithJwt(home, store, { name: 'late' });
    const { claims } = decodeEnrollmentJwt(jwt);
    store.setEnrollment(claims.sub, claims.jti, new Date(Date.now() - 1000));
    await assert.rejects(
      () => enroll(jwt, { keyBits: KEY_BITS }),
      (err: { code?: string; message: string }) => err.code === 'ERR_ZITI_ENROLL_REJECTED' && err.message.includes('ENROLLMENT_EXPIRED'),
    );
    const res = await raw('POST', `/edge/client/v1/enroll?method=ott&token=${claims.jti}`, {
      body: 'x',
      headers: { 'content-type': 'application/x-pem-file' },
    });
    assert.equal(res.status, 400);
    assert.equal(res.json.error?.code, 'ENROLLMENT_EXPIRED');
    const unknown = await raw('POST', '/enroll?method=ott&token=00000000-0000-4000-8000-000000000000', { body: 'x', headers: { 'content-type': 'application/x-pem-file' } });
    assert.deepEqual([unknown.status, unknown.json.error?.code], [400, 'INVALID_ENROLLMENT_TOKEN']);
  });

  test('a CSR asking for CA:true is refused (400) and does not burn the token', async () => {
    const jwt = await createIdentityWithJwt(home, store, { name: 'greedy' });
    const { claims } = decodeEnrollmentJwt(jwt);
    const { privateKeyPem } = await generateRsaKeyPair(KEY_BITS);
    const res = await raw('POST', `/edge/client/v1/enroll?method=ott&token=${claims.jti}`, {
      body: forgeCsr(privateKeyPem, claims.sub, true),
      headers: { 'content-type': 'application/x-pem-file', accept: 'application/json' },
    });
    assert.equal(res.status, 400);
    assert.equal(res.json.error?.code, 'COULD_NOT_PROCESS_CSR');
    assert.match(res.json.error?.requestId ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(store.identity('greedy')?.enrolled, false);
    await enroll(jwt, { keyBits: KEY_BITS });
    assert.equal(store.identity('greedy')?.enrolled, true);
  });

  test('an identity already holding a certificate cannot enroll again (409)', async () => {
    const jwt = await createIdentityWithJwt(home, store, { name: 'again' });
    await enroll(jwt, { keyBits: KEY_BITS });
    const id = store.identity('again')!;
    store.setEnrollment(id.id, 'second-token', new Date(Date.now() + 60_000));
    const { privateKeyPem } = await generateRsaKeyPair(KEY_BITS);
    const res = await raw('POST', '/edge/client/v1/enroll?method=ott&token=second-token', {
      body: forgeCsr(privateKeyPem, id.id, false),
      headers: { 'content-type': 'application/x-pem-file' },
    });
    assert.equal(res.status, 409);
  });

  test('a client certificate from another CA, or one never enrolled, gets 401 → ERR_ZITI_UNAUTHORIZED', async () => {
    const foreignCa = await createCa({ commonName: 'foreign CA' });
    const foreign = await issueClientCert(foreignCa, { commonName: store.identity('sender')!.id });
    await rejectsCode(() => client({ ...sender, cert: foreign.certPem, key: foreign.keyPem! }).authenticate(), 'ERR_ZITI_UNAUTHORIZED');
    const stray = await issueClientCert(home.ca, { commonName: 'not-enrolled' });
    const res = await raw('POST', '/edge/client/v1/authenticate?method=cert', { cert: stray.certPem, key: stray.keyPem!, body: '{}', headers: { 'content-type': 'application/json' } });
    assert.deepEqual([res.status, res.json.error?.code], [401, 'INVALID_AUTH']);
    const none = await raw('POST', '/authenticate?method=cert');
    assert.deepEqual([none.status, none.json.error?.code], [401, 'INVALID_AUTH']);
  });

  test('a deleted identity cannot authenticate, and its live session stops working', async () => {
    const doomed = await newIdentity('doomed', ['senders']);
    const c = client(doomed);
    const session = await c.authenticate();
    assert.equal((await c.services()).length, 1);
    assert.equal(store.deleteIdentity('doomed'), true);
    await rejectsCode(() => c.services(), 'ERR_ZITI_UNAUTHORIZED');
    await rejectsCode(() => client(doomed).authenticate(), 'ERR_ZITI_UNAUTHORIZED');
    const res = await raw('GET', '/edge/client/v1/services', { headers: { 'zt-session': session.token } });
    assert.deepEqual([res.status, res.json.error?.code], [401, 'UNAUTHORIZED']);
  });

  test('API sessions: zt-session header, refresh extends, logout ends; missing/bad token → 401 UNAUTHORIZED', async () => {
    const res = await raw('POST', '/edge/client/v1/authenticate?method=cert', { cert: sender.cert, key: sender.key, body: '', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200);
    const token = res.headers['zt-session'];
    assert.equal(typeof token, 'string');
    assert.equal((res.json.data as { token: string }).token, token);
    const first = store.apiSessionByToken(String(token))!;
    await new Promise((r) => setTimeout(r, 5));
    const again = await raw('GET', '/current-api-session', { headers: { 'zt-session': String(token) } });
    assert.equal(again.status, 200);
    assert.ok(store.apiSessionByToken(String(token))!.expiresAt > first.expiresAt);
    const out = await raw('DELETE', '/edge/client/v1/current-api-session', { headers: { 'zt-session': String(token) } });
    assert.equal(out.status, 200);
    for (const headers of [{ 'zt-session': String(token) }, {}, { 'zt-session': 'nonsense' }] as Record<string, string>[]) {
      const r = await raw('GET', '/edge/client/v1/current-identity', { headers });
      assert.deepEqual([r.status, r.json.error?.code], [401, 'UNAUTHORIZED']);
    }
  });

  test('REST surface: both path styles, CA bundle, pagination meta, filters, unknown routes as envelopes', async () => {
    for (const path of ['/version', '/edge/client/v1/version']) {
      const r = await raw('GET', path);
      assert.equal(r.status, 200, path);
      assert.deepEqual(r.json.meta, {});
    }
    const cas = await raw('GET', '/.well-known/est/cacerts');
    assert.equal(cas.status, 200);
    assert.equal(cas.headers['content-type'], 'application/pkcs7-mime');
    assert.match(cas.text, /^[A-Za-z0-9+/=\n]+$/);

    const auth = await raw('POST', '/authenticate?method=cert', { cert: receiver.cert, key: receiver.key });
    const token = String(auth.headers['zt-session']);
    const list = await raw('GET', '/edge/client/v1/services?limit=1&offset=0', { headers: { 'zt-session': token } });
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.meta?.['pagination'], { limit: 1, offset: 0, totalCount: 1 });
    const filtered = await raw('GET', `/services?filter=${encodeURIComponent('name="nope"')}`, { headers: { 'zt-session': token } });
    assert.deepEqual(filtered.json.data, []);
    const badFilter = await raw('GET', `/services?filter=${encodeURIComponent('name contains "h"')}`, { headers: { 'zt-session': token } });
    assert.deepEqual([badFilter.status, badFilter.json.error?.code], [400, 'INVALID_FILTER']);
    const me = await raw('GET', '/current-identity', { headers: { 'zt-session': token } });
    assert.equal((me.json.data as { name: string }).name, 'receiver');
    const missing = await raw('GET', '/edge/client/v1/no-such-thing');
    assert.deepEqual([missing.status, missing.json.error?.code], [404, 'NOT_FOUND']);
    const badMethod = await raw('POST', '/authenticate?method=password', { body: '{}', headers: { 'content-type': 'application/json' } });
    assert.deepEqual([badMethod.status, badMethod.json.error?.code], [400, 'INVALID_AUTH_METHOD']);
  });

  test('logs never contain enrollment tokens, API session tokens or keys', async () => {
    const jwt = await createIdentityWithJwt(home, store, { name: 'quiet' });
    const identity = await enroll(jwt, { keyBits: KEY_BITS });
    const session = await client(identity).authenticate();
    const text = logLines.join('');
    assert.ok(text.includes('"enrolled"') && text.includes('"authenticated"'), 'the logger was in use');
    for (const secret of [decodeEnrollmentJwt(jwt).claims.jti, jwt, session.token, identity.key.split('\n')[1]!]) {
      assert.equal(text.includes(secret), false);
    }
  });
});
