/** The sender's options: named defaults with units, normalised once, unknown keys rejected, frozen. */
import { OptionError } from '../../core/index.js';
import { type BatchFormat, DEFAULT_BATCH_FORMAT, DEFAULT_MAX_BATCH_BYTES } from '../webhook/batch-envelope.js';
import { integerOption, rejectUnknownKeys } from '../../core/options.js';
import { parseWebhookSecret } from '../webhook/secrets.js';
import { checkHeaders } from './event.js';
import type { Outbox } from './outbox.js';
import { isSeverity, SEVERITIES, type Severity } from '../webhook/severity.js';
import { type Connect, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_WEBHOOK_PATH } from './transport.js';

/** A batch is sent once this many events are pending. */
export const DEFAULT_BATCH_MAX_EVENTS = 500;
/** …or once the oldest pending event has waited this long, in milliseconds. */
export const DEFAULT_BATCH_MAX_WAIT_MS = 5_000;
/** First retry delay, in milliseconds (before jitter); doubles per attempt. */
export const DEFAULT_RETRY_MIN_DELAY_MS = 500;
/** Longest retry delay, in milliseconds (before jitter). */
export const DEFAULT_RETRY_MAX_DELAY_MS = 60_000;
/** How long `flush()` keeps trying before it reports what is still pending, in milliseconds. */
export const DEFAULT_DEADLINE_MS = 300_000;

