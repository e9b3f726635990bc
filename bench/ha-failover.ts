/** Time from SIGKILLing the raft leader of a real three-node OpenZiti cluster to the next acknowledged send; median of 5. Prints figures only. */
import { performance } from 'node:perf_hooks';
import { ZitiContext, enroll } from '../connector/ziti/index.js';
import { readAll } from '../test/ziti/sdk-suite.js';
import { HaCluster } from '../test/interop/ha-cluster.js';
import { zitiBinary } from '../test/interop/quickstart.js';

/** Kill/restart rounds. */
const RUNS = Number(process.env['BENCH_RUNS'] ?? 5);
/** Pause between attempts of a send that failed, in milliseconds. */
const RETRY_MS = 50;

const bin = zitiBinary();
if (bin.path === undefined) {
  process.stdout.write(`ha-failover: skipped (${bin.reason})\n`);
  process.exit(0);
}

/** One acknowledged send: dial, one message, its echo. Retried until it succeeds; resolves with the ms it took from `from`. */
async function nextAck(ctx: ZitiContext, from: number, text: string): Promise<number> {
  for (;;) {
    try {
      const conn = await ctx.dial('echo');
      conn.end(text);
      if ((await readAll(conn)).toString() === text) return performance.now() - from;
    } catch {
      // not yet: the controller in use may be the dead one
    }
    await new Promise((r) => setTimeout(r, RETRY_MS));
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const formStart = performance.now();
const cluster = await HaCluster.start(bin.path);
const formedMs = performance.now() - formStart;
try {
  await cluster.ziti('edge', 'create', 'service', 'echo');
  await cluster.ziti('edge', 'create', 'service-policy', 'echo-bind', 'Bind', '--service-roles', '@echo', '--identity-roles', '#receivers');
  await cluster.ziti('edge', 'create', 'service-policy', 'echo-dial', 'Dial', '--service-roles', '@echo', '--identity-roles', '#senders');
  const senderId = await enroll(await cluster.createIdentity('sender', ['senders']), { keyBits: 2048 });
  const receiver = new ZitiContext(await enroll(await cluster.createIdentity('receiver', ['receivers']), { keyBits: 2048 }));
  const server = receiver.listen('echo');
  server.on('connection', (c) => {
    c.on('error', () => undefined);
    c.pipe(c);
  });
  const running = new ZitiContext(senderId);
  await nextAck(running, performance.now(), 'warm-up');

  const rows: { baseRunning: number; baseFresh: number; running: number; fresh: number; election: number }[] = [];
  for (let run = 0; run < RUNS; run++) {
    const leader = await cluster.leader();
    const leaderApi = `${cluster.ctrlUrl(leader)}/edge/client/v1`;
    // Same-run baseline: the same two sends with every controller up.
    const baseRunning = await nextAck(running, performance.now(), `base-${run}`);
    const baseFreshCtx = new ZitiContext({ ...senderId, ztAPI: leaderApi });
    const baseFresh = await nextAck(baseFreshCtx, performance.now(), `base-fresh-${run}`);
    await baseFreshCtx.close();

    await cluster.killController(leader);
    const killedAt = performance.now();
    // A long-running sender (its service and session cached) and a fresh one (a new `send`
    // process) whose identity names the dead leader first, timed from the same kill.
    const freshCtx = new ZitiContext({ ...senderId, ztAPI: leaderApi });
    const [runningMs, freshMs] = await Promise.all([nextAck(running, killedAt, `run-${run}`), nextAck(freshCtx, killedAt, `fresh-${run}`)]);
    await cluster.leader(30_000);
    const election = performance.now() - killedAt;
    await freshCtx.close();
    rows.push({ baseRunning, baseFresh, running: runningMs, fresh: freshMs, election });
    process.stdout.write(`run ${run + 1}: killed ${leader}; next ack: running sender ${runningMs.toFixed(0)} ms, fresh sender ${freshMs.toFixed(0)} ms (baseline ${baseRunning.toFixed(0)} / ${baseFresh.toFixed(0)} ms); new leader seen after ${election.toFixed(0)} ms\n`);
    cluster.startController(leader);
    await cluster.waitConnected(['ctrl1', 'ctrl2', 'ctrl3']);
  }
  const m = (k: keyof (typeof rows)[number]): string => median(rows.map((r) => r[k])).toFixed(0);
  process.stdout.write(`\nziti v1.7.2, 3 controllers + 3 routers on 127.0.0.1, cluster formed in ${(formedMs / 1000).toFixed(1)} s; median of ${RUNS} leader kills:\n`);
  process.stdout.write(`  next acknowledged send, running sender : ${m('running')} ms   (baseline, all controllers up: ${m('baseRunning')} ms)\n`);
  process.stdout.write(`  next acknowledged send, fresh sender   : ${m('fresh')} ms   (baseline: ${m('baseFresh')} ms)\n`);
  process.stdout.write(`  kill → new leader listed by the CLI    : ${m('election')} ms\n`);
  await running.close();
  await receiver.close();
} finally {
  await cluster.dispose();
}
