/**
 * The embedded edge router side by side with a real OpenZiti quickstart router, in one run: bulk
 * stream throughput (E2E service, and a plaintext service to separate the router's own cost from the
 * SDK's crypto) and the rate of new dials over an open router link. Our SDK is on both ends of both
 * fabrics; the embedded fabric runs in its own process, as the quickstart does. Prints figures only.
 *
 * Run: npx tsc -p tsconfig.json --outDir dist-bench && node dist-bench/bench/fabric-router.js
 * Env: BENCH_MIB=64 BENCH_RUNS=3 BENCH_DIALS=2000 BENCH_DIAL_CONCURRENCY=50,
 *      BENCH_FABRICS=embedded,ziti and BENCH_PARTS=bulk,dials (a subset for quicker iterations),
 *      BENCH_FABRIC_PROF=<dir> to write a V8 CPU profile of the embedded fabric's process there.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ContentType, HeaderId } from '../connector/ziti/constants.js';
import { generateKxKeyPair } from '../connector/ziti/e2e.js';
import { createMessage, setHeaderBytes, setHeaderU32 } from '../connector/ziti/message.js';
import { ZitiContext, enroll, type ZitiListener } from '../connector/ziti/index.js';
import { createIdentityWithJwt, startFabric } from '../fabric/fabric.js';
import { Quickstart, zitiBinary } from '../test/interop/quickstart.js';

const MIB = 1024 * 1024;
const SIZE_MIB = Number(process.env['BENCH_MIB'] ?? 64);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const DIALS = Number(process.env['BENCH_DIALS'] ?? 2000);
const DIAL_CONCURRENCY = Number(process.env['BENCH_DIAL_CONCURRENCY'] ?? 50);
const FABRICS = (process.env['BENCH_FABRICS'] ?? 'embedded,ziti').split(',');
const PARTS = (process.env['BENCH_PARTS'] ?? 'bulk,dials').split(',');
/** Dials made and thrown away before each dial measurement (JIT, TLS session, first circuit). */
const WARMUP_DIALS = 200;
/** The longest one bulk transfer may take, in milliseconds. */
const TRANSFER_TIMEOUT_MS = 120_000;
const SELF = fileURLToPath(import.meta.url);
/** Linux clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on every mainstream kernel). */
const CLOCK_TICKS_PER_S = 100;

const out = (line: string): void => void process.stdout.write(`${line}\n`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

/** What each fabric hands the measuring side: enrollment tokens and a way to stop it. */
interface Fabric {
  readonly name: string;
  readonly version: string;
  readonly hostJwt: string;
  readonly dialerJwt: string;
  /** The process running the router (and its controller), for CPU accounting; undefined when unknown. */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** CPU time (user + system) a process has used so far, in milliseconds; undefined without /proc. */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
  } catch {
    return undefined;
  }
}

/** Our child process whose command line contains `needle` (the quickstart's ziti process). */
function childPid(needle: string): number | undefined {
  const base = `/proc/${process.pid}/task`;
  try {
    for (const task of readdirSync(base)) {
      for (const pid of readFileSync(`${base}/${task}/children`, 'utf8').split(' ').filter(Boolean)) {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)) return Number(pid);
      }
    }
  } catch {
    // No /proc: CPU figures are left out.
  }
  return undefined;
}

/** CPU used by the router's process and by this (SDK) process while `fn` runs, in milliseconds. */
async function metered<T>(pid: number | undefined, fn: () => Promise<T>): Promise<{ value: T; routerMs: number; sdkMs: number }> {
  const [r0, s0] = [cpuMs(pid), process.cpuUsage()];
  const value = await fn();
  const [r1, s1] = [cpuMs(pid), process.cpuUsage(s0)];
  return { value, routerMs: r0 === undefined || r1 === undefined ? Number.NaN : r1 - r0, sdkMs: (s1.user + s1.system) / 1000 };
}

