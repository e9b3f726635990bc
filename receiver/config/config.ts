/** The receiver config file: read, checked once (unknown keys refused, JSON paths named), secrets resolved. */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { parseWebhookSecret } from '../../connector/webhook/secrets.js';
import { DEFAULT_TOLERANCE_SECONDS } from '../../connector/webhook/signature-standard.js';
import { isSeverity, SEVERITIES, type Severity } from '../../connector/webhook/severity.js';
import { ConfigError, DarkhookError, FileError } from '../../core/index.js';
import type { Route } from '../ingest/routes.js';
import { DEFAULT_STALLED_WRITE_TIMEOUT_MS } from '../ingest/source.js';
import { SINK_TYPES, type SinkType } from '../sinks/sink.js';
import {
  type CommonSinkConfig, DEFAULT_CIRCUIT_COOLDOWN_MS, DEFAULT_CIRCUIT_FAILURES, DEFAULT_JENKINS_CONCURRENCY, DEFAULT_SINK_CONCURRENCY, DEFAULT_SINK_DEADLINE_MS,
  DEFAULT_SINK_RETRY_MAX_MS, DEFAULT_SINK_RETRY_MIN_MS, DEFAULT_SINK_TIMEOUT_MS, DEFAULT_SLACK_RATE_PER_SECOND, type SinkConfig,
} from '../sinks/sink-config.js';
import { formatPgStoreUrl, isPostgresStore, parsePgStoreUrl } from '../log/pg-url.js';
import { isSecretRef, resolveSecret } from './secret-ref.js';

/** Days a finished message is kept before retention removes it. */
export const DEFAULT_RETENTION_DAYS = 7;
/** Lease of a delivery claimed from a PostgreSQL store, in seconds: past it, another replica may take the delivery over. */
export const DEFAULT_STORE_LEASE_SECONDS = 60;
/** Largest request body accepted, in bytes: 16 MiB (the sender's default batch limit). */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

/** The loopback admin listener. */
export interface AdminConfig {
  readonly host: string;
  readonly port: number;
  /** The bearer token (resolved; never logged). */
  readonly token: string;
}

/** A checked receiver config, secrets resolved. Never log it whole: use `describeConfig`. */
export interface ReceiverConfig {
  readonly identity: string;
  readonly service: string;
  readonly store: string;
  readonly secrets: readonly string[];
  readonly toleranceSeconds: number;
  readonly maxBodyBytes: number;
  readonly retentionDays: number;
  /** PostgreSQL store: lease of a claimed delivery, in seconds (default 60; longer than any sink's timeout). */
  readonly storeLeaseSeconds: number;
  /** How long answers may wait unread by a client before its connection is dropped, in milliseconds. */
  readonly stalledWriteTimeoutMs: number;
  readonly routes: readonly Route[];
  readonly sinks: readonly SinkConfig[];
  readonly admin: AdminConfig | undefined;
}

const TOP_KEYS = ['identity', 'service', 'store', 'storeLeaseSeconds', 'secrets', 'retentionDays', 'toleranceSeconds', 'maxBodyBytes', 'stalledWriteTimeoutMs', 'routes', 'sinks', 'admin', '$schema', 'comment'];
const ROUTE_KEYS = ['path', 'callers', 'minSeverity', 'sinks'];
const COMMON_SINK_KEYS = ['type', 'url', 'headers', 'timeoutMs', 'concurrency', 'deadlineHours', 'retryMinMs', 'retryMaxMs', 'ratePerSecond', 'circuitFailures', 'circuitCooldownMs', 'minSeverity'];
const SINK_KEYS: Record<SinkType, readonly string[]> = {
  jenkins: [...COMMON_SINK_KEYS, 'secret'],
  slack: COMMON_SINK_KEYS,
  jira: [...COMMON_SINK_KEYS, 'project', 'email', 'token', 'issueType'],
  http: [...COMMON_SINK_KEYS, 'secret'],
};
const ADMIN_KEYS = ['listen', 'token'];

