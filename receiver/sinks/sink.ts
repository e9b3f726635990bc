/** The sink contract: what a sink is given for one delivery attempt, and the outcome it answers with. */
import type { Severity } from '../../connector/webhook/severity.js';

/** The sink types a config may name. */
export const SINK_TYPES = ['jenkins', 'slack', 'jira', 'http'] as const;
/** One sink type. */
export type SinkType = (typeof SINK_TYPES)[number];

/** One stored message, as a sink sees it. Bodies are the bytes the sender signed, unchanged. */
export interface SinkMessage {
  /** The message id: stable across retries and resubmits (Jenkins gets it as `X-GitHub-Delivery`). */
  readonly id: string;
  /** The event type (`push`, `ping`, `security.alert`, `darkhook.test`, …). */
  readonly type: string;
  /** The event time, seconds since the epoch. */
  readonly timestamp: number;
  readonly body: Buffer;
  /** Headers the sender attached (content type, its custom headers); never credentials. */
  readonly headers: Readonly<Record<string, string>>;
  /** The calling Ziti identity, when known. */
  readonly caller: string | undefined;
  /** The route path it arrived on. */
  readonly route: string;
  /** The event's severity, when it has one. */
  readonly severity: Severity | undefined;
  /** When the receiver stored it, milliseconds since the epoch. */
  readonly receivedAt: number;
}

/** What the worker passes to one attempt. */
export interface AttemptContext {
  /** 1 for the first attempt of this delivery. */
  readonly attempt: number;
  /** Aborted at the sink's timeout or when the receiver stops; a sink passes it to its HTTP calls. */
  readonly signal: AbortSignal;
}

/**
 * The outcome of one attempt. The worker decides what happens next from the type alone:
 * - `delivered`: done (a 2xx); never sent again unless resubmitted.
 * - `retry`: a passing fault (5xx, 429, network); retried with backoff, or after `retryAfterMs`.
 * - `failed`: this message can never be delivered as it is (e.g. a 400); the delivery is dead at once.
 * - `disable`: the sink's credentials are refused (401/403): the sink is disabled, the delivery waits.
 * - `skipped`: the sink does not take this message (a `ping` for Slack, below the sink's minimum severity).
 */
export type SinkOutcome =
  | { readonly type: 'delivered'; readonly status?: number; readonly detail?: string }
  | { readonly type: 'retry'; readonly status?: number; readonly error: string; readonly retryAfterMs?: number }
  | { readonly type: 'failed'; readonly status?: number; readonly error: string }
  | { readonly type: 'disable'; readonly status: number; readonly error: string }
  | { readonly type: 'skipped'; readonly reason: string };

/** A place messages are forwarded to. Implementations never log and never throw from `deliver`. */
export interface Sink {
  /** The sink's name in the config (`jenkins`, `slack`, …). */
  readonly name: string;
  readonly type: SinkType;
  /** A log-safe description: the URL's origin and path, never a token or a secret-bearing URL. */
  readonly target: string;
  /** Why this sink does not take `message` (it is then marked skipped without an attempt), or undefined. */
  skipReason(message: SinkMessage): string | undefined;
  /** One attempt. Resolves with an outcome for every failure, including timeouts and refused connections. */
  deliver(message: SinkMessage, context: AttemptContext): Promise<SinkOutcome>;
  /** Release connections. */
  close(): Promise<void>;
}

/** Shorten an error or response text to one line for the attempt record (never a body of secrets). */
export function shortError(text: string, max = 200): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
