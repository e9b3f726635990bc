/** Each sink against its stand-in over real loopback HTTP: what arrives, and the outcome each answer maps to. */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { describe, it, type TestContext } from 'node:test';
import { TEST_EVENT_TYPE } from '../../connector/webhook/headers.js';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import { verifyStandard } from '../../connector/webhook/signature-standard.js';
import type { AttemptContext, SinkMessage, SinkOutcome } from '../../receiver/sinks/sink.js';
import {
  DEFAULT_CIRCUIT_COOLDOWN_MS,
  DEFAULT_CIRCUIT_FAILURES,
  DEFAULT_SINK_CONCURRENCY,
  DEFAULT_SINK_DEADLINE_MS,
  DEFAULT_SINK_RETRY_MAX_MS,
  DEFAULT_SINK_RETRY_MIN_MS,
  DEFAULT_SINK_TIMEOUT_MS,
  type CommonSinkConfig,
} from '../../receiver/sinks/sink-config.js';
import { createSink } from '../../receiver/sinks/registry.js';
import { httpSink } from '../../receiver/sinks/http.js';
import { jiraLabel } from '../../receiver/sinks/jira.js';
import { slackText } from '../../receiver/sinks/slack.js';
import { startJenkins, type JenkinsStandin } from '../../standins/jenkins.js';
import { startJira, type JiraStandin } from '../../standins/jira.js';
import { startSlack, type SlackStandin } from '../../standins/slack.js';

const JENKINS_SECRET = 'jenkins-shared-secret';
const JIRA = { email: 'bot@example.com', token: 'jira-api-token' };

/** A real GitHub push payload (the first example of @octokit/webhooks-examples), serialised once. */
const pushBody = ((): Buffer => {
  const examples = createRequire(import.meta.url)('@octokit/webhooks-examples') as { name: string; examples: unknown[] }[];
  const push = examples.find((e) => e.name === 'push')?.examples[0];
  assert.ok(push !== undefined, 'the examples hold a push payload');
  return Buffer.from(JSON.stringify(push, null, 2));
})();

function common(name: string, type: CommonSinkConfig['type'], url: string): CommonSinkConfig {
  return {
    name, type, url,
    timeoutMs: DEFAULT_SINK_TIMEOUT_MS, concurrency: DEFAULT_SINK_CONCURRENCY, deadlineMs: DEFAULT_SINK_DEADLINE_MS,
    retryMinMs: DEFAULT_SINK_RETRY_MIN_MS, retryMaxMs: DEFAULT_SINK_RETRY_MAX_MS, ratePerSecond: undefined,
    circuitFailures: DEFAULT_CIRCUIT_FAILURES, circuitCooldownMs: DEFAULT_CIRCUIT_COOLDOWN_MS, minSeverity: undefined, headers: {},
  };
}

function message(over: Partial<SinkMessage> = {}): SinkMessage {
  return {
    id: 'msg_2Yy0Qz3Jm1', type: 'push', timestamp: 1_700_000_000, body: pushBody, headers: { 'content-type': 'application/json' },
    caller: 'ci-sender', route: '/github', severity: undefined, receivedAt: 1_700_000_000_000, ...over,
  };
}

const attempt = (n = 1): AttemptContext => ({ attempt: n, signal: new AbortController().signal });

async function jenkins(t: TestContext, secret = JENKINS_SECRET): Promise<{ standin: JenkinsStandin; deliver: (m?: SinkMessage) => Promise<SinkOutcome> }> {
  const standin = await startJenkins({ secret: JENKINS_SECRET });
  t.after(() => standin.stop());
  const sink = createSink({ ...common('jenkins', 'jenkins', standin.url), type: 'jenkins', secret });
  return { standin, deliver: (m = message()) => sink.deliver(m, attempt()) };
}

