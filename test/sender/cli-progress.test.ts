/** `darkhook send` progress as a user sees it: a real pseudo-terminal (util-linux `script`) against the embedded fabric. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import type { ZitiContext } from '../../connector/ziti/index.js';
import { RECEIVER_CHANNELS, type RunningReceiver, startReceiver } from '../../receiver/server.js';
import { CLI, type CliRun, runCli } from '../cli/helpers.js';
import { startTestNet, type TestNet } from '../receiver/helpers.js';

const SERVICE = 'progress-hooks';
const LINES = 1_200;
const BATCH = 100;
// The pseudo-terminal's width: narrower than the 30-cell bar plus its text, so the bar must shrink.
const COLUMNS = 60;
const RUN_TIMEOUT_MS = 60_000;
// The receiver holds each batch's answer this long, in milliseconds, so 12 batches outlast several
// 100 ms redraw intervals on any machine: the intermediate redraws do not depend on its speed.
const SLOW_BATCH_MS = 40;
const slowBatch = (): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, SLOW_BATCH_MS);
const HAS_SCRIPT = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

/** One argument for `sh -c`, single-quoted. */
const quote = (arg: string): string => `'${arg.replaceAll("'", `'\\''`)}'`;

/**
 * Run `darkhook ...args` with stdin, stdout and stderr on a fresh pseudo-terminal of `COLUMNS`
 * columns; resolves with everything the terminal showed (the terminal turns `\n` into `\r\n`).
 */
function runInPty(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  const command = `stty cols ${COLUMNS} rows 24 && exec ${[process.execPath, CLI, ...args].map(quote).join(' ')}`;
  return new Promise((resolve, reject) => {
    // -q quiet, -f flush at once, -e the command's exit status, -c the command; no typescript file.
    const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: RUN_TIMEOUT_MS });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** Each bar redraw on the terminal: `\r` (not a line end), the line, and where it ended. */
function redraws(screen: string): { line: string; delivered: number; end: number }[] {
  return [...screen.matchAll(/\r(?!\n)([^\r\n]*)/g)].map((m) => ({
    line: m[1]!,
    delivered: Number(/(\d+)\/\d+ delivered/.exec(m[1]!)?.[1] ?? Number.NaN),
    end: m.index + m[0].length,
  }));
}

/** pino lines with `msg` from a stream of JSON log lines (other text skipped). */
function logLines(text: string, msg: string): Record<string, unknown>[] {
  return text
    .split(/\r?\n/)
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);
}

describe('darkhook send progress on a terminal and on pipes', { timeout: 180_000, skip: HAS_SCRIPT ? false : 'util-linux `script` is not installed' }, () => {
  let net: TestNet;
  let receiverZiti: ZitiContext;
  let receiver: RunningReceiver;
  let senderId: string;
  let payload: string;
  let small: string;
  const secret = generateHmacSecret();
  const send = (outbox: string, file = payload): string[] =>
    ['send', '--identity', senderId, '--service', SERVICE, '--payload', file, '--lines', '--batch-max-events', String(BATCH), '--outbox', join(net.dir, outbox), '--deadline', '30'];

  before(async () => {
    net = await startTestNet();
    net.createService(SERVICE);
    receiverZiti = await net.context('progress-receiver', ['receivers']);
    senderId = await net.identityFile('ci-sender', ['senders']);
    await receiverZiti.authenticate();
    subscribe(RECEIVER_CHANNELS.stored, slowBatch);
    receiver = await startReceiver({ ziti: receiverZiti, service: SERVICE, secrets: [secret], allowedCallers: ['ci-sender'], storePath: join(net.dir, 'receiver.db') });
    payload = join(net.dir, 'events.jsonl');
    writeFileSync(payload, Array.from({ length: LINES }, (_, n) => JSON.stringify({ n, rule: 'ssh-brute-force' })).join('\n'));
    small = join(net.dir, 'small.jsonl');
    writeFileSync(small, '{"n":1}\n{"n":2}\n{"n":3}\n');
  });
  after(async () => {
    unsubscribe(RECEIVER_CHANNELS.stored, slowBatch);
    await receiver?.close();
    await net?.close();
  });

  it('on a terminal: a bar redrawn in place with \\r, fitting the width, ending at N/N and a newline', async () => {
    const stored = (await receiver.store.count());
    const r = await runInPty(send('tty.db'), { DARKHOOK_SECRET: secret });
    const screen = r.stdout;
    assert.equal(r.code, 0, screen + r.stderr);
    assert.equal((await receiver.store.count()) - stored, LINES);

    const bars = redraws(screen);
    assert.ok(bars.length >= 3, `several redraws, got ${bars.length}: ${JSON.stringify(screen.slice(0, 400))}`);
    assert.equal(bars[0]!.delivered, 0, 'the bar is drawn before the first batch is delivered');
    assert.ok(bars.some((b) => b.delivered > 0 && b.delivered < LINES), 'redrawn while the run goes on');
    assert.ok(bars.every((b, i) => i === 0 || b.delivered >= bars[i - 1]!.delivered), 'the count never goes back');
    assert.ok(bars.length <= LINES / BATCH + 2, `at most one redraw per batch, plus the first and the last: ${bars.length}`);
    for (const b of bars) {
      assert.ok(b.line.length <= COLUMNS - 1, `fits ${COLUMNS} columns: ${JSON.stringify(b.line)}`);
      assert.match(b.line, /^\[[#x-]{16}\] +\d+\/1200 delivered, 0 parked, 0 retries *$/, 'the bar shrank to fit, at one width');
    }
    const last = bars.at(-1)!;
    assert.match(last.line, /^\[#{16}\] 1200\/1200 delivered, 0 parked, 0 retries$/);
    assert.equal(screen.slice(last.end, last.end + 2), '\r\n', 'the bar line ends with a newline');
    // The summary comes after the bar's line, never on it; the log line before the first redraw.
    assert.match(screen.slice(last.end), /^\r\n(msg_\w+\r\n){1200}delivered 1200, parked 0, filtered 0, pending 0\r\n$/);
    assert.match(screen.slice(0, bars[0]!.end), /"msg":"sending"[^\r\n]*\r\n\r\[/);
  });

  it('on pipes: no \\r at all, pino progress lines ending at N/N instead', async () => {
    // Also the readable batch form end to end: the receiver takes JSON batches as well as binary ones.
    const r = await runCli([...send('pipes.db'), '--batch-format', 'json'], { env: { DARKHOOK_SECRET: secret }, timeoutMs: RUN_TIMEOUT_MS });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stderr.includes('\r') && !r.stdout.includes('\r'), 'no carriage return on a pipe');
    assert.doesNotMatch(r.stderr, /\[[#-]+\]/, 'no bar');
    const progress = logLines(r.stderr, 'progress');
    assert.ok(progress.length >= 1, r.stderr);
    assert.deepEqual(progress.at(-1), { level: 'info', delivered: LINES, parked: 0, retries: 0, total: LINES, msg: 'progress' });
    assert.match(r.stdout, /delivered 1200, parked 0, filtered 0, pending 0\n$/);
  });

  it('on a terminal with --json: JSON log lines only, no bar; with --log-level warn: no progress at all', async () => {
    const json = await runInPty(['--json', ...send('json.db', small)], { DARKHOOK_SECRET: secret });
    assert.equal(json.code, 0, json.stdout);
    assert.deepEqual(redraws(json.stdout), [], 'no redraw: every \\r is part of a line end');
    assert.deepEqual(logLines(json.stdout, 'progress').map((l) => [l.delivered, l.total]), [[3, 3]]);
    assert.equal((logLines(json.stdout, 'sending')[0] as { queued?: number }).queued, 3);

    const quiet = await runInPty(['--log-level', 'warn', ...send('quiet.db', small)], { DARKHOOK_SECRET: secret });
    assert.equal(quiet.code, 0, quiet.stdout);
    assert.deepEqual(redraws(quiet.stdout), []);
    assert.match(quiet.stdout, /^(msg_\w+\r\n){3}delivered 3, parked 0, filtered 0, pending 0\r\n$/, 'only the results');
  });
});
