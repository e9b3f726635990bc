/** The webhook app with fastify's inject(): each answer of docs/receiver.md's table, routes, severity filtering, deliveries in the same commit. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { BATCH_CONTENT_TYPE, encodeBatch } from '../../connector/webhook/batch-envelope.js';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import { buildWebhookApp } from '../../receiver/ingest/plugin.js';
import { severityOf } from '../../receiver/ingest/routes.js';
import { MessageStore } from '../../receiver/log/store.js';
import { SqliteMessageLog } from '../../receiver/log/sqlite-log.js';
import { signedHeaders } from './helpers.js';

const secret = generateHmacSecret();
const nowS = (): number => Math.floor(Date.now() / 1000);

describe('webhook app (inject, no fabric)', () => {
  let dir: string;
  let store: MessageStore;
  let caller: string | undefined = 'ci-sender';
  const woken: string[][] = [];
  let app: ReturnType<typeof buildWebhookApp>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'darkhook-app-'));
    store = MessageStore.open(join(dir, 'receiver.db'));
    app = buildWebhookApp({
      routes: [
        { path: '/github', callers: new Set(['ci-sender']), minSeverity: undefined, sinks: ['jenkins'] },
        { path: '/alerts', callers: undefined, minSeverity: 'medium', sinks: ['slack', 'jira'] },
      ],
      secrets: [secret],
      toleranceSeconds: 300,
      maxBodyBytes: 4096,
      store: new SqliteMessageLog(store),
      log: pino({ enabled: false }),
      callerOf: () => caller,
      deadlines: new Map([['jenkins', 60_000]]),
      onDeliveries: (sinks) => woken.push([...sinks].sort()),
    });
    await app.ready();
  });
  after(async () => {
    await app.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (url: string, headers: Record<string, string>, body: Buffer | string) => app.inject({ method: 'POST', url, headers, payload: body });
  const signed = (id: string, body: string, extra: { timestamp?: number; type?: string; contentType?: string } = {}) => signedHeaders({ id, body: Buffer.from(body), secret, ...extra });

  it('200: stores the message and one pending delivery per sink of the route, in the same commit', async () => {
    const res = await post('/github', signed('msg_a1', '{"ref":"refs/heads/main"}', { type: 'push' }), '{"ref":"refs/heads/main"}');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { id: 'msg_a1', stored: 1, duplicates: 0 });
    const got = store.get('msg_a1')!;
    assert.equal(got.message.route, '/github');
    assert.equal(got.message.status, 'pending');
    assert.deepEqual(got.deliveries.map((d) => [d.sink, d.state]), [['jenkins', 'pending']]);
    assert.equal(got.deliveries[0]!.deadlineAt - got.message.receivedAt, 60_000);
    assert.deepEqual(woken.at(-1), ['jenkins']);
  });

  it('202: a replayed id is not stored or forwarded twice', async () => {
    const before = store.deliveryCounts().jenkins?.pending;
    const res = await post('/github', signed('msg_a1', '{"ref":"x"}', { type: 'push' }), '{"ref":"x"}');
    assert.equal(res.statusCode, 202);
    assert.deepEqual(res.json(), { id: 'msg_a1', stored: 0, duplicates: 1 });
    assert.equal(store.deliveryCounts().jenkins?.pending, before);
    assert.equal(store.get('msg_a1')!.message.body.toString(), '{"ref":"refs/heads/main"}', 'first write wins');
  });

  it('403: a caller not allowed on the route, before the body is read; another route admits any caller', async () => {
    caller = 'intruder';
    try {
      const res = await post('/github', signed('msg_i1', '{}'), '{}');
      assert.equal(res.statusCode, 403);
      assert.equal(res.json().code, 'ERR_RECEIVER_CALLER_FORBIDDEN');
      assert.equal(store.has('msg_i1'), false);
      const ok = await post('/alerts', signed('msg_i2', '{"severity":"high"}'), '{"severity":"high"}');
      assert.equal(ok.statusCode, 200);
    } finally {
      caller = 'ci-sender';
    }
  });

  it('401: a bad signature and a timestamp outside the window', async () => {
    const h = signed('msg_bad', '{"a":1}');
    const tampered = await post('/github', h, '{"a":2}');
    assert.equal(tampered.statusCode, 401);
    assert.equal(tampered.json().code, 'ERR_WEBHOOK_SIGNATURE_MISMATCH');
    const stale = await post('/github', signed('msg_old', '{}', { timestamp: nowS() - 3600 }), '{}');
    assert.equal(stale.statusCode, 401);
    assert.equal(stale.json().code, 'ERR_WEBHOOK_TIMESTAMP_TOO_OLD');
    assert.equal(store.has('msg_bad') || store.has('msg_old'), false);
  });

  it('400: missing headers; 413: a body over the limit; 415: an unknown darkhook form; 404: another path', async () => {
    const missing = await post('/github', { 'content-type': 'application/json' }, '{}');
    assert.equal(missing.statusCode, 400);
    assert.equal(missing.json().code, 'ERR_WEBHOOK_HEADERS_MISSING');
    const big = 'x'.repeat(5000);
    const tooBig = await post('/github', signed('msg_big', big), big);
    assert.equal(tooBig.statusCode, 413);
    assert.equal(tooBig.json().code, 'ERR_RECEIVER_BODY_TOO_LARGE');
    const unknown = await post('/github', signed('msg_form', 'zz', { contentType: 'application/vnd.darkhook.batch2' }), 'zz');
    assert.equal(unknown.statusCode, 415);
    const other = await post('/webhooks', signed('msg_path', '{}'), '{}');
    assert.equal(other.statusCode, 404);
    assert.equal(other.json().code, 'ERR_RECEIVER_NOT_FOUND');
    const get = await app.inject({ method: 'GET', url: '/github' });
    assert.equal(get.statusCode, 404);
  });

  it('a batch: each event routed on its own; events below the route severity are stored as filtered, not forwarded', async () => {
    const ts = nowS();
    const { body, contentType } = encodeBatch([
      { id: 'evt_low', type: 'security.alert', timestamp: ts, body: Buffer.from('{"title":"port scan"}'), headers: { 'webhook-severity': 'low' } },
      { id: 'evt_high', type: 'security.alert', timestamp: ts, body: Buffer.from('{"title":"ssh brute force"}'), headers: { 'webhook-severity': 'high' } },
      { id: 'evt_none', type: 'security.alert', timestamp: ts, body: Buffer.from('{"title":"unclassified"}') },
    ], { format: 'binary' });
    assert.match(contentType, /^application\/vnd\.darkhook\.batch/);
    assert.notEqual(contentType, BATCH_CONTENT_TYPE, 'the binary form, not JSON');
    const res = await post('/alerts', signedHeaders({ id: 'batch_1', body, secret, contentType }), body);
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { id: 'batch_1', stored: 3, duplicates: 0 });
    const low = store.get('evt_low')!;
    assert.equal(low.message.status, 'filtered');
    assert.match(low.message.filteredReason!, /below the minimum medium/);
    assert.equal(low.deliveries.length, 0);
    assert.deepEqual(store.get('evt_high')!.deliveries.map((d) => d.sink), ['jira', 'slack']);
    assert.equal(store.get('evt_high')!.message.severity, 'high');
    // An unclassified alert is never dropped silently.
    assert.deepEqual(store.get('evt_none')!.deliveries.map((d) => d.sink), ['jira', 'slack']);
  });

  it('severity from a JSON body field when the sender set no header; a test event is recorded, not forwarded', async () => {
    assert.equal(severityOf({ headers: {}, body: Buffer.from('{"severity":"CRITICAL","x":1}') }), 'critical');
    assert.equal(severityOf({ headers: { 'webhook-severity': 'low' }, body: Buffer.from('{"severity":"high"}') }), 'low');
    assert.equal(severityOf({ headers: {}, body: Buffer.from('[1]') }), undefined);
    const res = await post('/alerts', signed('msg_t1', '{}', { type: 'darkhook.test' }), '{}');
    assert.equal(res.statusCode, 200);
    assert.equal(store.get('msg_t1')!.message.status, 'filtered');
    assert.equal(store.get('msg_t1')!.deliveries.length, 0);
  });

  it('500 with nothing acknowledged when the store cannot write; refusals are kept in the log', async () => {
    const broken = MessageStore.open(join(dir, 'broken.db'));
    const failing = buildWebhookApp({
      routes: [{ path: '/x', callers: undefined, minSeverity: undefined, sinks: [] }],
      secrets: [secret],
      toleranceSeconds: 300,
      maxBodyBytes: 4096,
      store: new SqliteMessageLog(broken),
      log: pino({ enabled: false }),
      callerOf: () => undefined,
    });
    broken.close();
    const res = await failing.inject({ method: 'POST', url: '/x', headers: signed('msg_f', '{}'), payload: '{}' });
    assert.equal(res.statusCode, 500);
    assert.equal(res.json().code, 'ERR_RECEIVER_STORE_FAILED');
    await failing.close();
    // The refusals of the app above are flushed on close (and once a second while it runs).
    await app.close();
    const codes = store.rejections().map((r) => r.code);
    for (const code of ['ERR_RECEIVER_CALLER_FORBIDDEN', 'ERR_WEBHOOK_SIGNATURE_MISMATCH', 'ERR_RECEIVER_NOT_FOUND']) assert.ok(codes.includes(code), code);
  });
});

describe('webhook app (inject): the rest of the answers table in docs/receiver.md', () => {
  let dir: string;
  let store: MessageStore;
  let app: ReturnType<typeof buildWebhookApp>;
  let failDeliveries = false;
  let failStore = false;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'darkhook-app-'));
    store = MessageStore.open(join(dir, 'receiver.db'));
    app = buildWebhookApp({
      routes: [{ path: '/hooks', callers: undefined, minSeverity: undefined, sinks: ['http'] }],
      secrets: [secret],
      toleranceSeconds: 300,
      maxBodyBytes: 256 * 1024,
      // A store with a bug (not a store outage, which is a coded 503): ingest throws a plain TypeError.
      store: new Proxy(new SqliteMessageLog(store), {
        get(target, prop, receiver) {
          if (prop === 'ingest' && failStore) return () => Promise.reject(new TypeError('a bug with /secret/internal/details'));
          const v: unknown = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      }),
      log: pino({ enabled: false }),
      callerOf: () => 'ci-sender',
      onDeliveries: () => {
        if (failDeliveries) throw new TypeError('a bug in a notification after the commit');
      },
    });
    await app.ready();
  });
  after(async () => {
    await app.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (headers: Record<string, string>, body: Buffer | string) => app.inject({ method: 'POST', url: '/hooks', headers, payload: body });
  const answer = async (res: Awaited<ReturnType<typeof post>>): Promise<[number, string]> => [res.statusCode, res.json().code as string];

  it('400: an id holding "." and a timestamp that is not canonical integer seconds', async () => {
    const h = signedHeaders({ id: 'msg_ok', body: Buffer.from('{}'), secret });
    assert.deepEqual(await answer(await post({ ...h, 'webhook-id': 'msg.dotted' }, '{}')), [400, 'ERR_WEBHOOK_ID_INVALID']);
    assert.deepEqual(await answer(await post({ ...h, 'webhook-timestamp': `0${nowS()}` }, '{}')), [400, 'ERR_WEBHOOK_TIMESTAMP_INVALID']);
    assert.equal(store.has('msg.dotted') || store.has('msg_ok'), false);
  });

  it('401: a timestamp too far in the future', async () => {
    const res = await post(signedHeaders({ id: 'msg_future', body: Buffer.from('{}'), secret, timestamp: nowS() + 3600 }), '{}');
    assert.deepEqual(await answer(res), [401, 'ERR_WEBHOOK_TIMESTAMP_TOO_NEW']);
    assert.equal(store.has('msg_future'), false);
  });

  it('400 / 413: a signed batch that is malformed, or holds more events than a batch may', async () => {
    const bad = Buffer.from('{"events":[{"id":"evt_1"}]}');
    const malformed = await post(signedHeaders({ id: 'batch_bad', body: bad, secret, contentType: BATCH_CONTENT_TYPE }), bad);
    assert.deepEqual(await answer(malformed), [400, 'ERR_WEBHOOK_BATCH_INVALID']);
    const ts = nowS();
    const events = Array.from({ length: 501 }, (_, i) => ({ id: `evt_many${i}`, type: 't', timestamp: ts, body: Buffer.from('{}') }));
    const { body, contentType } = encodeBatch(events, { maxEvents: 501, format: 'binary' });
    const tooMany = await post(signedHeaders({ id: 'batch_many', body, secret, contentType }), body);
    assert.deepEqual(await answer(tooMany), [413, 'ERR_WEBHOOK_BATCH_TOO_LARGE']);
    assert.equal(store.has('evt_many0'), false);
  });

  it('400 ERR_RECEIVER_REQUEST_INVALID: a request HTTP itself refuses (a body shorter than its Content-Length)', async () => {
    const h = signedHeaders({ id: 'msg_short', body: Buffer.from('{}'), secret });
    const res = await post({ ...h, 'content-length': '10' }, '{}');
    assert.deepEqual(await answer(res), [400, 'ERR_RECEIVER_REQUEST_INVALID']);
  });

  it('500 ERR_INTERNAL for anything unexpected, with none of its text in the answer', async () => {
    failStore = true;
    try {
      const res = await post(signedHeaders({ id: 'msg_bug', body: Buffer.from('{}'), secret }), '{}');
      assert.deepEqual(await answer(res), [500, 'ERR_INTERNAL']);
      assert.doesNotMatch(res.body, /secret|internal\/details|TypeError/);
      assert.equal(store.has('msg_bug'), false);
    } finally {
      failStore = false;
    }
  });

  it('200 once committed: a failure after the commit does not turn the answer into a 5xx', async () => {
    failDeliveries = true;
    try {
      const res = await post(signedHeaders({ id: 'msg_after', body: Buffer.from('{}'), secret }), '{}');
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().stored, 1);
      assert.equal(store.has('msg_after'), true);
    } finally {
      failDeliveries = false;
    }
  });
});