describe('jenkins sink and the GitHub plugin stand-in', () => {
  it('delivers a signed push: event, delivery id and the body bytes unchanged', async (t) => {
    const { standin, deliver } = await jenkins(t);
    assert.deepEqual(await deliver(), { type: 'delivered', status: 200 });
    assert.equal(standin.received.length, 1);
    const got = standin.received[0]!;
    assert.equal(got.event, 'push');
    assert.equal(got.deliveryId, 'msg_2Yy0Qz3Jm1');
    assert.equal(got.contentType, 'application/json');
    assert.ok(got.body.equals(pushBody), 'body byte-exact');
  });

  it('sends the test message as a ping, which the plugin answers', async (t) => {
    const { standin, deliver } = await jenkins(t);
    assert.equal((await deliver(message({ type: TEST_EVENT_TYPE, body: Buffer.from('{}') }))).type, 'delivered');
    assert.equal(standin.received[0]?.event, 'ping');
  });

  it('a wrong secret is refused by Jenkins with 400 and disables the sink', async (t) => {
    const { standin, deliver } = await jenkins(t, 'not-the-jenkins-secret');
    const outcome = await deliver();
    assert.equal(outcome.type, 'disable');
    assert.equal(standin.received.length, 0);
    assert.equal(standin.refused[0]?.status, 400);
    assert.match(standin.refused[0]!.reason, /^Provided signature \[sha256=[0-9a-f]{64}\] did not match/);
  });

  it('500 and 503 are retried; a stopped Jenkins is a retry with a network error, then it arrives once', async (t) => {
    const { standin, deliver } = await jenkins(t);
    standin.setMode({ type: 'error', status: 500, count: 1 });
    assert.deepEqual(await deliver(), { type: 'retry', status: 500, error: 'HTTP 500: Error: Jenkins is not available' });
    standin.setMode({ type: 'error', status: 503, count: 1 });
    assert.equal((await deliver()).type, 'retry');
    await standin.stop();
    // The first may meet the pooled keep-alive connection closing (UND_ERR_SOCKET); the next is refused.
    const down = [await deliver(), await deliver()];
    for (const d of down) assert.ok(d.type === 'retry' && d.status === undefined && /ECONNREFUSED|UND_ERR_SOCKET/.test(d.error), JSON.stringify(d));
    assert.match(down[1]!.type === 'retry' ? down[1]!.error : '', /ECONNREFUSED/);
    await standin.start();
    assert.equal((await deliver()).type, 'delivered');
    assert.equal(standin.received.length, 1);
  });

  it('the stand-in refuses what the plugin refuses: GET, no event header, no signature, a form without payload', async (t) => {
    const { standin } = await jenkins(t);
    const sig = `sha256=${createHmac('sha256', JENKINS_SECRET).update('a=1').digest('hex')}`;
    const cases: [RequestInit, number][] = [
      [{ method: 'GET' }, 405],
      [{ method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }, 400],
      [{ method: 'POST', headers: { 'content-type': 'application/json', 'x-github-event': 'push' }, body: '{}' }, 400],
      [{ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-github-event': 'push', 'x-hub-signature-256': sig }, body: 'a=1' }, 400],
    ];
    for (const [init, status] of cases) assert.equal((await fetch(standin.url, init)).status, status);
    assert.equal(standin.refused[0]?.reason, 'Method GET not allowed');
    const form = `payload=${encodeURIComponent('{"zen":"x"}')}`;
    const ok = await fetch(standin.url, {
      method: 'POST', body: form,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-github-event': 'ping', 'x-hub-signature-256': `sha256=${createHmac('sha256', JENKINS_SECRET).update(form).digest('hex')}` },
    });
    assert.equal(ok.status, 200);
    assert.equal(standin.received[0]?.payload, '{"zen":"x"}');
  });
});

async function slack(t: TestContext): Promise<{ standin: SlackStandin; deliver: (m?: SinkMessage) => Promise<SinkOutcome> }> {
  const standin = await startSlack();
  t.after(() => standin.stop());
  const sink = createSink({ ...common('slack', 'slack', standin.url), type: 'slack' });
  return { standin, deliver: (m = message()) => sink.deliver(m, attempt()) };
}

describe('slack sink and the incoming-webhook stand-in', () => {
  it('posts readable text once, answered ok', async (t) => {
    const { standin, deliver } = await slack(t);
    assert.deepEqual(await deliver(), { type: 'delivered', status: 200 });
    assert.equal(standin.received.length, 1);
    assert.match(standin.received[0]!.text ?? '', /^\*push\* to `[^`]+\/[^`]+` refs\/(heads|tags)\/[^ ]+ by /);
  });

  it('429 is a retry carrying Retry-After in milliseconds', async (t) => {
    const { standin, deliver } = await slack(t);
    standin.setMode({ type: 'rate_limited', retryAfterSeconds: 7, count: 1 });
    const outcome = await deliver();
    assert.equal(outcome.type, 'retry');
    assert.ok(outcome.type === 'retry' && outcome.status === 429 && outcome.retryAfterMs === 7_000, JSON.stringify(outcome));
    assert.equal((await deliver()).type, 'delivered');
    assert.deepEqual(standin.answers, [429, 200]);
  });

  for (const [fault, status] of [['action_prohibited', 403], ['channel_not_found', 404], ['channel_is_archived', 410]] as const) {
    it(`${status} ${fault} disables the sink`, async (t) => {
      const { standin, deliver } = await slack(t);
      standin.setMode({ type: fault });
      const outcome = await deliver();
      assert.equal(outcome.type, 'disable');
      assert.ok(outcome.type === 'disable' && outcome.status === status && outcome.error.includes(fault), JSON.stringify(outcome));
      assert.equal(standin.received.length, 0);
    });
  }

  it('500 is retried', async (t) => {
    const { standin, deliver } = await slack(t);
    standin.setMode({ type: 'internal_error', count: 1 });
    assert.equal((await deliver()).type, 'retry');
  });

  it('a 400 invalid_payload is failed (dead at once); the stand-in gives it to bad JSON and to a post without text', async (t) => {
    const { standin, deliver } = await slack(t);
    standin.setMode({ type: 'invalid_payload', count: 1 });
    assert.deepEqual(await deliver(), { type: 'failed', status: 400, error: 'HTTP 400: invalid_payload' });
    for (const body of ['not json', '{"username":"x"}', '{"text":""}']) {
      const res = await fetch(standin.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      assert.deepEqual([res.status, await res.text()], [400, 'invalid_payload'], body);
    }
    assert.equal(standin.received.length, 0);
  });

  it('escapes <, > and & in every value', () => {
    const body = Buffer.from(JSON.stringify({ title: '<script>alert(1)</script> & <!channel>', source: 'a<b>&c' }));
    const text = slackText(message({ type: 'security.alert', severity: 'high', body }));
    assert.ok(!text.includes('<script>') && !text.includes('<!channel>'), text);
    assert.match(text, /&lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; &lt;!channel&gt;/);
    assert.match(text, /source: a&lt;b&gt;&amp;c/);
    assert.match(text, /^\*\[HIGH\] /);
  });
});

async function jira(t: TestContext, token = JIRA.token): Promise<{ standin: JiraStandin; deliver: (m?: SinkMessage, n?: number) => Promise<SinkOutcome> }> {
  const standin = await startJira({ ...JIRA, projects: ['SEC'] });
  t.after(() => standin.stop());
  const sink = createSink({ ...common('jira', 'jira', standin.url), type: 'jira', project: 'SEC', email: JIRA.email, token, issueType: 'Task' });
  return { standin, deliver: (m = alert(), n = 1) => sink.deliver(m, attempt(n)) };
}

const alert = (): SinkMessage =>
  message({ id: 'msg_alert_1', type: 'security.alert', severity: 'critical', body: Buffer.from(JSON.stringify({ title: 'Secret scanning: AWS key in repo', source: 'scanner' })) });

describe('jira sink and the REST v3 stand-in', () => {
  it('creates one issue labelled darkhook-<id>, with the alert title as summary', async (t) => {
    const { standin, deliver } = await jira(t);
    assert.deepEqual(await deliver(), { type: 'delivered', status: 201, detail: 'SEC-1' });
    assert.equal(standin.issues.length, 1);
    const issue = standin.issues[0]!;
    assert.deepEqual(issue.labels, ['darkhook', jiraLabel('msg_alert_1')]);
    assert.equal(issue.summary, '[CRITICAL] Secret scanning: AWS key in repo');
    assert.equal(issue.issueType, 'Task');
  });

  it('a refused token (401) disables the sink and creates nothing', async (t) => {
    const { standin, deliver } = await jira(t, 'revoked-token');
    const outcome = await deliver();
    assert.equal(outcome.type, 'disable');
    assert.ok(outcome.type === 'disable' && outcome.status === 401);
    assert.equal(standin.issues.length, 0);
  });

  it('after a lost answer, attempt 2 finds the issue by its label: exactly one issue', async (t) => {
    const { standin, deliver } = await jira(t);
    standin.setMode({ type: 'lose-answer', count: 1 });
    const first = await deliver(alert(), 1);
    assert.equal(first.type, 'retry', JSON.stringify(first));
    assert.equal(standin.issues.length, 1, 'the lost create did create');
    assert.deepEqual(await deliver(alert(), 2), { type: 'delivered', status: 200, detail: 'SEC-1 (found by label after a lost answer)' });
    assert.equal(standin.issues.length, 1);
    assert.deepEqual(standin.log, ['POST /rest/api/3/issue lost', 'GET /rest/api/3/search/jql 200']);
  });

  it('attempt 2 after a 500 (nothing created) searches, finds nothing, and creates', async (t) => {
    const { standin, deliver } = await jira(t);
    standin.setMode({ type: 'error', count: 1 });
    assert.equal((await deliver(alert(), 1)).type, 'retry');
    assert.equal((await deliver(alert(), 2)).type, 'delivered');
    assert.equal(standin.issues.length, 1);
    assert.deepEqual(standin.log, ['POST /rest/api/3/issue 500', 'GET /rest/api/3/search/jql 200', 'POST /rest/api/3/issue 201']);
  });

  it('an unknown project is a 400: failed', async (t) => {
    const standin = await startJira({ ...JIRA, projects: ['OPS'] });
    t.after(() => standin.stop());
    const sink = createSink({ ...common('jira', 'jira', standin.url), type: 'jira', project: 'SEC', email: JIRA.email, token: JIRA.token, issueType: 'Task' });
    const outcome = await sink.deliver(alert(), attempt());
    assert.equal(outcome.type, 'failed');
    assert.match(outcome.type === 'failed' ? outcome.error : '', /valid project/);
  });
});

describe('http sink', () => {
  it('forwards the body and content type and re-signs it as a Standard Webhook that verifies', async (t) => {
    const got: { headers: IncomingHttpHeaders; body: Buffer }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ingest`;
    const secret = generateHmacSecret();
    const now = 1_800_000_000_000;
    const sink = httpSink({ ...common('siem', 'http', url), type: 'http', secret, headers: { 'x-tenant': 'blue' } }, () => now);
    const body = Buffer.from('{"finding":"x","n":1}\n');
    const m = message({ id: 'msg_http_1', type: 'security.alert', severity: 'low', body, headers: { 'content-type': 'application/vnd.alert+json' } });
    assert.deepEqual(await sink.deliver(m, attempt()), { type: 'delivered', status: 204 });
    const { headers, body: received } = got[0]!;
    assert.ok(received.equals(body));
    assert.equal(headers['content-type'], 'application/vnd.alert+json');
    assert.equal(headers['x-tenant'], 'blue');
    assert.equal(headers['webhook-id'], 'msg_http_1');
    const signed = { id: headers['webhook-id'] as string, timestamp: headers['webhook-timestamp'] as string, signature: headers['webhook-signature'] as string, body: received };
    verifyStandard({ ...signed, secrets: [secret], now: now / 1000 });
    assert.throws(() => verifyStandard({ ...signed, secrets: [generateHmacSecret()], now: now / 1000 }), { code: 'ERR_WEBHOOK_SIGNATURE_MISMATCH' });
  });
});
