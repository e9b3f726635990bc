/**
 * Ack latency of the sidecar with forwarding on (issue 11): signed single events at a fixed rate
 * from many kept-alive Ziti connections through the embedded fabric (`darkhook fabric up`, a child)
 * to `darkhook receive --config` (a child), each event forwarded to a Jenkins stand-in (a third
 * child, so its work is not on the load generator's loop). The same run first measures a baseline
 * with forwarding off (the same route, no sink). Prints figures, asserts nothing.
 *
 *   npm run build && node build/bench/sidecar-ack.js [--rate 1000] [--connections 50] [--seconds 30] [--phases off,on]
 *                                                    [--sink-concurrency N]   (default: the sink's own default)
 *                                                    [--receiver-node-args='--cpu-prof --cpu-prof-dir=/tmp/prof']
 *
 * Latency is measured from each event's scheduled send time to its 2xx, so a connection held up by
 * a slow answer counts the wait of the events queued behind it (no coordinated omission).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateHmacSecret } from '../connector/webhook/secrets.js';
import { signStandard } from '../connector/webhook/signature-standard.js';
import { createTransport, type Transport } from '../connector/sender/transport.js';
import { ZitiContext } from '../connector/ziti/index.js';
import { startJenkins } from '../standins/jenkins.js';
import { type Child, prepareNet, SERVICE, spawnCli, startFabricProcess, waitFor, writeReceiverConfig } from './harness.js';
import { emitResult } from './result.js';

const JENKINS_CHILD_FLAG = '--jenkins-child';

/** Child mode: the Jenkins stand-in; prints `ready <port>`, then `count <n>` every 100 ms; exits on stdin end. */
async function jenkinsChild(): Promise<void> {
  const jenkins = await startJenkins({ host: '127.0.0.1', port: 0, secret: process.env['BENCH_JENKINS_SECRET']! });
  process.stdout.write(`ready ${jenkins.port}\n`);
  let last = -1;
  const timer = setInterval(() => {
    const n = jenkins.received.length;
    if (n !== last) process.stdout.write(`count ${n} refused ${jenkins.refused.length}\n`);
    last = n;
  }, 100);
  process.stdin.resume();
  process.stdin.on('end', () => {
    clearInterval(timer);
    void jenkins.stop().then(() => process.exit(0));
  });
}

if (process.argv.includes(JENKINS_CHILD_FLAG)) {
  await jenkinsChild();
} else {
  await main();
}

interface Phase {
  readonly name: 'off' | 'on';
  readonly latencies: Float64Array;
  readonly service: Float64Array;
  readonly acked: number;
  readonly failed: number;
  readonly sentSeconds: number;
  readonly forwardedInWindow: number;
  readonly drainMs: number | undefined;
  readonly rssMaxMiB: number;
  readonly rssEndMiB: number;
  readonly cpuMs: number;
  readonly timeline: string[];
}