/** Same entities on both fabrics: `bench` (E2E required), `bench-plain` (not required), Bind/Dial policies. */
const SERVICES = { e2e: 'bench', plain: 'bench-plain' } as const;

// --- child mode: the embedded fabric in its own process -------------------------------------------

async function fabricChild(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'darkhook-bench-fabric-'));
  const fabric = await startFabric({ home, ctrlPort: 0, routerPort: 0 });
  const { store } = fabric;
  store.createService({ name: SERVICES.e2e, roleAttributes: ['bench'] });
  store.createService({ name: SERVICES.plain, roleAttributes: ['bench'], encryptionRequired: false });
  store.createPolicy({ name: 'bench-bind', type: 'Bind', serviceRoles: ['#bench'], identityRoles: ['#hosts'] });
  store.createPolicy({ name: 'bench-dial', type: 'Dial', serviceRoles: ['#bench'], identityRoles: ['#dialers'] });
  const hostJwt = await createIdentityWithJwt(home, store, { name: 'host', roleAttributes: ['hosts'] });
  const dialerJwt = await createIdentityWithJwt(home, store, { name: 'dialer', roleAttributes: ['dialers'] });
  process.stdout.write(`${JSON.stringify({ hostJwt, dialerJwt })}\n`);
  // The parent closes our stdin to stop us; exiting naturally lets --cpu-prof write its profile.
  process.stdin.resume();
  await once(process.stdin, 'end');
  await fabric.close();
  rmSync(home, { recursive: true, force: true });
  process.stdin.pause();
}

