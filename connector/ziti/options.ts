/** Options of a ZitiContext: normalised once, unknown keys rejected, returned frozen. */
import { OptionError } from '../../core/index.js';
import { DEFAULT_LINK_CONNECT_TIMEOUT_MS, DEFAULT_PROBE_INTERVAL_MS, DEFAULT_REQUEST_TIMEOUT_MS } from './edge-link.js';
import { rejectUnknownKeys } from '../../core/options.js';
import type { AuthMode } from './controller-client.js';

/** Time a dial waits for the router's answer (circuit creation included), in milliseconds. */
export const DEFAULT_DIAL_TIMEOUT_MS = 15_000;

/** Options of `new ZitiContext(identity, options)`. */
export interface ZitiContextOptions {
  /**
   * End-to-end encryption: `required` (default) refuses a connection whose peer offers no key;
   * `auto` follows the service's `encryptionRequired`; `off` sends no key (only for services
   * that do not require encryption).
   */
  readonly encryption?: 'required' | 'auto' | 'off';
  /** TCP + TLS + hello with a router, in milliseconds. Default 10 000. */
  readonly connectTimeoutMs?: number;
  /** Wait for a router's reply to a request, in milliseconds. Default 10 000. */
  readonly requestTimeoutMs?: number;
  /** Wait for a dial to be answered, in milliseconds. Default 15 000. */
  readonly dialTimeoutMs?: number;
  /** Latency probe interval per router link, in milliseconds; 0 disables. Default 30 000. */
  readonly probeIntervalMs?: number;
  /**
   * Controller authentication: `auto` (default) uses OIDC when the controller's `/version`
   * advertises `OIDC_AUTH` and an `edge-oidc` API, legacy API sessions otherwise; `oidc` or
   * `legacy` force one. HA clusters need OIDC.
   */
  readonly auth?: AuthMode;
}

/** The normalised, frozen options. */
export type NormalizedContextOptions = Readonly<Required<ZitiContextOptions>>;

const KEYS = new Set(['auth', 'encryption', 'connectTimeoutMs', 'requestTimeoutMs', 'dialTimeoutMs', 'probeIntervalMs']);

/** Validate and fill defaults. @throws ERR_OPTION_UNKNOWN, ERR_OPTION_INVALID */
export function normalizeContextOptions(options: ZitiContextOptions): NormalizedContextOptions {
  rejectUnknownKeys(options, KEYS, 'ziti options');
  const encryption = options.encryption ?? 'required';
  if (!['required', 'auto', 'off'].includes(encryption)) {
    throw new OptionError('ERR_OPTION_INVALID', 'ziti option "encryption" must be "required", "auto" or "off"');
  }
  const auth = options.auth ?? 'auto';
  if (!['auto', 'oidc', 'legacy'].includes(auth)) {
    throw new OptionError('ERR_OPTION_INVALID', 'ziti option "auth" must be "auto", "oidc" or "legacy"');
  }
  return Object.freeze({
    auth,
    encryption,
    connectTimeoutMs: ms(options.connectTimeoutMs, 'connectTimeoutMs', DEFAULT_LINK_CONNECT_TIMEOUT_MS),
    requestTimeoutMs: ms(options.requestTimeoutMs, 'requestTimeoutMs', DEFAULT_REQUEST_TIMEOUT_MS),
    dialTimeoutMs: ms(options.dialTimeoutMs, 'dialTimeoutMs', DEFAULT_DIAL_TIMEOUT_MS),
    probeIntervalMs: ms(options.probeIntervalMs, 'probeIntervalMs', DEFAULT_PROBE_INTERVAL_MS, true),
  });
}

function ms(value: number | undefined, name: string, fallback: number, zeroOk = false): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || (value === 0 && !zeroOk)) {
    throw new OptionError('ERR_OPTION_INVALID', `ziti option "${name}" must be a positive whole number of milliseconds`);
  }
  return value;
}
