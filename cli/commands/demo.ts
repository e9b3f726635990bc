/** `darkhook demo`: the end-to-end demonstration on an embedded fabric. */
import type { Command } from 'commander';
import { OptionError } from '../../core/index.js';
import type { CliContext } from '../context.js';
import { runDemo } from '../demo.js';

/** Register `demo`. */
export function registerDemo(program: Command, context: () => CliContext): void {
  program
    .command('demo')
    .description('start an embedded fabric, a receiver and a sender, and deliver signed webhooks end to end')
    .option('--events <n>', 'how many events to send', '25')
    .option('--home <dir>', 'fabric home to use (default: a temporary directory, removed afterwards)')
    .option('--keep', 'keep the temporary home (identities, outbox, receiver store) for inspection', false)
    .action(async (opts: { events: string; home?: string; keep: boolean }) => {
      const ctx = context();
      const events = Number(opts.events);
      if (!Number.isInteger(events) || events < 1 || events > 100_000) throw new OptionError('ERR_OPTION_INVALID', '--events must be a whole number from 1 to 100000');
      if (!ctx.json) ctx.out('darkhook demo: zero-trust webhooks on an embedded fabric (everything on 127.0.0.1)');
      const result = await runDemo({ events, home: opts.home, keep: opts.keep, say: (l) => (ctx.json ? undefined : ctx.out(l)) });
      if (ctx.json) ctx.out(JSON.stringify(result));
      else ctx.out(`demo complete in ${(result.ms / 1000).toFixed(1)} s: ${result.delivered}/${result.sent} delivered, ${result.stored} stored, no inbound port on the receiver${result.home !== undefined ? `; files kept in ${result.home}` : ''}`);
    });
}
