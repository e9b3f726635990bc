/**
 * `darkhook demo`: the whole story on one machine, narrated. An embedded fabric; a sender, a receiver and
 * a stranger identity; the receiver sidecar (`darkhook receive --config`, a child process) in front of a
 * Jenkins and a Slack stand-in on loopback; a real GitHub `push` sent as the Action sends it and a batch
 * of security alerts; then a tampered request, a replayed one and the stranger, each refused.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateHmacSecret } from '../connector/index.js';
import { createSender, openOutbox, type SenderEvent } from '../connector/sender/index.js';
import type { Severity } from '../connector/webhook/severity.js';
import { ZitiContext, enroll } from '../connector/ziti/index.js';
import { CliError, DarkhookError } from '../core/index.js';
import { createIdentityWithJwt, startFabric } from '../fabric/fabric.js';
import { writeIdentityFile } from '../pki/index.js';
import { startJenkins } from '../standins/jenkins.js';
import { startSlack } from '../standins/slack.js';
import { createTap, replay, tamperBody } from './demo-wire.js';
import { isLoopbackAddress, listeningSockets } from './listening-ports.js';
import { startReceiverProcess, writeReceiverConfig } from './sidecar-process.js';

/** Service the demo creates. */
export const DEMO_SERVICE = 'jenkins-hooks';
/** Alert severities, in the order the batch cycles through them. */
const ALERT_LEVELS: readonly Severity[] = ['critical', 'high', 'medium', 'low'];
/** Longest wait for the sidecar to forward what it stored, in milliseconds. */
const FORWARD_TIMEOUT_MS = 20_000;
/** How long the demo watches for a second delivery of a replayed event, in milliseconds (the workers poll every 500 ms). */
const REPLAY_WATCH_MS = 1_500;

/** Options of `runDemo`. */
export interface DemoOptions {
  /** Security alerts in the batch (severities cycle critical, high, medium, low). Default 8. */
  readonly events: number;
  /** Fabric home; default a new temporary directory, removed afterwards unless `keep`. */
  readonly home?: string;
  /** Keep the home directory (identities, config, outboxes, receiver store) for inspection. */
  readonly keep: boolean;
  /** Print one line. */
  readonly say: (line: string) => void;
}

/** One claim the demo checked. */
export interface DemoCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** What the demo proved, for `--json`. */
export interface DemoResult {
  readonly ok: boolean;
  readonly checks: DemoCheck[];
  readonly pushId: string;
  readonly alerts: { readonly sent: number; readonly forwarded: number; readonly filtered: number };
  readonly jenkinsDeliveries: number;
  readonly slackPosts: number;
  readonly tamperedStatus: number | undefined;
  readonly replayedStatus: number | undefined;
  readonly strangerCode: string | undefined;
  readonly sidecarListening: { address: string; port: number }[] | undefined;
  readonly ms: number;
  readonly home: string | undefined;
}

