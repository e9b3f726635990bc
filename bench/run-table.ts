/**
 * `bench/run`: runs the bench programs one after the other (each writes its figures to
 * BENCH_RESULT_FILE) and prints ONE table — sender rates over the embedded fabric and over a real
 * quickstart beside the direct mutual-TLS baseline of the same run, our SDK vs the `ziti` Go client,
 * cold send, sidecar ack latency and forward rate, RSS — with the machine and versions on top.
 * Children's own output goes to log files (their paths are printed); the table goes to stdout.
 *
 *   bench/run            (npm run bench)   ZITI_BIN=<ziti> adds the quickstart rows;
 *   BENCH_SIDECAR_SECONDS=30 sets the sidecar-ack phase length.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOGS = mkdtempSync(join(tmpdir(), 'darkhook-bench-run-'));
const ZITI_BIN = process.env['ZITI_BIN'] ?? '';
const SIDECAR_SECONDS = process.env['BENCH_SIDECAR_SECONDS'] ?? '30';
const NO_ZITI = 'skipped: no ZITI_BIN';

type Json = Record<string, unknown>;
/** One bench program's outcome: its JSON figures, or why there are none. */
type Outcome = { ok: true; figures: Json; stdout: string } | { ok: false; why: string; stdout: string };

/** Run `build/bench/<file>` with `env`; resolves with the JSON it wrote to BENCH_RESULT_FILE. */
function runBench(name: string, file: string, env: Record<string, string>, args: readonly string[] = []): Promise<Outcome> {
  const result = join(LOGS, `${name}.json`);
  const log = join(LOGS, `${name}.log`);
  process.stderr.write(`bench/run: ${name} … (log ${log})\n`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(HERE, file), ...args], { env: { ...process.env, ...env, BENCH_RESULT_FILE: result }, stdio: ['ignore', 'pipe', 'pipe'] });
    // stdout (the program's report) and stderr (progress, logs) in two files: some programs print their
    // report to both.
    const sink = createWriteStream(log);
    const errSink = createWriteStream(`${log}.stderr`);
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
      sink.write(c);
    });
    child.stderr.pipe(errSink);
    child.on('close', (code) => {
      sink.end();
      if (code !== 0) resolve({ ok: false, why: `failed (exit ${code}; log ${log}.stderr)`, stdout });
      else if (existsSync(result)) resolve({ ok: true, figures: JSON.parse(readFileSync(result, 'utf8')) as Json, stdout });
      else resolve({ ok: true, figures: {}, stdout });
    });
  });
}

