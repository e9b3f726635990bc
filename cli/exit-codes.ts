/** Maps darkhook error codes to process exit codes and prints one clear error line. */
import { DarkhookError } from '../core/index.js';

/** Exit codes a script (or a CI step) can rely on. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  input: 3,
  network: 4,
  rejected: 5,
  internal: 70,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit code for an error: by code prefix, internal for anything uncoded. */
export function exitCodeFor(err: unknown): ExitCode {
  if (!(err instanceof DarkhookError)) return EXIT.internal;
  const code = err.code;
  if (code === 'ERR_INTERNAL') return EXIT.internal;
  if (code.startsWith('ERR_OPTION_') || code.startsWith('ERR_CLI_') || code.startsWith('ERR_CONFIG_')) return EXIT.usage;
  if (code.startsWith('ERR_FILE_') || code.startsWith('ERR_PKI_')) return EXIT.input;
  if (code.startsWith('ERR_ZITI_') || code.startsWith('ERR_FABRIC_')) return EXIT.network;
  if (code.startsWith('ERR_WEBHOOK_') || code.startsWith('ERR_SEND_') || code.startsWith('ERR_RECEIVER_')) return EXIT.rejected;
  return EXIT.failure;
}

/** One line for stderr: `darkhook: ERR_X: message (hint: ...)`. Never a stack trace for coded errors. */
export function formatError(err: unknown): string {
  if (err instanceof DarkhookError) return `darkhook: ${err.code}: ${err.message} (hint: ${err.hint})`;
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return `darkhook: ERR_INTERNAL: unexpected failure, please report it\n${text}`;
}
