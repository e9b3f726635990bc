/** Durability over the embedded fabric against the real receiver: SIGKILL mid-batch, receiver outage, a refused secret. */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openOutbox } from '../../connector/sender/open-outbox.js';
import { createSender, SENDER_CHANNELS } from '../../connector/sender/sender.js';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import type { ZitiContext } from '../../connector/ziti/index.js';
import { RECEIVER_CHANNELS, type RunningReceiver, startReceiver } from '../../receiver/server.js';
import { startTestNet, type TestNet, until } from '../receiver/helpers.js';
import type { FabricChildConfig } from './fabric-child.js';
import { runChild } from './helpers.js';

const CHILD = fileURLToPath(new URL('./fabric-child.js', import.meta.url));

function run(config: FabricChildConfig): ReturnType<typeof runChild> {
  return runChild(CHILD, 'DARKHOOK_FABRIC_CHILD', config);
}

/** Every request the receiver answered, in order: status and the ids it carried. */
interface Arrival {
  readonly requestId: string;
  readonly status: number;
  readonly ids: readonly string[];
}

function recordArrivals(): { arrivals: Arrival[]; stop: () => void; onStored: (fn: (a: Arrival) => void) => void } {
  const arrivals: Arrival[] = [];
  let hook: ((a: Arrival) => void) | undefined;
  const stored = (m: unknown): void => {
    const { requestId, messages, duplicates } = m as { requestId: string; messages: { id: string }[]; duplicates: string[] };
    const a = { requestId, status: 200, ids: [...messages.map((x) => x.id), ...duplicates] };
    arrivals.push(a);
    hook?.(a);
  };
  const duplicate = (m: unknown): void => {
    const { requestId, ids } = m as { requestId: string; ids: string[] };
    arrivals.push({ requestId, status: 202, ids });
  };
  const rejected = (m: unknown): void => {
    const { requestId, status } = m as { requestId: string; status: number };
    arrivals.push({ requestId, status, ids: [] });
  };
  subscribe(RECEIVER_CHANNELS.stored, stored);
  subscribe(RECEIVER_CHANNELS.duplicate, duplicate);
  subscribe(RECEIVER_CHANNELS.rejected, rejected);
  return {
    arrivals,
    onStored: (fn) => {
      hook = fn;
    },
    stop: () => {
      unsubscribe(RECEIVER_CHANNELS.stored, stored);
      unsubscribe(RECEIVER_CHANNELS.duplicate, duplicate);
      unsubscribe(RECEIVER_CHANNELS.rejected, rejected);
    },
  };
}

