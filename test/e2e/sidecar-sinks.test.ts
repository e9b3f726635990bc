/**
 * The sidecar with Jenkins, Slack and Jira sinks, real processes on loopback: `darkhook fabric up`,
 * `darkhook receive --config` (with its admin listener) and `darkhook send` as children, the three
 * stand-ins in this process. Slack refusing its token (403 `invalid_token`) disables only the Slack
 * sink — an error line, the sink-state metric, `darkhook sinks list` with the reason — while Jenkins
 * keeps receiving; `darkhook sinks enable slack` sends every waiting delivery, once. A 429 makes the
 * sink wait its `Retry-After`. Jira losing its answer to a create never gets a second issue.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  type Child, type NetHome, prepareNet, type ReceiverProcess, SERVICE, startFabricProcess, startReceiverProcess, waitFor, writeReceiverConfig,
} from '../../bench/harness.js';
import { isLoopbackAddress, listeningSockets } from '../../cli/listening-ports.js';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import { type JenkinsStandin, startJenkins } from '../../standins/jenkins.js';
import { type JiraStandin, startJira } from '../../standins/jira.js';
import { type SlackStandin, startSlack } from '../../standins/slack.js';
import { runCli } from '../cli/helpers.js';

let net: NetHome;
let fabric: Child;
let jenkins: JenkinsStandin;
let slack: SlackStandin;
let jira: JiraStandin;
let receiver: ReceiverProcess;
let configFile: string;
let sends = 0;
const secret = generateHmacSecret();
const jenkinsSecret = randomBytes(20).toString('hex');
const adminToken = randomBytes(24).toString('hex');
const jiraToken = randomBytes(16).toString('hex');
/** The Slack sink's concurrency: at most this many attempts can be refused before the sink is disabled. */
const SLACK_CONCURRENCY = 2;

before(async () => {
  net = await prepareNet({ receivers: ['hooks-receiver'], senders: ['ci-sender'] });
  fabric = await startFabricProcess(net);
  jenkins = await startJenkins({ host: '127.0.0.1', port: 0, secret: jenkinsSecret });
  slack = await startSlack({ host: '127.0.0.1', port: 0 });
  jira = await startJira({ host: '127.0.0.1', port: 0, email: 'bot@example.com', token: jiraToken });
  configFile = join(net.dir, 'receiver-config.json');
  const retry = { retryMinMs: 100, retryMaxMs: 1_000, circuitCooldownMs: 1_000 };
  writeReceiverConfig(configFile, {
    identity: net.identities['hooks-receiver'],
    service: SERVICE,
    store: join(net.dir, 'receiver.db'),
    secrets: ['env:DARKHOOK_SECRET'],
    routes: [{ path: '/github', callers: ['ci-sender'], sinks: ['jenkins', 'slack'] }, { path: '/alerts', sinks: ['jira'] }],
    sinks: {
      jenkins: { type: 'jenkins', url: jenkins.url, secret: 'env:JENKINS_HOOK_SECRET', ...retry },
      // Faster than Slack's 1/s so the test takes seconds, not a minute.
      slack: { type: 'slack', url: 'env:SLACK_WEBHOOK_URL', ratePerSecond: 20, concurrency: SLACK_CONCURRENCY, ...retry },
      jira: { type: 'jira', url: jira.url, project: 'SEC', email: 'bot@example.com', token: 'env:JIRA_TOKEN', minSeverity: 'high', ...retry },
    },
    admin: { listen: '127.0.0.1:0', token: 'env:DARKHOOK_ADMIN_TOKEN' },
  });
  receiver = await startReceiverProcess(configFile, {
    DARKHOOK_SECRET: secret, JENKINS_HOOK_SECRET: jenkinsSecret, SLACK_WEBHOOK_URL: slack.url, DARKHOOK_ADMIN_TOKEN: adminToken, JIRA_TOKEN: jiraToken,
  });
});

after(async () => {
  await receiver?.kill();
  await fabric?.stop();
  await jenkins?.stop();
  await slack?.stop();
  await jira?.stop();
  if (net !== undefined) rmSync(net.dir, { recursive: true, force: true });
});

