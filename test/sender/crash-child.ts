/** Child process for the SIGKILL test: produces messages through a sender, or resumes from the outbox. Inert without its env. */
import { writeSync } from 'node:fs';
import { openOutbox } from '../../connector/sender/open-outbox.js';
import { createSender } from '../../connector/sender/sender.js';
import { connectTls, type Pki } from './helpers.js';

/** What the parent passes in `DARKHOOK_CRASH_CHILD` (JSON). */
export interface CrashChildConfig {
  readonly mode: 'produce' | 'resume';
  readonly outbox: string;
  readonly port: number;
  readonly secret: string;
  readonly pki: Pki;
  readonly count: number;
}

async function main(config: CrashChildConfig): Promise<void> {
  const outbox = await openOutbox(config.outbox);
  const sender = createSender({
    outbox,
    connect: () => connectTls(config.pki, config.port),
    secret: config.secret,
    batchMaxEvents: 5,
    batchMaxWaitMs: 5,
    retryMinDelayMs: 20,
    retryMaxDelayMs: 100,
  });
  if (config.mode === 'produce') {
    for (let i = 0; i < config.count; i++) {
      const { id } = await sender.send({ type: 'crash.test', body: { i } });
      // Printed only after send() resolved: an id on stdout is on disk. writeSync, because an async
      // stdout write still buffered in this process would be lost with it at SIGKILL.
      writeSync(1, `queued ${id}\n`);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  const report = await sender.flush();
  writeSync(1, `report ${JSON.stringify({ delivered: report.delivered.length, pending: report.pending })}\n`);
  await sender.close();
  outbox.close();
}

const raw = process.env['DARKHOOK_CRASH_CHILD'];
if (raw !== undefined) await main(JSON.parse(raw) as CrashChildConfig);