describe('sender durability over the embedded fabric, against the receiver', { timeout: 180_000 }, () => {
  let net: TestNet;
  let receiverZiti: ZitiContext;
  let senderIdentity: string;
  const secret = generateHmacSecret();

  before(async () => {
    net = await startTestNet();
    for (const s of ['durable', 'outage', 'refused']) net.createService(s);
    receiverZiti = await net.context('receiver', ['receivers']);
    senderIdentity = await net.identityFile('ci-sender', ['senders']);
  });
  after(() => net?.close());

  it('a sender SIGKILLed mid-batch resumes from its outbox: every id arrives, the same id on every retry, stored once', async (t) => {
    const receiver = await startReceiver({ ziti: receiverZiti, service: 'durable', secrets: [secret], allowedCallers: ['ci-sender'], storePath: join(net.dir, 'durable.db') });
    const rec = recordArrivals();
    t.after(async () => {
      rec.stop();
      await receiver.close();
    });
    const base = { outbox: join(net.dir, 'durable-outbox.db'), identity: senderIdentity, service: 'durable', secret, count: 200 };

    const producer = run({ ...base, mode: 'produce' });
    // Kill the producer the moment the receiver has committed its third batch, before the 200 is
    // even written: the sender has that batch in flight and never learns it was stored.
    let killedBatch: Arrival | undefined;
    rec.onStored((a) => {
      if (rec.arrivals.length === 3 && killedBatch === undefined) {
        killedBatch = a;
        producer.child.kill('SIGKILL');
      }
    });
    // 'close', not 'exit': stdout is read to its end before the lines are counted.
    await once(producer.child, 'close');
    rec.onStored(() => undefined);
    assert.ok(killedBatch !== undefined, 'the producer was killed while its third batch was in flight');
    const acknowledged = producer.lines.filter((l) => l.startsWith('queued ')).map((l) => l.slice(7));
    assert.ok(acknowledged.length >= 10, `the producer acknowledged ${acknowledged.length} messages before the kill`);
    assert.ok(!producer.lines.some((l) => l.startsWith('report ')), 'killed before it finished');
    const requestsBefore = rec.arrivals.length;

    const resumer = run({ ...base, mode: 'resume', count: 0 });
    const [code] = (await once(resumer.child, 'close')) as [number];
    assert.equal(code, 0);
    const report = JSON.parse(resumer.lines.find((l) => l.startsWith('report '))!.slice(7)) as { delivered: string[]; pending: number };
    assert.equal(report.pending, 0);

    // Every acknowledged id is stored, exactly once, and nothing arrived that was never enqueued.
    for (const id of acknowledged) assert.ok((await receiver.store.has(id)), `${id} stored`);
    const arrived = new Set(rec.arrivals.flatMap((a) => a.ids));
    assert.equal((await receiver.store.count()), arrived.size, 'one row per distinct id');
    assert.ok([...arrived].every((id) => /^msg_[0-9A-Z]{26}$/.test(id)));
    // The batch in flight at the kill came again, under the same ids, and was recognised as duplicates.
    assert.ok(rec.arrivals.length > requestsBefore, 'the resumed sender made requests');
    const again = rec.arrivals.slice(requestsBefore);
    for (const id of killedBatch.ids) {
      assert.ok(again.some((a) => a.ids.includes(id)), `${id} was re-sent after the resume under the same id`);
      assert.ok(report.delivered.includes(id), `${id} counted as delivered by the resumed sender`);
    }
    const rows = (await receiver.store.list({ limit: 1000 }));
    assert.equal(new Set(rows.map((r) => r.id)).size, rows.length);
    assert.ok(rows.every((r) => r.caller === 'ci-sender'));
  });

  // While the receiver is down the router answers dials with "no terminators" (ERR_ZITI_SERVICE_UNAVAILABLE):
  // the sender must keep retrying, not stop.
  it('the receiver down for a while: the sender retries, then delivers everything once it is back', async (t) => {
    const storePath = join(net.dir, 'outage.db');
    const options = { ziti: receiverZiti, service: 'outage', secrets: [secret], storePath };
    let receiver: RunningReceiver = await startReceiver(options);
    const senderZiti = await net.context('outage-sender', ['senders']);
    const outbox = await openOutbox(join(net.dir, 'outage-outbox.db'));
    const sender = createSender({ outbox, connect: () => senderZiti.dial('outage'), secret, batchMaxWaitMs: 0, retryMinDelayMs: 50, retryMaxDelayMs: 200, deadlineMs: 60_000 });
    const retries: string[] = [];
    const onRetry = (m: unknown): void => void retries.push((m as { reason: string }).reason);
    subscribe(SENDER_CHANNELS.retry, onRetry);
    t.after(async () => {
      unsubscribe(SENDER_CHANNELS.retry, onRetry);
      await sender.close();
      outbox.close();
      await receiver.close();
    });

    const first = await sender.send({ type: 'outage.test', body: { n: 0 } });
    assert.deepEqual((await sender.flush()).delivered, [first.id]);
    await receiver.close();

    const sent = await sender.sendMany(Array.from({ length: 20 }, (_, n) => ({ type: 'outage.test', body: { n: n + 1 } })));
    const flushing = sender.flush();
    let settled = false;
    const markSettled = (): void => {
      settled = true;
    };
    flushing.then(markSettled, markSettled);
    await until(() => retries.length >= 3 || settled, 20_000, 'three retries while the receiver is down');
    receiver = await startReceiver(options);
    const report = await flushing;
    assert.equal(report.pending, 0, `pending after the outage; last error ${report.lastError}`);
    for (const { id } of sent) assert.ok((await receiver.store.has(id)), `${id} delivered after the outage`);
    assert.equal((await receiver.store.count()), 21);
    assert.ok(retries.length >= 3);
  });

  it('a wrong secret is refused with 401: the messages are parked and reported, never retried', async (t) => {
    const receiver = await startReceiver({ ziti: receiverZiti, service: 'refused', secrets: [secret], storePath: join(net.dir, 'refused.db') });
    const rec = recordArrivals();
    const senderZiti = await net.context('refused-sender', ['senders']);
    const outbox = await openOutbox(join(net.dir, 'refused-outbox.jsonl'));
    const sender = createSender({ outbox, connect: () => senderZiti.dial('refused'), secret: generateHmacSecret(), batchMaxWaitMs: 0, retryMinDelayMs: 20, deadlineMs: 20_000 });
    t.after(async () => {
      rec.stop();
      await sender.close();
      outbox.close();
      await receiver.close();
    });
    const sent = await sender.sendMany([{ type: 'a', body: { n: 1 } }, { type: 'a', body: { n: 2 } }]);
    const report = await sender.flush();
    assert.equal(report.requests, 1, 'one request, no retry');
    assert.deepEqual(report.parked.map((p) => p.id), sent.map((s) => s.id));
    assert.match(report.parked[0]!.reason, /^HTTP 401: .*ERR_WEBHOOK_SIGNATURE_MISMATCH/);
    assert.equal(report.pending, 0);
    assert.deepEqual(outbox.list('parked').map((m) => m.id), sent.map((s) => s.id));
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(rec.arrivals.map((a) => a.status), [401], 'the receiver saw exactly one request');
    assert.equal((await receiver.store.count()), 0);
  });
});
