/** The receiver config file: the example loads; each bad config is one coded error naming its JSON path. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import { checkConfig, describeConfig, loadConfig } from '../../receiver/config/config.js';

/** The fixtures are mutated freely, deep paths included: a loose JSON type keeps each mutation one line. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const dir = mkdtempSync(join(tmpdir(), 'darkhook-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const env = {
  DARKHOOK_SECRET: generateHmacSecret(),
  JENKINS_HOOK_SECRET: 'jenkins-shared-secret',
  SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX',
  JIRA_TOKEN: 'jira-api-token-value',
  SIEM_SECRET: generateHmacSecret(),
  DARKHOOK_ADMIN_TOKEN: 'admin-token-0123456789abcdef',
};

/** The example of the sidecar issue, item 1, as written there. */
const example = (): Record<string, unknown> => ({
  identity: 'receiver.json',
  service: 'jenkins-hooks',
  store: 'receiver.db',
  secrets: ['env:DARKHOOK_SECRET'],
  retentionDays: 7,
  routes: [
    { path: '/github', callers: ['ci-sender'], sinks: ['jenkins'] },
    { path: '/alerts', minSeverity: 'medium', sinks: ['slack', 'jira'] },
  ],
  sinks: {
    jenkins: { type: 'jenkins', url: 'http://127.0.0.1:8080/github-webhook/', secret: 'env:JENKINS_HOOK_SECRET' },
    slack: { type: 'slack', url: 'env:SLACK_WEBHOOK_URL' },
    jira: { type: 'jira', url: 'https://example.atlassian.net', project: 'SEC', email: 'bot@example.com', token: 'env:JIRA_TOKEN', minSeverity: 'high' },
    siem: { type: 'http', url: 'https://siem.internal/ingest', secret: 'env:SIEM_SECRET' },
  },
  admin: { listen: '127.0.0.1:9464', token: 'env:DARKHOOK_ADMIN_TOKEN' },
});

/** Run `mutate` on the example and expect one coded error whose message names `path`. */
function refuses(mutate: (c: Json) => void, code: string, path: RegExp, environment: NodeJS.ProcessEnv = env): void {
  const c = example();
  mutate(c);
  assert.throws(() => checkConfig(c, { env: environment, baseDir: dir }), (err: Error & { code?: string }) => {
    assert.equal(err.code, code, err.message);
    assert.match(err.message, path);
    assert.ok(!err.message.includes('\n'), 'one line');
    for (const value of Object.values(env)) assert.ok(!err.message.includes(value), 'no secret in the message');
    return true;
  });
}

