/** What every subcommand receives: the root logger and where to print results. */
import type { Logger } from 'pino';

/** Shared state of one CLI invocation. */
export interface CliContext {
  /** Root logger (stderr). */
  readonly log: Logger;
  /** Print machine-readable JSON instead of human text. */
  readonly json: boolean;
  /** Command output (results, not logs). */
  readonly out: (text: string) => void;
}
