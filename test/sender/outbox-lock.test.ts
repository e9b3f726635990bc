/** One process per outbox, with real processes: a stale lock found by several at once gets exactly one new owner. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { LockChildConfig } from './lock-child.js';
import { runChild, tempDir } from './helpers.js';

const CHILD = fileURLToPath(new URL('./lock-child.js', import.meta.url));
/** Rounds and processes per round: before the takeover guard, 7 of 20 such rounds ended with 2–3 owners. */
const ROUNDS = 8;
const TAKERS = 6;
/** A pid far above Linux's default pid_max (4,194,304 at most): no process has it. */
const DEAD_PID = 4_194_305;

test('a stale lock found by several processes at the same instant gets exactly one new owner', { timeout: 60_000 }, async (t) => {
  const tmp = tempDir();
  t.after(tmp.remove);
  for (let round = 0; round < ROUNDS; round++) {
    const path = join(tmp.dir, `round${round}.jsonl`);
    writeFileSync(`${path}.lock`, String(DEAD_PID));
    // Time for every child to start; each then spins until this instant and tries at once.
    const releaseWhen = `${path}.release`;
    const config: LockChildConfig = { path, startAt: Date.now() + 600, releaseWhen, holdMs: 30_000 };
    const children = Array.from({ length: TAKERS }, () => runChild(CHILD, 'DARKHOOK_LOCK_CHILD', config));
    // The winner holds the lock until every child has answered (bounded by the test's timeout).
    const exited = children.map(({ child }) => new Promise((resolve) => child.once('exit', resolve)));
    while (children.some(({ child, lines }) => lines.length === 0 && child.exitCode === null)) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    writeFileSync(releaseWhen, '');
    await Promise.all(exited);
    const answers = children.map(({ lines }) => lines[0]);
    assert.equal(answers.filter((a) => a === 'owner').length, 1, `round ${round}: ${answers.join(', ')}`);
    assert.ok(answers.every((a) => a === 'owner' || a === 'ERR_SEND_OUTBOX_LOCKED'), answers.join(', '));
  }
});