/** `count` push events (one JSON line each) with `darkhook send --lines`; resolves with their ids. */
async function send(count: number, tag: string, route: { path: string; event: string; severity?: string } = { path: '/github', event: 'push' }): Promise<string[]> {
  const file = join(net.dir, `payload-${++sends}.json`);
  writeFileSync(file, Array.from({ length: count }, (_, seq) => JSON.stringify({ ref: 'refs/heads/main', title: `${tag} ${seq}`, tag, seq })).join('\n'));
  const r = await runCli(
    ['--json', '--log-level', 'warn', 'send', '--identity', net.identities['ci-sender']!, '--service', SERVICE, '--path', route.path, '--event', route.event,
      ...(route.severity === undefined ? [] : ['--severity', route.severity]),
      '--payload', file, '--lines', '--outbox', join(net.dir, `outbox-${sends}.db`), '--batch-max-wait', '20'],
    { env: { DARKHOOK_SECRET: secret }, timeoutMs: 120_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const ids = (JSON.parse(r.stdout) as { ids: string[] }).ids;
  assert.equal(ids.length, count);
  return ids;
}

/** `darkhook <args> --config <file> --json`, exit 0, parsed. */
async function cliJson<T>(args: readonly string[]): Promise<T> {
  const r = await runCli(['--json', ...args, '--config', configFile]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

/** How many Slack posts name each of `ids` (the post's last line is `id <message id> · from <caller>`). */
function slackPosts(ids: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const post of slack.received) {
    for (const id of ids) if (post.text?.includes(`id ${id} `) === true) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

function jenkinsArrivals(ids: readonly string[]): number {
  const want = new Set(ids);
  return jenkins.received.filter((d) => d.deliveryId !== undefined && want.has(d.deliveryId)).length;
}

/** The value of `darkhook_sink_active{sink="<sink>"}` on the admin listener's /metrics. */
async function sinkActive(sink: string): Promise<number | undefined> {
  const res = await fetch(`http://${receiver.ready.admin}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } });
  assert.equal(res.status, 200);
  const m = new RegExp(`^darkhook_sink_active\\{sink="${sink}"\\} (\\d+)$`, 'm').exec(await res.text());
  return m === null ? undefined : Number(m[1]);
}

/** The receiver's JSON log lines (stderr). */
function logLines(): Record<string, unknown>[] {
  return receiver.stderr().split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

interface SinkRow { name: string; state: string; reason?: string; deliveries: Record<string, number> }

test('the sidecar with its admin listener listens on loopback only, on the admin port alone', () => {
  const sockets = listeningSockets(receiver.pid);
  if (sockets === undefined) return; // no /proc here: nothing to read
  const adminPort = Number(receiver.ready.admin!.split(':').at(-1));
  assert.deepEqual(sockets.filter((s) => !isLoopbackAddress(s.address)), [], 'no socket outside loopback');
  assert.deepEqual(sockets.map((s) => s.port), [adminPort], 'the admin listener is the only one');
});

test('Slack 403 invalid_token: the slack sink is disabled with an alert, a metric and its reason; Jenkins keeps flowing; enable sends every waiting delivery once', { timeout: 180_000 }, async () => {
  assert.equal(await sinkActive('slack'), 1);
  slack.setMode({ type: 'invalid_token' });
  const ids = await send(10, 'token-refused');

  // The other sink keeps flowing.
  assert.ok(await waitFor(() => jenkinsArrivals(ids) === ids.length, 30_000), 'every event reached Jenkins while Slack refused its token');
  assert.equal(jenkinsArrivals(ids), ids.length, 'once each');

  // The alert: one error line naming the sink, the status and the reason.
  assert.ok(await waitFor(() => logLines().some((l) => l['msg'] === 'sink disabled: credentials refused'), 10_000), receiver.stderr().slice(-2000));
  const alerts = logLines().filter((l) => l['msg'] === 'sink disabled: credentials refused');
  assert.equal(alerts.length, 1, 'one alert per disabling');
  assert.equal(alerts[0]!['level'], 'error');
  assert.equal(alerts[0]!['sink'], 'slack');
  assert.equal(alerts[0]!['status'], 403);
  assert.match(String(alerts[0]!['reason']), /invalid_token/);
  assert.ok(!receiver.stderr().includes(slack.url), 'the Slack webhook URL (its credential) is never logged');

  // The metric.
  assert.equal(await sinkActive('slack'), 0);
  assert.equal(await sinkActive('jenkins'), 1);

  // Slack was asked at most as often as attempts could be in flight at once, and posted nothing.
  const refused = slack.answers.filter((s) => s === 403).length;
  assert.ok(refused >= 1 && refused <= SLACK_CONCURRENCY, `${refused} refused attempts`);
  assert.equal(slack.received.length, 0);

  // `darkhook sinks list` (another process) shows it disabled, with the reason and its queue.
  const rows = await cliJson<SinkRow[]>(['sinks', 'list']);
  const slackRow = rows.find((r) => r.name === 'slack')!;
  assert.equal(slackRow.state, 'disabled');
  assert.match(slackRow.reason ?? '', /invalid_token.*HTTP 403/);
  assert.equal((slackRow.deliveries['pending'] ?? 0) + (slackRow.deliveries['inflight'] ?? 0), ids.length, 'every Slack delivery waits');
  assert.equal(slackRow.deliveries['dead'], undefined, 'nothing dropped');
  const jenkinsRow = rows.find((r) => r.name === 'jenkins')!;
  assert.equal(jenkinsRow.state, 'active');
  assert.equal(jenkinsRow.deliveries['delivered'], ids.length);
  const text = await runCli(['sinks', 'list', '--config', configFile]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^slack {2}slack {2}disabled \([^\n]*invalid_token[^\n]*\) {2}pending 10 {2}delivered 0 {2}dead 0 {2}slack \(incoming webhook\)/m);
  assert.match(text.stdout, /^jenkins {2}jenkins {2}active {2}pending 0 {2}delivered 10 {2}dead 0 {2}http:\/\/127\.0\.0\.1:\d+\/github-webhook\//m);

  // Still waiting a poll later: a disabled sink makes no attempt.
  await new Promise((r) => setTimeout(r, 1_500));
  assert.equal(slack.answers.filter((s) => s === 403).length, refused, 'no attempt while disabled');
  const pending = await cliJson<{ id: string }[]>(['messages', 'list', '--status', 'pending', '--limit', '1000']);
  assert.deepEqual(new Set(pending.map((m) => m.id)), new Set(ids), 'each message stays pending for its Slack delivery');

  // The token is fixed; an operator enables the sink from another process.
  slack.setMode({ type: 'ok' });
  assert.deepEqual(await cliJson(['sinks', 'enable', 'slack']), { name: 'slack', state: 'active' });
  assert.ok(await waitFor(() => slackPosts(ids).size === ids.length, 30_000), `every waiting delivery posted (${slackPosts(ids).size} of ${ids.length})`);
  await new Promise((r) => setTimeout(r, 1_000));
  assert.ok([...slackPosts(ids).values()].every((n) => n === 1), 'each posted once');
  assert.equal(await sinkActive('slack'), 1);
  const delivered = await cliJson<{ id: string }[]>(['messages', 'list', '--status', 'delivered', '--limit', '1000']);
  assert.ok(ids.every((id) => delivered.some((m) => m.id === id)), 'every message delivered to both sinks');
});

test('Slack 429 with Retry-After: the sink waits that long before the next attempt, then posts once', { timeout: 120_000 }, async () => {
  slack.setMode({ type: 'rate_limited', count: 1, retryAfterSeconds: 2 });
  const [id] = await send(1, 'rate-limited');
  assert.ok(await waitFor(() => slackPosts([id!]).size === 1, 30_000), 'posted after the pause');
  interface Shown { deliveries: { sink: string; state: string; attemptLog: { at: string; durationMs: number; outcome: string; status: number | null }[] }[] }
  const shown = await cliJson<Shown>(['messages', 'show', id!]);
  const log = shown.deliveries.find((d) => d.sink === 'slack')!.attemptLog;
  assert.deepEqual(log.map((a) => [a.outcome, a.status]), [['retry', 429], ['delivered', 200]]);
  // Recorded start times, not this test's clock: the second attempt began at least Retry-After after the first ended.
  const gap = Date.parse(log[1]!.at) - (Date.parse(log[0]!.at) + log[0]!.durationMs);
  assert.ok(gap >= 2_000, `second attempt ${gap} ms after the 429`);
  assert.equal(slackPosts([id!]).get(id!), 1);
  assert.equal(jenkinsArrivals([id!]), 1);
});

test('Jira: the answer to a create is lost; the retry finds the issue by its label and creates no second one; a low alert opens none', { timeout: 120_000 }, async () => {
  jira.setMode({ type: 'lose-answer', count: 1 });
  const [high] = await send(1, 'lost-answer', { path: '/alerts', event: 'security.alert', severity: 'high' });
  const [low] = await send(1, 'low-alert', { path: '/alerts', event: 'security.alert', severity: 'low' });
  interface Shown { status: string; deliveries: { sink: string; state: string; attemptLog: { outcome: string; status: number | null }[] }[] }
  const show = async (id: string): Promise<Shown> => cliJson<Shown>(['messages', 'show', id]);
  let shown: Shown | undefined;
  const end = Date.now() + 30_000;
  while (Date.now() < end && (shown = await show(high!)).status !== 'delivered') await new Promise((r) => setTimeout(r, 250));
  assert.equal(shown?.status, 'delivered', JSON.stringify(shown));
  const attempts = shown.deliveries.find((d) => d.sink === 'jira')!.attemptLog.map((a) => a.outcome);
  assert.deepEqual(attempts, ['retry', 'delivered'], 'the lost answer was retried once');
  const label = `darkhook-${high}`;
  assert.equal(jira.issues.filter((i) => i.labels.includes(label)).length, 1, 'exactly one issue');
  // Create (answer lost), then a search by label that finds it, and no second create.
  assert.deepEqual(jira.log.filter((l) => l.startsWith('POST /rest/api/3/issue')), ['POST /rest/api/3/issue lost']);
  assert.ok(jira.log.some((l) => l.startsWith('GET /rest/api/3/search/jql 200')), jira.log.join(', '));
  // Below the Jira sink's minSeverity (high): skipped, no issue.
  let lowShown = await show(low!);
  for (let i = 0; i < 40 && lowShown.status === 'pending'; i++) {
    await new Promise((r) => setTimeout(r, 250));
    lowShown = await show(low!);
  }
  assert.equal(lowShown.status, 'filtered', 'skipped by its only sink');
  assert.deepEqual(lowShown.deliveries.map((d) => [d.sink, d.state]), [['jira', 'skipped']]);
  assert.equal(jira.issues.filter((i) => i.labels.includes(`darkhook-${low}`)).length, 0);
});
