/** Child process for the fabric durability test: a sender over `ziti.dial` that produces, or resumes from its outbox. Inert without its env. */
import { subscribe } from 'node:diagnostics_channel';
import { openOutbox } from '../../connector/sender/open-outbox.js';
import { createSender, SENDER_CHANNELS } from '../../connector/sender/sender.js';
import { ZitiContext } from '../../connector/ziti/index.js';

/** What the parent passes in `DARKHOOK_FABRIC_CHILD` (JSON). */
export interface FabricChildConfig {
  readonly mode: 'produce' | 'resume';
  readonly outbox: string;
  /** Path of the sender's enrolled identity file. */
  readonly identity: string;
  readonly service: string;
  readonly secret: string;
  readonly count: number;
}

async function main(config: FabricChildConfig): Promise<void> {
  const ziti = await ZitiContext.fromFile(config.identity);
  const outbox = await openOutbox(config.outbox);
  subscribe(SENDER_CHANNELS.request, (m) => {
    const { requestId, events, attempt } = m as { requestId: string; events: number; attempt: number };
    process.stdout.write(`request ${requestId} ${events} ${attempt}\n`);
  });
  const sender = createSender({
    outbox,
    connect: () => ziti.dial(config.service),
    secret: config.secret,
    batchMaxEvents: 5,
    batchMaxWaitMs: 5,
    retryMinDelayMs: 20,
    retryMaxDelayMs: 100,
  });
  if (config.mode === 'produce') {
    for (let i = 0; i < config.count; i++) {
      const { id } = await sender.send({ type: 'durability.test', body: { i } });
      // Printed only after send() resolved: an id on stdout is on disk.
      process.stdout.write(`queued ${id}\n`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
  const report = await sender.flush();
  process.stdout.write(`report ${JSON.stringify({ delivered: report.delivered, pending: report.pending, requests: report.requests })}\n`);
  await sender.close();
  outbox.close();
  await ziti.close();
}

const raw = process.env['DARKHOOK_FABRIC_CHILD'];
if (raw !== undefined) await main(JSON.parse(raw) as FabricChildConfig);
