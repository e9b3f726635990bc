/**
 * `darkhook receive --config` with a bad config, as a real process: each of the bad configs is
 * one coded line on stderr naming the JSON path, exit status 2 (usage), and nothing started — no
 * ready line, no store file (created first thing at start), no secret in the output.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeReceiverConfig } from '../../cli/sidecar-process.js';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import { runCli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'darkhook-receive-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const env = {
  DARKHOOK_SECRET: generateHmacSecret(),
  JENKINS_HOOK_SECRET: 'jenkins-shared-secret-value',
  SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX',
  DARKHOOK_ADMIN_TOKEN: 'admin-token-0123456789abcdef',
};

/** A good config (it would start, given a fabric), to be broken one way per case. */
function good(store: string): Record<string, unknown> {
  return {
    identity: join(dir, 'receiver-identity.json'),
    service: 'jenkins-hooks',
    store,
    secrets: ['env:DARKHOOK_SECRET'],
    routes: [{ path: '/github', sinks: ['jenkins'] }, { path: '/alerts', sinks: ['slack'] }],
    sinks: {
      jenkins: { type: 'jenkins', url: 'http://127.0.0.1:8080/github-webhook/', secret: 'env:JENKINS_HOOK_SECRET' },
      slack: { type: 'slack', url: 'env:SLACK_WEBHOOK_URL' },
    },
    admin: { listen: '127.0.0.1:0', token: 'env:DARKHOOK_ADMIN_TOKEN' },
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const cases: { name: string; mutate: (c: Json) => void; line: RegExp }[] = [
  { name: 'an unknown key', mutate: (c) => (c.sinks.jenkins.secrett = 'env:X'), line: /^darkhook: ERR_CONFIG_UNKNOWN_KEY: sinks\.jenkins\.secrett / },
  { name: 'a literal secret', mutate: (c) => (c.sinks.slack.url = env.SLACK_WEBHOOK_URL), line: /^darkhook: ERR_CONFIG_SECRET_LITERAL: sinks\.slack\.url / },
  { name: 'a non-loopback admin address', mutate: (c) => (c.admin.listen = '0.0.0.0:9464'), line: /^darkhook: ERR_CONFIG_NOT_LOOPBACK: admin\.listen / },
  { name: 'a Jenkins sink without a secret', mutate: (c) => delete c.sinks.jenkins.secret, line: /^darkhook: ERR_CONFIG_INVALID: sinks\.jenkins\.secret is required/ },
  { name: 'a route naming an unknown sink', mutate: (c) => c.routes[1].sinks.push('pagerduty'), line: /^darkhook: ERR_CONFIG_SINK_UNKNOWN: routes\[1\]\.sinks\[1\] names "pagerduty"/ },
  { name: 'a bad URL', mutate: (c) => (c.sinks.jenkins.url = 'not a url/'), line: /^darkhook: ERR_CONFIG_INVALID: sinks\.jenkins\.url is not a URL/ },
];

for (const [i, c] of cases.entries()) {
  test(`receive --config refuses ${c.name}: one coded line, exit 2, nothing started`, { timeout: 60_000 }, async () => {
    const store = join(dir, `store-${i}`, 'receiver.db');
    const config = good(store);
    c.mutate(config);
    const file = join(dir, `receiver-${i}.json`);
    writeReceiverConfig(file, config);
    const r = await runCli(['receive', '--config', file], { env, timeoutMs: 30_000 });
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, c.line);
    assert.equal(r.stdout, '', 'no ready line');
    assert.ok(!existsSync(store) && !existsSync(join(dir, `store-${i}`)), 'no store created');
    for (const value of Object.values(env)) assert.ok(!r.stderr.includes(value), 'no secret in the line');
  });
}

test('receive --store with a literal PostgreSQL password (flags, no config file): refused before anything is logged, the password never printed', { timeout: 60_000 }, async () => {
  const password = 'hunter2-literal-password';
  const r = await runCli(
    ['receive', '--identity', join(dir, 'receiver-identity.json'), '--service', 'jenkins-hooks', '--secret', env.DARKHOOK_SECRET, '--store', `postgres://darkhook:${password}@127.0.0.1:1/hooks`],
    { env, timeoutMs: 30_000 },
  );
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^darkhook: ERR_CONFIG_SECRET_LITERAL: --store holds a literal password/);
  assert.ok(!r.stderr.includes(password) && !r.stdout.includes(password), 'the password is in no output');
});

test('receive --store with a malformed %-escape: one coded line, not a crash', { timeout: 60_000 }, async () => {
  const r = await runCli(
    ['receive', '--identity', join(dir, 'receiver-identity.json'), '--service', 'jenkins-hooks', '--secret', env.DARKHOOK_SECRET, '--store', 'postgres://dark%zzhook@127.0.0.1/hooks'],
    { env, timeoutMs: 30_000 },
  );
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr.trimEnd(), /^darkhook: ERR_CONFIG_INVALID: --store has a malformed %-escape/);
});
