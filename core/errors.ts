/** darkhook's error classes: one coded base class and one subclass per area. */
import { ERROR_CATALOGUE, type ErrorCode } from './catalogue.js';

/** Options shared by every darkhook error. */
export interface DarkhookErrorOptions {
  /** The error that caused this one, kept for diagnosis. */
  readonly cause?: unknown;
  /** Overrides the catalogue hint for this instance. */
  readonly hint?: string;
}

/**
 * Base of every error darkhook throws on purpose. Branch on `code`, never on `message`.
 * Messages never contain keys, certificates, tokens or webhook secrets.
 */
export class DarkhookError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;

  constructor(code: ErrorCode, message: string, options: DarkhookErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint ?? ERROR_CATALOGUE[code].hint;
  }

  /** A log-safe view: code, name, message and hint; never the cause's secrets. */
  toJSON(): { name: string; code: ErrorCode; message: string; hint: string } {
    return { name: this.name, code: this.code, message: this.message, hint: this.hint };
  }
}

/** A caller passed a bad or unknown option; `message` names the option path. */
export class OptionError extends DarkhookError {}

/** A file could not be found, read or written. */
export class FileError extends DarkhookError {}

/** Certificates, keys, CSRs, identity files and enrollment tokens. */
export class PkiError extends DarkhookError {}

/** The OpenZiti SDK: channel codec, controller REST, edge-router links, dial/bind, E2E crypto. */
export class ZitiError extends DarkhookError {}

/**
 * Webhook signing, verification and envelopes. `statusCode` is the HTTP status a receiver answers
 * with when this error rejects a request (e.g. 401 for a bad signature).
 */
export class WebhookError extends DarkhookError {
  readonly statusCode: number;

  constructor(code: ErrorCode, message: string, options: DarkhookErrorOptions & { readonly statusCode?: number } = {}) {
    super(code, message, options);
    this.statusCode = options.statusCode ?? 400;
  }
}

/** The embedded fabric: its home directory, its database, its controller and router listeners. */
export class FabricError extends DarkhookError {}

/**
 * The sender: outbox, delivery, retries. `status` is the HTTP status the receiver answered with, when
 * one did; `ids` lists the message ids concerned (never bodies or secrets).
 */
export class SendError extends DarkhookError {
  readonly status: number | undefined;
  readonly ids: readonly string[];

  constructor(
    code: ErrorCode,
    message: string,
    options: DarkhookErrorOptions & { readonly status?: number; readonly ids?: readonly string[] } = {},
  ) {
    super(code, message, options);
    this.status = options.status;
    this.ids = Object.freeze([...(options.ids ?? [])]);
  }
}

/**
 * The receiver: caller policy, request limits, its message store. `statusCode` is the HTTP status
 * the receiver answers with when this error rejects a request (e.g. 403 for a caller not allowed).
 */
export class ReceiverError extends DarkhookError {
  readonly statusCode: number;
  /** For a 503 or 429: how long the caller should wait before trying again, in seconds (sent as `Retry-After`). */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: DarkhookErrorOptions & { readonly statusCode?: number; readonly retryAfterSeconds?: number } = {}) {
    super(code, message, options);
    this.statusCode = options.statusCode ?? 500;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** The receiver's config file: `message` names the JSON path of the problem (`sinks.jenkins.url`). */
export class ConfigError extends DarkhookError {}

/** The command line was used wrongly. */
export class CliError extends DarkhookError {}