async function main(): Promise<void> {
  const { values: flags } = parseArgs({
    options: {
      rate: { type: 'string', default: '1000' },
      connections: { type: 'string', default: '50' },
      seconds: { type: 'string', default: '30' },
      phases: { type: 'string', default: 'off,on' },
      'sink-concurrency': { type: 'string' },
      // Node flags of the receiver child only (a CPU profile of it, say; --cpu-prof is refused in NODE_OPTIONS).
      'receiver-node-args': { type: 'string' },
    },
  });
  const RATE = Number(flags.rate);
  const CONNECTIONS = Number(flags.connections);
  const SECONDS = Number(flags.seconds);
  const phases = flags.phases.split(',') as ('off' | 'on')[];
  const sinkConcurrency = flags['sink-concurrency'] === undefined ? {} : { concurrency: Number(flags['sink-concurrency']) };

  const net = await prepareNet({ receivers: ['receiver'], senders: ['sender'] });
  const fabric = await startFabricProcess(net);
  const secret = generateHmacSecret();
  const jenkinsSecret = randomBytes(20).toString('hex');
  const jenkins = spawn(process.execPath, [fileURLToPath(import.meta.url), JENKINS_CHILD_FLAG], {
    env: { ...process.env, BENCH_JENKINS_SECRET: jenkinsSecret }, stdio: ['pipe', 'pipe', 'inherit'],
  });
  let jenkinsPort = 0;
  let forwarded = 0;
  let refused = 0;
  let partial = '';
  jenkins.stdout!.on('data', (c: Buffer) => {
    const parts = (partial + c.toString('utf8')).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      const ready = /^ready (\d+)$/.exec(line);
      if (ready !== null) jenkinsPort = Number(ready[1]);
      const count = /^count (\d+) refused (\d+)$/.exec(line);
      if (count !== null) [forwarded, refused] = [Number(count[1]), Number(count[2])];
    }
  });
  await waitFor(() => jenkinsPort !== 0, 10_000);
  const ziti = await ZitiContext.fromFile(net.identities['sender']!);
  const results: Phase[] = [];
  try {
    for (const phase of phases) {
      const adminToken = randomBytes(24).toString('hex');
      const configFile = join(net.dir, `receiver-${phase}.json`);
      writeReceiverConfig(configFile, {
        identity: net.identities['receiver'],
        service: SERVICE,
        store: join(net.dir, `receiver-${phase}.db`),
        secrets: ['env:DARKHOOK_SECRET'],
        routes: [{ path: '/github', sinks: phase === 'on' ? ['jenkins'] : [] }],
        sinks: phase === 'on' ? { jenkins: { type: 'jenkins', url: `http://127.0.0.1:${jenkinsPort}/github-webhook/`, secret: 'env:JENKINS_HOOK_SECRET', ...sinkConcurrency } } : {},
        admin: { listen: '127.0.0.1:0', token: 'env:DARKHOOK_ADMIN_TOKEN' },
      });
      const receiver = spawnCli(['--json', '--log-level', 'warn', 'receive', '--config', configFile], {
        DARKHOOK_SECRET: secret, JENKINS_HOOK_SECRET: jenkinsSecret, DARKHOOK_ADMIN_TOKEN: adminToken,
      }, flags['receiver-node-args']?.split(' ').filter((a) => a !== '') ?? []);
      const ready = await waitFor(() => /"event":"ready"/.test(receiver.stdout()) || receiver.child.exitCode !== null, 30_000);
      if (!ready || receiver.child.exitCode !== null) throw new Error(`receiver did not start: ${receiver.stderr().slice(-500)}`);
      const admin = /"admin":"([^"]+)"/.exec(receiver.stdout())![1]!;
      try {
        results.push(await run(phase, { ziti, secret, receiver, admin, adminToken, rate: RATE, connections: CONNECTIONS, seconds: SECONDS, forwarded: () => forwarded }));
      } finally {
        await receiver.stop();
      }
    }
  } finally {
    await ziti.close();
    jenkins.stdin!.end();
    await new Promise((r) => jenkins.once('close', r));
    await fabric.stop();
    rmSync(net.dir, { recursive: true, force: true });
  }
  report(results, { rate: RATE, connections: CONNECTIONS, seconds: SECONDS, refused, sinkConcurrency: sinkConcurrency.concurrency });
}

/** The receiver's resident set in MiB, from /proc. */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? Number.NaN : Number(m[1]) / 1024;
}

