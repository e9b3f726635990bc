/**
 * Bulk throughput through a real OpenZiti quickstart router: our SDK vs the ziti CLI's Go client
 * (`ziti demo zcat`) sending into the same E2E service and the same receiving host, timed at the host;
 * and the time from process start to the first echoed byte over a fresh dial. Prints figures only.
 *
 * Run: npm run build && node build/bench/ziti-throughput.js   (BENCH_MIB=64 BENCH_RUNS=3 by default;
 *   BENCH_RESULT_FILE=<file> also writes the figures as JSON, for bench/run)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ZitiContext, enroll } from '../connector/ziti/index.js';
import { writeIdentityFile } from '../pki/index.js';
import { emitResult } from './result.js';
import { Quickstart, zitiBinary } from '../test/interop/quickstart.js';

const MIB = 1024 * 1024;
const SIZE_MIB = Number(process.env['BENCH_MIB'] ?? 64);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const FIRST_BYTE_RUNS = 9;
const out = (line: string): void => void process.stdout.write(`${line}\n`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const bin = zitiBinary();
if (bin.path === undefined) throw new Error(bin.reason);
const qs = await Quickstart.start(bin.path);
try {
  for (const svc of ['bench', 'bench-echo']) {
    await qs.ziti('edge', 'create', 'service', svc, '-a', 'bench');
  }
  await qs.ziti('edge', 'create', 'service-policy', 'bench-bind', 'Bind', '--service-roles', '#bench', '--identity-roles', '#hosts');
  await qs.ziti('edge', 'create', 'service-policy', 'bench-dial', 'Dial', '--service-roles', '#bench', '--identity-roles', '#dialers');
  const hostJwt = await qs.createIdentity('host', ['hosts']);
  await qs.createIdentity('godialer', ['dialers']);
  const tsJwt = await qs.createIdentity('tsdialer', ['dialers']);
  const goId = await qs.enrollWithCli('godialer');
  const tsIdPath = join(qs.home, 'tsdialer.json');
  await writeIdentityFile(tsIdPath, await enroll(tsJwt));
  const size = SIZE_MIB * MIB;

  // One host for both senders: our SDK, counting bytes; timed from first to last byte.
  const host = new ZitiContext(await enroll(hostJwt));
  const sink = host.listen('bench');
  const echo = host.listen('bench-echo');
  echo.on('connection', (c) => c.pipe(c));
  let arrival: ((r: { ms: number; bytes: number }) => void) | undefined;
  sink.on('connection', (c) => {
    let bytes = 0;
    let t0 = 0;
    c.on('data', (chunk: Buffer) => {
      if (bytes === 0) t0 = performance.now();
      bytes += chunk.length;
      if (bytes >= size) arrival?.({ ms: performance.now() - t0, bytes });
    });
    c.on('error', () => undefined);
  });
  await Promise.all([once(sink, 'listening'), once(echo, 'listening')]);
  const nextArrival = (): Promise<{ ms: number; bytes: number }> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('sender did not deliver every byte within 120 s')), 120_000);
      arrival = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
    });

  const payload = join(qs.home, 'payload.bin');
  const data = randomBytes(size);
  writeFileSync(payload, data);
  const ts = await ZitiContext.fromFile(tsIdPath);
  const goRates: number[] = [];
  const tsRates: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    // Go client: ziti demo zcat, stdin → service.
    const goDone = nextArrival();
    const child = qs.spawnZiti('demo', 'zcat', '-i', goId, 'ziti:bench');
    child.stdin!.on('error', () => undefined);
    createReadStream(payload).pipe(child.stdin!);
    const go = await goDone;
    child.kill('SIGTERM');
    goRates.push(SIZE_MIB / (go.ms / 1000));

    // Our SDK, same service, same host.
    const tsDone = nextArrival();
    const conn = await ts.dial('bench');
    for (let off = 0; off < size; off += MIB) {
      if (!conn.write(data.subarray(off, off + MIB))) await once(conn, 'drain');
    }
    const mine = await tsDone;
    conn.destroy();
    tsRates.push(SIZE_MIB / (mine.ms / 1000));
  }
  await ts.close();

  const firstByte: Array<Record<string, number>> = [];
  const child = fileURLToPath(new URL('./first-byte.js', import.meta.url));
  for (let i = 0; i < FIRST_BYTE_RUNS; i++) {
    const p = spawn(process.execPath, [child, tsIdPath, 'bench-echo'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    p.stdout.on('data', (c: Buffer) => (text += c.toString()));
    await once(p, 'exit');
    firstByte.push(JSON.parse(text) as Record<string, number>);
  }
  await host.close();

  const version = (await qs.ziti('version')).trim();
  out(`# bench/ziti-throughput — ziti ${version} quickstart on 127.0.0.1, node ${process.version}, ${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}`);
  out(`${SIZE_MIB} MiB one way through the router into the same darkhook host (E2E on), timed at the host, median of ${RUNS} runs, MiB/s:`);
  out(`  ziti CLI Go client (demo zcat)   ${median(goRates).toFixed(1)}   runs: ${goRates.map((r) => r.toFixed(1)).join(', ')}`);
  out(`  darkhook TS SDK                  ${median(tsRates).toFixed(1)}   runs: ${tsRates.map((r) => r.toFixed(1)).join(', ')}`);
  out(`  ratio TS / Go                    ${(median(tsRates) / median(goRates)).toFixed(2)}×   (goal ≥ 1.0×)`);
  const fb = (k: string): string => median(firstByte.map((f) => f[k]!)).toFixed(0);
  out(`process start → first echoed byte over a fresh dial, median of ${FIRST_BYTE_RUNS}: ${fb('sinceProcessStartMs')} ms (goal ≤ 200 ms)`);
  out(`  of which: authenticate ${fb('authMs')} ms, service + session + router link + dial ${fb('dialMs')} ms, first byte round trip ${fb('firstByteMs')} ms`);
  emitResult('ziti-throughput', {
    ziti: version, mib: SIZE_MIB, runs: RUNS,
    goMiBps: median(goRates), tsMiBps: median(tsRates),
    firstByteMs: Number(fb('sinceProcessStartMs')), firstByteRuns: FIRST_BYTE_RUNS,
  });
} finally {
  await qs.dispose();
}
