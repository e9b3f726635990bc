/** The fabric store: policies and roles, enrollment burn, cascades, and two processes' view of one file. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { FabricStore } from '../../fabric/store.js';

const HOUR_MS = 60 * 60 * 1000;
const STORE_URL = new URL('../../fabric/store.js', import.meta.url).href;
/** A thread that opens its own connection, waits at the gate, then tries to burn the token. */
const RACER = `
const { workerData, parentPort } = require('node:worker_threads');
import(workerData.storeUrl).then(({ FabricStore }) => {
  const store = FabricStore.open(workerData.dir);
  parentPort.postMessage('ready');
  Atomics.wait(new Int32Array(workerData.gate), 0, 0);
  const won = store.completeEnrollment('jti-race', 'PEM', workerData.sha1) !== undefined;
  store.close();
  parentPort.postMessage(won);
});
`;

function code(c: string) {
  return (err: unknown) => (err as { code?: string }).code === c;
}

describe('FabricStore', () => {
  let dir: string;
  let store: FabricStore;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'darkhook-store-'));
    store = FabricStore.open(dir);
  });
  after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('identities: create, find by name or id, names are unique and checked', () => {
    const a = store.createIdentity({ name: 'alice', roleAttributes: ['senders', '#ci'] });
    assert.match(a.id, /^[A-Za-z0-9]{10}$/);
    assert.deepEqual(a.roleAttributes, ['senders', 'ci']);
    assert.equal(a.enrolled, false);
    assert.equal(a.certSha1, undefined);
    assert.equal(store.identity('alice')?.id, a.id);
    assert.equal(store.identity(a.id)?.name, 'alice');
    assert.throws(() => store.createIdentity({ name: 'alice' }), code('ERR_FABRIC_NAME_TAKEN'));
    assert.throws(() => store.createIdentity({ name: 'bad name' }), code('ERR_FABRIC_NAME_INVALID'));
    assert.throws(() => store.createIdentity({ name: 'x', roleAttributes: ['a b'] }), code('ERR_FABRIC_NAME_INVALID'));
    assert.ok(store.listIdentities().some((i) => i.name === 'alice'));
  });

  test('permissions follow #attribute, #all, @name and @id roles, Dial and Bind separately', () => {
    const sender = store.createIdentity({ name: 'p-sender', roleAttributes: ['p-senders'] });
    const receiver = store.createIdentity({ name: 'p-receiver', roleAttributes: ['p-receivers'] });
    const stranger = store.createIdentity({ name: 'p-stranger' });
    const hooks = store.createService({ name: 'p-hooks', roleAttributes: ['p-webhooks'] });
    const other = store.createService({ name: 'p-other', encryptionRequired: false });
    assert.equal(hooks.encryptionRequired, true);
    assert.equal(other.encryptionRequired, false);
    assert.deepEqual(store.permissions(sender.id, hooks.id), []);

    store.createPolicy({ name: 'p-dial', type: 'Dial', identityRoles: ['#p-senders'], serviceRoles: ['@p-hooks'] });
    store.createPolicy({ name: 'p-bind', type: 'Bind', identityRoles: [`@${receiver.id}`], serviceRoles: ['#p-webhooks'] });
    assert.deepEqual(store.permissions(sender.id, hooks.id), ['Dial']);
    assert.deepEqual(store.permissions(receiver.id, hooks.id), ['Bind']);
    assert.deepEqual(store.permissions(stranger.id, hooks.id), []);
    assert.deepEqual(store.permissions(sender.id, other.id), []);

    store.createPolicy({ name: 'p-all', type: 'Bind', identityRoles: ['#p-senders', '@p-stranger'], serviceRoles: ['#all'] });
    assert.deepEqual(store.permissions(sender.id, hooks.id), ['Bind', 'Dial']);
    assert.deepEqual(store.permissions(stranger.id, other.id), ['Bind']);
    assert.deepEqual(
      store.servicesFor(stranger.id).map((s) => s.service.name).filter((n) => n.startsWith('p-')),
      ['p-hooks', 'p-other'],
    );

    assert.equal(store.deletePolicy('p-all'), true);
    assert.equal(store.deletePolicy('p-all'), false);
    assert.deepEqual(store.permissions(stranger.id, other.id), []);
    assert.throws(() => store.createPolicy({ name: 'p-bad', type: 'Dial', identityRoles: ['senders'], serviceRoles: ['#all'] }), code('ERR_FABRIC_POLICY_INVALID'));
    assert.throws(() => store.createPolicy({ name: 'p-bad', type: 'Dial', identityRoles: [], serviceRoles: ['#all'] }), code('ERR_FABRIC_POLICY_INVALID'));
    assert.throws(
      () => store.createPolicy({ name: 'p-bad', type: 'Host' as 'Dial', identityRoles: ['#all'], serviceRoles: ['#all'] }),
      code('ERR_FABRIC_POLICY_INVALID'),
    );
    assert.throws(() => store.createPolicy({ name: 'p-dial', type: 'Dial', identityRoles: ['#all'], serviceRoles: ['#all'] }), code('ERR_FABRIC_NAME_TAKEN'));
  });

  test('an enrollment token is burnt once, and not at all once expired', () => {
    const id = store.createIdentity({ name: 'e-one' });
    store.setEnrollment(id.id, 'jti-1', new Date(Date.now() + HOUR_MS));
    assert.equal(store.enrollment('jti-1')?.identity.id, id.id);
    assert.equal(store.consumeEnrollment('unknown'), undefined);
    assert.equal(store.consumeEnrollment('jti-1')?.id, id.id);
    assert.equal(store.consumeEnrollment('jti-1'), undefined);
    assert.equal(store.enrollment('jti-1'), undefined);

    const late = store.createIdentity({ name: 'e-late' });
    store.setEnrollment(late.id, 'jti-2', new Date(Date.now() + HOUR_MS));
    assert.equal(store.consumeEnrollment('jti-2', new Date(Date.now() + 2 * HOUR_MS)), undefined);
    assert.ok(store.enrollment('jti-2') !== undefined, 'an expired token stays known so the controller can say "expired"');
  });

  test('concurrent consumers of one token in parallel threads, each with its own connection: exactly one wins', async () => {
    const id = store.createIdentity({ name: 'e-race' });
    store.setEnrollment(id.id, 'jti-race', new Date(Date.now() + HOUR_MS));
    const gate = new SharedArrayBuffer(4);
    const workers = Array.from(
      { length: 6 },
      (_, i) => new Worker(RACER, { eval: true, workerData: { storeUrl: STORE_URL, dir, gate, sha1: String(i).repeat(40) } }),
    );
    const ready = workers.map((w) => new Promise((resolve) => w.once('message', resolve)));
    const results = workers.map((w) => new Promise<boolean>((resolve, reject) => w.on('message', (m) => m !== 'ready' && resolve(m === true)).once('error', reject)));
    await Promise.all(ready);
    Atomics.store(new Int32Array(gate), 0, 1);
    Atomics.notify(new Int32Array(gate), 0);
    const won = await Promise.all(results);
    assert.equal(won.filter(Boolean).length, 1);
    const enrolled = store.identity('e-race');
    assert.equal(enrolled?.enrolled, true);
    assert.equal(store.identityByCertSha1(enrolled?.certSha1 ?? '')?.name, 'e-race');
  });

  test('API sessions: token lookup, touch extends, expiry hides, logout removes', () => {
    const id = store.createIdentity({ name: 's-one' });
    const s = store.createApiSession(id.id, 'ff'.repeat(20), HOUR_MS);
    assert.match(s.token, /^[0-9a-f-]{36}$/);
    assert.equal(store.apiSessionByToken(s.token)?.identityId, id.id);
    const touched = store.touchApiSession(s.token, 2 * HOUR_MS);
    assert.ok(touched !== undefined && touched.expiresAt > s.expiresAt);
    const short = store.createApiSession(id.id, 'ff'.repeat(20), 1);
    const until = Date.now() + 5;
    while (Date.now() < until) {
      // wait out a 1 ms session
    }
    assert.equal(store.apiSessionByToken(short.token), undefined);
    assert.equal(store.touchApiSession(short.token, HOUR_MS), undefined);
    store.deleteApiSession(s.token);
    assert.equal(store.apiSessionByToken(s.token), undefined);
  });

  test('deleting an identity removes its API sessions and sessions; deleting a service removes its sessions', () => {
    const id = store.createIdentity({ name: 'c-one' });
    const svc = store.createService({ name: 'c-svc' });
    const api = store.createApiSession(id.id, 'ee'.repeat(20), HOUR_MS);
    const dial = store.createSession(api.id, svc.id, 'Dial');
    assert.equal(store.sessionByToken(dial.token)?.identityId, id.id);
    assert.equal(store.deleteService('c-svc'), true);
    assert.equal(store.sessionByToken(dial.token), undefined);

    const svc2 = store.createService({ name: 'c-svc2' });
    const bind = store.createSession(api.id, svc2.id, 'Bind');
    assert.equal(store.deleteIdentity('c-one'), true);
    assert.equal(store.deleteIdentity('c-one'), false);
    assert.equal(store.apiSessionByToken(api.token), undefined);
    assert.equal(store.sessionByToken(bind.token), undefined);
  });

  test('a second store on the same file sees every change at once', () => {
    const second = FabricStore.open(dir);
    try {
      const before = second.servicesChangedAt();
      const until = Date.now() + 3;
      while (Date.now() < until) {
        // make sure the clock moves
      }
      const svc = store.createService({ name: 'x-live' });
      assert.equal(second.service('x-live')?.id, svc.id);
      assert.ok(second.servicesChangedAt() > before);
      const id = second.createIdentity({ name: 'x-ident', roleAttributes: ['x'] });
      second.createPolicy({ name: 'x-dial', type: 'Dial', identityRoles: ['#x'], serviceRoles: ['@x-live'] });
      assert.deepEqual(store.permissions(id.id, svc.id), ['Dial']);
      const api = store.createApiSession(id.id, 'dd'.repeat(20), HOUR_MS);
      assert.equal(second.deleteIdentity('x-ident'), true);
      assert.equal(store.apiSessionByToken(api.token), undefined);
    } finally {
      second.close();
    }
  });

  test('runtime record round-trips and clears', () => {
    store.setRuntime({ ctrlUrl: 'https://127.0.0.1:1', routerAddress: 'tls://127.0.0.1:2', pid: 1 });
    assert.equal(store.runtime()?.ctrlUrl, 'https://127.0.0.1:1');
    store.setRuntime(undefined);
    assert.equal(store.runtime(), undefined);
  });
});
