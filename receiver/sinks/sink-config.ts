/** The checked settings of each sink type, with secrets already resolved (config/ builds these). */
import type { Severity } from '../../connector/webhook/severity.js';
import type { SinkType } from './sink.js';

/** Time one attempt may take, in milliseconds. */
export const DEFAULT_SINK_TIMEOUT_MS = 10_000;
/** Attempts of one sink running at once (Slack, Jira, HTTP). */
export const DEFAULT_SINK_CONCURRENCY = 4;
/**
 * Attempts running at once to a Jenkins sink (on loopback, next to the sidecar). A worker forwards at
 * most concurrency ÷ attempt time, and while webhooks arrive an attempt waits behind them on the
 * sidecar's event loop: at 4 it forwarded 15/s while acknowledging 200/s on a loaded machine
 * (bench/sidecar-ack.ts) and its queue grew without end; 32 kept up. Jenkins serves that many at once.
 */
export const DEFAULT_JENKINS_CONCURRENCY = 32;
/** Time after which an undelivered delivery is dead (kept and resubmittable), in milliseconds: 24 h. */
export const DEFAULT_SINK_DEADLINE_MS = 24 * 3_600_000;
/** First retry delay, in milliseconds. */
export const DEFAULT_SINK_RETRY_MIN_MS = 1_000;
/** Longest retry delay, in milliseconds: 10 min. */
export const DEFAULT_SINK_RETRY_MAX_MS = 600_000;
/** Slack's incoming webhooks allow about one message per second per channel. */
export const DEFAULT_SLACK_RATE_PER_SECOND = 1;
/** Consecutive failed attempts after which a sink's circuit opens. */
export const DEFAULT_CIRCUIT_FAILURES = 5;
/** How long an open circuit waits before one trial attempt, in milliseconds. */
export const DEFAULT_CIRCUIT_COOLDOWN_MS = 30_000;

/** Settings every sink has. */
export interface CommonSinkConfig {
  readonly name: string;
  readonly type: SinkType;
  /** The endpoint (for Slack: the resolved incoming-webhook URL, which is a secret). */
  readonly url: string;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly deadlineMs: number;
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  /** Token-bucket rate, attempts per second; undefined: unlimited. */
  readonly ratePerSecond: number | undefined;
  readonly circuitFailures: number;
  readonly circuitCooldownMs: number;
  /** Messages below this severity are skipped by this sink (messages without one pass). */
  readonly minSeverity: Severity | undefined;
  /** Extra request headers (values may be resolved secrets: never logged). */
  readonly headers: Readonly<Record<string, string>>;
}

/** Jenkins GitHub plugin: `POST <url>` (…/github-webhook/), signed with `secret` as `X-Hub-Signature-256`. */
export interface JenkinsSinkConfig extends CommonSinkConfig {
  readonly type: 'jenkins';
  /** The secret configured in Jenkins for GitHub hooks (resolved). Required. */
  readonly secret: string;
}

/** Slack incoming webhook. */
export interface SlackSinkConfig extends CommonSinkConfig {
  readonly type: 'slack';
}

/** Jira Cloud REST v3: one issue per event, labelled `darkhook-<id>`. */
export interface JiraSinkConfig extends CommonSinkConfig {
  readonly type: 'jira';
  /** Project key, e.g. `SEC`. */
  readonly project: string;
  /** Basic-auth user (Atlassian account email). */
  readonly email: string;
  /** API token (resolved). */
  readonly token: string;
  /** Issue type name; default `Task`. */
  readonly issueType: string;
}

/** Any HTTP endpoint: the body with its content type, re-signed (Standard Webhooks) when `secret` is set. */
export interface HttpSinkConfig extends CommonSinkConfig {
  readonly type: 'http';
  /** A `whsec_…` key (resolved) to re-sign with; undefined: sent unsigned. */
  readonly secret: string | undefined;
}

/** The settings of one sink. */
export type SinkConfig = JenkinsSinkConfig | SlackSinkConfig | JiraSinkConfig | HttpSinkConfig;