const invalid = (path: string, what: string): ConfigError => new ConfigError('ERR_CONFIG_INVALID', `${path} ${what}`);

function object(value: unknown, path: string, keys: readonly string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(path, 'must be an object');
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) throw new ConfigError('ERR_CONFIG_UNKNOWN_KEY', `${path === '' ? '' : `${path}.`}${key} is not a known key`);
  }
  return value as Record<string, unknown>;
}

function text(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalid(path, 'must be a non-empty string');
  return value;
}

function integer(value: unknown, path: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) throw invalid(path, `must be an integer from ${min} to ${max}`);
  return value;
}

function positive(value: unknown, path: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw invalid(path, 'must be a number > 0');
  return value;
}

function severity(value: unknown, path: string): Severity | undefined {
  if (value === undefined) return undefined;
  if (!isSeverity(value)) throw invalid(path, `must be one of ${SEVERITIES.join(', ')}`);
  return value;
}

function strings(value: unknown, path: string): string[] {
  if (!Array.isArray(value)) throw invalid(path, 'must be an array of strings');
  return value.map((v, i) => text(v, `${path}[${i}]`));
}

function httpUrl(value: string, path: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(path, 'is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(path, 'must be an http: or https: URL');
  if (url.username !== '' || url.password !== '') throw invalid(path, 'must not hold credentials (use the sink\'s secret or token)');
  return url;
}

/** `host:port` of the admin listener, which must be loopback. */
function loopback(value: unknown, path: string): { host: string; port: number } {
  const listen = text(value, path);
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  if (m === null) throw invalid(path, 'must be HOST:PORT, e.g. 127.0.0.1:9464');
  const host = (m[1] ?? m[2])!;
  const port = Number(m[3]);
  if (port > 65_535) throw invalid(path, 'has a port over 65535');
  const isLoopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!isLoopback) throw new ConfigError('ERR_CONFIG_NOT_LOOPBACK', `${path} is ${listen}: the admin listener binds to loopback only`);
  return { host: host === 'localhost' ? '127.0.0.1' : host, port };
}

interface Ctx {
  readonly env: NodeJS.ProcessEnv;
  readonly baseDir: string;
  /** False for commands that only read the layout (sink names, store path) from another shell. */
  readonly resolve: boolean;
}

/** What an unresolved secret reads as (layout-only loads); never sent anywhere. */
const UNRESOLVED = 'unresolved';

/** Resolve a secret reference, or (layout-only) just check that it is one. */
function secretOf(value: unknown, path: string, ctx: Ctx): string {
  if (ctx.resolve) return resolveSecret(value, path, ctx.env, ctx.baseDir);
  if (typeof value !== 'string' || value.length === 0) throw invalid(path, 'must be an env:NAME or file:PATH reference');
  if (!isSecretRef(value)) throw new ConfigError('ERR_CONFIG_SECRET_LITERAL', `${path} holds a literal secret; write env:NAME or file:PATH`);
  return UNRESOLVED;
}