/** CPU milliseconds (user + system) of a process, from /proc (clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** `darkhook_queue_depth{sink="jenkins"}` from the admin listener, or undefined without that sink. */
async function queueDepth(admin: string, token: string): Promise<number | undefined> {
  const text = await (await fetch(`http://${admin}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  const m = /^darkhook_queue_depth\{sink="jenkins"\} (\d+)$/m.exec(text);
  return m === null ? undefined : Number(m[1]);
}

/** A push-like body of about 1 KiB. */
function pushBody(conn: number, seq: number): Buffer {
  return Buffer.from(JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'acme/app' }, conn, seq, pad: 'x'.repeat(900) }));
}

async function run(
  phase: 'off' | 'on',
  o: { ziti: ZitiContext; secret: string; receiver: Child; admin: string; adminToken: string; rate: number; connections: number; seconds: number; forwarded: () => number },
): Promise<Phase> {
  const pid = o.receiver.child.pid!;
  const perConn = o.rate / o.connections;
  const intervalMs = 1000 / perConn;
  const transports: Transport[] = Array.from({ length: o.connections }, () =>
    createTransport({ connect: () => o.ziti.dial(SERVICE), path: '/github', host: SERVICE, requestTimeoutMs: 30_000, maxResponseBytes: 65_536 }));
  const post = async (t: Transport, conn: number, seq: number): Promise<number> => {
    const id = `msg_${phase}${conn}x${seq}`;
    const body = pushBody(conn, seq);
    const timestamp = Math.floor(Date.now() / 1000);
    const res = await t.post({
      'content-type': 'application/json', 'webhook-event-type': 'push', 'webhook-id': id, 'webhook-timestamp': String(timestamp),
      'webhook-signature': signStandard({ id, timestamp, body, secret: o.secret }),
    }, body);
    return res.status;
  };
  // Warm-up: open every connection (the dials) and a few events each, not measured; forwarded before the start.
  const WARM_UP = 3;
  const forwardedBefore = o.forwarded() + (phase === 'on' ? o.connections * WARM_UP : 0);
  await Promise.all(transports.map(async (t, c) => {
    for (let i = 0; i < WARM_UP; i++) await post(t, c, -1 - i);
  }));
  await waitFor(() => o.forwarded() >= forwardedBefore, 30_000);
  const total = Math.round(o.rate * o.seconds);
  const latencies = new Float64Array(total);
  const service = new Float64Array(total);
  let acked = 0;
  let failed = 0;
  let rssMax = 0;
  const timeline: string[] = [];
  const cpuBefore = cpuMsOf(pid);
  const t0 = performance.now() + 50;
  let sampling = true;
  const sampler = (async () => {
    for (let s = 1; sampling; s++) {
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + s * 1000 - performance.now())));
      const rss = rssMiB(pid);
      rssMax = Math.max(rssMax, rss);
      if (s % 5 === 0 || !sampling) {
        const depth = phase === 'on' ? await queueDepth(o.admin, o.adminToken) : undefined;
        timeline.push(`t=${String(s).padStart(3)} s  acked ${String(acked).padStart(6)}  forwarded ${String(o.forwarded() - forwardedBefore).padStart(6)}  queue ${depth ?? '-'}  rss ${rss.toFixed(0)} MiB`);
      }
    }
  })();
  await Promise.all(transports.map(async (t, conn) => {
    // Events of a connection are spread evenly, connections offset from each other.
    const offset = (conn / o.connections) * intervalMs;
    for (let seq = 0; seq * o.connections + conn < total; seq++) {
      const scheduled = t0 + offset + seq * intervalMs;
      const wait = scheduled - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const started = performance.now();
      const i = seq * o.connections + conn;
      try {
        const status = await post(t, conn, seq);
        if (status !== 200) failed++;
        else acked++;
      } catch {
        failed++;
      }
      const end = performance.now();
      latencies[i] = end - scheduled;
      service[i] = end - started;
    }
  }));
  const sentSeconds = (performance.now() - t0) / 1000;
  const forwardedInWindow = o.forwarded() - forwardedBefore;
  let drainMs: number | undefined;
  if (phase === 'on') {
    const drainStart = performance.now();
    const drained = await waitFor(() => o.forwarded() - forwardedBefore >= acked, 120_000);
    drainMs = drained ? performance.now() - drainStart : undefined;
  }
  sampling = false;
  await sampler;
  for (const t of transports) t.close();
  const cpuMs = cpuMsOf(pid) - cpuBefore;
  return { name: phase, latencies, service, acked, failed, sentSeconds, forwardedInWindow, drainMs, rssMaxMiB: rssMax, rssEndMiB: rssMiB(pid), cpuMs, timeline };
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function report(results: Phase[], o: { rate: number; connections: number; seconds: number; refused: number; sinkConcurrency: number | undefined }): void {
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  say(`sidecar ack latency: ${o.rate} events/s from ${o.connections} Ziti connections for ${o.seconds} s, ~1 KiB push events, embedded fabric`);
  say(`machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, node ${process.version}, load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (const p of results) {
    const lat = Float64Array.from(p.latencies).sort();
    const svc = Float64Array.from(p.service).sort();
    const f = (v: number): string => `${v.toFixed(1)} ms`;
    say(`\nforwarding ${p.name === 'on' ? `on (each event → Jenkins stand-in; sink concurrency ${o.sinkConcurrency ?? 'default'})` : 'off (baseline: same route, no sink)'}`);
    say(`  acked ${p.acked} (${(p.acked / p.sentSeconds).toFixed(0)}/s offered over ${p.sentSeconds.toFixed(1)} s), failed ${p.failed}`);
    say(`  ack from schedule  p50 ${f(quantile(lat, 0.5))}  p90 ${f(quantile(lat, 0.9))}  p99 ${f(quantile(lat, 0.99))}  max ${f(lat[lat.length - 1]!)}  (goal p99 ≤ 50 ms)`);
    say(`  ack from send      p50 ${f(quantile(svc, 0.5))}  p90 ${f(quantile(svc, 0.9))}  p99 ${f(quantile(svc, 0.99))}`);
    if (p.name === 'on') {
      say(`  forwarded ${p.forwardedInWindow} while sending (${(p.forwardedInWindow / p.sentSeconds).toFixed(0)}/s); the rest ${p.drainMs === undefined ? 'NOT drained within 120 s' : `drained ${p.drainMs.toFixed(0)} ms after the last ack`}`);
    }
    say(`  receiver RSS max ${p.rssMaxMiB.toFixed(0)} MiB, at the end ${p.rssEndMiB.toFixed(0)} MiB (goal ≤ 200 MB); receiver CPU ${(p.cpuMs / 1000).toFixed(1)} s (${((p.cpuMs / 10) / p.sentSeconds).toFixed(0)} % of a core)`);
    for (const line of p.timeline) say(`    ${line}`);
  }
  if (o.refused > 0) say(`\nJenkins stand-in refused ${o.refused} requests (bad signature)`);
  // For bench/run: the same figures its table would read from the report above.
  const on = results.find((p) => p.name === 'on');
  const off = results.find((p) => p.name === 'off');
  const p99 = (p: Phase | undefined): number | undefined => (p === undefined ? undefined : quantile(Float64Array.from(p.latencies).sort(), 0.99));
  emitResult('sidecar-ack', {
    offered: o.rate,
    ackP99Ms: p99(on),
    ackP99OffMs: p99(off),
    forwardPerSecond: on === undefined ? undefined : Math.round(on.forwardedInWindow / on.sentSeconds),
    rssMaxMiB: on?.rssMaxMiB,
    sinkConcurrency: o.sinkConcurrency ?? null,
  });
}
