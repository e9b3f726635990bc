/** `darkhook send` (sign, store, deliver over Ziti) and `darkhook outbox list|retry|drop`. */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { type Command, Option } from 'commander';
import type { BatchFormat } from '../../connector/webhook/batch-envelope.js';
import type { SenderEvent } from '../../connector/sender/event.js';
import { defaultOutboxPath, openOutbox } from '../../connector/sender/open-outbox.js';
import type { Outbox, OutboxState } from '../../connector/sender/outbox.js';
import { createSender, type FlushReport, SENDER_CHANNELS } from '../../connector/sender/sender.js';
import { isSeverity, SEVERITIES, type Severity } from '../../connector/webhook/severity.js';
import { sendTestEvent } from '../../connector/sender/test-event.js';
import { ZitiContext } from '../../connector/ziti/index.js';
import { CliError, OptionError, SendError } from '../../core/index.js';
import type { CliContext } from '../context.js';
import { readInputBytes } from '../input.js';
import { chooseDisplay, ProgressTracker } from '../progress.js';
import { DEFAULT_WEBHOOK_PATH } from '../../connector/webhook/headers.js';

/** The service name as the `Host` header when it is a valid header value (service names may hold spaces). */
function hostFor(service: string): string | undefined {
  return /^[\x21-\x7e]+$/.test(service) ? service : undefined;
}

interface SendFlags {
  identity: string;
  service: string;
  secret?: string;
  event: string;
  payload?: string;
  lines: boolean;
  contentType: string;
  severity?: Severity;
  minSeverity?: Severity;
  header: string[];
  path: string;
  outbox?: string;
  deadline: string;
  batchMaxEvents?: string;
  batchMaxWait?: string;
  batchFormat?: BatchFormat;
  test: boolean;
}

const SECRET_ENV = 'DARKHOOK_SECRET';

const SEND_HELP = `
Every message is written to the outbox (default ${'~/.darkhook/outbox.db'}; a .jsonl path uses the
pure-JS journal) before any network I/O, then delivered in signed batches. Without --payload, only
messages already pending in the outbox are sent (resume after a crash or a failed run).
Exit status: 0 only when every message was accepted (2xx); 5 when one was parked (refused) or the
deadline passed with messages pending (they stay in the outbox); 4 for Ziti/identity failures.
Prefer ${SECRET_ENV} over --secret: a flag is visible in process listings.
Progress goes to stderr. On a terminal, runs of 2 or more messages get a bar, redrawn at most 10
times a second and ended with a newline even on failure. Otherwise, and with --json (stderr then
holds JSON log lines only), "progress" log lines come every 2 s and at the end, plus one line per
retry or parked batch. --log-level warn (or quieter) shows no progress at all.`;

function positiveInt(flag: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new OptionError('ERR_OPTION_INVALID', `${flag} must be a whole number ≥ ${min}`);
  return Number(value);
}

function parseHeaders(values: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const value of values) {
    const colon = value.indexOf(':');
    if (colon <= 0) throw new OptionError('ERR_OPTION_INVALID', `--header "${value}" must look like "Name: value"`);
    headers[value.slice(0, colon).trim()] = value.slice(colon + 1).trim();
  }
  return headers;
}

