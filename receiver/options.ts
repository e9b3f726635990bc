/** The receiver's options: named defaults with units, normalised once, unknown keys rejected, frozen. */
import pino, { type Logger } from 'pino';
import { integerOption, rejectUnknownKeys } from '../core/options.js';
import { parseWebhookSecret } from '../connector/webhook/secrets.js';
import { DEFAULT_TOLERANCE_SECONDS } from '../connector/webhook/signature-standard.js';
import { ZitiContext } from '../connector/ziti/context.js';
import { OptionError, WebhookError } from '../core/index.js';

import { DEFAULT_WEBHOOK_PATH } from '../connector/webhook/headers.js';

/** Where webhooks are accepted unless configured otherwise (the sender's default path). */
export const DEFAULT_RECEIVER_PATH = DEFAULT_WEBHOOK_PATH;
/** Largest request body accepted, in bytes: 16 MiB (the sender's default batch limit). */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Smallest `maxBodyBytes` accepted, in bytes: room for one small signed event. */
export const MIN_MAX_BODY_BYTES = 1024;
export { DEFAULT_TOLERANCE_SECONDS };

/** Options of `startReceiver`. */
export interface ReceiverOptions {
  /** The receiver's Ziti identity in use; the receiver binds `service` with it. The caller closes it. */
  readonly ziti: ZitiContext;
  /** Name of the Ziti service to bind (host). */
  readonly service: string;
  /** Trusted keys: `whsec_…` (v1 HMAC) and/or `whpk_…` (v1a Ed25519); any match passes. Never logged. */
  readonly secrets: readonly string[];
  /** Ziti identity names allowed to call; default: any identity the fabric lets dial the service. */
  readonly allowedCallers?: readonly string[];
  /** Allowed gap between `webhook-timestamp` and this host's clock, either way, in seconds; default 300. */
  readonly toleranceSeconds?: number;
  /** Largest request body, in bytes; default `DEFAULT_MAX_BODY_BYTES` (16 MiB). */
  readonly maxBodyBytes?: number;
  /** The SQLite file of the message store (created with its folder if missing). */
  readonly storePath: string;
  /** A pino logger (e.g. the CLI's root logger); default silent. Secrets and bodies are never logged. */
  readonly logger?: Logger;
  /** The request path webhooks are POSTed to; default `/webhooks`. */
  readonly path?: string;
}

/** The normalised options: every default filled in, frozen, secrets kept apart. */
export interface NormalizedReceiverOptions {
  readonly ziti: ZitiContext;
  readonly service: string;
  /** How many trusted keys are configured (the keys themselves are not here). */
  readonly secretCount: number;
  /** `undefined`: any caller the fabric admits. */
  readonly allowedCallers: ReadonlySet<string> | undefined;
  readonly toleranceSeconds: number;
  readonly maxBodyBytes: number;
  readonly storePath: string;
  readonly logger: Logger;
  readonly path: string;
}

const KEYS = ['ziti', 'service', 'secrets', 'allowedCallers', 'toleranceSeconds', 'maxBodyBytes', 'storePath', 'logger', 'path'] as const;

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
  if (!(o.ziti instanceof ZitiContext)) throw invalid('ziti must be a ZitiContext');
  if (typeof o.service !== 'string' || o.service.length === 0) throw invalid('service must be a non-empty string');
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
  const path = o.path ?? DEFAULT_RECEIVER_PATH;
  if (typeof path !== 'string' || !/^\/[\x21-\x7e]*$/.test(path) || path.includes('?') || path.includes('#')) {
    throw invalid('path must start with "/" and hold no spaces, "?" or "#"');
  }
  return {
    secrets: Object.freeze([...secrets]),
    options: Object.freeze({
      ziti: o.ziti,
      service: o.service,
      secretCount: secrets.length,
      allowedCallers: allowed === undefined ? undefined : new Set(allowed),
      toleranceSeconds: integerOption(o.toleranceSeconds, DEFAULT_TOLERANCE_SECONDS, 0, 'startReceiver: toleranceSeconds'),
      maxBodyBytes: integerOption(o.maxBodyBytes, DEFAULT_MAX_BODY_BYTES, MIN_MAX_BODY_BYTES, 'startReceiver: maxBodyBytes'),
      storePath: o.storePath,
      logger: o.logger ?? pino({ enabled: false }),
      path,
    }),
  };
}