const n = (v: unknown, digits = 0): string => (typeof v === 'number' && Number.isFinite(v) ? v.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');
const ratio = (a: unknown, b: unknown): string => (typeof a === 'number' && typeof b === 'number' && b > 0 ? `${(a / b).toFixed(2)}×` : '—');

const rows: string[][] = [];
const row = (figure: string, result: string, baseline = '', r = ''): void => void rows.push([figure, result, baseline, r]);

/** The sender rows of one sender-batched run. */
function senderRows(where: string, o: Outcome | undefined): void {
  const labels: [string, string][] = [
    ['verify', 'verify receiver (checks only)'],
    ['durable', 'durable receiver (SQLite FULL before 2xx)'],
  ];
  for (const [key, label] of labels) {
    if (o === undefined || !o.ok) {
      const why = o === undefined ? NO_ZITI : o.why;
      row(`batched events/s, ${where}, ${label}`, why);
      row(`single-event requests/s, ${where}, ${label}`, why);
      continue;
    }
    const rates = (o.figures['ratesPerSecond'] ?? {}) as Record<string, number>;
    const best = ['jsonl', 'db'].filter((k) => rates[`${key} ${k} ziti`] !== undefined).sort((a, b) => rates[`${key} ${b} ziti`]! - rates[`${key} ${a} ziti`]!)[0] ?? 'jsonl';
    const [bz, bm] = [rates[`${key} ${best} ziti`], rates[`${key} ${best} mtls`]];
    row(`batched events/s, ${where}, ${label}; whole sender, .${best} outbox, 500/batch, median of ${n(o.figures['repeats'])}`, n(bz), `direct mTLS ${n(bm)}`, ratio(bz, bm));
    const [sz, sm] = [rates[`${key} single ziti`], rates[`${key} single mtls`]];
    row(`single-event requests/s, ${where}, ${label}, median of ${n(o.figures['repeats'])}`, n(sz), `direct mTLS ${n(sm)}`, ratio(sz, sm));
  }
}

/** Figures of bench/sidecar-ack: its JSON result if it wrote one, else read from its printed report. */
function sidecarFigures(o: Extract<Outcome, { ok: true }>): Json {
  if (Object.keys(o.figures).length > 1) return o.figures;
  const section = (name: string): string => {
    const at = o.stdout.indexOf(`\nforwarding ${name}`);
    if (at < 0) return '';
    const next = o.stdout.indexOf('\nforwarding ', at + 1);
    return o.stdout.slice(at, next < 0 ? undefined : next);
  };
  const num = (text: string, re: RegExp): number | undefined => {
    const m = re.exec(text);
    return m === null ? undefined : Number(m[1]);
  };
  const on = section('on');
  const off = section('off');
  return {
    offered: num(o.stdout, /sidecar ack latency: (\d+) events\/s/),
    ackP99Ms: num(on, /ack from schedule.*?p99 ([\d.]+) ms/),
    ackP99OffMs: num(off, /ack from schedule.*?p99 ([\d.]+) ms/),
    forwardPerSecond: num(on, /forwarded \d+ while sending \((\d+)\/s\)/),
    rssMaxMiB: num(on, /receiver RSS max ([\d.]+) MiB/),
  };
}

function version(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split('\n')[0]! : '?';
}

// ---- run ----
const load0 = loadavg();
/**
 * Each sender figure is the median of 3 runs alternating with its mTLS baseline, 20,000 events or
 * 1,000 requests each, so a busy second on a shared machine moves a ratio less.
 */
const SENDER_ENV = { BENCH_RECEIVERS: 'verify,durable', BENCH_OUTBOXES: 'jsonl', BENCH_PHASES: 'single,sender', BENCH_BATCHES: '40', BENCH_SINGLES: '1000', BENCH_REPEATS: '3' };
const embedded = await runBench('sender-embedded', 'sender-batched.js', SENDER_ENV);
const quick = ZITI_BIN === '' ? undefined : await runBench('sender-quickstart', 'sender-batched.js', { ...SENDER_ENV, BENCH_FABRIC: 'quickstart' });
const goVsTs = ZITI_BIN === '' ? undefined : await runBench('ziti-throughput', 'ziti-throughput.js', {});
const cold = existsSync(join(ROOT, 'dist', 'darkhook.cjs')) ? await runBench('cold-send', 'cold-send.js', {}) : ({ ok: false, why: 'skipped: no dist/darkhook.cjs (npm run bundle:cli)', stdout: '' } as const);
const sidecarJs = join(HERE, 'sidecar-ack.js');
const sidecar = existsSync(sidecarJs) ? await runBench('sidecar-ack', 'sidecar-ack.js', {}, ['--seconds', SIDECAR_SECONDS]) : undefined;
const load1 = loadavg();

// ---- rows ----
senderRows('embedded fabric', embedded);
const qsName = quick?.ok === true ? String(quick.figures['fabricLabel'] ?? 'quickstart').replace(' router', '') : 'OpenZiti quickstart';
senderRows(qsName, quick);
if (goVsTs === undefined) row('bulk MiB/s into one host through the quickstart router: darkhook SDK vs `ziti demo zcat` (Go SDK)', NO_ZITI);
else if (!goVsTs.ok) row('bulk MiB/s into one host through the quickstart router: darkhook SDK vs `ziti demo zcat` (Go SDK)', goVsTs.why);
else {
  const f = goVsTs.figures;
  row(`bulk MiB/s, ${n(f['mib'])} MiB into one host through the quickstart router (E2E), median of ${n(f['runs'])}: darkhook SDK`, n(f['tsMiBps'], 1), `ziti Go client (zcat) ${n(f['goMiBps'], 1)}`, ratio(f['tsMiBps'], f['goMiBps']));
  row(`process start → first echoed byte over a fresh dial, quickstart, median of ${n(f['firstByteRuns'])}, ms`, n(f['firstByteMs']));
}
if (!cold.ok) row('cold `darkhook send` start → 2xx, ms', cold.why);
else {
  const f = cold.figures as { runs: number; floor: { exitMs: number }; bundled: { resultMs: number; exitMs: number }; unbundled: { resultMs: number } };
  row(`cold \`darkhook send\` (dist/darkhook.cjs) start → 2xx result line, embedded fabric, median of ${f.runs}, ms`, n(f.bundled.resultMs), `\`node -e ''\` ${n(f.floor.exitMs)}`, `+${n(f.bundled.resultMs - f.floor.exitMs)} ms`);
  row('  the same, unbundled build/cli/main.js, ms', n(f.unbundled.resultMs));
}
if (sidecar === undefined) {
  row('sidecar ack p99, forwarding on, ms', 'not measured (bench/sidecar-ack.ts not in this tree)');
  row('sidecar forward rate, events/s', 'not measured (bench/sidecar-ack.ts not in this tree)');
} else if (!sidecar.ok) {
  row('sidecar ack p99 and forward rate', sidecar.why);
} else {
  const f = sidecarFigures(sidecar);
  row(`sidecar ack p99 at ${n(f['offered'])} events/s for ${SIDECAR_SECONDS} s, forwarding to Jenkins on, ms`, n(f['ackP99Ms'], 1), `forwarding off ${n(f['ackP99OffMs'], 1)}`, ratio(f['ackP99Ms'], f['ackP99OffMs']));
  row('sidecar forward rate while acking, events/s', n(f['forwardPerSecond']), `offered ${n(f['offered'])}`, ratio(f['forwardPerSecond'], f['offered']));
  row('sidecar (darkhook receive) peak RSS under that load, MiB', n(f['rssMaxMiB']));
}
for (const [where, o] of [['embedded fabric', embedded], [qsName, quick]] as const) {
  if (o === undefined || !o.ok) continue;
  const r = o.figures['rssMiB'] as { sender?: number; receiver?: number; fabric?: number };
  row(`peak RSS during the sender runs, ${where}: sender / receiver / fabric process, MiB`, `${n(r.sender)} / ${n(r.receiver)} / ${n(r.fabric)}`);
}

// ---- print ----
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const sodium = existsSync(join(ROOT, 'node_modules', 'sodium-native')) ? 'sodium-native' : 'libsodium-wrappers (WASM)';
const ziti = ZITI_BIN === '' ? 'no ZITI_BIN' : version(ZITI_BIN, ['version']);
const say = (line: string): void => void process.stdout.write(`${line}\n`);
say(`darkhook ${pkg.version} bench/run, ${new Date().toISOString().slice(0, 16)}Z`);
say(`machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${release()}; load average ${load0[0]!.toFixed(1)} at the start, ${load1[0]!.toFixed(1)} at the end`);
say(`versions: node ${process.version}, ziti ${ziti}, E2E ${sodium}; every process on 127.0.0.1`);
say('');
const widths = [0, 1, 2, 3].map((i) => Math.max(...[['figure', 'result', 'same-run baseline', 'ratio'], ...rows].map((r) => r[i]!.length)));
const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
say(line(['figure', 'result', 'same-run baseline', 'ratio']));
say(`|${widths.map((w, i) => (i === 0 ? `-${'-'.repeat(w)}-` : `-${'-'.repeat(w)}:`)).join('|')}|`);
for (const r of rows) say(line(r));
say('');
say(`logs: ${LOGS}`);
const failed = [embedded, quick, goVsTs, cold, sidecar].filter((o) => o !== undefined && !o.ok && !o.why.startsWith('skipped'));
process.exitCode = failed.length === 0 ? 0 : 1;
