/** `darkhook pki …`: CA creation, certificate issuance and inspection. */
import type { Command } from 'commander';
import { CliError } from '../../errors/index.js';
import type { CliContext } from '../context.js';

/** Register the `pki` group. */
export function registerPki(program: Command, _context: () => CliContext): void {
  program
    .command('pki')
    .description('create a CA, issue certificates, show certificates and identity files (not built yet)')
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .action(() => {
      throw new CliError('ERR_CLI_NOT_IMPLEMENTED', '"darkhook pki" is not built yet');
    });
}
