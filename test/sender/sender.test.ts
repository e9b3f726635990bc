/** The sender against a real mutual-TLS receiver: batching, retries, Retry-After, parking, severity, headers. */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { BATCH_BINARY_CONTENT_TYPE, BATCH_CONTENT_TYPE } from '../../connector/webhook/batch-envelope.js';
import { FileOutbox } from '../../connector/sender/outbox-file.js';
import { createSender, SENDER_CHANNELS, type Sender } from '../../connector/sender/sender.js';
import type { SenderOptions } from '../../connector/sender/options.js';
import { startReceiver, type TestReceiver, tempDir, waitFor } from './helpers.js';

/** A receiver, a FileOutbox and a sender with fast retries; all closed after the test. */
async function setup(t: TestContext, options: Partial<SenderOptions> = {}, receiver?: TestReceiver): Promise<{ r: TestReceiver; sender: Sender; outbox: FileOutbox }> {
  const r = receiver ?? (await startReceiver());
  const tmp = tempDir();
  const outbox = FileOutbox.open(join(tmp.dir, 'outbox.jsonl'));
  const sender = createSender({ outbox, connect: () => r.connect(), secret: r.secret, retryMinDelayMs: 20, retryMaxDelayMs: 100, batchMaxWaitMs: 10, ...options });
  t.after(async () => {
    await sender.close();
    outbox.close();
    await r.stop();
    tmp.remove();
  });
  return { r, sender, outbox };
}

describe('createSender options', () => {
  test('are normalised once, frozen, free of the secret, and unknown keys are refused', async (t) => {
    const { sender, r } = await setup(t);
    assert.ok(Object.isFrozen(sender.options));
    assert.equal(sender.options.batchMaxEvents, 500);
    assert.equal(sender.options.signatureScheme, 'v1');
    assert.doesNotMatch(JSON.stringify(sender.options), /whsec_/);
    assert.throws(() => createSender({ outbox: sender.options.outbox, connect: r.connect, secret: r.secret, batchSize: 3 } as unknown as SenderOptions), {
      code: 'ERR_OPTION_UNKNOWN',
    });
    assert.throws(() => createSender({ outbox: sender.options.outbox, connect: r.connect, secret: r.secret, batchMaxEvents: 0 }), {
      code: 'ERR_OPTION_INVALID',
      message: /batchMaxEvents/,
    });
    assert.throws(() => createSender({ outbox: sender.options.outbox, connect: r.connect, secret: 'hunter2' }), { code: 'ERR_WEBHOOK_SECRET_INVALID' });
  });

  test('an invalid event is refused before anything is stored', async (t) => {
    const { sender, outbox } = await setup(t);
    await assert.rejects(sender.send({ type: '', body: {} }), { code: 'ERR_SEND_EVENT_INVALID' });
    await assert.rejects(sender.send({ type: 'x', body: {}, headers: { 'webhook-id': 'spoof' } }), { code: 'ERR_SEND_EVENT_INVALID' });
    await assert.rejects(sender.send({ type: 'x', body: {}, headers: { 'x-a': 'b\r\nx-evil: 1' } }), { code: 'ERR_SEND_EVENT_INVALID' });
    await assert.rejects(sender.send({ type: 'x', body: {}, id: 'has.dot' }), { code: 'ERR_SEND_EVENT_INVALID' });
    await assert.rejects(sender.send({ type: 'x', body: {}, severity: 'urgent' as 'high' }), { code: 'ERR_SEND_EVENT_INVALID' });
    assert.deepEqual(outbox.list(), []);
  });
});