/** A `severity` field at the top of a JSON body, when it is a known level (security alerts carry one). */
function severityOf(body: Buffer): Severity | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { severity?: unknown };
    const value = typeof parsed?.severity === 'string' ? parsed.severity.toLowerCase() : undefined;
    return isSeverity(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The events of this run: one per payload, or one per non-empty line with --lines. */
function buildEvents(flags: SendFlags, payload: Buffer): SenderEvent[] {
  const bodies = flags.lines ? payload.toString('utf8').split('\n').filter((l) => l.trim() !== '').map((l) => Buffer.from(l, 'utf8')) : [payload];
  const headers = parseHeaders(flags.header);
  return bodies.map((body, index) => {
    if (flags.lines) {
      try {
        JSON.parse(body.toString('utf8'));
      } catch (cause) {
        throw new SendError('ERR_SEND_EVENT_INVALID', `--payload line ${index + 1} is not JSON (--lines expects one JSON document per line)`, { cause });
      }
    }
    const severity = flags.severity ?? severityOf(body);
    return { type: flags.event, body, contentType: flags.contentType, headers, ...(severity === undefined ? {} : { severity }) };
  });
}

/** Progress on stderr (see `cli/progress.ts`), fed by the sender's diagnostics_channel events until the returned stop. */
function trackProgress(ctx: CliContext): { progress: ProgressTracker; stop: () => void } {
  const progress = new ProgressTracker({
    display: chooseDisplay({ isTTY: process.stderr.isTTY === true, json: ctx.json, infoEnabled: ctx.log.isLevelEnabled('info') }),
    write: (text) => process.stderr.write(text),
    columns: () => process.stderr.columns,
    log: (fields, msg) => ctx.log.info(fields, msg),
  });
  const onDelivered = (m: unknown): void => progress.delivered((m as { ids: string[] }).ids.length);
  const onParked = (m: unknown): void => {
    const { ids, reason } = m as { ids: string[]; reason: string };
    progress.parked(ids.length, reason);
  };
  const onRetry = (m: unknown): void => {
    const { attempt, delayMs, reason } = m as { attempt: number; delayMs: number; reason: string };
    progress.retry(attempt, delayMs, reason);
  };
  subscribe(SENDER_CHANNELS.delivered, onDelivered);
  subscribe(SENDER_CHANNELS.parked, onParked);
  subscribe(SENDER_CHANNELS.retry, onRetry);
  const stop = (): void => {
    unsubscribe(SENDER_CHANNELS.delivered, onDelivered);
    unsubscribe(SENDER_CHANNELS.parked, onParked);
    unsubscribe(SENDER_CHANNELS.retry, onRetry);
    progress.finish();
  };
  return { progress, stop };
}

/** Print the outcome, then turn a partial failure into the coded error that sets the exit status. */
function finish(ctx: CliContext, report: FlushReport, queued: readonly string[], deadlineSeconds: number): void {
  const summary = {
    ids: queued,
    delivered: report.delivered.length,
    parked: report.parked,
    filtered: report.filtered,
    pending: report.pending,
    requests: report.requests,
  };
  if (ctx.json) ctx.out(JSON.stringify(summary));
  else {
    for (const id of queued) ctx.out(id);
    ctx.out(`delivered ${summary.delivered}, parked ${report.parked.length}, filtered ${report.filtered.length}, pending ${report.pending}`);
  }
  if (report.parked.length > 0) {
    throw new SendError('ERR_SEND_PARKED', `${report.parked.length} message(s) parked; first reason: ${report.parked[0]!.reason}`, {
      ids: report.parked.map((p) => p.id),
    });
  }
  if (report.pending > 0) {
    throw new SendError(
      'ERR_SEND_DEADLINE_EXCEEDED',
      `${report.pending} message(s) still pending after ${deadlineSeconds} s${report.lastError ? `; last error ${report.lastError}` : ''}`,
    );
  }
}

async function runSend(ctx: CliContext, flags: SendFlags): Promise<void> {
  if (!flags.secret) throw new CliError('ERR_CLI_USAGE', `--secret (or ${SECRET_ENV}) is required`);
  const secret = flags.secret;
  const deadlineSeconds = positiveInt('--deadline', flags.deadline, 0)!;
  // Load the identity first: a bad file fails before anything is stored.
  const ziti = await ZitiContext.fromFile(flags.identity);
  const connect = () => ziti.dial(flags.service);
  try {
    if (flags.test) {
      const result = await sendTestEvent({ connect, secret, path: flags.path, host: hostFor(flags.service) });
      ctx.out(ctx.json ? JSON.stringify(result) : `test event ${result.id}: HTTP ${result.status} in ${result.ms} ms`);
      return;
    }
    // Authenticate while the payload is read and the outbox opens (SQLite's addon and schema take ~20 ms) instead
    // of after: the first dial joins this request. A failure here is reported by that dial, as the sender retries.
    ziti.authenticate().catch(() => undefined);
    const events = flags.payload === undefined ? [] : buildEvents(flags, await readInputBytes(flags.payload, '--payload'));
    const outbox: Outbox = await openOutbox(flags.outbox ?? defaultOutboxPath());
    try {
      const batchMaxEvents = positiveInt('--batch-max-events', flags.batchMaxEvents);
      const batchMaxWaitMs = positiveInt('--batch-max-wait', flags.batchMaxWait, 0);
      const sender = createSender({
        outbox,
        connect,
        secret,
        path: flags.path,
        host: hostFor(flags.service),
        deadlineMs: deadlineSeconds * 1000,
        ...(batchMaxEvents === undefined ? {} : { batchMaxEvents }),
        ...(batchMaxWaitMs === undefined ? {} : { batchMaxWaitMs }),
        ...(flags.batchFormat === undefined ? {} : { batchFormat: flags.batchFormat }),
        ...(flags.minSeverity === undefined ? {} : { minSeverity: flags.minSeverity }),
      });
      const resumed = outbox.counts().pending;
      // Subscribed before the first send so no event is missed; shown from `start`, after the `sending` line.
      const { progress, stop } = trackProgress(ctx);
      try {
        const results = await sender.sendMany(events);
        const queued = results.filter((r) => r.queued).length;
        ctx.log.info({ service: flags.service, outbox: outbox.path, queued, resumed }, 'sending');
        // Filtered events are never sent, so they are not part of the total.
        progress.start(resumed + queued);
        const report = await sender.flush();
        // The bar's line ends before the summary is printed (both may share one terminal).
        stop();
        finish(ctx, report, results.map((r) => r.id), deadlineSeconds);
      } finally {
        // On errors too: the bar ends with a newline before main prints the coded error.
        stop();
        await sender.close();
      }
    } finally {
      outbox.close();
    }
  } finally {
    await ziti.close();
  }
}

function outboxOption(): Option {
  return new Option('--outbox <file>', 'outbox file (.jsonl: pure-JS journal; else SQLite)').default(defaultOutboxPath(), '~/.darkhook/outbox.db');
}

async function withOutbox<T>(path: string, fn: (outbox: Outbox) => T): Promise<T> {
  const outbox = await openOutbox(path);
  try {
    return fn(outbox);
  } finally {
    outbox.close();
  }
}

/** Register `send` and `outbox`. */
export function registerSend(program: Command, context: () => CliContext): void {
  program
    .command('send')
    .description('sign webhooks, store them in the outbox, and deliver them over a Ziti service')
    .requiredOption('--identity <file>', 'Ziti identity JSON of this sender')
    .requiredOption('--service <name>', 'Ziti service of the receiver')
    .addOption(new Option('--secret <secret>', 'whsec_… (v1 HMAC) or whsk_… (v1a Ed25519)').env(SECRET_ENV))
    .option('--event <name>', 'event type', 'message')
    .option('--payload <file>', 'body file, or - for stdin (raw bytes)')
    .option('--lines', 'the payload is JSON Lines: one event per line', false)
    .option('--content-type <type>', 'content type of each body', 'application/json')
    .addOption(new Option('--severity <level>', 'severity of the event(s); default: a "severity" field in the JSON body').choices(SEVERITIES))
    .addOption(new Option('--min-severity <level>', 'drop events below this severity (reported, not sent)').choices(SEVERITIES))
    .option('--header <name: value>', 'extra header on every event (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--path <path>', 'request path at the receiver', DEFAULT_WEBHOOK_PATH)
    .addOption(outboxOption())
    .option('--deadline <seconds>', 'stop retrying after this long; undelivered messages stay pending', '300')
    .option('--batch-max-events <n>', 'events per batch (default 500)')
    .option('--batch-max-wait <ms>', 'longest wait before a partial batch is sent (default 5000)')
    .addOption(new Option('--batch-format <form>', 'batch wire form: binary (compact) or json (readable); docs/batch-envelope.md').choices(['binary', 'json']))
    .option('--test', 'send one signed test event (not stored) and report the round trip', false)
    .addHelpText('after', SEND_HELP)
    .action((flags: SendFlags) => runSend(context(), flags));

  const outbox = program.command('outbox').description('inspect and manage messages waiting in the sender outbox');
  outbox
    .command('list')
    .description('list messages (never their bodies)')
    .addOption(new Option('--state <state>', 'only this state').choices(['pending', 'inflight', 'parked']))
    .addOption(outboxOption())
    .action(async (flags: { state?: OutboxState; outbox: string }) => {
      const ctx = context();
      const rows = await withOutbox(flags.outbox, (o) => o.list(flags.state));
      const view = rows.map((m) => ({
        id: m.id,
        type: m.type,
        state: m.state,
        attempts: m.attempts,
        bytes: m.body.length,
        severity: m.severity ?? null,
        createdAt: new Date(m.createdAt).toISOString(),
        lastError: m.lastError ?? null,
      }));
      if (ctx.json) ctx.out(JSON.stringify(view));
      else if (view.length === 0) ctx.out('the outbox is empty');
      else for (const m of view) ctx.out(`${m.id}  ${m.state.padEnd(8)} ${String(m.attempts).padStart(3)}  ${m.type}  ${m.createdAt}${m.lastError ? `  ${m.lastError}` : ''}`);
    });
  outbox
    .command('retry')
    .description('make parked messages pending again (the next `darkhook send` delivers them)')
    .argument('[ids...]', 'message ids')
    .option('--all', 'every parked message', false)
    .addOption(outboxOption())
    .action(async (ids: string[], flags: { all: boolean; outbox: string }) => {
      const ctx = context();
      if (ids.length === 0 && !flags.all) throw new CliError('ERR_CLI_USAGE', 'name message ids or pass --all');
      if (ids.length > 0 && flags.all) throw new CliError('ERR_CLI_USAGE', 'pass ids or --all, not both');
      const count = await withOutbox(flags.outbox, (o) => o.retryParked(flags.all ? undefined : ids));
      ctx.out(ctx.json ? JSON.stringify({ retried: count }) : `${count} message(s) pending again`);
    });
  outbox
    .command('drop')
    .description('delete messages from the outbox for good')
    .argument('<ids...>', 'message ids')
    .addOption(outboxOption())
    .action(async (ids: string[], flags: { outbox: string }) => {
      const ctx = context();
      const count = await withOutbox(flags.outbox, (o) => o.drop(ids));
      ctx.out(ctx.json ? JSON.stringify({ dropped: count }) : `${count} message(s) dropped`);
    });
}
