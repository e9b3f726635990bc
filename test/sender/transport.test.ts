/** The HTTP client over a Duplex, and the pure retry rules (Retry-After, backoff, classification) and ids. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { batchIdFor, newMessageId } from '../../connector/sender/ids.js';
import { backoffDelay, classifyError, classifyResponse, parseRetryAfter } from '../../connector/sender/retry.js';
import { createTransport } from '../../connector/sender/transport.js';
import { createSigner } from '../../connector/webhook/signature-standard.js';
import { ZitiError } from '../../core/index.js';
import { startReceiver, type TestReceiver } from './helpers.js';

/** Headers the test receiver accepts for `body`. */
function signed(r: TestReceiver, body: Buffer): Record<string, string> {
  const timestamp = Math.floor(Date.now() / 1000);
  return { 'content-type': 'text/plain', ...createSigner(r.secret).headers('msg_t', timestamp, body) };
}

describe('transport', () => {
  const base = { path: '/webhooks', host: 'hooks', requestTimeoutMs: 5_000, maxResponseBytes: 1024 };

  test('a request with no answer in time fails with ERR_SEND_TIMEOUT', async (t) => {
    const r = await startReceiver(() => new Promise(() => undefined));
    const transport = createTransport({ ...base, connect: r.connect, requestTimeoutMs: 200 });
    t.after(async () => {
      transport.close();
      await r.stop();
    });
    await assert.rejects(transport.post(signed(r, Buffer.from('x')), Buffer.from('x')), { code: 'ERR_SEND_TIMEOUT' });
  });

  test('an answer body over maxResponseBytes fails with ERR_SEND_RESPONSE_TOO_LARGE', async (t) => {
    const r = await startReceiver(() => ({ status: 200, body: 'y'.repeat(100_000) }));
    const transport = createTransport({ ...base, connect: r.connect });
    t.after(async () => {
      transport.close();
      await r.stop();
    });
    await assert.rejects(transport.post(signed(r, Buffer.from('x')), Buffer.from('x')), {
      code: 'ERR_SEND_RESPONSE_TOO_LARGE',
    });
  });

  test('a connect failure surfaces as the connect error itself', async () => {
    const transport = createTransport({ ...base, connect: () => Promise.reject(new ZitiError('ERR_ZITI_DIAL_REFUSED', 'no terminator')) });
    await assert.rejects(transport.post({}, Buffer.alloc(0)), { code: 'ERR_ZITI_DIAL_REFUSED' });
    transport.close();
  });
});

describe('retry rules', () => {
  test('Retry-After in seconds or as an HTTP date; unreadable is undefined', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter('-1', now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
  });

  test('backoff doubles from the minimum, stays under the cap, and jitters within the upper half', () => {
    assert.equal(backoffDelay(1, 100, 10_000, () => 0), 50);
    assert.equal(backoffDelay(1, 100, 10_000, () => 1), 100);
    assert.equal(backoffDelay(4, 100, 10_000, () => 1), 800);
    assert.equal(backoffDelay(30, 100, 10_000, () => 1), 10_000);
    assert.equal(backoffDelay(30, 100, 10_000, () => 0), 5_000);
  });

  test('a 2xx that acknowledges fewer events than the batch carried parks it instead of deleting it', () => {
    const answer = (json: unknown): Buffer => Buffer.from(JSON.stringify(json));
    // An older receiver stores an unknown batch form as one event: 1 of 3.
    const partial = classifyResponse(200, {}, answer({ id: 'batch_x', stored: 1, duplicates: 0 }), 3);
    assert.equal(partial.type, 'park');
    assert.match((partial as { reason: string }).reason, /acknowledged 1 of 3 events/);
    assert.equal(classifyResponse(200, {}, answer({ id: 'batch_x', stored: 2, duplicates: 1 }), 3).type, 'delivered');
    assert.equal(classifyResponse(202, {}, answer({ id: 'batch_x', stored: 0, duplicates: 3 }), 3).type, 'delivered');
    // Receivers that do not count (another implementation, an empty body) are taken at their word.
    assert.equal(classifyResponse(200, {}, Buffer.from('ok'), 3).type, 'delivered');
    assert.equal(classifyResponse(204, {}, Buffer.alloc(0), 3).type, 'delivered');
    // A single event is the whole request: no count to check.
    assert.equal(classifyResponse(200, {}, answer({ stored: 0, duplicates: 0 }), 1).type, 'delivered');
  });

  test('status classification follows ARCHITECTURE.md', () => {
    const kind = (status: number, events = 1, headers = {}) => classifyResponse(status, headers, Buffer.alloc(0), events).type;
    assert.deepEqual([200, 202, 204].map((s) => kind(s)), ['delivered', 'delivered', 'delivered']);
    assert.deepEqual([400, 401, 403, 404, 410, 413].map((s) => kind(s)), ['park', 'park', 'park', 'park', 'park', 'park']);
    assert.equal(kind(413, 5), 'split');
    assert.deepEqual([408, 429, 500, 502, 503, 504].map((s) => kind(s)), ['retry', 'retry', 'retry', 'retry', 'retry', 'retry']);
    assert.deepEqual(classifyResponse(429, { 'retry-after': '7' }, Buffer.alloc(0), 1), { type: 'retry', reason: 'HTTP 429', retryAfterMs: 7_000 });
    assert.equal(classifyError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })).type, 'retry');
    assert.equal(classifyError(new ZitiError('ERR_ZITI_DIAL_REFUSED', 'refused')).type, 'retry');
    assert.equal(classifyError(new ZitiError('ERR_ZITI_SERVICE_UNAVAILABLE', 'no terminators')).type, 'retry');
    assert.equal(classifyError(new ZitiError('ERR_ZITI_SERVICE_NOT_PERMITTED', 'no policy')).type, 'fatal');
  });

  test('ids: msg_ + 26 Crockford base32 characters, time-ordered; batch ids depend on the exact composition', () => {
    const a = newMessageId(1_700_000_000_000);
    const b = newMessageId(1_700_000_000_001);
    assert.match(a, /^msg_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.ok(a < b);
    assert.equal(batchIdFor(['x', 'y']), batchIdFor(['x', 'y']));
    assert.notEqual(batchIdFor(['x', 'y']), batchIdFor(['y', 'x']));
    assert.match(batchIdFor(['x']), /^batch_[0-9A-Z]{26}$/);
  });
});