async function startEmbedded(): Promise<Fabric> {
  const prof = process.env['BENCH_FABRIC_PROF'];
  const args = prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`];
  const child = spawn(process.execPath, [...args, SELF, '--fabric-child'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const { hostJwt, dialerJwt } = JSON.parse(line) as { hostJwt: string; dialerJwt: string };
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return {
    name: 'embedded',
    version: `darkhook ${pkg.version}`,
    hostJwt,
    dialerJwt,
    pid: child.pid,
    stop: async () => {
      const exited = once(child, 'exit');
      child.stdin!.end();
      const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(kill);
    },
  };
}

async function startQuickstart(): Promise<Fabric> {
  const bin = zitiBinary();
  if (bin.path === undefined) throw new Error(bin.reason);
  const qs = await Quickstart.start(bin.path);
  try {
    await qs.ziti('edge', 'create', 'service', SERVICES.e2e, '-a', 'bench');
    await qs.ziti('edge', 'create', 'service', SERVICES.plain, '-a', 'bench', '-e', 'OFF');
    await qs.ziti('edge', 'create', 'service-policy', 'bench-bind', 'Bind', '--service-roles', '#bench', '--identity-roles', '#hosts');
    await qs.ziti('edge', 'create', 'service-policy', 'bench-dial', 'Dial', '--service-roles', '#bench', '--identity-roles', '#dialers');
    const hostJwt = await qs.createIdentity('host', ['hosts']);
    const dialerJwt = await qs.createIdentity('dialer', ['dialers']);
    const version = (await qs.ziti('version')).trim();
    const pid = childPid(qs.home);
    return { name: 'ziti', version: `ziti ${version}`, hostJwt, dialerJwt, pid, stop: () => qs.dispose() };
  } catch (err) {
    await qs.dispose();
    throw err;
  }
}

// --- the measuring side ---------------------------------------------------------------------------

/** A host that counts the bytes of each accepted connection; `next(size)` resolves with first→last-byte time. */
class CountingSink {
  #want = 0;
  #done: ((ms: number) => void) | undefined;

  constructor(listener: ZitiListener) {
    listener.on('connection', (c) => {
      let bytes = 0;
      let t0 = 0;
      c.on('data', (chunk: Buffer) => {
        if (bytes === 0) t0 = performance.now();
        bytes += chunk.length;
        if (this.#want > 0 && bytes >= this.#want) this.#done?.(performance.now() - t0);
      });
      c.on('error', () => undefined);
    });
  }

  next(size: number): Promise<number> {
    this.#want = size;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`host did not receive ${size} bytes within ${TRANSFER_TIMEOUT_MS} ms`)), TRANSFER_TIMEOUT_MS);
      this.#done = (ms) => {
        clearTimeout(timer);
        this.#done = undefined;
        this.#want = 0;
        resolve(ms);
      };
    });
  }
}

interface Ends {
  readonly contexts: ZitiContext[];
  readonly dialer: Record<keyof typeof SERVICES, ZitiContext>;
  readonly sink: Record<keyof typeof SERVICES, CountingSink>;
}

/** Enroll with our `enroll()`, and bind a counting host to both services (E2E required; plaintext with `encryption: 'off'`). */
async function ends(f: Fabric): Promise<Ends> {
  const [hostId, dialerId] = [await enroll(f.hostJwt), await enroll(f.dialerJwt)];
  const hostE2e = new ZitiContext(hostId);
  const hostPlain = new ZitiContext(hostId, { encryption: 'off' });
  const dialer = { e2e: new ZitiContext(dialerId), plain: new ZitiContext(dialerId, { encryption: 'off' }) };
  const listeners = [hostE2e.listen(SERVICES.e2e), hostPlain.listen(SERVICES.plain)] as const;
  await Promise.all(listeners.map((l) => once(l, 'listening')));
  return {
    contexts: [hostE2e, hostPlain, dialer.e2e, dialer.plain],
    dialer,
    sink: { e2e: new CountingSink(listeners[0]), plain: new CountingSink(listeners[1]) },
  };
}

/** One transfer of `data` from dialer to sink; returns MiB/s as timed at the host. */
async function bulk(dialer: ZitiContext, service: string, sink: CountingSink, data: Buffer): Promise<number> {
  const arrived = sink.next(data.length);
  const conn = await dialer.dial(service);
  for (let off = 0; off < data.length; off += MIB) {
    if (!conn.write(data.subarray(off, off + MIB))) await once(conn, 'drain');
  }
  const ms = await arrived;
  conn.destroy();
  return data.length / MIB / (ms / 1000);
}

interface DialFigures {
  readonly perSec: number;
  readonly p50: number;
  readonly p99: number;
}

/** `count` dials, `concurrency` at a time, each timed until its StateConnected. */
async function dialRate(count: number, concurrency: number, dialOnce: () => Promise<void>): Promise<DialFigures> {
  const latencies: number[] = [];
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < count) {
      started++;
      const t0 = performance.now();
      await dialOnce();
      latencies.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  return { perSec: count / seconds, p50: pct(latencies, 0.5), p99: pct(latencies, 0.99) };
}

/** `ZitiContext.dial()` then destroy: what an application sees (includes the SDK's per-dial service lookup). */
function sdkDial(ctx: ZitiContext): () => Promise<void> {
  return async () => {
    (await ctx.dial(SERVICES.e2e)).destroy();
  };
}

/**
 * Connect → StateConnected on the open link with a fresh E2E key, then StateClosed: the same frames
 * `dial()` sends, minus its controller lookup, so only router and host are timed.
 */
async function linkDial(ctx: ZitiContext): Promise<() => Promise<void>> {
  const service = await ctx.sessions.service(SERVICES.e2e, 'Dial');
  const session = await ctx.sessions.session(service.id, 'Dial');
  const link = await ctx.sessions.linkFor(session.edgeRouters);
  const discard = { onMessage: () => undefined, onLinkClosed: () => undefined };
  return async () => {
    const keyPair = generateKxKeyPair();
    const connId = link.register(discard);
    const connect = createMessage(ContentType.Connect, session.token);
    setHeaderU32(connect, HeaderId.ConnId, connId);
    setHeaderBytes(connect, HeaderId.PublicKey, Buffer.from(keyPair.publicKey));
    const reply = await link.request(connect);
    if (reply.contentType !== ContentType.StateConnected) throw new Error(`dial refused: ${reply.body.toString('utf8')}`);
    const close = createMessage(ContentType.StateClosed);
    setHeaderU32(close, HeaderId.ConnId, connId);
    link.send(close);
    link.unregister(connId);
  };
}

/** One measurement with the CPU both sides spent on it. */
interface Metered {
  readonly value: number;
  readonly routerMs: number;
  readonly sdkMs: number;
}

interface Figures {
  readonly e2e: Metered[];
  readonly plain: Metered[];
  sdkDial?: DialFigures & { routerMs: number; sdkMs: number };
  linkDial?: DialFigures & { routerMs: number; sdkMs: number };
}

async function main(): Promise<void> {
  const fabrics: Fabric[] = [];
  const figures = new Map<string, Figures>();
  const contexts: ZitiContext[] = [];
  try {
    if (FABRICS.includes('embedded')) fabrics.push(await startEmbedded());
    if (FABRICS.includes('ziti')) fabrics.push(await startQuickstart());
    const sides = new Map<string, Ends>();
    for (const f of fabrics) {
      const e = await ends(f);
      contexts.push(...e.contexts);
      sides.set(f.name, e);
      figures.set(f.name, { e2e: [], plain: [] });
    }
    const data = randomBytes(SIZE_MIB * MIB);
    // Warm both paths once (JIT, first circuit), then alternate fabrics run by run so drift hits both.
    for (const f of PARTS.includes('bulk') ? fabrics : []) {
      const e = sides.get(f.name)!;
      await bulk(e.dialer.e2e, SERVICES.e2e, e.sink.e2e, data.subarray(0, 8 * MIB));
      await bulk(e.dialer.plain, SERVICES.plain, e.sink.plain, data.subarray(0, 8 * MIB));
    }
    for (let run = 0; run < (PARTS.includes('bulk') ? RUNS : 0); run++) {
      for (const f of fabrics) {
        const e = sides.get(f.name)!;
        const fig = figures.get(f.name)!;
        fig.e2e.push(await metered(f.pid, () => bulk(e.dialer.e2e, SERVICES.e2e, e.sink.e2e, data)));
        fig.plain.push(await metered(f.pid, () => bulk(e.dialer.plain, SERVICES.plain, e.sink.plain, data)));
      }
    }
    for (const f of PARTS.includes('dials') ? fabrics : []) {
      const ctx = sides.get(f.name)!.dialer.e2e;
      const fig = figures.get(f.name)!;
      await dialRate(WARMUP_DIALS, DIAL_CONCURRENCY, sdkDial(ctx));
      const sdk = await metered(f.pid, () => dialRate(DIALS, DIAL_CONCURRENCY, sdkDial(ctx)));
      fig.sdkDial = { ...sdk.value, routerMs: sdk.routerMs, sdkMs: sdk.sdkMs };
      const link = await linkDial(ctx);
      await dialRate(WARMUP_DIALS, DIAL_CONCURRENCY, link);
      const only = await metered(f.pid, () => dialRate(DIALS, DIAL_CONCURRENCY, link));
      fig.linkDial = { ...only.value, routerMs: only.routerMs, sdkMs: only.sdkMs };
    }
  } finally {
    await Promise.allSettled(contexts.map((c) => c.close()));
    await Promise.allSettled(fabrics.map((f) => f.stop()));
  }
  report(fabrics, figures);
}

function report(fabrics: Fabric[], figures: Map<string, Figures>): void {
  const emb = figures.get('embedded');
  const zt = figures.get('ziti');
  const col = (s: string, w = 13): string => s.padStart(w);
  const row = (label: string, get: (f: Figures) => number, digits: number, goal = ''): void => {
    const a = emb === undefined ? undefined : get(emb);
    const b = zt === undefined ? undefined : get(zt);
    if (Number.isNaN(a ?? b ?? Number.NaN)) return;
    const ratio = a !== undefined && b !== undefined ? `${(a / b).toFixed(2)}×` : '–';
    out(`${label.padEnd(48)}${col(a?.toFixed(digits) ?? '–')}${col(b?.toFixed(digits) ?? '–')}${col(ratio)}   ${goal}`.trimEnd());
  };
  const perMiB = (runs: Metered[], k: 'routerMs' | 'sdkMs'): number => (runs.length === 0 ? Number.NaN : median(runs.map((r) => r[k] / SIZE_MIB)));
  const rate = (d: DialFigures | undefined, k: keyof DialFigures): number => d?.[k] ?? Number.NaN;
  const cpu = cpus();
  out(`# bench/fabric-router — ${cpu.length}× ${cpu[0]?.model ?? 'cpu'}, node ${process.version}, ${fabrics.map((f) => f.version).join(' vs ')}, 127.0.0.1`);
  out('  our SDK on both ends (this process); each router in its own process; CPU = user + system time');
  out(`${''.padEnd(48)}${col('embedded')}${col('ziti router')}${col('emb / ziti')}`);
  out(`bulk, ${SIZE_MIB} MiB one way, timed at the host, median of ${RUNS}`);
  const mibps = (runs: Metered[]): number => (runs.length === 0 ? Number.NaN : median(runs.map((r) => r.value)));
  row('  E2E service (the product), MiB/s', (f) => mibps(f.e2e), 1, 'goal ≥ 1.00×');
  row('    router process CPU, ms per MiB', (f) => perMiB(f.e2e, 'routerMs'), 2, '(lower is better)');
  row('    SDK process CPU, ms per MiB', (f) => perMiB(f.e2e, 'sdkMs'), 2);
  row('  plaintext service (router cost only), MiB/s', (f) => mibps(f.plain), 1);
  row('    router process CPU, ms per MiB', (f) => perMiB(f.plain, 'routerMs'), 2, '(lower is better)');
  row('    SDK process CPU, ms per MiB', (f) => perMiB(f.plain, 'sdkMs'), 2);
  out(`new dials over an open link, ${DIALS} at concurrency ${DIAL_CONCURRENCY}, E2E keys, dial then close`);
  row('  ZitiContext.dial(), dials/s', (f) => rate(f.sdkDial, 'perSec'), 0, 'goal ≥ 1000/s');
  row('    p50 latency, ms', (f) => rate(f.sdkDial, 'p50'), 1);
  row('    p99 latency, ms', (f) => rate(f.sdkDial, 'p99'), 1);
  row('    router process CPU, µs per dial', (f) => ((f.sdkDial?.routerMs ?? Number.NaN) * 1000) / DIALS, 0, '(controller lookup included)');
  row('    SDK process CPU, µs per dial', (f) => ((f.sdkDial?.sdkMs ?? Number.NaN) * 1000) / DIALS, 0);
  row('  Connect → StateConnected only, dials/s', (f) => rate(f.linkDial, 'perSec'), 0, 'goal ≥ 1000/s');
  row('    p50 latency, ms', (f) => rate(f.linkDial, 'p50'), 1);
  row('    p99 latency, ms', (f) => rate(f.linkDial, 'p99'), 1);
  row('    router process CPU, µs per dial', (f) => ((f.linkDial?.routerMs ?? Number.NaN) * 1000) / DIALS, 0, '(lower is better)');
  row('    SDK process CPU, µs per dial', (f) => ((f.linkDial?.sdkMs ?? Number.NaN) * 1000) / DIALS, 0);
  for (const f of fabrics) {
    const fig = figures.get(f.name)!;
    const runs = (xs: Metered[]): string => xs.map((r) => r.value.toFixed(1)).join(', ');
    out(`runs, ${f.name}: E2E ${runs(fig.e2e)}; plaintext ${runs(fig.plain)} MiB/s`);
  }
}

if (process.argv[2] === '--fabric-child') await fabricChild();
else await main();
