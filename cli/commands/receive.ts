/** `darkhook receive`: the verifying receiver sidecar over a Ziti bind, from flags (one route) or a config file. */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_WEBHOOK_PATH } from '../../connector/webhook/headers.js';
import { parseWebhookSecret } from '../../connector/webhook/secrets.js';
import { ZitiContext } from '../../connector/ziti/index.js';
import { CliError, OptionError, type ZitiError } from '../../core/index.js';
import type { ReceiverConfig } from '../../receiver/config/config.js';
import type { StoredEvent } from '../../receiver/ingest/channels.js';
import { formatPgStoreUrl, isPostgresStore, parsePgStoreUrl } from '../../receiver/log/pg-url.js';
import { DEFAULT_STALLED_WRITE_TIMEOUT_MS } from '../../receiver/ingest/source.js';
import type { CliContext } from '../context.js';

const SECRET_ENV = 'DARKHOOK_SECRET';

/** The store used when none is named: `~/.darkhook/receiver.db`. */
export function defaultReceiverStorePath(): string {
  return join(homedir(), '.darkhook', 'receiver.db');
}

interface ReceiveFlags {
  config?: string;
  identity?: string;
  service?: string;
  secret: string[];
  allow?: string;
  store?: string;
  path?: string;
  tolerance?: string;
  maxBodyBytes?: string;
}

const RECEIVE_HELP = `
The receiver dials out to the fabric and binds the service: it opens no listening port (its admin
listener, when configured, binds to loopback only). Each POST is checked in order: caller identity
(403), signature (401), timestamp window (401), id not seen (202 for a duplicate), then stored
durably (SQLite, synchronous=FULL) with one delivery per sink of its route, and only then answered
200. Workers forward from the store to Jenkins, Slack, Jira or HTTP sinks with retries.

With --config FILE (JSON; see docs/receiver.md) every setting comes from the file, secrets as
env:NAME or file:PATH references. Without it, the flags describe one route and no sinks: several
--secret flags (or ${SECRET_ENV} with keys separated by spaces) allow key rotation. Prefer
${SECRET_ENV} over --secret: a flag is visible in process listings.
Runs until SIGINT or SIGTERM; prints one line per stored message (id, type, caller).`;

