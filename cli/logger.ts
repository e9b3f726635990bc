/** The root pino logger: created only here, writes to stderr, redacts every secret-bearing path. */
import pino, { type Logger } from 'pino';

/** Paths whose values are replaced with "[redacted]" wherever they appear in a log line. */
export const REDACT_PATHS = [
  'key', '*.key', '*.*.key', 'privateKey', '*.privateKey',
  'secret', '*.secret', '*.*.secret', 'secrets', '*.secrets',
  'token', '*.token', '*.*.token', 'jwt', '*.jwt',
  'password', '*.password', 'passphrase', '*.passphrase',
  'authorization', '*.authorization', '*.headers.authorization', '*.headers["zt-session"]',
  'cert', '*.cert', 'identity.id', '*.identity.id',
] as const;

/** Root logger options. */
export interface RootLoggerOptions {
  /** pino level; default "info". */
  readonly level?: string;
  /** Write newline-delimited JSON instead of the short human form. Default false. */
  readonly json?: boolean;
  /** Destination; default stderr (fd 2) so stdout stays for command output. */
  readonly destination?: NodeJS.WritableStream;
}

/** Create the one root logger of a darkhook process. */
export function createRootLogger(options: RootLoggerOptions = {}): Logger {
  const destination = options.destination ?? pino.destination({ fd: 2, sync: true });
  return pino(
    {
      level: options.level ?? 'info',
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
      base: undefined,
      timestamp: options.json === true ? pino.stdTimeFunctions.isoTime : false,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
