/**
 * Cold send: `darkhook send` of one event as a CI step runs it, a new process with a new outbox, from the spawn
 * to its result line (printed once the receiver's 2xx is in) and to its exit, over the embedded fabric to the
 * darkhook receiver (both in this process, on 127.0.0.1). The bundled CLI twice: with its compile cache warm (a
 * machine that has run darkhook before) and empty (the first run on a fresh runner; Node 22+ only, Node 20 has
 * none). Beside it, in the same run, `node -e ''` (the floor: Node's own start-up) and the unbundled
 * `build/cli/main.js`. Runs are interleaved; medians. Figures only.
 *
 *   npm run build && npm run bundle:cli && node build/bench/cold-send.js
 *   BENCH_RUNS=9 by default; BENCH_NODE=<path> runs the children on another Node (scripts/install-node.sh 24);
 *   BENCH_PROF=<dir> writes a --cpu-prof profile of each bundled send there;
 *   BENCH_RESULT_FILE=<file> also writes the medians as JSON (bench/run);
 *   BENCH_ALT=<file> adds a row for another build of the CLI (say dist-before/darkhook.cjs, a copy of dist/ made
 *   before a change, inside the package so it finds node_modules), interleaved with the others, warm cache.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { generateHmacSecret } from '../connector/webhook/secrets.js';
import { startReceiver } from '../receiver/server.js';
import { startTestNet } from '../test/receiver/helpers.js';
import { emitResult } from './result.js';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 9);
const NODE = process.env['BENCH_NODE'] ?? process.execPath;
const SERVICE = 'cold-hooks';
const BUNDLE = fileURLToPath(new URL('../../dist/darkhook.cjs', import.meta.url));
const UNBUNDLED = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const ALT = process.env['BENCH_ALT'];

interface Run {
  /** Spawn → first stdout byte (the send's result line, written after the 2xx), ms. */
  resultMs: number;
  /** Spawn → exit, ms. */
  exitMs: number;
}

/** Spawn `args` on NODE with `env` added; resolves with the timings, rejects on a non-zero exit. */
function timed(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let resultMs = Number.NaN;
    let stderr = '';
    const child = spawn(NODE, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env } });
    child.stdout.once('data', () => {
      resultMs = performance.now() - t0;
    });
    child.stdout.resume();
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    child.on('close', (code) => {
      const exitMs = performance.now() - t0;
      if (code !== 0) reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`));
      else resolve({ resultMs: Number.isNaN(resultMs) ? exitMs : resultMs, exitMs });
    });
  });
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const net = await startTestNet();
net.createService(SERVICE);
const secret = generateHmacSecret();
const receiver = await startReceiver({
  ziti: await net.context('cold-receiver', ['receivers']),
  service: SERVICE,
  secrets: [secret],
  allowedCallers: ['cold-sender'],
  storePath: join(net.dir, 'receiver.db'),
});
const identity = await net.identityFile('cold-sender', ['senders']);
const payload = join(net.dir, 'payload.json');
writeFileSync(payload, '{"ref":"refs/heads/main","build":42}');
const PROF = process.env['BENCH_PROF'];
const sendArgs = (cli: string, i: number): string[] => [
  ...(PROF !== undefined && cli === BUNDLE ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`] : []),
  cli, '--json', 'send', '--identity', identity, '--service', SERVICE, '--secret', secret,
  '--payload', payload, '--event', 'push', '--outbox', join(net.dir, `outbox-${cli === BUNDLE ? 'b' : cli === ALT ? 'a' : 'u'}-${i}.db`),
];

// The launcher keeps its compile cache under $XDG_CACHE_HOME/darkhook: one directory kept across the runs (warm
// after the warm-up), and a new empty one for each run of the empty-cache row.
const warmCache = { XDG_CACHE_HOME: join(net.dir, 'cache-warm') };
const emptyCache = (): Record<string, string> => ({ XDG_CACHE_HOME: mkdtempSync(join(net.dir, 'cache-empty-')) });
const floor: Run[] = [];
const bundled: Run[] = [];
const bundledEmpty: Run[] = [];
const unbundled: Run[] = [];
const alt: Run[] = [];
try {
  // One warm-up of each (file system cache, the fabric's first sessions, the warm compile cache), not counted.
  await timed(['-e', '']);
  await timed(sendArgs(BUNDLE, -1), warmCache);
  await timed(sendArgs(UNBUNDLED, -1));
  if (ALT !== undefined) await timed(sendArgs(ALT, -1), warmCache);
  for (let i = 0; i < RUNS; i++) {
    floor.push(await timed(['-e', '']));
    bundled.push(await timed(sendArgs(BUNDLE, i), warmCache));
    bundledEmpty.push(await timed(sendArgs(BUNDLE, RUNS + i), emptyCache()));
    unbundled.push(await timed(sendArgs(UNBUNDLED, i)));
    if (ALT !== undefined) alt.push(await timed(sendArgs(ALT, i), warmCache));
  }
} finally {
  await receiver.close();
  await net.close();
}
const row = (name: string, runs: readonly Run[]): string =>
  `${name.padEnd(48)} result ${median(runs.map((r) => r.resultMs)).toFixed(0).padStart(4)} ms   exit ${median(runs.map((r) => r.exitMs)).toFixed(0).padStart(4)} ms`;
const nodeVersion = await new Promise<string>((resolve) => {
  const c = spawn(NODE, ['--version']);
  let v = '';
  c.stdout.on('data', (b: Buffer) => (v += b.toString()));
  c.on('close', () => resolve(v.trim()));
});
const medians = (runs: readonly Run[]): { resultMs: number; exitMs: number } => ({ resultMs: median(runs.map((r) => r.resultMs)), exitMs: median(runs.map((r) => r.exitMs)) });
emitResult('cold-send', { node: nodeVersion, runs: RUNS, floor: medians(floor), bundled: medians(bundled), bundledEmptyCache: medians(bundledEmpty), unbundled: medians(unbundled) });
const rows = [
  `cold send, ${nodeVersion}, median of ${RUNS}`,
  row("node -e ''", floor),
  row('darkhook send (dist/darkhook.cjs)', bundled),
  row('darkhook send (dist/darkhook.cjs, empty cache)', bundledEmpty),
  row('darkhook send (build/cli/main.js)', unbundled),
  ...(ALT === undefined ? [] : [row(`darkhook send (${ALT.split('/').slice(-2).join('/')})`, alt)]),
];
process.stdout.write(`${rows.join('\n')}\n`);
