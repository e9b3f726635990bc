/** `darkhook messages list|show|resubmit|purge` and `darkhook sinks list|enable|disable|test`: the message log, from any process. */
import type { Command } from 'commander';
import { parseDuration, parseSince } from '../../core/duration.js';
import { CliError, OptionError } from '../../core/index.js';
import type { ReceiverConfig } from '../../receiver/config/config.js';
import type { MessageLog } from '../../receiver/log/message-log.js';
import type { DeliveryState, MessageStatus } from '../../receiver/log/types.js';
import type { CliContext } from '../context.js';
import { defaultReceiverStorePath, wholeNumber } from './receive.js';

interface StoreFlags {
  config?: string;
  store?: string;
}

/** How long `sinks test` waits for the running receiver to deliver, in milliseconds. */
const TEST_WAIT_MS = 15_000;
/** The deadline given to resubmitted deliveries when the config does not say, in milliseconds: 24 h. */
const RESUBMIT_DEADLINE_MS = 86_400_000;

/** The config's layout (store, sinks) without reading its secrets, when --config is given. */
async function layoutOf(flags: StoreFlags): Promise<ReceiverConfig | undefined> {
  if (flags.config === undefined) return undefined;
  if (flags.store !== undefined) throw new CliError('ERR_CLI_USAGE', 'give --config or --store, not both');
  const { loadConfig } = await import('../../receiver/config/config.js');
  return loadConfig(flags.config, process.env, { resolveSecrets: false });
}

async function withStore<T>(flags: StoreFlags, readOnly: boolean, fn: (store: MessageLog, config: ReceiverConfig | undefined) => T | Promise<T>): Promise<T> {
  const config = await layoutOf(flags);
  const { openMessageLog } = await import('../../receiver/log/open.js');
  const store = await openMessageLog(config?.store ?? flags.store ?? defaultReceiverStorePath(), { readOnly });
  try {
    return await fn(store, config);
  } finally {
    await store.close();
  }
}

function since(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const at = parseSince(value, Date.now());
  if (at === undefined) throw new OptionError('ERR_OPTION_INVALID', `${flag} must be a duration (24h, 7d) or an ISO date`);
  return at;
}

async function sinkNames(store: MessageLog, config: ReceiverConfig | undefined): Promise<{ name: string; type: string; target: string }[]> {
  if (config !== undefined) {
    return config.sinks.map((s) => ({ name: s.name, type: s.type, target: s.type === 'slack' ? 'slack (incoming webhook)' : `${new URL(s.url).origin}${new URL(s.url).pathname}` }));
  }
  // Without the config, the sinks the store has seen.
  const names = new Set([...Object.keys(await store.deliveryCounts()), ...(await store.sinkStates()).map((s) => s.name)]);
  return [...names].sort().map((name) => ({ name, type: '?', target: '?' }));
}

async function checkSink(name: string, store: MessageLog, config: ReceiverConfig | undefined): Promise<void> {
  if (!(await sinkNames(store, config)).some((s) => s.name === name)) {
    throw new CliError('ERR_CLI_USAGE', `no sink "${name}"${config === undefined ? ' in this store (give --config to name sinks not used yet)' : ' in the config'}`);
  }
}

const time = (ms: number | undefined): string => (ms === undefined ? '-' : new Date(ms).toISOString());