describe('delivery', () => {
  test('one event goes as a plain signed webhook with its own id, content type and type header', async (t) => {
    const { r, sender, outbox } = await setup(t);
    const { id } = await sender.send({ type: 'security.alert', body: { rule: 'ssh' }, headers: { 'X-Scanner': 'trivy' } });
    assert.match(id, /^msg_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(outbox.list()[0]?.id, id, 'stored before any I/O');
    const report = await sender.flush();
    assert.deepEqual(report.delivered, [id]);
    assert.equal(report.pending, 0);
    assert.equal(r.requests.length, 1);
    const e = r.events[0]!;
    assert.equal(e.via, 'single');
    assert.equal(e.webhookId, id);
    assert.equal(e.type, 'security.alert');
    assert.equal(e.headers['content-type'], 'application/json');
    assert.equal(e.headers['x-scanner'], 'trivy');
    assert.deepEqual(JSON.parse(e.body.toString()), { rule: 'ssh' });
    assert.deepEqual(outbox.list(), [], 'deleted after 2xx');
  });

  test('several events go as one signed batch envelope; each keeps its id, bytes and headers', async (t) => {
    const { r, sender } = await setup(t, { headers: { 'x-team': 'sec' } });
    const bytes = Buffer.from([0, 1, 254, 255]);
    const ids = (await sender.sendMany([{ type: 'a', body: 'text' }, { type: 'b', body: bytes }, { type: 'c', body: [1, 2] }])).map((x) => x.id);
    const report = await sender.flush();
    assert.deepEqual(report.delivered, ids);
    assert.equal(r.requests.length, 1);
    assert.equal(r.requests[0]!.contentType, BATCH_BINARY_CONTENT_TYPE);
    assert.match(r.requests[0]!.webhookId, /^batch_/);
    assert.deepEqual(r.events.map((e) => e.id), ids);
    assert.deepEqual(r.events[1]!.body, bytes);
    assert.deepEqual(r.events.map((e) => e.headers['content-type']), ['text/plain; charset=utf-8', 'application/octet-stream', 'application/json']);
    assert.ok(r.events.every((e) => e.headers['x-team'] === 'sec'));
  });

  test('batchFormat "json" sends the readable envelope with the same events', async (t) => {
    const { r, sender } = await setup(t, { batchFormat: 'json' });
    const bytes = Buffer.from([0, 255]);
    const ids = (await sender.sendMany([{ type: 'a', body: 'text' }, { type: 'b', body: bytes }])).map((x) => x.id);
    assert.deepEqual((await sender.flush()).delivered, ids);
    assert.equal(r.requests[0]!.contentType, BATCH_CONTENT_TYPE);
    assert.deepEqual(r.events.map((e) => e.id), ids);
    assert.deepEqual(r.events[1]!.body, bytes);
  });

  test('requests reuse one kept-alive connection', async (t) => {
    const { r, sender } = await setup(t, { batchMaxEvents: 1 });
    for (let i = 0; i < 5; i++) await sender.send({ type: 't', body: { i } });
    await sender.flush();
    assert.equal(r.requests.length, 5);
    assert.equal(r.connections, 1);
  });
});

describe('batching', () => {
  test('a batch goes as soon as batchMaxEvents are pending, without waiting', async (t) => {
    const { r, sender } = await setup(t, { batchMaxEvents: 5, batchMaxWaitMs: 60_000 });
    for (let i = 0; i < 12; i++) await sender.send({ type: 't', body: { i } });
    await waitFor(() => r.requests.length >= 2, 5_000, 'two full batches');
    assert.deepEqual(r.requests.map((q) => q.events), [5, 5]);
    const report = await sender.flush();
    assert.deepEqual(r.requests.map((q) => q.events), [5, 5, 2]);
    assert.equal(report.delivered.length, 12);
    assert.deepEqual(r.events.map((e) => JSON.parse(e.body.toString()).i), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 'in order');
  });

  test('a partial batch goes once its oldest event has waited batchMaxWaitMs', async (t) => {
    const { r, sender } = await setup(t, { batchMaxEvents: 100, batchMaxWaitMs: 400 });
    for (let i = 0; i < 3; i++) await sender.send({ type: 't', body: { i } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(r.requests.length, 0, 'not before the wait');
    await waitFor(() => r.requests.length === 1, 5_000, 'the timed batch');
    assert.equal(r.requests[0]!.events, 3);
  });
});

describe('retries', () => {
  test('5xx is retried with the same id until accepted', async (t) => {
    const { r, sender } = await setup(t, {}, await startReceiver((n) => (n < 2 ? { status: 503 } : undefined)));
    const { id } = await sender.send({ type: 't', body: {} });
    const report = await sender.flush();
    assert.deepEqual(report.delivered, [id]);
    assert.deepEqual(r.requests.map((q) => [q.webhookId, q.status]), [[id, 503], [id, 503], [id, 200]]);
  });

  test('429 with Retry-After waits that long; the retry has the same id and a fresh timestamp', async (t) => {
    const { r, sender } = await setup(t, {}, await startReceiver((n) => (n === 0 ? { status: 429, headers: { 'retry-after': '1' } } : undefined)));
    const { id } = await sender.send({ type: 't', body: {} });
    const report = await sender.flush();
    assert.deepEqual(report.delivered, [id]);
    const [first, second] = r.requests;
    assert.equal(second!.webhookId, first!.webhookId);
    assert.ok(second!.at - first!.at >= 950, `waited ${second!.at - first!.at} ms, Retry-After said 1 s (retryMinDelayMs is 20)`);
    assert.ok(second!.webhookTimestamp > first!.webhookTimestamp, 'timestamp fresh per attempt');
  });

  test('the receiver down for a while: retries, then delivery once it is back on the same port', async (t) => {
    const r = await startReceiver();
    await r.stop();
    const { sender } = await setup(t, { retryMinDelayMs: 50, retryMaxDelayMs: 200 }, r);
    const retries: unknown[] = [];
    const onRetry = (m: unknown): void => {
      retries.push(m);
    };
    subscribe(SENDER_CHANNELS.retry, onRetry);
    t.after(() => unsubscribe(SENDER_CHANNELS.retry, onRetry));
    const ids = (await sender.sendMany([{ type: 't', body: { a: 1 } }, { type: 't', body: { a: 2 } }])).map((x) => x.id);
    const flushing = sender.flush();
    await waitFor(() => retries.length >= 2, 5_000, 'connection retries');
    await r.start();
    const report = await flushing;
    assert.deepEqual(report.delivered, ids);
    assert.match(report.lastError ?? '', /ECONNREFUSED/);
    assert.deepEqual([...r.stored], ids);
  });

  test('the deadline ends flush with the messages still pending in the outbox', async (t) => {
    const { r, sender, outbox } = await setup(t, { deadlineMs: 300 }, await startReceiver(() => ({ status: 500 })));
    const { id } = await sender.send({ type: 't', body: {} });
    const report = await sender.flush();
    assert.equal(report.deadlineExceeded, true);
    assert.equal(report.pending, 1);
    assert.match(report.lastError ?? '', /HTTP 500/);
    assert.ok(r.requests.length >= 2);
    assert.equal(outbox.list()[0]?.id, id);
    assert.ok((outbox.list()[0]?.attempts ?? 0) >= 2);
  });
});

describe('parking', () => {
  for (const status of [400, 401, 403, 410, 413]) {
    test(`${status} parks the message with the reason, reports it, and never retries`, async (t) => {
      const { r, sender, outbox } = await setup(t, {}, await startReceiver(() => ({ status, body: 'no thanks' })));
      const { id } = await sender.send({ type: 't', body: {} });
      const report = await sender.flush();
      assert.deepEqual(report.parked, [{ id, reason: `HTTP ${status}: no thanks` }]);
      assert.equal(report.deadlineExceeded, false);
      assert.equal(report.pending, 0);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(r.requests.length, 1, 'exactly one request: no retry storm');
      assert.deepEqual(outbox.list('parked').map((m) => [m.id, m.parkedReason]), [[id, `HTTP ${status}: no thanks`]]);
    });
  }

  test('a wrong secret is refused by the receiver and parked', async (t) => {
    const r = await startReceiver();
    const { sender } = await setup(t, { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }, r);
    await sender.send({ type: 't', body: {} });
    const report = await sender.flush();
    assert.equal(report.parked.length, 1);
    assert.deepEqual(r.rejected, ['ERR_WEBHOOK_SIGNATURE_MISMATCH']);
  });

  test('413 on a batch halves the batch instead of parking it', async (t) => {
    const { r, sender } = await setup(t, {}, await startReceiver());
    r.respond = (n) => (n === 0 ? { status: 413 } : undefined);
    const results = await sender.sendMany([1, 2, 3, 4].map((i) => ({ type: 't', body: { i } })));
    const report = await sender.flush();
    assert.equal(report.delivered.length, 4);
    assert.deepEqual(r.requests.map((q) => [q.events, q.status]), [[4, 413], [2, 200], [2, 200]]);
    assert.deepEqual(report.delivered, results.map((x) => x.id));
  });
});

describe('severity filter and fatal errors', () => {
  test('events below minSeverity are dropped, counted and reported; unclassified ones pass', async (t) => {
    const { r, sender } = await setup(t, { minSeverity: 'high' });
    const results = await sender.sendMany(
      (['low', 'medium', 'high', 'critical', undefined] as const).map((severity) => ({ type: 'alert', body: { severity: severity ?? null }, ...(severity ? { severity } : {}) })),
    );
    assert.deepEqual(results.map((x) => x.queued), [false, false, true, true, true]);
    const report = await sender.flush();
    assert.equal(report.delivered.length, 3);
    assert.deepEqual(report.filtered.map((f) => f.reason), ['severity low is below the minimum high', 'severity medium is below the minimum high']);
    assert.deepEqual(r.events.map((e) => JSON.parse(e.body.toString()).severity), ['high', 'critical', null]);
  });

  test('a configuration fault while connecting stops the sender; messages stay pending', async (t) => {
    const { SendError } = await import('../../core/index.js');
    const r = await startReceiver();
    const { sender, outbox } = await setup(t, { connect: () => Promise.reject(new SendError('ERR_SEND_OUTBOX_LOCKED', 'stand-in for a fatal coded error')) }, r);
    await sender.send({ type: 't', body: {} });
    await assert.rejects(sender.flush(), { code: 'ERR_SEND_OUTBOX_LOCKED' });
    assert.deepEqual(outbox.counts(), { pending: 1, inflight: 0, parked: 0 });
    assert.equal(r.requests.length, 0);
  });
});