function sinkOf(name: string, raw: unknown, ctx: Ctx): SinkConfig {
  const path = `sinks.${name}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) throw invalid(path, 'has a bad name (letters, digits, "_", "-", ".", up to 64)');
  const typeValue = (raw as { type?: unknown } | null)?.type;
  if (!(SINK_TYPES as readonly unknown[]).includes(typeValue)) throw invalid(`${path}.type`, `must be one of ${SINK_TYPES.join(', ')}`);
  const type = typeValue as SinkType;
  const o = object(raw, path, SINK_KEYS[type]);
  // Slack's URL carries its token: a reference, like every secret. Other URLs may be literal or references.
  let urlText = type === 'slack' || isSecretRef(o.url) ? secretOf(o.url, `${path}.url`, ctx) : text(o.url, `${path}.url`);
  if (urlText === UNRESOLVED && !ctx.resolve) urlText = 'https://unresolved.invalid/';
  const url = httpUrl(urlText, `${path}.url`);
  const headers: Record<string, string> = {};
  if (o.headers !== undefined) {
    const h = object(o.headers, `${path}.headers`, Object.keys(o.headers as object));
    for (const [k, v] of Object.entries(h)) {
      if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(k)) throw invalid(`${path}.headers.${k}`, 'is not a header name');
      headers[k.toLowerCase()] = isSecretRef(v) ? secretOf(v, `${path}.headers.${k}`, ctx) : text(v, `${path}.headers.${k}`);
    }
  }
  const retryMinMs = integer(o.retryMinMs, `${path}.retryMinMs`, DEFAULT_SINK_RETRY_MIN_MS, 1);
  const common: CommonSinkConfig = {
    name,
    type,
    url: url.href,
    timeoutMs: integer(o.timeoutMs, `${path}.timeoutMs`, DEFAULT_SINK_TIMEOUT_MS, 1),
    concurrency: integer(o.concurrency, `${path}.concurrency`, type === 'jenkins' ? DEFAULT_JENKINS_CONCURRENCY : DEFAULT_SINK_CONCURRENCY, 1, 256),
    deadlineMs: o.deadlineHours === undefined ? DEFAULT_SINK_DEADLINE_MS : Math.round(positive(o.deadlineHours, `${path}.deadlineHours`)! * 3_600_000),
    retryMinMs,
    retryMaxMs: integer(o.retryMaxMs, `${path}.retryMaxMs`, Math.max(DEFAULT_SINK_RETRY_MAX_MS, retryMinMs), retryMinMs),
    ratePerSecond: positive(o.ratePerSecond, `${path}.ratePerSecond`) ?? (type === 'slack' ? DEFAULT_SLACK_RATE_PER_SECOND : undefined),
    circuitFailures: integer(o.circuitFailures, `${path}.circuitFailures`, DEFAULT_CIRCUIT_FAILURES, 1),
    circuitCooldownMs: integer(o.circuitCooldownMs, `${path}.circuitCooldownMs`, DEFAULT_CIRCUIT_COOLDOWN_MS, 1),
    minSeverity: severity(o.minSeverity, `${path}.minSeverity`),
    headers,
  };
  switch (type) {
    case 'jenkins':
      // The GitHub plugin accepts unsigned requests when it has no secret: never run a Jenkins sink without one.
      if (o.secret === undefined) throw invalid(`${path}.secret`, 'is required: without it the Jenkins GitHub plugin accepts unsigned hooks');
      if (!url.pathname.endsWith('/') && urlText !== 'https://unresolved.invalid/') throw invalid(`${path}.url`, 'must end with "/" (…/github-webhook/): Jenkins redirects the other form and the POST is lost');
      return { ...common, type, secret: secretOf(o.secret, `${path}.secret`, ctx) };
    case 'slack':
      return { ...common, type };
    case 'jira':
      return {
        ...common,
        type,
        project: text(o.project, `${path}.project`),
        email: text(o.email, `${path}.email`),
        token: secretOf(o.token, `${path}.token`, ctx),
        issueType: o.issueType === undefined ? 'Task' : text(o.issueType, `${path}.issueType`),
      };
    case 'http': {
      const secret = o.secret === undefined ? undefined : secretOf(o.secret, `${path}.secret`, ctx);
      if (secret !== undefined && ctx.resolve) {
        if (!secret.startsWith('whsec_')) throw invalid(`${path}.secret`, 'must name a whsec_ key (Standard Webhooks HMAC)');
        checkKey(secret, `${path}.secret`);
      }
      return { ...common, type, secret };
    }
  }
}

function checkKey(secret: string, path: string): void {
  try {
    parseWebhookSecret(secret);
  } catch (cause) {
    throw new ConfigError('ERR_CONFIG_INVALID', `${path} does not hold a valid whsec_/whpk_ key`, { cause });
  }
}

function routeOf(raw: unknown, i: number, sinkNames: ReadonlySet<string>): Route {
  const path = `routes[${i}]`;
  const o = object(raw, path, ROUTE_KEYS);
  const p = text(o.path, `${path}.path`);
  if (!/^\/[\x21-\x7e]*$/.test(p) || p.includes('?') || p.includes('#')) throw invalid(`${path}.path`, 'must start with "/" and hold no spaces, "?" or "#"');
  const sinks = o.sinks === undefined ? [] : strings(o.sinks, `${path}.sinks`);
  for (const [j, s] of sinks.entries()) {
    if (!sinkNames.has(s)) throw new ConfigError('ERR_CONFIG_SINK_UNKNOWN', `${path}.sinks[${j}] names "${s}", which is not under "sinks"`);
  }
  if (new Set(sinks).size !== sinks.length) throw invalid(`${path}.sinks`, 'lists a sink twice');
  const callers = o.callers === undefined ? undefined : new Set(strings(o.callers, `${path}.callers`));
  return Object.freeze({ path: p, callers, minSeverity: severity(o.minSeverity, `${path}.minSeverity`), sinks: Object.freeze(sinks) });
}

/**
 * Check a parsed config object. Relative paths (identity, store, `file:` secrets) are relative to
 * `baseDir`. Nothing is opened or started here.
 *
 * @throws {ConfigError} ERR_CONFIG_* naming the JSON path
 */
export function checkConfig(raw: unknown, options: { readonly env?: NodeJS.ProcessEnv; readonly baseDir?: string; readonly resolveSecrets?: boolean } = {}): ReceiverConfig {
  const ctx: Ctx = { env: options.env ?? process.env, baseDir: options.baseDir ?? process.cwd(), resolve: options.resolveSecrets !== false };
  const o = object(raw, '', TOP_KEYS);
  const identity = resolve(ctx.baseDir, text(o.identity, 'identity'));
  const service = text(o.service, 'service');
  const storeText = text(o.store, 'store');
  // A postgres:// URL (its password by reference) or a SQLite file path.
  const store = isPostgresStore(storeText) ? formatPgStoreUrl(parsePgStoreUrl(storeText, 'store', ctx.baseDir)) : resolve(ctx.baseDir, storeText);
  if (o.secrets === undefined) throw invalid('secrets', 'is required (the senders\' whsec_/whpk_ keys, as env:NAME or file:PATH)');
  if (!Array.isArray(o.secrets) || o.secrets.length === 0) throw invalid('secrets', 'must be a non-empty array of env:NAME or file:PATH references');
  const secrets = o.secrets.flatMap((ref, i) =>
    // One variable may hold several keys (rotation), separated by spaces or commas, as DARKHOOK_SECRET does.
    secretOf(ref, `secrets[${i}]`, ctx).split(/[\s,]+/).filter((s) => s !== '').map((s) => {
      if (ctx.resolve) checkKey(s, `secrets[${i}]`);
      return s;
    }),
  );
  const sinksRaw = o.sinks === undefined ? {} : object(o.sinks, 'sinks', Object.keys((o.sinks as object | null) ?? {}));
  const sinks = Object.entries(sinksRaw).map(([name, s]) => sinkOf(name, s, ctx));
  const names = new Set(sinks.map((s) => s.name));
  if (!Array.isArray(o.routes) || o.routes.length === 0) throw invalid('routes', 'must be a non-empty array');
  const routes = o.routes.map((r, i) => routeOf(r, i, names));
  const seen = new Set<string>();
  for (const [i, r] of routes.entries()) {
    if (seen.has(r.path)) throw invalid(`routes[${i}].path`, `repeats ${r.path}`);
    seen.add(r.path);
  }
  const storeLeaseSeconds = integer(o.storeLeaseSeconds, 'storeLeaseSeconds', DEFAULT_STORE_LEASE_SECONDS, 1, 86_400);
  // A lease shorter than an attempt would let another replica take a delivery still being sent.
  const slow = isPostgresStore(store) ? sinks.find((s) => s.timeoutMs >= storeLeaseSeconds * 1000) : undefined;
  if (slow !== undefined) throw invalid('storeLeaseSeconds', `must be longer than every sink's timeoutMs (sinks.${slow.name}: ${slow.timeoutMs} ms)`);
  let admin: AdminConfig | undefined;
  if (o.admin !== undefined) {
    const a = object(o.admin, 'admin', ADMIN_KEYS);
    const { host, port } = loopback(a.listen, 'admin.listen');
    const token = secretOf(a.token, 'admin.token', ctx);
    if (ctx.resolve && token.length < 16) throw invalid('admin.token', 'must resolve to at least 16 characters');
    admin = Object.freeze({ host, port, token });
  }
  return Object.freeze({
    identity,
    service,
    store,
    secrets: Object.freeze(secrets),
    toleranceSeconds: integer(o.toleranceSeconds, 'toleranceSeconds', DEFAULT_TOLERANCE_SECONDS, 0),
    maxBodyBytes: integer(o.maxBodyBytes, 'maxBodyBytes', DEFAULT_MAX_BODY_BYTES, 1024),
    retentionDays: integer(o.retentionDays, 'retentionDays', DEFAULT_RETENTION_DAYS, 1, 3650),
    storeLeaseSeconds,
    stalledWriteTimeoutMs: integer(o.stalledWriteTimeoutMs, 'stalledWriteTimeoutMs', DEFAULT_STALLED_WRITE_TIMEOUT_MS, 100),
    routes: Object.freeze(routes),
    sinks: Object.freeze(sinks.map((s) => Object.freeze(s))),
    admin,
  });
}