/** Register `messages` and `sinks`. */
export function registerMessages(program: Command, context: () => CliContext): void {
  const where = (c: Command): Command =>
    c.option('--config <file>', 'the receiver config (its store and sinks; secrets are not read)').option('--store <file|url>', 'message store: a SQLite file (default ~/.darkhook/receiver.db) or postgres://USER:env:VAR@HOST:PORT/DB');

  const messages = program.command('messages').description('the receiver message log: list, show, resubmit, purge (works while the receiver runs)');
  where(messages.command('list').description('list stored messages in arrival order (never their bodies)'))
    .option('--since <when>', 'received since: a duration back (24h, 7d) or an ISO date')
    .option('--status <status>', 'stored, pending, delivered, dead or filtered')
    .option('--route <path>', 'only this route')
    .option('--sink <name>', 'only messages with a delivery to this sink')
    .option('--type <type>', 'only this event type')
    .option('--limit <n>', 'most messages shown', '100')
    .option('--after <id>', 'only messages stored after this id')
    .action((flags: StoreFlags & { since?: string; status?: string; route?: string; sink?: string; type?: string; limit: string; after?: string }) =>
      withStore(flags, true, async (store) => {
        const ctx = context();
        const limit = wholeNumber('--limit', flags.limit, 1)!;
        const statuses = ['stored', 'pending', 'delivered', 'dead', 'filtered'];
        if (flags.status !== undefined && !statuses.includes(flags.status)) throw new OptionError('ERR_OPTION_INVALID', `--status must be one of ${statuses.join(', ')}`);
        let afterSeq: number | undefined;
        if (flags.after !== undefined) {
          const found = (await store.query({ idPrefix: flags.after, limit: 1, order: 'asc' }))[0];
          afterSeq = found !== undefined && found.id === flags.after ? found.seq : Number.MAX_SAFE_INTEGER;
        }
        const rows = (
          await store.query({
            order: 'asc',
            limit: Math.min(limit, 1000),
            ...(flags.since === undefined ? {} : { since: since('--since', flags.since)! }),
            ...(flags.status === undefined ? {} : { status: flags.status as MessageStatus }),
            ...(flags.route === undefined ? {} : { route: flags.route }),
            ...(flags.sink === undefined ? {} : { sink: flags.sink }),
            ...(flags.type === undefined ? {} : { type: flags.type }),
            ...(afterSeq === undefined ? {} : { afterSeq }),
          })
        ).map((m) => ({
            id: m.id,
            type: m.type,
            caller: m.caller ?? null,
            route: m.route ?? null,
            status: m.status,
            severity: m.severity ?? null,
            batchId: m.batchId ?? null,
            bytes: m.bytes,
            receivedAt: new Date(m.receivedAt).toISOString(),
          }));
        if (ctx.json) ctx.out(JSON.stringify(rows));
        else if (rows.length === 0) ctx.out('no messages stored');
        else for (const m of rows) ctx.out(`${m.id}  ${m.type}  ${m.caller ?? '-'}  ${m.bytes} B  ${m.receivedAt}  ${m.status}${m.route === null ? '' : `  ${m.route}`}`);
      }),
    );

  where(messages.command('show').description('one message: headers, caller, verification, and every attempt per sink').argument('<id>'))
    .option('--body', 'print the body too (as it was received)')
    .action((id: string, flags: StoreFlags & { body?: boolean }) =>
      withStore(flags, true, async (store) => {
        const ctx = context();
        const found = await store.get(id);
        if (found === undefined) throw new CliError('ERR_CLI_USAGE', `no message ${id} in ${store.location}`);
        const { message: m, deliveries } = found;
        const view = {
          id: m.id,
          type: m.type,
          caller: m.caller ?? null,
          route: m.route ?? null,
          status: m.status,
          severity: m.severity ?? null,
          filteredReason: m.filteredReason ?? null,
          // Stored only after the signature, the timestamp window and the replay check passed.
          verification: 'signature valid, timestamp within the window, id new (checked before storing)',
          batchId: m.batchId ?? null,
          timestamp: new Date(m.timestamp * 1000).toISOString(),
          receivedAt: time(m.receivedAt),
          bytes: m.body.length,
          headers: m.headers,
          deliveries: deliveries.map((d) => ({
            sink: d.sink,
            state: d.state,
            attempts: d.attempts,
            possibleDuplicate: d.possibleDuplicate,
            nextAttemptAt: d.state === 'pending' ? time(d.nextAttemptAt) : null,
            deadlineAt: time(d.deadlineAt),
            lastError: d.lastError ?? null,
            attemptLog: d.attemptLog.map((a) => ({ at: time(a.startedAt), durationMs: a.durationMs, outcome: a.outcome, status: a.status ?? null, error: a.error ?? null })),
          })),
          ...(flags.body === true ? { body: m.body.toString('utf8') } : {}),
        };
        if (ctx.json) {
          ctx.out(JSON.stringify(view));
          return;
        }
        ctx.out(`${m.id}  ${m.type}  ${m.status}${m.filteredReason === undefined ? '' : ` (${m.filteredReason})`}`);
        ctx.out(`  caller ${view.caller ?? '-'}  route ${view.route ?? '-'}  severity ${view.severity ?? '-'}  ${view.bytes} B  received ${view.receivedAt}`);
        ctx.out(`  verification: ${view.verification}`);
        for (const [k, v] of Object.entries(m.headers)) ctx.out(`  ${k}: ${v}`);
        for (const d of view.deliveries) {
          ctx.out(`  → ${d.sink}: ${d.state}, ${d.attempts} attempt(s)${d.possibleDuplicate ? ', possible duplicate (in flight at a stop)' : ''}${d.nextAttemptAt === null ? '' : `, next ${d.nextAttemptAt}`}`);
          for (const a of d.attemptLog) ctx.out(`      ${a.at}  ${a.outcome}${a.status === null ? '' : ` HTTP ${a.status}`}  ${a.durationMs} ms${a.error === null ? '' : `  ${a.error}`}`);
        }
        if (flags.body === true) ctx.out(m.body.toString('utf8'));
      }),
    );

  where(messages.command('resubmit').description('send messages again (the running receiver picks them up within a second)').argument('[ids...]'))
    .option('--since <when>', 'every message received since: a duration back (24h) or an ISO date')
    .option('--sink <name>', 'only the deliveries to this sink')
    .option('--dead', 'only dead deliveries')
    .action((ids: string[], flags: StoreFlags & { since?: string; sink?: string; dead?: boolean }) =>
      withStore(flags, false, async (store, config) => {
        const ctx = context();
        if (ids.length === 0 && flags.since === undefined && flags.dead !== true) throw new CliError('ERR_CLI_USAGE', 'name message ids, or give --since or --dead');
        if (flags.sink !== undefined) await checkSink(flags.sink, store, config);
        for (const id of ids) if (!(await store.has(id))) throw new CliError('ERR_CLI_USAGE', `no message ${id} in ${store.location}`);
        const deadline = config?.sinks.find((s) => s.name === flags.sink)?.deadlineMs ?? RESUBMIT_DEADLINE_MS;
        const states: DeliveryState[] | undefined = flags.dead === true ? ['dead'] : undefined;
        const n = await store.resubmit(
          {
            ...(ids.length === 0 ? {} : { ids }),
            ...(flags.since === undefined ? {} : { since: since('--since', flags.since)! }),
            ...(flags.sink === undefined ? {} : { sink: flags.sink }),
            ...(states === undefined ? {} : { states }),
          },
          Date.now(),
          deadline,
        );
        ctx.out(ctx.json ? JSON.stringify({ resubmitted: n }) : `${n} deliver${n === 1 ? 'y' : 'ies'} queued again`);
      }),
    );

  where(messages.command('purge').description('remove finished messages older than the given age now (retention also runs by itself)'))
    .option('--older-than <age>', 'age, e.g. 7d or 12h', '7d')
    .action((flags: StoreFlags & { olderThan: string }) =>
      withStore(flags, false, async (store) => {
        const ctx = context();
        const age = parseDuration(flags.olderThan);
        if (age === undefined) throw new OptionError('ERR_OPTION_INVALID', '--older-than must be a duration such as 7d or 12h');
        const r = await store.purge(Date.now() - age);
        ctx.out(
          ctx.json
            ? JSON.stringify(r)
            : `removed ${r.removed} message(s) and ${r.rejections} refusal(s); kept ${r.keptPending} older message(s) whose deliveries are still pending`,
        );
      }),
    );

  const sinks = program.command('sinks').description('the receiver sinks: state, queue, last error; enable, disable, send a test message');
  where(sinks.command('list').description('each sink: state (disabled with the reason), queue, last error')).action((flags: StoreFlags) =>
    withStore(flags, true, async (store, config) => {
      const ctx = context();
      const { sinkOverview } = await import('../../receiver/log/ops.js');
      const rows = await sinkOverview(store, await sinkNames(store, config));
      if (ctx.json) {
        ctx.out(JSON.stringify(rows));
        return;
      }
      if (rows.length === 0) ctx.out('no sinks');
      for (const s of rows) {
        const d = s.deliveries;
        ctx.out(
          `${s.name}  ${s.type}  ${s.state}${s.reason === undefined ? '' : ` (${s.reason})`}  pending ${(d.pending ?? 0) + (d.inflight ?? 0)}  delivered ${d.delivered ?? 0}  dead ${d.dead ?? 0}  ${s.target}${s.lastError === undefined ? '' : `  last error ${time(s.lastError.at)}: ${s.lastError.error}`}`,
        );
      }
    }),
  );
  for (const [action, description] of [
    ['enable', 'resume a sink (its waiting deliveries go out)'],
    ['disable', 'pause a sink: its deliveries wait, nothing is dropped'],
  ] as const) {
    where(sinks.command(action).description(description).argument('<name>')).action((name: string, flags: StoreFlags) =>
      withStore(flags, false, async (store, config) => {
        const ctx = context();
        await checkSink(name, store, config);
        await store.setSinkState(name, action === 'enable' ? 'active' : 'disabled', action === 'enable' ? undefined : 'disabled by an operator', Date.now());
        ctx.out(ctx.json ? JSON.stringify({ name, state: action === 'enable' ? 'active' : 'disabled' }) : `sink ${name} ${action}d`);
      }),
    );
  }
  where(sinks.command('test').description('send a test message to one sink through the running receiver and wait for its outcome').argument('<name>'))
    .option('--no-wait', 'queue it and return')
    .action((name: string, flags: StoreFlags & { wait: boolean }) =>
      withStore(flags, false, async (store, config) => {
        const ctx = context();
        await checkSink(name, store, config);
        const { enqueueTestMessage } = await import('../../receiver/log/ops.js');
        const id = await enqueueTestMessage(store, name, Date.now(), config?.sinks.find((s) => s.name === name)?.deadlineMs ?? RESUBMIT_DEADLINE_MS);
        if (!flags.wait) {
          ctx.out(ctx.json ? JSON.stringify({ id, queued: true }) : `test message ${id} queued for ${name}`);
          return;
        }
        const end = Date.now() + TEST_WAIT_MS;
        for (;;) {
          const d = (await store.get(id))?.deliveries[0];
          const last = d?.attemptLog.at(-1);
          if (d !== undefined && last !== undefined) {
            const ok = d.state === 'delivered';
            const line = `test message ${id} → ${name}: ${last.outcome}${last.status === undefined ? '' : ` HTTP ${last.status}`} in ${last.durationMs} ms${last.error === undefined ? '' : ` (${last.error})`}`;
            ctx.out(ctx.json ? JSON.stringify({ id, sink: name, outcome: last.outcome, status: last.status ?? null, error: last.error ?? null }) : line);
            if (!ok) process.exitCode = 1;
            return;
          }
          if (Date.now() > end) throw new CliError('ERR_CLI_USAGE', `no attempt within ${TEST_WAIT_MS / 1000} s: is the receiver running with this store? (the message stays queued as ${id})`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }),
    );
}
