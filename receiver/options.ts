/** The receiver's options: named defaults with units, normalised once, unknown keys rejected, frozen. */
import pino, { type Logger } from 'pino';
import { DEFAULT_WEBHOOK_PATH } from '../connector/webhook/headers.js';
import { parseWebhookSecret } from '../connector/webhook/secrets.js';
import { DEFAULT_TOLERANCE_SECONDS } from '../connector/webhook/signature-standard.js';
import { ZitiContext } from '../connector/ziti/context.js';
import { OptionError, WebhookError } from '../core/index.js';
import { integerOption, rejectUnknownKeys } from '../core/options.js';
import { type AdminConfig, DEFAULT_MAX_BODY_BYTES, DEFAULT_RETENTION_DAYS } from './config/config.js';
import type { Route } from './ingest/routes.js';
import type { MessageLog } from './log/message-log.js';
import type { ConnectionSource, ServeOptions } from './ingest/source.js';
import type { Sink } from './sinks/sink.js';
import type { SinkConfig } from './sinks/sink-config.js';
import type { WorkerOptions } from './sinks/worker.js';

/** Where webhooks are accepted unless configured otherwise (the sender's default path). */
export const DEFAULT_RECEIVER_PATH = DEFAULT_WEBHOOK_PATH;
/** Smallest `maxBodyBytes` accepted, in bytes: room for one small signed event. */
export const MIN_MAX_BODY_BYTES = 1024;
export { DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE_SECONDS };

/** Options of `startReceiver`. */
export interface ReceiverOptions {
  /** The receiver's Ziti identity in use; the receiver binds `service` with it. The caller closes it. Or give `source`. */
  readonly ziti?: ZitiContext;
  /** Name of the Ziti service to bind (host); with `ziti`. */
  readonly service?: string;
  /** Where connections come from instead of a Ziti bind (tests, other transports). */
  readonly source?: ConnectionSource;
  /** Trusted keys: `whsec_…` (v1 HMAC) and/or `whpk_…` (v1a Ed25519); any match passes. Never logged. */
  readonly secrets: readonly string[];
  /** Ziti identity names allowed to call the one route; default: any identity the fabric lets dial the service. */
  readonly allowedCallers?: readonly string[];
  /** Allowed gap between `webhook-timestamp` and this host's clock, either way, in seconds; default 300. */
  readonly toleranceSeconds?: number;
  /** Largest request body, in bytes; default `DEFAULT_MAX_BODY_BYTES` (16 MiB). */
  readonly maxBodyBytes?: number;
  /** The message store: a SQLite file (created with its folder if missing) or a `postgres://` URL (password by `env:`/`file:` reference). */
  readonly storePath: string;
  /** The store already opened from `storePath` (`openMessageLog`); the receiver closes it. Opened at start when absent. */
  readonly store?: MessageLog;
  /** A pino logger (e.g. the CLI's root logger); default silent. Secrets and bodies are never logged. */
  readonly logger?: Logger;
  /** The request path of the one route; default `/webhooks`. Ignored when `routes` is given. */
  readonly path?: string;
  /** Several routes (from the config file); replaces `path` and `allowedCallers`. */
  readonly routes?: readonly Route[];
  /** The sinks the routes name, and how to build them. */
  readonly sinks?: readonly SinkConfig[];
  readonly createSink?: (config: SinkConfig) => Sink;
  /** Days finished messages are kept; default 7. */
  readonly retentionDays?: number;
  /** PostgreSQL store: how long a claimed delivery stays this replica's before another may take it, in ms; default 60,000. */
  readonly storeLeaseMs?: number;
  /** The loopback admin listener (health, metrics, message API). */
  readonly admin?: AdminConfig;
  /** Clock, for tests; default `Date.now`. */
  readonly now?: () => number;
  /** Worker and connection tuning, for tests. */
  readonly worker?: WorkerOptions;
  readonly serve?: ServeOptions;
}

/** The normalised options: every default filled in, frozen, secrets kept apart. */
export interface NormalizedReceiverOptions {
  readonly ziti: ZitiContext | undefined;
  readonly service: string | undefined;
  readonly source: ConnectionSource | undefined;
  /** How many trusted keys are configured (the keys themselves are not here). */
  readonly secretCount: number;
  readonly routes: readonly Route[];
  readonly toleranceSeconds: number;
  readonly maxBodyBytes: number;
  readonly storePath: string;
  readonly store: MessageLog | undefined;
  readonly logger: Logger;
  readonly sinks: readonly SinkConfig[];
  readonly createSink: ((config: SinkConfig) => Sink) | undefined;
  readonly retentionDays: number;
  readonly storeLeaseMs: number | undefined;
  readonly admin: AdminConfig | undefined;
  readonly now: () => number;
  readonly worker: WorkerOptions | undefined;
  readonly serve: ServeOptions | undefined;
}

const KEYS = [
  'ziti', 'service', 'source', 'secrets', 'allowedCallers', 'toleranceSeconds', 'maxBodyBytes', 'storePath', 'store', 'logger', 'path',
  'routes', 'sinks', 'createSink', 'retentionDays', 'storeLeaseMs', 'admin', 'now', 'worker', 'serve',
] as const;

function invalid(message: string): OptionError {
  return new OptionError('ERR_OPTION_INVALID', `startReceiver: ${message}`);
}

