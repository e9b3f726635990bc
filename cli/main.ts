#!/usr/bin/env node
/** The darkhook command: parses arguments, runs one subcommand, maps errors to exit codes. */
import { CommanderError } from 'commander';
import { CliError } from '../core/index.js';
import { EXIT, exitCodeFor, formatError } from './exit-codes.js';
import { buildProgram } from './program.js';

// A reader that stops early (`darkhook … | head`) closes our stdout: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.ok);
  throw err;
});

async function main(argv: readonly string[]): Promise<number> {
  try {
    const program = await buildProgram((text) => process.stdout.write(`${text}\n`), argv);
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here with exit code 0; usage errors were already printed.
      if (err.exitCode === 0) return EXIT.ok;
      const usage = new CliError('ERR_CLI_USAGE', err.message.replace(/^error: /, ''));
      process.stderr.write(`${formatError(usage)}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`${formatError(err)}\n`);
    return exitCodeFor(err);
  }
}

// No top-level await: the bundled CLI (dist/darkhook.cjs) is CommonJS.
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
