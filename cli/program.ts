/** Builds the commander program: global flags and the subcommand groups. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { CliError } from '../core/index.js';
import { createRootLogger } from './logger.js';
import { logControllerEvents } from './ziti-events.js';
import type { CliContext } from './context.js';

type Register = (program: Command, context: () => CliContext) => void;

/**
 * The command modules, in the order a newcomer meets them: the demo, identities, sending, receiving, then the
 * tools; with the top-level commands each registers. Loaded on demand: a run loads only the module of the
 * command it names (a send never loads fastify, node-forge or the fabric), or all of them for help.
 */
const COMMANDS: ReadonlyArray<{ readonly names: readonly string[]; readonly load: () => Promise<Register> }> = [
  { names: ['demo'], load: async () => (await import('./commands/demo.js')).registerDemo },
  { names: ['enroll', 'dial', 'host'], load: async () => (await import('./commands/ziti.js')).registerZiti },
  { names: ['send', 'outbox'], load: async () => (await import('./commands/send.js')).registerSend },
  { names: ['receive'], load: async () => (await import('./commands/receive.js')).registerReceive },
  { names: ['messages', 'sinks'], load: async () => (await import('./commands/messages.js')).registerMessages },
  { names: ['sign', 'verify'], load: async () => (await import('./commands/sign.js')).registerSign },
  { names: ['fabric'], load: async () => (await import('./commands/fabric.js')).registerFabric },
  { names: ['pki'], load: async () => (await import('./commands/pki.js')).registerPki },
];

/** The command an argument list names: its first word that is not a global flag (or a global flag's value). */
function commandNamed(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--log-level') i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

const PACKAGE_JSON = new URL('../../package.json', import.meta.url);

/** The package version, read from package.json. */
export function packageVersion(): string {
  const parsed = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string };
  return parsed.version;
}

/** Groups that later milestones fill in; they exist now so `--help` shows the whole shape. */
const PLANNED: ReadonlyArray<readonly [string, string]> = [
];

/**
 * Create the program for `argv` (the arguments after the script); the context is resolved lazily after global
 * options are parsed. Without `argv`, or when it names no known command, every command is registered.
 */
export async function buildProgram(out: (text: string) => void, argv?: readonly string[]): Promise<Command> {
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
      logControllerEvents(ctx.log);
    }
    return ctx;
  };

  const named = argv === undefined ? undefined : commandNamed(argv);
  const only = COMMANDS.filter((c) => named !== undefined && c.names.includes(named));
  for (const command of only.length > 0 ? only : COMMANDS) (await command.load())(program, context);
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
