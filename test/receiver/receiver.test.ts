/** The receiver over a real Ziti bind on the embedded fabric: check order, answers, durable store, no TCP listener. */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BATCH_CONTENT_TYPE, encodeBatch } from '../../connector/webhook/batch-envelope.js';
import { generateEd25519Keys, generateHmacSecret } from '../../connector/webhook/secrets.js';
import { ZitiContext } from '../../connector/ziti/index.js';
import { RECEIVER_CHANNELS, type RunningReceiver, startReceiver } from '../../receiver/server.js';
import { MessageStore } from '../../receiver/log/store.js';
import { listeningTcpPorts, memoryLogger, post, signedHeaders, startTestNet, type TestNet } from './helpers.js';

const SERVICE = 'hooks';
const MAX_BODY_BYTES = 64 * 1024;
const now = (): number => Math.floor(Date.now() / 1000);

describe('receiver over the embedded fabric', { timeout: 120_000 }, () => {
  let net: TestNet;
  let receiverZiti: ZitiContext;
  let sender: ZitiContext;
  let intruder: ZitiContext;
  let receiver: RunningReceiver;
  let storePath: string;
  let portsBefore: number[] | undefined;
  let portsAfter: number[] | undefined;
  const secret = generateHmacSecret();
  const ed = generateEd25519Keys();
  const log = memoryLogger();

  before(async () => {
    net = await startTestNet();
    net.createService(SERVICE);
    [receiverZiti, sender, intruder] = await Promise.all([
      net.context('hooks-receiver', ['receivers']),
      net.context('ci-sender', ['senders']),
      net.context('intruder', ['senders']),
    ]);
    await receiverZiti.authenticate();
    storePath = join(net.dir, 'receiver.db');
    portsBefore = listeningTcpPorts();
    receiver = await startReceiver({
      ziti: receiverZiti,
      service: SERVICE,
      secrets: [secret, ed.publicKey],
      allowedCallers: ['ci-sender'],
      maxBodyBytes: MAX_BODY_BYTES,
      storePath,
      logger: log.logger,
    });
    portsAfter = listeningTcpPorts();
  });
  after(async () => {
    await receiver?.close();
    await net?.close();
  });

  const send = (headers: Record<string, string>, body: Buffer, from: ZitiContext = sender, path?: string) => post(from, SERVICE, headers, body, path);

  it('serves HTTP only over the Ziti bind: no listening TCP socket is opened for the receiver', () => {
    assert.equal(receiver.app.server.listening, false);
    assert.equal(receiver.listener.listening, true);
    if (portsBefore === undefined || portsAfter === undefined) return; // no /proc: the first assertion stands alone
    assert.deepEqual(portsAfter, portsBefore, 'starting the receiver added no listening TCP port (the fabric\'s own ports were there before)');
  });

  it('stores a valid single event and answers 200; the row names the caller and keeps the exact bytes', async () => {
    const body = Buffer.from('{"ref":"refs/heads/main", "spaces": "kept"}');
    const res = await send({ ...signedHeaders({ id: 'msg_single_1', body, secret, type: 'push' }), 'x-github-event': 'push' }, body);
    assert.equal(res.status, 200, res.body.toString());
    assert.deepEqual(res.json, { id: 'msg_single_1', stored: 1, duplicates: 0 });
    const [row] = (await receiver.store.list({ limit: 1000 })).filter((m) => m.id === 'msg_single_1');
    assert.ok(row);
    assert.equal(row.type, 'push');
    assert.equal(row.caller, 'ci-sender');
    assert.ok(row.body.equals(body));
    assert.equal(row.batchId, undefined);
    assert.equal(row.headers['content-type'], 'application/json');
    assert.equal(row.headers['x-github-event'], 'push');
    assert.equal(row.headers['webhook-signature'], undefined, 'signature headers are not kept');
  });

  it('accepts v1a (Ed25519) signatures against a whpk_ key', async () => {
    const body = Buffer.from('{"alert":1}');
    const res = await send(signedHeaders({ id: 'msg_ed_1', body, secret: ed.signingKey, type: 'security.alert' }), body);
    assert.equal(res.status, 200);
    assert.ok((await receiver.store.has('msg_ed_1')));
  });

  it('answers a replayed id 202 and does not store it twice', async () => {
    const body = Buffer.from('{"n":1}');
    assert.equal((await send(signedHeaders({ id: 'msg_replay', body, secret, type: 'push' }), body)).status, 200);
    const count = (await receiver.store.count());
    // A retry carries the same id with a fresh timestamp (and even a different body): already stored.
    const again = await send(signedHeaders({ id: 'msg_replay', body: Buffer.from('{"n":2}'), secret, type: 'push' }), Buffer.from('{"n":2}'));
    assert.equal(again.status, 202);
    assert.deepEqual(again.json, { id: 'msg_replay', stored: 0, duplicates: 1 });
    assert.equal((await receiver.store.count()), count);
    assert.equal((await receiver.store.list({ limit: 1000 })).find((m) => m.id === 'msg_replay')!.body.toString(), '{"n":1}', 'first write wins');
  });

  it('refuses a bad signature with 401 ERR_WEBHOOK_SIGNATURE_MISMATCH and stores nothing', async () => {
    const body = Buffer.from('{"x":1}');
    const res = await send(signedHeaders({ id: 'msg_badsig', body, secret: generateHmacSecret() }), body);
    assert.equal(res.status, 401);
    assert.equal(res.json['code'], 'ERR_WEBHOOK_SIGNATURE_MISMATCH');
    assert.equal(typeof res.json['message'], 'string');
    assert.equal((await receiver.store.has('msg_badsig')), false);
    const tampered = await send(signedHeaders({ id: 'msg_tampered', body, secret }), Buffer.from('{"x":2}'));
    assert.equal(tampered.status, 401);
  });

  it('refuses a correctly signed but stale timestamp with 401 ERR_WEBHOOK_TIMESTAMP_TOO_OLD', async () => {
    const body = Buffer.from('{"old":true}');
    const res = await send(signedHeaders({ id: 'msg_stale', body, secret, timestamp: now() - 301 }), body);
    assert.equal(res.status, 401);
    assert.equal(res.json['code'], 'ERR_WEBHOOK_TIMESTAMP_TOO_OLD');
    const future = await send(signedHeaders({ id: 'msg_future', body, secret, timestamp: now() + 301 }), body);
    assert.equal(future.json['code'], 'ERR_WEBHOOK_TIMESTAMP_TOO_NEW');
    assert.equal((await receiver.store.has('msg_stale')) || (await receiver.store.has('msg_future')), false);
  });

  it('refuses an identity the fabric lets dial but the receiver does not allow: 403 before anything else', async () => {
    const body = Buffer.from('{"x":1}');
    const res = await send(signedHeaders({ id: 'msg_intruder', body, secret }), body, intruder);
    assert.equal(res.status, 403);
    assert.equal(res.json['code'], 'ERR_RECEIVER_CALLER_FORBIDDEN');
    assert.match(String(res.json['message']), /intruder/);
    // Caller first: even an unsigned request from it gets 403, not 401/400.
    assert.equal((await send({ 'content-type': 'application/json' }, body, intruder)).status, 403);
    assert.equal((await receiver.store.has('msg_intruder')), false);
  });

  it('refuses a body over maxBodyBytes with 413 ERR_RECEIVER_BODY_TOO_LARGE', async () => {
    const body = Buffer.alloc(MAX_BODY_BYTES + 1, 0x61);
    const res = await send(signedHeaders({ id: 'msg_big', body, secret, contentType: 'text/plain' }), body);
    assert.equal(res.status, 413);
    assert.equal(res.json['code'], 'ERR_RECEIVER_BODY_TOO_LARGE');
    assert.equal((await receiver.store.has('msg_big')), false);
    const fits = Buffer.alloc(MAX_BODY_BYTES - 1024, 0x61);
    assert.equal((await send(signedHeaders({ id: 'msg_fits', body: fits, secret, contentType: 'text/plain' }), fits)).status, 200);
  });

  it('refuses a signed but malformed batch with 400 ERR_WEBHOOK_BATCH_INVALID; missing headers 400; other paths 404', async () => {
    const body = Buffer.from('{"version":1,"events":[{"id":"evt_1","type":"push","timestamp":1,"body":"not base64!"}]}');
    const res = await send(signedHeaders({ id: 'batch_bad', body, secret, contentType: BATCH_CONTENT_TYPE }), body);
    assert.equal(res.status, 400);
    assert.equal(res.json['code'], 'ERR_WEBHOOK_BATCH_INVALID');
    assert.equal((await receiver.store.has('evt_1')), false);
    const missing = await send({ 'content-type': 'application/json', 'webhook-id': 'msg_nosig' }, Buffer.from('{}'));
    assert.equal(missing.status, 400);
    assert.equal(missing.json['code'], 'ERR_WEBHOOK_HEADERS_MISSING');
    const wrongPath = await send(signedHeaders({ id: 'msg_path', body, secret }), body, sender, '/elsewhere');
    assert.equal(wrongPath.status, 404);
    assert.equal(wrongPath.json['code'], 'ERR_RECEIVER_NOT_FOUND');
  });

  it('refuses a darkhook form it does not know with 415 instead of storing it as one opaque event', async () => {
    const body = Buffer.from('DHKB\x09 a future form');
    const res = await send(signedHeaders({ id: 'batch_future', body, secret, contentType: 'application/vnd.darkhook.batch.v9' }), body);
    assert.equal(res.status, 415);
    assert.equal(res.json['code'], 'ERR_RECEIVER_MEDIA_TYPE_UNSUPPORTED');
    assert.equal((await receiver.store.has('batch_future')), false);
  });

  it('stores each event of a batch by its own id: new + duplicate → 200 with the new ones; all duplicates → 202', async () => {
    const ts = now();
    const event = (id: string) => ({ id, type: 'push', timestamp: ts, body: Buffer.from(`{"id":"${id}"}`), headers: { 'content-type': 'application/json' } });
    const first = encodeBatch([event('evt_a')]);
    assert.equal((await send(signedHeaders({ id: 'batch_1', body: first.body, secret, contentType: first.contentType }), first.body)).status, 200);
    const stored: unknown[] = [];
    const onStored = (m: unknown): void => void stored.push(m);
    subscribe(RECEIVER_CHANNELS.stored, onStored);
    try {
      const mixed = encodeBatch([event('evt_a'), event('evt_b'), event('evt_c')]);
      const res = await send(signedHeaders({ id: 'batch_2', body: mixed.body, secret, contentType: mixed.contentType }), mixed.body);
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { id: 'batch_2', stored: 2, duplicates: 1 });
    } finally {
      unsubscribe(RECEIVER_CHANNELS.stored, onStored);
    }
    assert.deepEqual(stored, [
      { requestId: 'batch_2', caller: 'ci-sender', batch: true, messages: [{ id: 'evt_b', type: 'push' }, { id: 'evt_c', type: 'push' }], duplicates: ['evt_a'] },
    ]);
    const rows = (await receiver.store.list({ limit: 1000 })).filter((m) => m.id.startsWith('evt_'));
    assert.deepEqual(rows.map((r) => [r.id, r.batchId, r.timestamp]), [['evt_a', 'batch_1', ts], ['evt_b', 'batch_2', ts], ['evt_c', 'batch_2', ts]]);
    const dup = encodeBatch([event('evt_c'), event('evt_b')]);
    const res = await send(signedHeaders({ id: 'batch_3', body: dup.body, secret, contentType: dup.contentType }), dup.body);
    assert.equal(res.status, 202);
    assert.deepEqual(res.json, { id: 'batch_3', stored: 0, duplicates: 2 });
  });

  it('logs decisions as data: 4xx at info with their code, never a secret or a body', () => {
    const text = log.lines.join('');
    assert.ok(!text.includes(secret.slice(6)) && !text.includes(ed.publicKey.slice(5)), 'no key material in the log');
    assert.ok(!text.includes('refs/heads/main'), 'no body in the log');
    const entries = log.lines.map((l) => JSON.parse(l) as { level: number; msg: string; code?: string; status?: number });
    const rejected = entries.filter((e) => e.msg === 'rejected');
    assert.ok(rejected.some((e) => e.code === 'ERR_WEBHOOK_SIGNATURE_MISMATCH' && e.status === 401 && e.level === 30));
    assert.ok(rejected.some((e) => e.code === 'ERR_RECEIVER_CALLER_FORBIDDEN' && e.status === 403));
    assert.ok(entries.some((e) => e.msg === 'stored' && e.level === 30));
  });

  it('keeps what it stored across a restart on the same file: ids are still known (202)', async () => {
    const body = Buffer.from('{"persist":true}');
    assert.equal((await send(signedHeaders({ id: 'msg_persist', body, secret, type: 'push' }), body)).status, 200);
    const count = (await receiver.store.count());
    await receiver.close();
    receiver = await startReceiver({ ziti: receiverZiti, service: SERVICE, secrets: [secret], allowedCallers: ['ci-sender'], storePath });
    assert.equal((await receiver.store.count()), count);
    assert.ok((await receiver.store.has('msg_persist')));
    const res = await send(signedHeaders({ id: 'msg_persist', body, secret, type: 'push' }), body);
    assert.equal(res.status, 202);
    // A second process can read the store while the receiver runs (WAL).
    const reader = MessageStore.open(storePath, { readOnly: true });
    try {
      assert.equal(reader.count(), count);
      const page = reader.list({ limit: 2, after: 'msg_single_1' });
      assert.equal(page.length, 2);
      assert.notEqual(page[0]!.id, 'msg_single_1');
    } finally {
      reader.close();
    }
  });
});

