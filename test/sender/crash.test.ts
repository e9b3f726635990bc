/** Durability: a sender SIGKILLed mid-batch loses nothing; a new process resumes and every id arrives, same id on every retry. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CrashChildConfig } from './crash-child.js';
import { runChild, startReceiver, tempDir, testPki, waitFor } from './helpers.js';

const CHILD = fileURLToPath(new URL('./crash-child.js', import.meta.url));

function run(config: CrashChildConfig): ReturnType<typeof runChild> {
  return runChild(CHILD, 'DARKHOOK_CRASH_CHILD', config);
}

for (const file of ['outbox.db', 'outbox.jsonl']) {
  test(`SIGKILL mid-batch, then resume: every acknowledged id is delivered (${file})`, async (t) => {
    const pki = await testPki();
    let calls = 0;
    let hung: Set<string> | undefined;
    const r = await startReceiver(() => {
      calls += 1;
      // The third request never gets an answer: the producer is killed while it is in flight.
      if (calls === 3) {
        // Events are recorded on arrival; those past the answered requests' ones are this request's.
        hung = new Set(r.events.slice(r.requests.reduce((n, q) => n + q.events, 0)).map((e) => e.id));
        return new Promise(() => undefined);
      }
      return undefined;
    });
    const tmp = tempDir();
    t.after(async () => {
      await r.stop();
      tmp.remove();
    });
    const base = { outbox: join(tmp.dir, file), port: r.port, secret: r.secret, pki, count: 200 };

    const producer = run({ ...base, mode: 'produce' });
    await waitFor(() => calls >= 3, 20_000, 'the third batch to be in flight');
    // Ids the receiver answered 200 for before the kill: each was acknowledged (printed) before it was sent.
    const answered = r.events.slice(0, r.requests.reduce((n, q) => n + q.events, 0)).map((e) => e.id);
    producer.child.kill('SIGKILL');
    // 'close', not 'exit': stdout may still hold lines when the process has exited.
    await once(producer.child, 'close');
    const acknowledged = producer.lines.filter((l) => l.startsWith('queued ')).map((l) => l.slice(7));
    assert.ok(answered.length > 0, 'two batches were answered before the kill');
    assert.deepEqual(answered.filter((id) => !acknowledged.includes(id)), [], 'every delivered id had been acknowledged first');
    assert.ok(!producer.lines.some((l) => l.startsWith('report ')), 'killed before it finished');

    const resumer = run({ ...base, mode: 'resume' });
    const [code] = (await once(resumer.child, 'close')) as [number];
    assert.equal(code, 0);
    const report = JSON.parse(resumer.lines.find((l) => l.startsWith('report '))!.slice(7)) as { pending: number };
    assert.equal(report.pending, 0);

    const missing = acknowledged.filter((id) => !r.stored.has(id));
    assert.deepEqual(missing, [], 'every acknowledged id was stored by the receiver');
    assert.ok(hung !== undefined && hung.size > 0);
    for (const id of hung) assert.ok(r.stored.has(id), `${id} from the batch in flight at the kill was re-sent under the same id`);
    // At least once: a re-sent id is the same id, never a new one. Nothing arrives that was not enqueued.
    const seen = new Map<string, number>();
    for (const e of r.events) seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
    for (const id of hung) assert.ok((seen.get(id) ?? 0) >= 2, `${id} arrived once in the killed batch and again after resume`);
    assert.ok([...seen.keys()].every((id) => /^msg_[0-9A-Z]{26}$/.test(id)));
    assert.ok(r.stored.size >= acknowledged.length);
  });
}
