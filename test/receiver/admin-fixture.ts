/** Admin test fixtures: a real store file, HTTP sinks posting to a loopback endpoint, and the admin app over them. */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { buildAdminApp, startAdmin, type RunningAdmin } from '../../receiver/admin/server.js';
import { MessageStore } from '../../receiver/log/store.js';
import { SqliteMessageLog } from '../../receiver/log/sqlite-log.js';
import type { RoutedMessage } from '../../receiver/log/types.js';
import { httpSink } from '../../receiver/sinks/http.js';
import type { HttpSinkConfig } from '../../receiver/sinks/sink-config.js';
import { SinkWorker } from '../../receiver/sinks/worker.js';

/** The admin token of every fixture. */
export const ADMIN_TOKEN = 'admin-token-0123456789abcdef0123';
/** Sink names of every fixture. */
export const SINKS = ['siem', 'backup'] as const;

/** An HTTP sink to `url` with short retries. */
export function httpSinkConfig(name: string, url: string): HttpSinkConfig {
  return {
    name, type: 'http', url, secret: undefined, timeoutMs: 2_000, concurrency: 1, deadlineMs: 60_000, retryMinMs: 50, retryMaxMs: 200,
    ratePerSecond: undefined, circuitFailures: 5, circuitCooldownMs: 1_000, minSeverity: undefined, headers: {},
  };
}

/** A routed message for `store.ingest`. */
export function routed(id: string, over: Partial<RoutedMessage> = {}): RoutedMessage {
  return {
    id, type: 'push', timestamp: 1_700_000_000, body: Buffer.from(JSON.stringify({ id })), headers: { 'content-type': 'application/json' },
    caller: 'ci-sender', batchId: undefined, route: '/github', severity: undefined, sinks: ['siem'], filteredReason: undefined, ...over,
  };
}

/** Mark the pending delivery of `id` to `sink` dead (as a worker giving up would). */
export function killDelivery(store: MessageStore, sink: string, now: number): void {
  for (const job of store.claimDue(sink, now, 1_000)) {
    store.finishAttempt(job.delivery.id, { startedAt: now, durationMs: 12, outcome: 'failed', status: 500, error: 'HTTP 500 from the sink', state: 'dead' });
  }
}

/** A temp folder with a store file; `close` removes both. */
export interface AdminFixture {
  readonly dir: string;
  readonly store: MessageStore;
  readonly clock: { now: number };
  /** Requests the loopback sink endpoint received (`x-darkhook-*` and webhook ids). */
  readonly received: string[];
  readonly sinkUrl: string;
  app(): ReturnType<typeof buildAdminApp>;
  /** Start sink workers and the admin listener on 127.0.0.1:0. */
  listen(): Promise<RunningAdmin>;
  close(): Promise<void>;
}

/** A fixture with a loopback sink endpoint answering 200; `clock.now` drives the admin app (sessions) when `fakeClock`. */
export async function adminFixture(options: { readonly fakeClock?: boolean } = {}): Promise<AdminFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'darkhook-admin-'));
  const store = MessageStore.open(join(dir, 'receiver.db'));
  // The admin app and workers take the async interface; tests read the same SQLite store directly.
  const log_ = new SqliteMessageLog(store);
  const clock = { now: Date.now() };
  const now = options.fakeClock === true ? () => clock.now : Date.now;
  const received: string[] = [];
  const endpoint = http.createServer((req, res) => {
    received.push(String(req.headers['webhook-id']));
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((r) => endpoint.listen(0, '127.0.0.1', r));
  const port = (endpoint.address() as { port: number }).port;
  const sinkUrl = `http://127.0.0.1:${port}/ingest`;
  const sinks = SINKS.map((n) => httpSinkConfig(n, sinkUrl));
  const deadlines = new Map(sinks.map((s) => [s.name, s.deadlineMs]));
  const log = pino({ enabled: false });
  const apps: { close(): Promise<unknown>; closeMetrics?: () => void }[] = [];
  const workers: SinkWorker[] = [];
  const config = { host: '127.0.0.1', port: 0, token: ADMIN_TOKEN };
  return {
    dir, store, clock, received, sinkUrl,
    app() {
      const app = buildAdminApp({ config, store: log_, workers: new Map(), sinks, log, now, deadlines });
      apps.push(app);
      return app;
    },
    async listen() {
      const map = new Map(sinks.map((s) => [s.name, new SinkWorker(httpSink(s), s, log_, { now, pollIntervalMs: 100 })]));
      for (const w of map.values()) {
        workers.push(w);
        w.start();
      }
      const admin = await startAdmin({ config, store: log_, workers: map, sinks, log, now, deadlines });
      apps.push(admin);
      return admin;
    },
    async close() {
      for (const w of workers) await w.stop();
      for (const a of apps) {
        a.closeMetrics?.();
        await a.close();
      }
      await new Promise<void>((r) => endpoint.close(() => r()));
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
