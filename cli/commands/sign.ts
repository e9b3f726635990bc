/** `darkhook sign` and `darkhook verify`: Standard Webhooks and GitHub-style signatures from the shell. */
import type { Command } from 'commander';
import { CliError } from '../../errors/index.js';
import type { CliContext } from '../context.js';

/** Register `sign` and `verify`. */
export function registerSign(program: Command, _context: () => CliContext): void {
  for (const name of ['sign', 'verify']) {
    program
      .command(name)
      .description(`${name} a webhook signature (not built yet)`)
      .allowUnknownOption(true)
      .allowExcessArguments(true)
      .action(() => {
        throw new CliError('ERR_CLI_NOT_IMPLEMENTED', `"darkhook ${name}" is not built yet`);
      });
  }
}