/**
 * Read and check the config file at `file`; relative paths in it are relative to its folder. With
 * `resolveSecrets: false` secret references are checked but not read (for commands that only need
 * the layout: store path, sink names).
 *
 * @throws {FileError} ERR_FILE_NOT_FOUND, ERR_FILE_UNREADABLE
 * @throws {ConfigError} ERR_CONFIG_INVALID (not JSON, or a bad value), and the other ERR_CONFIG_* codes
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env, options: { readonly resolveSecrets?: boolean } = {}): ReceiverConfig {
  const full = resolve(file);
  let textValue: string;
  try {
    textValue = readFileSync(full, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FileError('ERR_FILE_NOT_FOUND', `no receiver config at ${full}`, { cause });
    throw new FileError('ERR_FILE_UNREADABLE', `${full} could not be read`, { cause });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(textValue);
  } catch (cause) {
    throw new ConfigError('ERR_CONFIG_INVALID', `${full} is not valid JSON: ${(cause as Error).message}`);
  }
  try {
    return checkConfig(raw, { env, baseDir: dirname(full), ...options });
  } catch (err) {
    if (err instanceof DarkhookError) throw err;
    throw new ConfigError('ERR_CONFIG_INVALID', `${full}: ${(err as Error).message}`);
  }
}

/** A log-safe summary: routes, sink names, types and targets (origin + path), never secrets or Slack's URL. */
export function describeConfig(c: ReceiverConfig): Record<string, unknown> {
  return {
    service: c.service,
    store: c.store,
    secrets: c.secrets.length,
    routes: c.routes.map((r) => ({ path: r.path, callers: r.callers === undefined ? 'any' : [...r.callers], minSeverity: r.minSeverity ?? null, sinks: r.sinks })),
    sinks: c.sinks.map((s) => ({ name: s.name, type: s.type, target: s.type === 'slack' ? 'slack (incoming webhook)' : targetOf(s.url) })),
    admin: c.admin === undefined ? null : `${c.admin.host}:${c.admin.port}`,
  };
}

/** Origin and path of a URL, without its query (which may hold a token). */
export function targetOf(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}