/** The `push` example GitHub documents (from @octokit/webhooks-examples), as the bytes GitHub would post. */
function githubPush(): Buffer {
  const require = createRequire(import.meta.url);
  const all = require('@octokit/webhooks-examples/api.github.com/index.json') as { name: string; examples: unknown[] }[];
  const push = all.find((e) => e.name === 'push')?.examples[0];
  if (push === undefined) throw new CliError('ERR_CLI_DEMO_FAILED', '@octokit/webhooks-examples has no push example');
  return Buffer.from(JSON.stringify(push));
}

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/**
 * Run the demo. Everything stays on 127.0.0.1. Resolves with every check, passed or not; the
 * command turns a failed check into ERR_CLI_DEMO_FAILED.
 * @throws ERR_CLI_DEMO_FAILED when a step cannot run at all (the receiver does not start, a send fails)
 */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const home = o.home ?? mkdtempSync(join(tmpdir(), 'darkhook-demo-'));
  const steps = 8;
  const step = (n: number, what: string, text: string): void => o.say(`  ${n}/${steps} ${what.padEnd(9)} ${text}`);
  const checks: DemoCheck[] = [];
  const check = (name: string, ok: boolean, detail: string): void => {
    checks.push({ name, ok, detail });
  };
  const cleanup: Array<() => Promise<unknown>> = [];
  try {
    const fabric = await startFabric({ home: join(home, 'fabric'), ctrlPort: 0, routerPort: 0 });
    cleanup.unshift(() => fabric.close());
    step(1, 'fabric', `controller ${fabric.ctrlUrl}, edge router ${fabric.routerAddress} (home ${home})`);

    fabric.store.createService({ name: DEMO_SERVICE, roleAttributes: ['hooks'], encryptionRequired: true });
    fabric.store.createPolicy({ name: 'senders-dial', type: 'Dial', serviceRoles: ['#hooks'], identityRoles: ['#senders'] });
    fabric.store.createPolicy({ name: 'receivers-bind', type: 'Bind', serviceRoles: ['#hooks'], identityRoles: ['#receivers'] });
    const tEnroll = performance.now();
    const names = [['demo-receiver', 'receivers'], ['demo-sender', 'senders'], ['stranger', 'visitors']] as const;
    const jwts = [];
    for (const [name, role] of names) jwts.push(await createIdentityWithJwt(join(home, 'fabric'), fabric.store, { name, roleAttributes: [role] }));
    const [rId, sId, xId] = await Promise.all(jwts.map((j) => enroll(j)));
    await writeIdentityFile(join(home, 'receiver.json'), rId!);
    step(2, 'identity', `service "${DEMO_SERVICE}" (end-to-end encryption required); #senders dial, #receivers bind; enrolled demo-receiver, demo-sender, stranger (#visitors: no policy) in ${Math.round(performance.now() - tEnroll)} ms`);

    const jenkinsSecret = randomBytes(20).toString('hex');
    const jenkins = await startJenkins({ host: '127.0.0.1', port: 0, secret: jenkinsSecret });
    cleanup.push(() => jenkins.stop());
    const slack = await startSlack({ host: '127.0.0.1', port: 0 });
    cleanup.push(() => slack.stop());
    step(3, 'stand-ins', `Jenkins (GitHub plugin, checks X-Hub-Signature-256) at ${jenkins.url}; Slack incoming webhook on 127.0.0.1:${slack.port}`);

    const secret = generateHmacSecret();
    const configFile = join(home, 'receiver-config.json');
    writeReceiverConfig(configFile, {
      identity: 'receiver.json',
      service: DEMO_SERVICE,
      store: 'receiver.db',
      secrets: ['env:DARKHOOK_SECRET'],
      routes: [
        { path: '/github', callers: ['demo-sender'], sinks: ['jenkins'] },
        { path: '/alerts', minSeverity: 'medium', sinks: ['slack'] },
      ],
      sinks: {
        jenkins: { type: 'jenkins', url: jenkins.url, secret: 'env:JENKINS_HOOK_SECRET', retryMinMs: 200, retryMaxMs: 2_000 },
        // Real Slack allows about one post per second (the default); the stand-in takes more.
        slack: { type: 'slack', url: 'env:SLACK_WEBHOOK_URL', ratePerSecond: 20, retryMinMs: 200, retryMaxMs: 2_000 },
      },
      admin: { listen: '127.0.0.1:0', token: 'env:DARKHOOK_ADMIN_TOKEN' },
    });
    const adminToken = randomBytes(24).toString('hex');
    const sidecar = await startReceiverProcess(configFile, {
      DARKHOOK_SECRET: secret,
      JENKINS_HOOK_SECRET: jenkinsSecret,
      SLACK_WEBHOOK_URL: slack.url,
      DARKHOOK_ADMIN_TOKEN: adminToken,
    });
    cleanup.unshift(() => sidecar.stop());
    const listening = (): { address: string; port: number }[] | undefined => listeningSockets(sidecar.pid);
    const atStart = listening();
    step(4, 'sidecar', `darkhook receive --config (pid ${sidecar.pid}): bound "${DEMO_SERVICE}" by dialing out; routes /github → jenkins (callers demo-sender), /alerts ≥ medium → slack; admin ${sidecar.ready.admin ?? 'off'}; listening: ${atStart === undefined ? 'unknown (no /proc)' : atStart.map((s) => `${s.address}:${s.port}`).join(', ') || 'nothing'}`);

    const senderZiti = new ZitiContext(sId!);
    cleanup.unshift(() => senderZiti.close());
    const tap = createTap();
    const githubOutbox = await openOutbox(join(home, 'outbox-github.db'));
    cleanup.push(async () => githubOutbox.close());
    const github = createSender({ outbox: githubOutbox, connect: tap.wrap(() => senderZiti.dial(DEMO_SERVICE)), secret, path: '/github', host: DEMO_SERVICE });
    cleanup.unshift(() => github.close());
    const pushBody = githubPush();
    // As the Action sends it: the event name, the workflow's event payload, application/json.
    const push = await github.send({ type: 'push', body: pushBody, contentType: 'application/json' });
    const pushReport = await github.flush();
    step(5, 'push', `a real GitHub push payload (${pushBody.length} bytes, @octokit/webhooks-examples) signed and sent to /github as ${push.id}: ${pushReport.delivered.length === 1 ? 'stored (2xx)' : 'NOT accepted'}`);
    if (pushReport.delivered.length !== 1) throw new CliError('ERR_CLI_DEMO_FAILED', `the push was not accepted: ${pushReport.lastError ?? 'unknown'}`);

    const alertsOutbox = await openOutbox(join(home, 'outbox-alerts.db'));
    cleanup.push(async () => alertsOutbox.close());
    const alertsSender = createSender({ outbox: alertsOutbox, connect: () => senderZiti.dial(DEMO_SERVICE), secret, path: '/alerts', host: DEMO_SERVICE });
    cleanup.unshift(() => alertsSender.close());
    const alerts: SenderEvent[] = Array.from({ length: o.events }, (_, i) => {
      const severity = ALERT_LEVELS[i % ALERT_LEVELS.length]!;
      return {
        type: 'security.alert',
        severity,
        contentType: 'application/json',
        body: Buffer.from(JSON.stringify({ severity, title: `CVE-2026-${1000 + i} in libexample`, source: 'scanner', resource: 'acme/webapp', rule: `rule-${i + 1}` })),
      };
    });
    const sentAlerts = await alertsSender.sendMany(alerts);
    const alertsReport = await alertsSender.flush();
    const forwardIds = sentAlerts.filter((_, i) => alerts[i]!.severity !== 'low').map((s) => s.id);
    const lowIds = sentAlerts.filter((_, i) => alerts[i]!.severity === 'low').map((s) => s.id);
    step(6, 'alerts', `${sentAlerts.length} security alerts (critical, high, medium, low…) in one signed batch to /alerts: ${alertsReport.delivered.length} stored, ${alertsReport.requests} request(s)`);
    if (alertsReport.delivered.length !== sentAlerts.length) throw new CliError('ERR_CLI_DEMO_FAILED', `alerts not accepted: ${alertsReport.lastError ?? 'unknown'}`);

    await until(() => jenkins.received.length >= 1 && slack.received.length >= forwardIds.length, FORWARD_TIMEOUT_MS);
    const atJenkins = jenkins.received.filter((d) => d.deliveryId === push.id);
    const first = atJenkins[0];
    check('push reached Jenkins byte-exact, signed', atJenkins.length === 1 && first !== undefined && first.body.equals(pushBody) && first.event === 'push' && first.contentType === 'application/json' && jenkins.refused.length === 0,
      first === undefined ? 'nothing arrived at Jenkins' : `X-GitHub-Event ${first.event}, X-GitHub-Delivery ${first.deliveryId} (the message id), ${first.body.length} bytes identical, X-Hub-Signature-256 verified by the stand-in; refused: ${jenkins.refused.length}`);
    const slackText = slack.received.map((p) => p.text ?? '').join('\n');
    const posted = forwardIds.filter((id) => slackText.includes(id)).length;
    const leaked = lowIds.filter((id) => slackText.includes(id)).length;
    const filtered = await adminGet(sidecar.ready.admin, adminToken, '/api/messages?status=filtered&route=%2Falerts');
    const filteredIds = new Set(((filtered?.['messages'] as { id: string }[] | undefined) ?? []).map((m) => m.id));
    check('alerts ≥ medium reached Slack, low ones did not', posted === forwardIds.length && leaked === 0 && slack.received.length === forwardIds.length && lowIds.every((id) => filteredIds.has(id)),
      `${posted}/${forwardIds.length} critical/high/medium posted; ${leaked}/${lowIds.length} low posted, ${lowIds.filter((id) => filteredIds.has(id)).length} marked filtered in the message log`);

    const captured = tap.bytes();
    const tampered = await replay(await senderZiti.dial(DEMO_SERVICE), tamperBody(captured)).catch(() => undefined);
    check('tampered event refused (401)', tampered === 401, `the captured push with one body byte changed: HTTP ${tampered ?? 'no answer'}`);
    const before = jenkins.received.length;
    const replayed = await replay(await senderZiti.dial(DEMO_SERVICE), captured).catch(() => undefined);
    await new Promise((r) => setTimeout(r, REPLAY_WATCH_MS));
    check('replayed event refused, not forwarded twice', replayed === 202 && jenkins.received.length === before,
      `the captured push sent again unchanged: HTTP ${replayed ?? 'no answer'} (duplicate id, already stored); Jenkins deliveries ${before} → ${jenkins.received.length}`);
    const strangerZiti = new ZitiContext(xId!);
    cleanup.unshift(() => strangerZiti.close());
    let strangerCode: string | undefined;
    try {
      const conn = await strangerZiti.dial(DEMO_SERVICE);
      conn.destroy();
    } catch (err) {
      strangerCode = err instanceof DarkhookError ? err.code : undefined;
    }
    check('stranger identity refused by the fabric', strangerCode === 'ERR_ZITI_SERVICE_NOT_PERMITTED' || strangerCode === 'ERR_ZITI_SERVICE_NOT_FOUND',
      `"stranger" has a valid certificate but no Dial policy: ${strangerCode ?? 'the dial succeeded'}`);
    step(7, 'attacks', `tampered → ${tampered ?? '-'}, replayed → ${replayed ?? '-'} (not forwarded), stranger → ${strangerCode ?? 'connected'}`);

    const atEnd = listening();
    const exposed = atEnd?.filter((s) => !isLoopbackAddress(s.address));
    const adminPort = sidecar.ready.admin === null ? undefined : Number(sidecar.ready.admin.split(':').at(-1));
    check('sidecar has no listening socket outside loopback', exposed !== undefined && exposed.length === 0 && (atEnd ?? []).every((s) => s.port === adminPort),
      atEnd === undefined ? 'unknown: /proc is not available' : `/proc/${sidecar.pid}/net/tcp{,6}: ${atEnd.map((s) => `${s.address}:${s.port}`).join(', ') || 'none'} (the admin listener) — webhooks arrive over the fabric only`);
    const ok = checks.every((c) => c.ok);
    step(8, 'checks', `${checks.filter((c) => c.ok).length}/${checks.length} passed`);
    for (const c of checks) o.say(`       ${c.ok ? '✔' : '✘'} ${c.name}: ${c.detail}`);
    return {
      ok,
      checks,
      pushId: push.id,
      alerts: { sent: sentAlerts.length, forwarded: posted, filtered: lowIds.filter((id) => filteredIds.has(id)).length },
      jenkinsDeliveries: jenkins.received.length,
      slackPosts: slack.received.length,
      tamperedStatus: tampered,
      replayedStatus: replayed,
      strangerCode,
      sidecarListening: atEnd,
      ms: Math.round(performance.now() - t0),
      home: o.keep || o.home !== undefined ? home : undefined,
    };
  } finally {
    for (const c of cleanup) await c().catch(() => undefined);
    if (!o.keep && o.home === undefined) rmSync(home, { recursive: true, force: true });
  }
}

/** GET a JSON document from the sidecar's loopback admin API, or undefined. */
async function adminGet(admin: string | null, token: string, path: string): Promise<Record<string, unknown> | undefined> {
  if (admin === null) return undefined;
  try {
    const res = await fetch(`http://${admin}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return res.ok ? ((await res.json()) as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
