/** `darkhook demo`: an embedded fabric, a receiver and a sender on one machine, end to end, narrated. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateHmacSecret } from '../connector/index.js';
import { createSender, openOutbox, type SenderEvent } from '../connector/sender/index.js';
import { ZitiContext, enroll } from '../connector/ziti/index.js';
import { CliError } from '../core/index.js';
import { createIdentityWithJwt, startFabric } from '../fabric/fabric.js';
import { startReceiver } from '../receiver/server.js';
import { listeningTcpPorts } from './listening-ports.js';

/** Service the demo creates. */
export const DEMO_SERVICE = 'jenkins-hooks';

/** Options of `runDemo`. */
export interface DemoOptions {
  /** Events to send. Default 25. */
  readonly events: number;
  /** Fabric home; default a new temporary directory, removed afterwards unless `keep`. */
  readonly home?: string;
  /** Keep the home directory (identities, outbox, receiver store) for inspection. */
  readonly keep: boolean;
  /** Print one line. */
  readonly say: (line: string) => void;
}

/** What the demo proved, for `--json`. */
export interface DemoResult {
  readonly sent: number;
  readonly delivered: number;
  readonly stored: number;
  readonly requests: number;
  readonly encrypted: boolean;
  readonly caller: string | undefined;
  readonly receiverListeningPorts: number[] | undefined;
  readonly ms: number;
  readonly home: string | undefined;
}

/**
 * Run the demo. Everything stays on 127.0.0.1; the receiver opens no listening socket: it dials out
 * to the router like the sender.
 * @throws ERR_CLI_DEMO_FAILED when a step does not prove what it should
 */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const home = o.home ?? mkdtempSync(join(tmpdir(), 'darkhook-demo-'));
  const step = (n: number, what: string, text: string): void => o.say(`  ${n}/6 ${what.padEnd(9)} ${text}`);
  const fabric = await startFabric({ home, ctrlPort: 0, routerPort: 0 });
  const cleanup: Array<() => Promise<unknown>> = [() => fabric.close()];
  try {
    step(1, 'fabric', `controller ${fabric.ctrlUrl}, edge router ${fabric.routerAddress} (home ${home})`);
    fabric.store.createService({ name: DEMO_SERVICE, roleAttributes: ['hooks'], encryptionRequired: true });
    fabric.store.createPolicy({ name: 'senders-dial', type: 'Dial', serviceRoles: ['#hooks'], identityRoles: ['#senders'] });
    fabric.store.createPolicy({ name: 'receivers-bind', type: 'Bind', serviceRoles: ['#hooks'], identityRoles: ['#receivers'] });
    step(2, 'policy', `service "${DEMO_SERVICE}" (end-to-end encryption required): #senders may dial, #receivers may bind`);

    const tEnroll = performance.now();
    const [rJwt, sJwt] = [
      await createIdentityWithJwt(home, fabric.store, { name: 'demo-receiver', roleAttributes: ['receivers'] }),
      await createIdentityWithJwt(home, fabric.store, { name: 'demo-sender', roleAttributes: ['senders'] }),
    ];
    const [rId, sId] = await Promise.all([enroll(rJwt), enroll(sJwt)]);
    step(3, 'enroll', `demo-receiver, demo-sender: one-time JWT → key + CSR → certificate (${Math.round(performance.now() - tEnroll)} ms)`);

    const secret = generateHmacSecret();
    const portsBefore = listeningTcpPorts();
    const receiverZiti = new ZitiContext(rId);
    cleanup.unshift(() => receiverZiti.close());
    let caller: string | undefined;
    let encrypted = false;
    const receiver = await startReceiver({ ziti: receiverZiti, service: DEMO_SERVICE, secrets: [secret], storePath: join(home, 'receiver.db') });
    cleanup.unshift(() => receiver.close());
    receiver.listener.on('connection', (c) => {
      caller = c.caller?.identityName;
      encrypted = c.encrypted;
    });
    const portsAfter = listeningTcpPorts();
    const added = portsBefore === undefined || portsAfter === undefined ? undefined : portsAfter.filter((p) => !portsBefore.includes(p));
    step(4, 'receiver', `bound "${DEMO_SERVICE}" by dialing out to the router; new listening TCP ports: ${added === undefined ? 'unknown (no /proc)' : added.length === 0 ? 'none' : added.join(', ')}`);
    if (added !== undefined && added.length > 0) throw new CliError('ERR_CLI_DEMO_FAILED', `the receiver opened listening ports ${added.join(', ')}`);

    const senderZiti = new ZitiContext(sId);
    cleanup.unshift(() => senderZiti.close());
    const outbox = await openOutbox(join(home, 'outbox.db'));
    cleanup.push(async () => outbox.close());
    const sender = createSender({ outbox, connect: () => senderZiti.dial(DEMO_SERVICE), secret, batchMaxEvents: 10 });
    cleanup.unshift(() => sender.close());
    const events: SenderEvent[] = Array.from({ length: o.events }, (_, i) => ({
      type: i % 5 === 0 ? 'security.alert' : 'push',
      severity: i % 5 === 0 ? 'high' : 'low',
      body: { ref: 'refs/heads/main', sequence: i + 1, repository: { full_name: 'acme/webapp' } },
    }));
    const sent = await sender.sendMany(events);
    const report = await sender.flush();
    step(5, 'send', `${sent.length} signed events (Standard Webhooks v1) written to the outbox, then ${report.delivered.length} delivered in ${report.requests} requests (batches of ≤ 10)`);

    const stored = receiver.store.count();
    const ids = new Set(sent.map((s) => s.id));
    const storedIds = receiver.store.list({ limit: o.events + 10 }).map((m) => m.id);
    const allThere = storedIds.length === ids.size && storedIds.every((id) => ids.has(id));
    step(6, 'verify', `${stored} stored at the receiver after signature, timestamp and replay checks; caller ${caller ?? 'unknown'}; end-to-end encrypted: ${encrypted ? 'yes' : 'no'}`);
    if (!allThere || report.delivered.length !== o.events || !encrypted) {
      throw new CliError('ERR_CLI_DEMO_FAILED', `expected ${o.events} encrypted deliveries with matching ids, got ${report.delivered.length} delivered and ${stored} stored`);
    }
    return {
      sent: sent.length,
      delivered: report.delivered.length,
      stored,
      requests: report.requests,
      encrypted,
      caller,
      receiverListeningPorts: added,
      ms: Math.round(performance.now() - t0),
      home: o.keep || o.home !== undefined ? home : undefined,
    };
  } finally {
    for (const c of cleanup) await c().catch(() => undefined);
    if (!o.keep && o.home === undefined) rmSync(home, { recursive: true, force: true });
  }
}
