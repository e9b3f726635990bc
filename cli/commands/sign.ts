/** `darkhook sign` and `darkhook verify`: Standard Webhooks and GitHub-style signatures from the shell. */
import { type Command, Option } from 'commander';
import { signGithub, verifyGithub } from '../../connector/webhook/signature-github.js';
import { signStandard, verifyStandard } from '../../connector/webhook/signature-standard.js';
import { CliError, OptionError } from '../../core/index.js';
import type { CliContext } from '../context.js';
import { readInputBytes } from '../input.js';

/** Flags shared by both commands, as commander parses them. */
interface SignFlags {
  scheme: 'standard' | 'github';
  secret?: string;
  id?: string;
  timestamp?: string;
  bodyFile?: string;
}

/** `verify` adds the received signature and the clock window. */
interface VerifyFlags extends SignFlags {
  signature: string;
  now?: string;
  tolerance?: string;
}

const SECRET_ENV = 'DARKHOOK_SECRET';
const SECONDS = /^(0|[1-9][0-9]{0,14})$/;

const BODY_HELP = `
The body is read from --body-file, or else from stdin until EOF (raw bytes; an empty stdin is an
empty body). Prefer ${SECRET_ENV} over --secret: a flag is visible in process listings.`;

function requireSecret(flags: SignFlags): string {
  if (!flags.secret) throw new CliError('ERR_CLI_USAGE', `--secret (or ${SECRET_ENV}) is required`);
  return flags.secret;
}

function parseSeconds(flag: string, value: string): number {
  if (!SECONDS.test(value)) throw new OptionError('ERR_OPTION_INVALID', `${flag} must be integer seconds`);
  return Number(value);
}

/** Enforce which flags each scheme takes, so a forgotten `--id` is a usage error, not a wrong signature. */
function checkSchemeFlags(flags: VerifyFlags | SignFlags): void {
  const given = (name: keyof VerifyFlags): boolean => (flags as Partial<VerifyFlags>)[name] !== undefined;
  if (flags.scheme === 'github') {
    for (const [name, flag] of [['id', '--id'], ['timestamp', '--timestamp'], ['now', '--now'], ['tolerance', '--tolerance']] as const) {
      if (given(name)) throw new CliError('ERR_CLI_USAGE', `${flag} does not apply to --scheme github`);
    }
  } else if (!given('id') || !given('timestamp')) {
    throw new CliError('ERR_CLI_USAGE', '--id and --timestamp are required for --scheme standard');
  }
}

function addCommonOptions(command: Command): Command {
  return command
    .addOption(new Option('--scheme <scheme>', 'signature scheme').choices(['standard', 'github']).default('standard'))
    .addOption(
      new Option('--secret <secret>', 'whsec_… (v1 HMAC), whsk_… (v1a Ed25519; verify also takes whpk_…), or the GitHub secret text').env(
        SECRET_ENV,
      ),
    )
    .option('--id <id>', 'webhook-id (standard scheme)')
    .option('--timestamp <seconds>', 'webhook-timestamp in integer Unix seconds (standard scheme)')
    .option('--body-file <path>', 'file holding the exact body bytes (default: stdin)');
}

/** Register `sign` and `verify`. */
export function registerSign(program: Command, context: () => CliContext): void {
  addCommonOptions(program.command('sign'))
    .description('print the signature header value for a webhook body (webhook-signature, or sha256=… for github)')
    .addHelpText('after', BODY_HELP)
    .action(async (flags: SignFlags) => {
      checkSchemeFlags(flags);
      const secret = requireSecret(flags);
      const body = await readInputBytes(flags.bodyFile, '--body-file');
      const signature =
        flags.scheme === 'github'
          ? signGithub(body, secret)
          : signStandard({ id: flags.id!, timestamp: parseSeconds('--timestamp', flags.timestamp!), body, secret });
      const ctx = context();
      ctx.out(ctx.json ? JSON.stringify({ signature }) : signature);
    });

  addCommonOptions(program.command('verify'))
    .description('check a webhook signature; exit 0 and print "valid", or exit 5 with the reason')
    .requiredOption('--signature <value>', 'the received webhook-signature (or X-Hub-Signature-256) value')
    .option('--now <seconds>', 'the clock to check the timestamp against, Unix seconds (default: now)')
    .option('--tolerance <seconds>', 'allowed clock gap each way, seconds (default: 300)')
    .addHelpText('after', BODY_HELP)
    .action(async (flags: VerifyFlags) => {
      checkSchemeFlags(flags);
      const secret = requireSecret(flags);
      const now = flags.now === undefined ? undefined : parseSeconds('--now', flags.now);
      const tolerance = flags.tolerance === undefined ? undefined : parseSeconds('--tolerance', flags.tolerance);
      const body = await readInputBytes(flags.bodyFile, '--body-file');
      if (flags.scheme === 'github') {
        verifyGithub(body, secret, flags.signature);
      } else {
        verifyStandard({
          id: flags.id,
          timestamp: flags.timestamp,
          signature: flags.signature,
          body,
          secrets: [secret],
          ...(now === undefined ? {} : { now }),
          ...(tolerance === undefined ? {} : { toleranceSeconds: tolerance }),
        });
      }
      const ctx = context();
      ctx.out(ctx.json ? JSON.stringify({ valid: true, scheme: flags.scheme }) : 'valid');
    });
}