describe('receiver config', () => {
  it("loads the issue's example: routes, sinks with their defaults, secrets resolved, paths relative to the file", () => {
    const file = join(dir, 'receiver.json.config');
    writeFileSync(file, JSON.stringify(example()));
    const c = loadConfig(file, env);
    assert.equal(c.identity, join(dir, 'receiver.json'));
    assert.equal(c.store, join(dir, 'receiver.db'));
    assert.deepEqual(c.secrets, [env.DARKHOOK_SECRET]);
    assert.deepEqual(c.routes.map((r) => [r.path, r.callers === undefined ? null : [...r.callers], r.minSeverity ?? null, r.sinks]), [
      ['/github', ['ci-sender'], null, ['jenkins']],
      ['/alerts', null, 'medium', ['slack', 'jira']],
    ]);
    const slack = c.sinks.find((s) => s.name === 'slack')!;
    assert.equal(slack.url, env.SLACK_WEBHOOK_URL);
    assert.equal(slack.ratePerSecond, 1, "Slack's default rate: 1/s");
    assert.equal(c.sinks.find((s) => s.name === 'jenkins')!.ratePerSecond, undefined);
    assert.deepEqual(c.sinks.map((s) => [s.name, s.concurrency]), [['jenkins', 32], ['slack', 4], ['jira', 4], ['siem', 4]], 'Jenkins on loopback: 32 at once; others 4');
    assert.equal(c.sinks.find((s) => s.name === 'jira')!.minSeverity, 'high');
    assert.deepEqual(c.admin, { host: '127.0.0.1', port: 9464, token: env.DARKHOOK_ADMIN_TOKEN });
    const described = JSON.stringify(describeConfig(c));
    for (const value of Object.values(env)) assert.ok(!described.includes(value), 'describeConfig shows no secret (nor the Slack URL)');
  });

  it('file: references are read relative to the config, trailing newline dropped; several keys in one variable', () => {
    writeFileSync(join(dir, 'jenkins.secret'), 'from-a-file\n', { mode: 0o600 });
    const second = generateHmacSecret();
    const c = example();
    (c.sinks as Json).jenkins.secret = 'file:jenkins.secret';
    const config = checkConfig(c, { env: { ...env, DARKHOOK_SECRET: `${env.DARKHOOK_SECRET} ${second}` }, baseDir: dir });
    assert.equal((config.sinks.find((s) => s.name === 'jenkins') as { secret: string }).secret, 'from-a-file');
    assert.deepEqual(config.secrets, [env.DARKHOOK_SECRET, second]);
  });

  it('refuses an unknown key, at any depth, naming it', () => {
    refuses((c) => (c.retentiondays = 3), 'ERR_CONFIG_UNKNOWN_KEY', /^retentiondays is not a known key/);
    refuses((c) => (c.routes[0].sink = ['jenkins']), 'ERR_CONFIG_UNKNOWN_KEY', /routes\[0\]\.sink /);
    refuses((c) => (c.sinks.jenkins.secrett = 'x'), 'ERR_CONFIG_UNKNOWN_KEY', /sinks\.jenkins\.secrett/);
    refuses((c) => (c.admin.port = 1), 'ERR_CONFIG_UNKNOWN_KEY', /admin\.port/);
  });

  it('refuses a literal secret with its own code, wherever a secret goes', () => {
    refuses((c) => (c.secrets = [env.DARKHOOK_SECRET]), 'ERR_CONFIG_SECRET_LITERAL', /secrets\[0\]/);
    refuses((c) => (c.sinks.jenkins.secret = 'hunter2'), 'ERR_CONFIG_SECRET_LITERAL', /sinks\.jenkins\.secret/);
    refuses((c) => (c.sinks.slack.url = env.SLACK_WEBHOOK_URL), 'ERR_CONFIG_SECRET_LITERAL', /sinks\.slack\.url/);
    refuses((c) => (c.sinks.jira.token = 'abc'), 'ERR_CONFIG_SECRET_LITERAL', /sinks\.jira\.token/);
    refuses((c) => (c.admin.token = 'admin-token-0123456789abcdef'), 'ERR_CONFIG_SECRET_LITERAL', /admin\.token/);
  });

  it('refuses an unset variable or a missing file', () => {
    const { JIRA_TOKEN: _unset, ...rest } = env;
    refuses(() => undefined, 'ERR_CONFIG_SECRET_UNRESOLVED', /sinks\.jira\.token: environment variable JIRA_TOKEN is not set/, rest);
    refuses((c) => (c.sinks.jenkins.secret = 'file:nope.secret'), 'ERR_CONFIG_SECRET_UNRESOLVED', /sinks\.jenkins\.secret: .*nope\.secret could not be read/);
  });

  it('refuses a non-loopback admin address', () => {
    for (const listen of ['0.0.0.0:9464', '10.0.0.5:9464', '[::]:9464', 'example.com:9464']) {
      refuses((c) => (c.admin.listen = listen), 'ERR_CONFIG_NOT_LOOPBACK', /admin\.listen/);
    }
    for (const listen of ['127.0.0.1:0', '[::1]:9464', 'localhost:9464']) {
      const c = example();
      (c.admin as Json).listen = listen;
      assert.doesNotThrow(() => checkConfig(c, { env, baseDir: dir }), listen);
    }
  });

  it('refuses a Jenkins sink without a secret, or whose URL lacks the trailing slash', () => {
    refuses((c) => delete c.sinks.jenkins.secret, 'ERR_CONFIG_INVALID', /sinks\.jenkins\.secret is required/);
    refuses((c) => (c.sinks.jenkins.url = 'http://127.0.0.1:8080/github-webhook'), 'ERR_CONFIG_INVALID', /sinks\.jenkins\.url must end with "\/"/);
  });

  it('refuses a route naming an unknown sink, a bad URL, a bad type, a bad severity, a repeated path', () => {
    refuses((c) => c.routes[1].sinks.push('pagerduty'), 'ERR_CONFIG_SINK_UNKNOWN', /routes\[1\]\.sinks\[2\] names "pagerduty"/);
    refuses((c) => (c.sinks.siem.url = 'not a url'), 'ERR_CONFIG_INVALID', /sinks\.siem\.url is not a URL/);
    refuses((c) => (c.sinks.siem.url = 'ftp://siem.internal/x'), 'ERR_CONFIG_INVALID', /sinks\.siem\.url must be an http/);
    refuses((c) => (c.sinks.siem.url = 'https://user:pw@siem.internal/x'), 'ERR_CONFIG_INVALID', /sinks\.siem\.url must not hold credentials/);
    refuses((c) => (c.sinks.siem.type = 'smtp'), 'ERR_CONFIG_INVALID', /sinks\.siem\.type must be one of/);
    refuses((c) => (c.routes[1].minSeverity = 'urgent'), 'ERR_CONFIG_INVALID', /routes\[1\]\.minSeverity must be one of/);
    refuses((c) => (c.routes[1].path = '/github'), 'ERR_CONFIG_INVALID', /routes\[1\]\.path repeats \/github/);
    refuses((c) => (c.routes = []), 'ERR_CONFIG_INVALID', /^routes must be a non-empty array/);
    refuses((c) => (c.sinks.jenkins.concurrency = 0), 'ERR_CONFIG_INVALID', /sinks\.jenkins\.concurrency must be an integer/);
  });

  it('a file that is not JSON, or missing, is one coded line', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ "identity": ');
    assert.throws(() => loadConfig(bad, env), { code: 'ERR_CONFIG_INVALID' });
    assert.throws(() => loadConfig(join(dir, 'missing.json'), env), { code: 'ERR_FILE_NOT_FOUND' });
  });

  it('layout-only loading checks references without reading them (for commands run from another shell)', () => {
    const file = join(dir, 'layout.json');
    writeFileSync(file, JSON.stringify(example()));
    const c = loadConfig(file, {}, { resolveSecrets: false });
    assert.deepEqual(c.sinks.map((s) => s.name), ['jenkins', 'slack', 'jira', 'siem']);
    assert.throws(() => loadConfig(file, {}), { code: 'ERR_CONFIG_SECRET_UNRESOLVED' });
  });
});