/** A whole number flag, or undefined when absent. @throws {OptionError} ERR_OPTION_INVALID */
export function wholeNumber(flag: string, value: string | undefined, min: number): number | undefined {
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

/** The flags as a one-route config (the form before config files). */
function configFromFlags(flags: ReceiveFlags): ReceiverConfig {
  if (flags.identity === undefined || flags.service === undefined) throw new CliError('ERR_CLI_USAGE', 'give --config FILE, or --identity and --service');
  const secrets = secretsOf(flags);
  // A bad key fails before the identity is loaded or anything is bound.
  for (const secret of secrets) parseWebhookSecret(secret);
  const allowed = flags.allow?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return {
    identity: flags.identity,
    service: flags.service,
    // A postgres:// URL is checked (a literal password refused) and put in its log-safe form here,
    // before the config is logged.
    store: flags.store === undefined ? defaultReceiverStorePath() : isPostgresStore(flags.store) ? formatPgStoreUrl(parsePgStoreUrl(flags.store, '--store')) : flags.store,
    secrets,
    toleranceSeconds: wholeNumber('--tolerance', flags.tolerance, 0) ?? 300,
    maxBodyBytes: wholeNumber('--max-body-bytes', flags.maxBodyBytes, 1024) ?? 16 * 1024 * 1024,
    retentionDays: 7,
    storeLeaseSeconds: 60,
    stalledWriteTimeoutMs: DEFAULT_STALLED_WRITE_TIMEOUT_MS,
    routes: [{ path: flags.path ?? DEFAULT_WEBHOOK_PATH, callers: allowed === undefined ? undefined : new Set(allowed), minSeverity: undefined, sinks: [] }],
    sinks: [],
    admin: undefined,
  };
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
  let config: ReceiverConfig;
  if (flags.config !== undefined) {
    const given = (['identity', 'service', 'allow', 'store', 'path', 'tolerance', 'maxBodyBytes'] as const).filter((k) => flags[k] !== undefined);
    if (given.length > 0 || flags.secret.length > 0) throw new CliError('ERR_CLI_USAGE', '--config holds every setting: drop the other receive flags');
    const { loadConfig } = await import('../../receiver/config/config.js');
    config = loadConfig(flags.config);
  } else {
    config = configFromFlags(flags);
  }
  // Loaded here so that other commands never need the SQLite native module.
  const [{ RECEIVER_CHANNELS, startReceiver }, { createSink }, { describeConfig }] = await Promise.all([
    import('../../receiver/server.js'),
    import('../../receiver/sinks/registry.js'),
    import('../../receiver/config/config.js'),
  ]);
  ctx.log.info(describeConfig(config), 'config');
  // The store first: an unreachable server or a refused login stops here, before any Ziti connection.
  const { openMessageLog, replicaPrefixFor } = await import('../../receiver/log/open.js');
  const store = await openMessageLog(config.store, { leaseMs: config.storeLeaseSeconds * 1000, replicaPrefix: replicaPrefixFor(config.service) });
  let ziti: ZitiContext;
  try {
    ziti = await ZitiContext.fromFile(config.identity);
  } catch (err) {
    await store.close();
    throw err;
  }
  try {
    const receiver = await startReceiver({
      ziti,
      store,
      service: config.service,
      secrets: config.secrets,
      storePath: config.store,
      logger: ctx.log,
      routes: config.routes,
      sinks: config.sinks,
      createSink,
      toleranceSeconds: config.toleranceSeconds,
      maxBodyBytes: config.maxBodyBytes,
      retentionDays: config.retentionDays,
      storeLeaseMs: config.storeLeaseSeconds * 1000,
      serve: { stalledWriteTimeoutMs: config.stalledWriteTimeoutMs },
      ...(config.admin === undefined ? {} : { admin: config.admin }),
    });
    const onStored = (m: unknown): void => {
      const { messages, caller } = m as StoredEvent;
      for (const { id, type } of messages) {
        ctx.out(ctx.json ? JSON.stringify({ event: 'stored', id, type, caller: caller ?? null }) : `stored ${id} ${type} ${caller ?? '-'}`);
      }
    };
    subscribe(RECEIVER_CHANNELS.stored, onStored);
    const stop = untilStopped(receiver.listener);
    try {
      const routes = config.routes.map((r) => r.path);
      const admin = receiver.adminAddress === undefined ? null : `${receiver.adminAddress.host}:${receiver.adminAddress.port}`;
      const ready = { event: 'ready', service: config.service, path: routes[0], routes, store: receiver.store.location, sinks: config.sinks.map((s) => s.name), admin, allowedCallers: config.routes[0]?.callers === undefined ? null : [...config.routes[0].callers] };
      const callers = config.routes.length === 1 ? `; callers ${config.routes[0]!.callers === undefined ? 'any allowed by the fabric' : [...config.routes[0]!.callers].join(', ')}` : '';
      ctx.out(
        ctx.json
          ? JSON.stringify(ready)
          : `receiving on service "${config.service}" at ${routes.join(', ')}; store ${receiver.store.location}${callers}; sinks ${ready.sinks.join(', ') || 'none'}; ${admin === null ? 'no listening port' : `admin on ${admin} (loopback only)`}`,
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

/** Register `receive`. */
export function registerReceive(program: Command, context: () => CliContext): void {
  program
    .command('receive')
    .description('run the receiver sidecar on a Ziti service: no listening port; verify, dedupe, store durably, forward to sinks')
    .option('--config <file>', 'receiver config (JSON): routes, sinks, admin listener, retention')
    .option('--identity <file>', 'Ziti identity JSON of this receiver (needs a Bind policy for the service)')
    .option('--service <name>', 'Ziti service to bind')
    .option('--secret <secret>', `whsec_… or whpk_… (repeatable for rotation; default: ${SECRET_ENV})`, (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--allow <names>', 'comma-separated identity names allowed to call (default: any the fabric lets dial)')
    .option('--store <file|url>', 'message store: a SQLite file (default ~/.darkhook/receiver.db) or postgres://USER:env:VAR@HOST:PORT/DB')
    .option('--path <path>', `request path (default ${DEFAULT_WEBHOOK_PATH})`)
    .option('--tolerance <seconds>', 'allowed clock gap of webhook-timestamp, each way (default 300)')
    .option('--max-body-bytes <n>', 'largest request body (default 16 MiB)')
    .addHelpText('after', RECEIVE_HELP)
    .action((flags: ReceiveFlags) => runReceive(context(), flags));
}