describe('startReceiver options', () => {
  it('rejects unknown keys, bad values and bad secrets synchronously, naming the option, never the secret', () => {
    const ziti = Object.create(ZitiContext.prototype) as ZitiContext;
    const base = { ziti, service: 'hooks', secrets: [generateHmacSecret()], storePath: '/nonexistent/x.db' };
    assert.throws(() => startReceiver({ ...base, port: 8080 } as never), { code: 'ERR_OPTION_UNKNOWN' });
    assert.throws(() => startReceiver({ ...base, secrets: [] }), { code: 'ERR_OPTION_INVALID', message: /secrets/ });
    assert.throws(() => startReceiver({ ...base, maxBodyBytes: 10 }), { code: 'ERR_OPTION_INVALID', message: /maxBodyBytes/ });
    assert.throws(() => startReceiver({ ...base, path: 'webhooks' }), { code: 'ERR_OPTION_INVALID', message: /path/ });
    assert.throws(() => startReceiver({ ...base, allowedCallers: [''] }), { code: 'ERR_OPTION_INVALID', message: /allowedCallers\[0\]/ });
    assert.throws(() => startReceiver({ ...base, ziti: {} as ZitiContext }), { code: 'ERR_OPTION_INVALID', message: /ziti/ });
    const bad = 'whsec_c2hvcnQ=';
    assert.throws(
      () => startReceiver({ ...base, secrets: [base.secrets[0]!, bad] }),
      (err: Error & { code?: string }) => err.code === 'ERR_WEBHOOK_SECRET_INVALID' && /secrets\[1\]/.test(err.message) && !err.message.includes(bad),
    );
  });
});
