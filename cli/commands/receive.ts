/** `darkhook receive` (the verifying receiver over a Ziti bind) and `darkhook messages list` (what it stored). */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { parseWebhookSecret } from '../../connector/webhook/secrets.js';
import { ZitiContext } from '../../connector/ziti/index.js';
import { CliError, OptionError, type ZitiError } from '../../core/index.js';
import type { CliContext } from '../context.js';
import { DEFAULT_WEBHOOK_PATH } from '../../connector/webhook/headers.js';

const SECRET_ENV = 'DARKHOOK_SECRET';

/** The store used when none is named: `~/.darkhook/receiver.db`. */
export function defaultReceiverStorePath(): string {
  return join(homedir(), '.darkhook', 'receiver.db');
}

interface ReceiveFlags {
  identity: string;
  service: string;
  secret: string[];
  allow?: string;
  store: string;
  path: string;
  tolerance?: string;
  maxBodyBytes?: string;
}

const RECEIVE_HELP = `
The receiver dials out to the fabric and binds the service: it opens no listening port. Each POST is
checked in order: caller identity (--allow; 403), signature (401), timestamp window (401), id not seen
(202 for a duplicate), then stored durably (SQLite, synchronous=FULL) and only then answered 200.
Several --secret flags (or ${SECRET_ENV} with keys separated by spaces) allow key rotation; whpk_ keys
verify Ed25519 (v1a) signatures. Prefer ${SECRET_ENV} over --secret: a flag is visible in process listings.
Runs until SIGINT or SIGTERM; prints one line per stored message (id, type, caller).`;

function wholeNumber(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new OptionError('ERR_OPTION_INVALID', `${flag} must be a whole number ≥ ${min}`);
  return Number(value);
}

/** Secrets from the flags, else from the environment (space- or comma-separated for rotation). */
function secretsOf(flags: ReceiveFlags): string[] {
  if (flags.secret.length > 0) return flags.secret;
  const fromEnv = (process.env[SECRET_ENV] ?? '').split(/[\s,]+/).filter((s) => s !== '');
  if (fromEnv.length === 0) throw new CliError('ERR_CLI_USAGE', `--secret (or ${SECRET_ENV}) is required`);
  return fromEnv;
}

/** Resolves on SIGINT/SIGTERM, rejects when the listener gives up for good. */
function untilStopped(listener: { once(event: 'error', fn: (err: ZitiError) => void): unknown }): { done: Promise<string>; dispose: () => void } {
  let dispose = (): void => undefined;
  const done = new Promise<string>((resolve, reject) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      dispose();
      resolve(signal);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    dispose = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
    listener.once('error', (err) => {
      dispose();
      reject(err);
    });
  });
  return { done, dispose };
}

async function runReceive(ctx: CliContext, flags: ReceiveFlags): Promise<void> {
  const secrets = secretsOf(flags);
  const allowedCallers = flags.allow?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const toleranceSeconds = wholeNumber('--tolerance', flags.tolerance, 0);
  const maxBodyBytes = wholeNumber('--max-body-bytes', flags.maxBodyBytes, 1024);
  // A bad key fails before the identity is loaded or anything is bound.
  for (const secret of secrets) parseWebhookSecret(secret);
  // Loaded here so that other commands never need the SQLite native module.
  const { RECEIVER_CHANNELS, startReceiver } = await import('../../receiver/server.js');
  const ziti = await ZitiContext.fromFile(flags.identity);
  try {
    const receiver = await startReceiver({
      ziti,
      service: flags.service,
      secrets,
      storePath: flags.store,
      logger: ctx.log,
      path: flags.path,
      ...(allowedCallers === undefined ? {} : { allowedCallers }),
      ...(toleranceSeconds === undefined ? {} : { toleranceSeconds }),
      ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
    });
    const onStored = (m: unknown): void => {
      const { messages, caller } = m as { messages: { id: string; type: string }[]; caller?: string };
      for (const { id, type } of messages) {
        ctx.out(ctx.json ? JSON.stringify({ event: 'stored', id, type, caller: caller ?? null }) : `stored ${id} ${type} ${caller ?? '-'}`);
      }
    };
    subscribe(RECEIVER_CHANNELS.stored, onStored);
    const stop = untilStopped(receiver.listener);
    try {
      const ready = { event: 'ready', service: flags.service, path: flags.path, store: receiver.store.path, allowedCallers: allowedCallers ?? null };
      ctx.out(
        ctx.json
          ? JSON.stringify(ready)
          : `receiving on service "${flags.service}" at ${flags.path}; store ${receiver.store.path}; callers ${allowedCallers?.join(', ') ?? 'any allowed by the fabric'}; no listening port`,
      );
      const signal = await stop.done;
      ctx.log.info({ signal }, 'stopping');
    } finally {
      stop.dispose();
      unsubscribe(RECEIVER_CHANNELS.stored, onStored);
      await receiver.close();
    }
  } finally {
    await ziti.close();
  }
}

/** Register `receive` and `messages`. */
export function registerReceive(program: Command, context: () => CliContext): void {
  const storeOption = (): Option => new Option('--store <file>', 'message store (SQLite)').default(defaultReceiverStorePath(), '~/.darkhook/receiver.db');
  program
    .command('receive')
    .description('run the verifying receiver on a Ziti service: no listening port; verify, dedupe, store durably')
    .requiredOption('--identity <file>', 'Ziti identity JSON of this receiver (needs a Bind policy for the service)')
    .requiredOption('--service <name>', 'Ziti service to bind')
    .option('--secret <secret>', `whsec_… or whpk_… (repeatable for rotation; default: ${SECRET_ENV})`, (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--allow <names>', 'comma-separated identity names allowed to call (default: any the fabric lets dial)')
    .addOption(storeOption())
    .option('--path <path>', 'request path', DEFAULT_WEBHOOK_PATH)
    .option('--tolerance <seconds>', 'allowed clock gap of webhook-timestamp, each way (default 300)')
    .option('--max-body-bytes <n>', 'largest request body (default 16 MiB)')
    .addHelpText('after', RECEIVE_HELP)
    .action((flags: ReceiveFlags) => runReceive(context(), flags));

  const messages = program.command('messages').description('inspect messages the receiver stored');
  messages
    .command('list')
    .description('list stored messages in arrival order (never their bodies)')
    .addOption(storeOption())
    .option('--limit <n>', 'most messages shown', '100')
    .option('--after <id>', 'only messages stored after this id')
    .action(async (flags: { store: string; limit: string; after?: string }) => {
      const ctx = context();
      const limit = wholeNumber('--limit', flags.limit, 1)!;
      const { MessageStore } = await import('../../receiver/log/store.js');
      const store = MessageStore.open(flags.store, { readOnly: true });
      try {
        const rows = store.list({ limit, ...(flags.after === undefined ? {} : { after: flags.after }) }).map((m) => ({
          id: m.id,
          type: m.type,
          caller: m.caller ?? null,
          batchId: m.batchId ?? null,
          bytes: m.body.length,
          timestamp: m.timestamp,
          receivedAt: new Date(m.receivedAt).toISOString(),
        }));
        if (ctx.json) ctx.out(JSON.stringify(rows));
        else if (rows.length === 0) ctx.out('no messages stored');
        else for (const m of rows) ctx.out(`${m.id}  ${m.type}  ${m.caller ?? '-'}  ${m.bytes} B  ${m.receivedAt}`);
      } finally {
        store.close();
      }
    });
}