/** Options of `createSender`. */
export interface SenderOptions {
  /** Where messages are stored before any I/O (`openOutbox`, `FileOutbox.open`). The caller closes it. */
  readonly outbox: Outbox;
  /** Opens a connection to the receiver, e.g. `() => ziti.dial('jenkins-hooks')`. */
  readonly connect: Connect;
  /** `whsec_…` (v1 HMAC) or `whsk_…` (v1a Ed25519). Kept private; never in `options` or errors. */
  readonly secret: string;
  /** Request path; default `/webhooks`. */
  readonly path?: string;
  /** `Host` header; default `darkhook`. */
  readonly host?: string;
  /** Events per batch; default 500 (`DEFAULT_BATCH_MAX_EVENTS`). 1 sends every event on its own. */
  readonly batchMaxEvents?: number;
  /** Longest wait of a pending event before its batch is sent, in ms; default 5 000. */
  readonly batchMaxWaitMs?: number;
  /** Largest encoded batch, in bytes; default 16 MiB (the receiver's default limit). */
  readonly batchMaxBytes?: number;
  /** Batch wire form: `binary` (default, compact) or `json` (readable); docs/batch-envelope.md. */
  readonly batchFormat?: BatchFormat;
  /** First retry delay in ms; default 500. */
  readonly retryMinDelayMs?: number;
  /** Longest retry delay in ms; default 60 000. */
  readonly retryMaxDelayMs?: number;
  /** How long `flush()` retries before reporting, in ms; default 300 000. */
  readonly deadlineMs?: number;
  /** Per-request timeout in ms; default 30 000. */
  readonly requestTimeoutMs?: number;
  /** Response body cap in bytes; default 64 KiB. */
  readonly maxResponseBytes?: number;
  /** Events below this severity are dropped (counted and reported); events without one always pass. */
  readonly minSeverity?: Severity;
  /** Headers added to every event (lower-cased); an event's own headers win. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The normalised options: every default filled in, frozen, and without the secret. */
export interface NormalizedSenderOptions {
  readonly outbox: Outbox;
  readonly connect: Connect;
  /** `v1` for a `whsec_` secret, `v1a` for a `whsk_` key. */
  readonly signatureScheme: 'v1' | 'v1a';
  readonly path: string;
  readonly host: string;
  readonly batchMaxEvents: number;
  readonly batchMaxWaitMs: number;
  readonly batchMaxBytes: number;
  readonly batchFormat: BatchFormat;
  readonly retryMinDelayMs: number;
  readonly retryMaxDelayMs: number;
  readonly deadlineMs: number;
  readonly requestTimeoutMs: number;
  readonly maxResponseBytes: number;
  readonly minSeverity: Severity | undefined;
  readonly headers: Readonly<Record<string, string>>;
}

const KEYS = [
  'outbox', 'connect', 'secret', 'path', 'host', 'batchMaxEvents', 'batchMaxWaitMs', 'batchMaxBytes', 'batchFormat', 'retryMinDelayMs',
  'retryMaxDelayMs', 'deadlineMs', 'requestTimeoutMs', 'maxResponseBytes', 'minSeverity', 'headers',
] as const;

function invalid(message: string): OptionError {
  return new OptionError('ERR_OPTION_INVALID', `createSender: ${message}`);
}

/**
 * Check and complete sender options; returns the frozen copy and the secret separately.
 *
 * @throws {OptionError} ERR_OPTION_UNKNOWN, ERR_OPTION_INVALID (naming the option)
 * @throws {WebhookError} ERR_WEBHOOK_SECRET_INVALID
 */
export function normalizeSenderOptions(options: SenderOptions): { options: NormalizedSenderOptions; secret: string } {
  if (options === null || typeof options !== 'object') throw invalid('options must be an object');
  rejectUnknownKeys(options, KEYS, 'createSender');
  const o = options;
  const outbox = o.outbox as Partial<Outbox> | undefined;
  if (outbox === undefined || typeof outbox.nextBatch !== 'function' || typeof outbox.enqueue !== 'function') {
    throw invalid('outbox must be an Outbox (openOutbox, FileOutbox.open)');
  }
  if (typeof o.connect !== 'function') throw invalid('connect must be a function returning a Promise of a Duplex');
  if (typeof o.secret !== 'string') throw invalid('secret must be a whsec_ or whsk_ string');
  const key = parseWebhookSecret(o.secret);
  if (key.type === 'ed25519-public') throw invalid('secret is a whpk_ public key, which cannot sign; pass the whsk_ key');
  const path = o.path ?? DEFAULT_WEBHOOK_PATH;
  if (typeof path !== 'string' || !/^\/[\x21-\x7e]*$/.test(path)) throw invalid('path must start with "/" and hold no spaces');
  const host = o.host ?? 'darkhook';
  if (typeof host !== 'string' || !/^[\x21-\x7e]+$/.test(host)) throw invalid('host must be a non-empty header value');
  const batchFormat = o.batchFormat ?? DEFAULT_BATCH_FORMAT;
  if (batchFormat !== 'binary' && batchFormat !== 'json') throw invalid('batchFormat must be "binary" or "json"');
  if (o.minSeverity !== undefined && !isSeverity(o.minSeverity)) throw invalid(`minSeverity must be one of ${SEVERITIES.join(', ')}`);
  const retryMinDelayMs = integerOption(o.retryMinDelayMs, DEFAULT_RETRY_MIN_DELAY_MS, 1, 'createSender: retryMinDelayMs');
  const retryMaxDelayMs = integerOption(o.retryMaxDelayMs, Math.max(DEFAULT_RETRY_MAX_DELAY_MS, retryMinDelayMs), retryMinDelayMs, 'createSender: retryMaxDelayMs');
  return {
    secret: o.secret,
    options: Object.freeze({
      outbox: o.outbox,
      connect: o.connect,
      signatureScheme: key.type === 'hmac' ? 'v1' : 'v1a',
      path,
      host,
      batchMaxEvents: integerOption(o.batchMaxEvents, DEFAULT_BATCH_MAX_EVENTS, 1, 'createSender: batchMaxEvents'),
      batchMaxWaitMs: integerOption(o.batchMaxWaitMs, DEFAULT_BATCH_MAX_WAIT_MS, 0, 'createSender: batchMaxWaitMs'),
      batchMaxBytes: integerOption(o.batchMaxBytes, DEFAULT_MAX_BATCH_BYTES, 1024, 'createSender: batchMaxBytes'),
      batchFormat,
      retryMinDelayMs,
      retryMaxDelayMs,
      deadlineMs: integerOption(o.deadlineMs, DEFAULT_DEADLINE_MS, 0, 'createSender: deadlineMs'),
      requestTimeoutMs: integerOption(o.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS, 1, 'createSender: requestTimeoutMs'),
      maxResponseBytes: integerOption(o.maxResponseBytes, DEFAULT_MAX_RESPONSE_BYTES, 1, 'createSender: maxResponseBytes'),
      minSeverity: o.minSeverity,
      headers: Object.freeze(checkHeaders(o.headers ?? {}, 'createSender: headers', (m) => invalid(m.replace(/^createSender: /, '')))),
    } as const),
  };
}
