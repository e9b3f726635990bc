/** Child process for the lock race test: tries to take one outbox lock at a shared instant. Inert without its env. */
import { acquireOutboxLock } from '../../connector/sender/outbox-lock.js';

/** What the parent passes in `DARKHOOK_LOCK_CHILD` (JSON). */
export interface LockChildConfig {
  readonly path: string;
  /** Epoch milliseconds at which every child tries at once. */
  readonly startAt: number;
  /** How long a winner holds the lock, in milliseconds. */
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
    await new Promise((resolve) => setTimeout(resolve, config.holdMs));
    release();
  } catch (err) {
    process.stdout.write(`${(err as { code?: string }).code}\n`);
  }
}

const raw = process.env['DARKHOOK_LOCK_CHILD'];
if (raw !== undefined) await main(JSON.parse(raw) as LockChildConfig);