function nonEmptyStrings(value: unknown, name: string): string[] {
  if (!Array.isArray(value)) throw invalid(`${name} must be an array of strings`);
  return value.map((v: unknown, i) => {
    if (typeof v !== 'string' || v.length === 0) throw invalid(`${name}[${i}] must be a non-empty string`);
    return v;
  });
}

function isLogger(value: unknown): value is Logger {
  const l = value as Partial<Logger> | null;
  return typeof l === 'object' && l !== null && ['info', 'error', 'warn', 'debug', 'child'].every((m) => typeof l[m as keyof Logger] === 'function');
}

function checkPath(path: unknown): string {
  if (typeof path !== 'string' || !/^\/[\x21-\x7e]*$/.test(path) || path.includes('?') || path.includes('#')) {
    throw invalid('path must start with "/" and hold no spaces, "?" or "#"');
  }
  return path;
}

/**
 * Check and complete receiver options; returns the frozen copy and the secrets separately.
 *
 * @throws {OptionError} ERR_OPTION_UNKNOWN, ERR_OPTION_INVALID (naming the option)
 * @throws {WebhookError} ERR_WEBHOOK_SECRET_INVALID (naming `secrets[i]`, never its value)
 */
export function normalizeReceiverOptions(options: ReceiverOptions): { options: NormalizedReceiverOptions; secrets: readonly string[] } {
  if (options === null || typeof options !== 'object') throw invalid('options must be an object');
  rejectUnknownKeys(options, KEYS, 'startReceiver');
  const o = options;
  if (o.source === undefined) {
    if (!(o.ziti instanceof ZitiContext)) throw invalid('ziti must be a ZitiContext (or give a connection source)');
    if (typeof o.service !== 'string' || o.service.length === 0) throw invalid('service must be a non-empty string');
  } else if (o.ziti !== undefined) {
    throw invalid('give either ziti and service, or source');
  }
  const secrets = nonEmptyStrings(o.secrets, 'secrets');
  if (secrets.length === 0) throw invalid('secrets must list at least one whsec_ or whpk_ key');
  for (const [i, secret] of secrets.entries()) {
    try {
      parseWebhookSecret(secret);
    } catch (cause) {
      const hint = cause instanceof WebhookError ? cause.hint : undefined;
      throw new WebhookError('ERR_WEBHOOK_SECRET_INVALID', `startReceiver: secrets[${i}] is not a valid whsec_/whpk_ key`, {
        statusCode: 500,
        cause,
        ...(hint === undefined ? {} : { hint }),
      });
    }
  }
  const allowed = o.allowedCallers === undefined ? undefined : nonEmptyStrings(o.allowedCallers, 'allowedCallers');
  if (typeof o.storePath !== 'string' || o.storePath.length === 0) throw invalid('storePath must be a file path');
  if (o.logger !== undefined && !isLogger(o.logger)) throw invalid('logger must be a pino logger');
  let routes: readonly Route[];
  if (o.routes !== undefined) {
    if (!Array.isArray(o.routes) || o.routes.length === 0) throw invalid('routes must be a non-empty array');
    if (o.path !== undefined || o.allowedCallers !== undefined) throw invalid('routes replaces path and allowedCallers: give one or the other');
    routes = o.routes.map((r) => Object.freeze({ ...r, path: checkPath(r.path) }));
  } else {
    routes = [Object.freeze({ path: checkPath(o.path ?? DEFAULT_RECEIVER_PATH), callers: allowed === undefined ? undefined : new Set(allowed), minSeverity: undefined, sinks: [] })];
  }
  const sinks = o.sinks ?? [];
  const names = new Set(sinks.map((s) => s.name));
  for (const r of routes) for (const s of r.sinks) if (!names.has(s)) throw invalid(`route ${r.path} names sink "${s}", which is not in sinks`);
  if (sinks.length > 0 && typeof o.createSink !== 'function') throw invalid('sinks need createSink');
  if (o.now !== undefined && typeof o.now !== 'function') throw invalid('now must be a function');
  return {
    secrets: Object.freeze([...secrets]),
    options: Object.freeze({
      ziti: o.ziti,
      service: o.service,
      source: o.source,
      secretCount: secrets.length,
      routes: Object.freeze(routes),
      toleranceSeconds: integerOption(o.toleranceSeconds, DEFAULT_TOLERANCE_SECONDS, 0, 'startReceiver: toleranceSeconds'),
      maxBodyBytes: integerOption(o.maxBodyBytes, DEFAULT_MAX_BODY_BYTES, MIN_MAX_BODY_BYTES, 'startReceiver: maxBodyBytes'),
      storePath: o.storePath,
      store: o.store,
      logger: o.logger ?? pino({ enabled: false }),
      sinks,
      createSink: o.createSink,
      retentionDays: integerOption(o.retentionDays, DEFAULT_RETENTION_DAYS, 1, 'startReceiver: retentionDays'),
      storeLeaseMs: o.storeLeaseMs === undefined ? undefined : integerOption(o.storeLeaseMs, 60_000, 100, 'startReceiver: storeLeaseMs'),
      admin: o.admin,
      now: o.now ?? Date.now,
      worker: o.worker,
      serve: o.serve,
    }),
  };
}
