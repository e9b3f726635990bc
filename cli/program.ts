/** Builds the commander program: global flags and the subcommand groups. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { CliError } from '../core/index.js';
import { createRootLogger } from './logger.js';
import type { CliContext } from './context.js';
import { registerDemo } from './commands/demo.js';
import { registerFabric } from './commands/fabric.js';
import { registerPki } from './commands/pki.js';
import { registerMessages } from './commands/messages.js';
import { registerReceive } from './commands/receive.js';
import { registerSend } from './commands/send.js';
import { registerSign } from './commands/sign.js';
import { registerZiti } from './commands/ziti.js';

const PACKAGE_JSON = new URL('../../package.json', import.meta.url);

/** The package version, read from package.json. */
export function packageVersion(): string {
  const parsed = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string };
  return parsed.version;
}

/** Groups that later milestones fill in; they exist now so `--help` shows the whole shape. */
const PLANNED: ReadonlyArray<readonly [string, string]> = [
];

/** Create the program; `getContext` is resolved lazily after global options are parsed. */
export function buildProgram(out: (text: string) => void): Command {
  const program = new Command('darkhook')
    .description('zero-trust webhooks over an OpenZiti overlay: no inbound port on the receiver')
    .version(packageVersion(), '-V, --version')
    .option('--log-level <level>', 'log level: fatal, error, warn, info, debug, trace, silent', 'info')
    .option('--json', 'print results as JSON', false)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => out(s.replace(/\n$/, '')),
      // Commander's own "error: …" lines are dropped: main.ts prints them as one coded line instead.
      writeErr: (s) => {
        if (!s.startsWith('error:')) process.stderr.write(s);
      },
    });

  let ctx: CliContext | undefined;
  const context = (): CliContext => {
    if (ctx === undefined) {
      const opts = program.opts<{ logLevel: string; json: boolean }>();
      ctx = { log: createRootLogger({ level: opts.logLevel, json: opts.json }), json: opts.json, out };
    }
    return ctx;
  };

  // In the order a newcomer meets them: the demo, identities, sending, receiving, then the tools.
  registerDemo(program, context);
  registerZiti(program, context);
  registerSend(program, context);
  registerReceive(program, context);
  registerMessages(program, context);
  registerSign(program, context);
  registerFabric(program, context);
  registerPki(program, context);
  for (const [name, summary] of PLANNED) {
    program
      .command(name)
      .description(`${summary} (not built yet)`)
      .allowUnknownOption(true)
      .allowExcessArguments(true)
      .action(() => {
        throw new CliError('ERR_CLI_NOT_IMPLEMENTED', `"darkhook ${name}" is not built yet`);
      });
  }
  return program;
}