describe('store: a SQLite path or a postgres:// URL', () => {
  const withStore = (store: string, over: Json = {}): Json => ({ ...example(), store, ...over });

  it('keeps a postgres URL whose password is a reference; a relative file: reference is made absolute', () => {
    assert.equal(checkConfig(withStore('postgres://darkhook:env:PG@db.internal:5433/hooks'), { env }).store, 'postgres://darkhook:env:PG@db.internal:5433/hooks');
    assert.equal(checkConfig(withStore('postgres://darkhook@db.internal/hooks'), { env }).store, 'postgres://darkhook@db.internal:5432/hooks');
    assert.equal(checkConfig(withStore('postgres://darkhook:file:pg.pw@10.0.0.5/hooks'), { env, baseDir: '/etc/darkhook' }).store, 'postgres://darkhook:file:/etc/darkhook/pg.pw@10.0.0.5:5432/hooks');
    assert.equal(checkConfig(withStore('postgresql://darkhook@/hooks?host=/var/run/postgresql'), { env }).store, 'postgres://darkhook@/hooks?host=%2Fvar%2Frun%2Fpostgresql');
    assert.equal(checkConfig(withStore('receiver.db'), { env, baseDir: '/var/lib/darkhook' }).store, '/var/lib/darkhook/receiver.db');
  });

  it('refuses a literal password without repeating it, and malformed URLs naming the store key', () => {
    assert.throws(() => checkConfig(withStore('postgres://darkhook:s3cret-pw@db/hooks'), { env }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_CONFIG_SECRET_LITERAL');
      assert.match(err.message, /^store /);
      assert.ok(!err.message.includes('s3cret-pw'));
      return true;
    });
    for (const bad of ['postgres://db/hooks', 'postgres://darkhook@db', 'postgres://darkhook@db:99999/hooks', 'postgres://darkhook@db/hooks?sslmode=require', 'postgres://darkhook@/hooks']) {
      assert.throws(() => checkConfig(withStore(bad), { env }), { code: 'ERR_CONFIG_INVALID' }, bad);
    }
  });

  it('storeLeaseSeconds must outlast every sink timeout on a PostgreSQL store', () => {
    assert.equal(checkConfig(withStore('postgres://darkhook:env:PG@db/hooks'), { env }).storeLeaseSeconds, 60);
    assert.throws(() => checkConfig(withStore('postgres://darkhook:env:PG@db/hooks', { storeLeaseSeconds: 5 }), { env }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_CONFIG_INVALID');
      assert.match(err.message, /^storeLeaseSeconds .*timeoutMs/);
      return true;
    });
    assert.equal(checkConfig(withStore('receiver.db', { storeLeaseSeconds: 5 }), { env }).storeLeaseSeconds, 5, 'SQLite has no lease to check');
  });
});
