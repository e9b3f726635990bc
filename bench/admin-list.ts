/** Admin list latency with 100,000 stored messages: GET /api/messages (page + counts + paging probes) through inject(). Prints figures only. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { buildAdminApp } from '../receiver/admin/server.js';
import { MessageStore } from '../receiver/log/store.js';
import { SqliteMessageLog } from '../receiver/log/sqlite-log.js';
import type { RoutedMessage } from '../receiver/log/types.js';
import type { HttpSinkConfig } from '../receiver/sinks/sink-config.js';

/** Stored messages. */
const MESSAGES = 100_000;
/** Requests per query, after 3 warm-up requests. */
const RUNS = 20;
const TOKEN = 'bench-admin-token-0123456789abcdef';

const dir = mkdtempSync(join(tmpdir(), 'darkhook-bench-admin-'));
const store = MessageStore.open(join(dir, 'receiver.db'));
const t0 = Date.now() - MESSAGES * 1_000;
for (let b = 0; b < MESSAGES / 1_000; b++) {
  const batch: RoutedMessage[] = [];
  for (let i = 0; i < 1_000; i++) {
    const n = b * 1_000 + i;
    batch.push({
      id: `msg_${String(n).padStart(6, '0')}`, type: ['push', 'pull_request', 'alert'][n % 3]!, timestamp: Math.floor(t0 / 1000), body: Buffer.alloc(1024, 0x61),
      headers: { 'content-type': 'application/json' }, caller: 'ci', batchId: undefined, route: n % 2 === 0 ? '/alerts' : '/github', severity: undefined,
      sinks: n % 7 === 0 ? ['siem'] : [], filteredReason: undefined,
    });
  }
  store.ingest(batch, t0 + b * 1_000_000);
}
const sink: HttpSinkConfig = {
  name: 'siem', type: 'http', url: 'http://127.0.0.1:9/', secret: undefined, timeoutMs: 1_000, concurrency: 1, deadlineMs: 60_000, retryMinMs: 1_000,
  retryMaxMs: 10_000, ratePerSecond: undefined, circuitFailures: 5, circuitCooldownMs: 1_000, minSeverity: undefined, headers: {},
};
const app = buildAdminApp({
  config: { host: '127.0.0.1', port: 0, token: TOKEN }, store: new SqliteMessageLog(store), workers: new Map(), sinks: [sink], log: pino({ enabled: false }), now: Date.now, deadlines: new Map(),
});
await app.ready();

const queries = ['limit=50', 'limit=50&before=50000', 'limit=50&after=50000', 'limit=50&status=pending', 'limit=50&route=/github', 'limit=50&type=alert',
  'limit=50&sink=siem', 'limit=50&id=msg_0999', 'limit=50&since=24h', 'limit=50&status=stored&since=30h'];
for (const q of queries) {
  const times: number[] = [];
  for (let i = 0; i < RUNS + 3; i++) {
    const start = performance.now();
    const res = await app.inject({ method: 'GET', url: `/api/messages?${q}`, headers: { authorization: `Bearer ${TOKEN}` } });
    if (res.statusCode !== 200) throw new Error(`${q}: ${res.statusCode} ${res.body}`);
    if (i >= 3) times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  process.stdout.write(`${q.padEnd(36)} median ${times[RUNS >> 1]!.toFixed(1)} ms  max ${times.at(-1)!.toFixed(1)} ms\n`);
}
app.closeMetrics();
await app.close();
store.close();
rmSync(dir, { recursive: true, force: true });
