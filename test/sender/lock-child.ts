/** Child process for the lock race test: tries to take one outbox lock at a shared instant. Inert without its env. */
import { existsSync } from 'node:fs';
import { acquireOutboxLock } from '../../connector/sender/outbox-lock.js';

/** What the parent passes in `DARKHOOK_LOCK_CHILD` (JSON). */
export interface LockChildConfig {
  readonly path: string;
  /** Epoch milliseconds at which every child tries at once. */
  readonly startAt: number;
  /** The winner holds the lock until this file exists (every other child has answered by then)… */
  readonly releaseWhen: string;
  /** …or for at most this long, in milliseconds (a bound, should the parent die). */
  readonly holdMs: number;
}

async function main(config: LockChildConfig): Promise<void> {
  // Spin rather than sleep: a timer would scatter the children by milliseconds.
  while (Date.now() < config.startAt) {
    // busy wait, bounded by startAt
  }
  try {
    const release = acquireOutboxLock(config.path);
    process.stdout.write('owner\n');
    // Held until every other child has tried: a late child (a slow start on a loaded machine) must
    // still find it held, or it takes a lock that was rightly free and looks like a second owner.
    const until = Date.now() + config.holdMs;
    while (!existsSync(config.releaseWhen) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
    release();
  } catch (err) {
    process.stdout.write(`${(err as { code?: string }).code}\n`);
  }
}

const raw = process.env['DARKHOOK_LOCK_CHILD'];
if (raw !== undefined) await main(JSON.parse(raw) as LockChildConfig);
