/** `darkhook demo`: the whole story on one machine — a push to Jenkins, alerts to Slack, attacks refused, no inbound port. */
import type { Command } from 'commander';
import { CliError, OptionError } from '../../core/index.js';
import type { CliContext } from '../context.js';
import { runDemo } from '../demo.js';

/** Register `demo`. */
export function registerDemo(program: Command, context: () => CliContext): void {
  program
    .command('demo')
    .description('run the whole story on 127.0.0.1: fabric, sidecar, Jenkins and Slack stand-ins, a GitHub push, security alerts, refused attacks')
    .option('--events <n>', 'security alerts in the batch (severities cycle critical, high, medium, low)', '8')
    .option('--home <dir>', 'home to use (default: a temporary directory, removed afterwards)')
    .option('--keep', 'keep the temporary home (identities, receiver config and store, outboxes) for inspection', false)
    .action(async (opts: { events: string; home?: string; keep: boolean }) => {
      const ctx = context();
      const events = Number(opts.events);
      if (!Number.isInteger(events) || events < 1 || events > 1_000) throw new OptionError('ERR_OPTION_INVALID', '--events must be a whole number from 1 to 1000');
      if (!ctx.json) ctx.out('darkhook demo: a GitHub push to Jenkins and security alerts to Slack over a zero-trust fabric (everything on 127.0.0.1)');
      const result = await runDemo({ events, home: opts.home, keep: opts.keep, say: (l) => (ctx.json ? undefined : ctx.out(l)) });
      if (ctx.json) ctx.out(JSON.stringify(result));
      else ctx.out(`demo ${result.ok ? 'complete' : 'FAILED'} in ${(result.ms / 1000).toFixed(1)} s: ${result.checks.filter((c) => c.ok).length}/${result.checks.length} checks passed${result.home !== undefined ? `; files kept in ${result.home}` : ''}`);
      const failed = result.checks.filter((c) => !c.ok);
      if (failed.length > 0) throw new CliError('ERR_CLI_DEMO_FAILED', `${failed.length} check(s) failed: ${failed.map((c) => c.name).join('; ')}`);
    });
}
