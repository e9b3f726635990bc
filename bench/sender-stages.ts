/** Where a 500-event batch spends its time: each stage of the sender and the receiver alone, in one process. Figures only. */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { decodeBatch, encodeBatch } from '../connector/webhook/batch-envelope.js';
import { generateHmacSecret } from '../connector/webhook/secrets.js';
import { openOutbox } from '../connector/sender/open-outbox.js';
import { createSigner, createVerifier, signStandard, verifyStandard } from '../connector/webhook/signature-standard.js';
import { cryptoBackendName, E2EReceiver, E2ESender, ensureCryptoReady } from '../connector/ziti/e2e.js';
import { MessageStore } from '../receiver/log/store.js';
import { tempDir } from '../test/sender/helpers.js';

/** Events per batch (the sender's default) and 1 KiB bodies. */
const BATCH_EVENTS = 500;
const BODY = Buffer.from(JSON.stringify({ alert: 'x'.repeat(1010) }).slice(0, 1024));

const lines: string[] = [];
function cost(label: string, ms: number, per: string): void {
  lines.push(`  ${label.padEnd(72)} ${ms.toFixed(3).padStart(9)} ms ${per}`);
}
async function timeIt(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}
/** Milliseconds per call of `fn`, over `runs` calls after `runs` warm-up calls (JIT). */
async function perCall(fn: () => Promise<unknown> | unknown, runs: number): Promise<number> {
  for (let i = 0; i < runs; i++) await fn();
  return (await timeIt(async () => { for (let i = 0; i < runs; i++) await fn(); })) / runs;
}

let seq = 0;
const secret = generateHmacSecret();
lines.push(`darkhook sender stages, node ${process.version}, ${BODY.length} B events`);
const events = Array.from({ length: BATCH_EVENTS }, (_, i) => ({ id: `evt_${i}`, type: 'bench.alert', timestamp: 1_700_000_000, body: BODY, headers: { 'content-type': 'application/json' } }));
{
  const tmp = tempDir();
  const messages = (n: number) => Array.from({ length: n }, () => ({ id: `msg_p${seq++}`, type: 't', body: BODY, headers: {}, createdAt: Date.now() }));
  const N = 50;
  for (const [kind, outbox] of [['sqlite', await openOutbox(join(tmp.dir, 'profile.db'))], ['jsonl', await openOutbox(join(tmp.dir, 'profile.jsonl'))]] as const) {
    cost(`outbox ${kind}: enqueue 1 event (write + sync)`, await perCall(() => outbox.enqueue(messages(1)), N), 'per event');
    cost(`outbox ${kind}: enqueue 500 events in one write`, await perCall(() => outbox.enqueue(messages(BATCH_EVENTS)), 5), 'per batch');
    cost(`outbox ${kind}: nextBatch(500) + markDelivered`, await perCall(() => outbox.markDelivered(outbox.nextBatch(BATCH_EVENTS).map((m) => m.id)), 5), 'per batch');
    outbox.close();
  }
  tmp.remove();
}
const R = 20;
const { body: batchBody, contentType } = encodeBatch(events);
const { body: jsonBody, contentType: jsonType } = encodeBatch(events, { format: 'json' });
cost(`encodeBatch 500 × 1 KiB, binary (→ ${(batchBody.length / 1024).toFixed(0)} KiB)`, await perCall(() => encodeBatch(events), R), 'per batch');
cost(`encodeBatch 500 × 1 KiB, json (→ ${(jsonBody.length / 1024).toFixed(0)} KiB)`, await perCall(() => encodeBatch(events, { format: 'json' }), R), 'per batch');
const sig = signStandard({ id: 'batch_x', timestamp: 1_700_000_000, body: batchBody, secret });
cost('signStandard (HMAC-SHA256) over the batch', await perCall(() => signStandard({ id: 'batch_x', timestamp: 1_700_000_000, body: batchBody, secret }), R), 'per batch');
cost('verifyStandard over the batch', await perCall(() => verifyStandard({ id: 'batch_x', timestamp: '1700000000', signature: sig, body: batchBody, secrets: [secret], now: 1_700_000_000 }), R), 'per batch');
{
  // The key parsed once (what the sender and the receiver now do) against parsed per call.
  const signer = createSigner(secret);
  const verifier = createVerifier({ secrets: [secret] });
  cost('createSigner(secret).sign, key parsed once, over the batch', await perCall(() => signer.sign('batch_x', 1_700_000_000, batchBody), R), 'per batch');
  cost('createVerifier(secrets).verify, keys parsed once, over the batch', await perCall(() => verifier.verify({ id: 'batch_x', timestamp: '1700000000', signature: sig, body: batchBody, now: 1_700_000_000 }), R), 'per batch');
  const one = BODY;
  const oneSig = signer.sign('msg_x', 1_700_000_000, one);
  cost('signStandard over one 1 KiB event', await perCall(() => signStandard({ id: 'msg_x', timestamp: 1_700_000_000, body: one, secret }), 2000), 'per event');
  cost('createSigner(secret).sign over one 1 KiB event', await perCall(() => signer.sign('msg_x', 1_700_000_000, one), 2000), 'per event');
  cost('verifyStandard over one 1 KiB event', await perCall(() => verifyStandard({ id: 'msg_x', timestamp: '1700000000', signature: oneSig, body: one, secrets: [secret], now: 1_700_000_000 }), 2000), 'per event');
  cost('createVerifier(secrets).verify over one 1 KiB event', await perCall(() => verifier.verify({ id: 'msg_x', timestamp: '1700000000', signature: oneSig, body: one, now: 1_700_000_000 }), 2000), 'per event');
}
cost('decodeBatch at the receiver, binary', await perCall(() => decodeBatch(batchBody, contentType), R), 'per batch');
cost('decodeBatch at the receiver, json', await perCall(() => decodeBatch(jsonBody, jsonType), R), 'per batch');
await ensureCryptoReady();
{
  const key = randomBytes(32);
  const tx = new E2ESender(key);
  const rx = new E2EReceiver(key, tx.header);
  const chunk = 64 * 1024 - 32;
  const sealOpen = (): void => {
    for (let off = 0; off < batchBody.length; off += chunk) rx.open(tx.seal(batchBody.subarray(off, off + chunk)));
  };
  cost(`E2E secretstream seal + open of the batch (64 KiB chunks, ${cryptoBackendName()})`, await perCall(sealOpen, R), 'per batch (both ends)');
}
{
  const tmp = tempDir();
  const store = MessageStore.open(join(tmp.dir, 'profile-recv.db'));
  let b = 0;
  const rows = (k: number) => events.map((e) => ({ ...e, id: `evt_${k}_${e.id}`, caller: 'bench', batchId: `batch_${k}` }));
  cost('receiver store: insert 500 in one transaction (synchronous=FULL)', await perCall(() => store.insert(rows(b++)), 10), 'per batch');
  let n = 0;
  cost('receiver store: insert 1 event (commit + fsync)', await perCall(() => store.insert([{ id: `one_${n++}`, type: 't', timestamp: 1, body: BODY, headers: {}, caller: 'bench', batchId: undefined }]), 50), 'per event');
  store.close();
  tmp.remove();
}

process.stdout.write(`${lines.join('\n')}\n`);
