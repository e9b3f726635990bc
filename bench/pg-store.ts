/**
 * Acknowledged events/s and p99 ack latency of the receiver on its two stores, side by side in
 * one run: one sidecar on SQLite, one on PostgreSQL, two on one PostgreSQL. Real processes on
 * loopback: `darkhook fabric up`, `darkhook receive --config` (one or two, same config), a
 * throw-away PostgreSQL cluster (initdb + pg_ctl). This process is the sender: BENCH_CONCURRENCY
 * Ziti connections each POSTing one signed event at a time for BENCH_SECONDS; an event counts
 * when its 200 arrives (stored durably). Prints figures only.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createTransport } from '../connector/sender/transport.js';
import { generateHmacSecret } from '../connector/webhook/secrets.js';
import { ZitiContext } from '../connector/ziti/index.js';
import { signedHeaders } from '../test/receiver/helpers.js';
import { startPgCluster } from '../test/receiver/pg-cluster.js';
import { prepareNet, type ReceiverProcess, SERVICE, startFabricProcess, startReceiverProcess, writeReceiverConfig } from './harness.js';

/** Seconds of load per configuration (after a 2 s warm-up). */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
/** Connections sending at once, one event in flight on each. */
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const WARMUP_MS = 2_000;

const secret = generateHmacSecret();
const net = await prepareNet({ receivers: ['jenkins-receiver'], senders: ['ci-sender'] });
const fabric = await startFabricProcess(net);
const cluster = await startPgCluster();
const env = { DARKHOOK_SECRET: secret, DARKHOOK_PG_PASSWORD: cluster.password };
const ziti = await ZitiContext.fromFile(net.identities['ci-sender']!);
let seq = 0;

interface Figures {
  readonly name: string;
  readonly events: number;
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly split: string;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function load(): Promise<{ latencies: number[]; errors: number; elapsedMs: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const startAt = performance.now();
  const measureFrom = startAt + WARMUP_MS;
  const end = measureFrom + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      const transport = createTransport({ connect: () => ziti.dial(SERVICE), path: '/github', host: SERVICE, requestTimeoutMs: 30_000, maxResponseBytes: 65_536 });
      try {
        while (performance.now() < end) {
          const id = `bench_${process.pid}_${++seq}`;
          const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', seq, pad: 'x'.repeat(900) }));
          const t = performance.now();
          try {
            const res = await transport.post(signedHeaders({ id, body, secret, type: 'push' }), body);
            if (res.status !== 200) errors++;
            else if (t >= measureFrom) latencies.push(performance.now() - t);
          } catch {
            errors++;
          }
        }
      } finally {
        transport.close();
      }
    }),
  );
  return { latencies, errors, elapsedMs: SECONDS * 1000 };
}

async function run(name: string, store: string, sidecars: number): Promise<Figures> {
  const configFile = join(net.dir, `receiver-${name.replaceAll(/\W+/g, '-')}.json`);
  writeReceiverConfig(configFile, {
    identity: net.identities['jenkins-receiver'], service: SERVICE, store, secrets: ['env:DARKHOOK_SECRET'], routes: [{ path: '/github', callers: ['ci-sender'] }],
  });
  const procs: ReceiverProcess[] = [];
  try {
    for (let i = 0; i < sidecars; i++) procs.push(await startReceiverProcess(configFile, env, { logLevel: 'error' }));
    const { latencies, errors, elapsedMs } = await load();
    latencies.sort((a, b) => a - b);
    return {
      name, events: latencies.length, perSecond: (latencies.length / elapsedMs) * 1000, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), errors,
      split: procs.map((p) => p.stored.length).join(' / '),
    };
  } finally {
    for (const p of procs) await p.stop();
  }
}

try {
  const results = [
    await run('1 sidecar, SQLite', join(net.dir, 'receiver.db'), 1),
    await run('1 sidecar, PostgreSQL', cluster.url(await cluster.createDatabase('bench1'), 'DARKHOOK_PG_PASSWORD'), 1),
    await run('2 sidecars, one PostgreSQL', cluster.url(await cluster.createDatabase('bench2'), 'DARKHOOK_PG_PASSWORD'), 2),
  ];
  process.stdout.write(`receiver store bench: ${SECONDS} s per row after ${WARMUP_MS / 1000} s warm-up, ${CONCURRENCY} connections, one ~1 KiB event per POST, node ${process.version}\n\n`);
  process.stdout.write('| | acknowledged events/s | p50 ack, ms | p99 ack, ms | non-200 | stored per sidecar |\n| --- | ---: | ---: | ---: | ---: | --- |\n');
  for (const r of results) {
    process.stdout.write(`| ${r.name} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.errors} | ${r.split} |\n`);
  }
} finally {
  await ziti.close();
  await fabric.stop();
  cluster.destroy();
  rmSync(net.dir, { recursive: true, force: true });
}
