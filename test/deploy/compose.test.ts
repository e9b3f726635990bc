/** docker-compose.yml and the Dockerfiles, checked statically: no Docker engine runs on these machines. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import { checkCompose, checkDockerfile, imagePinned, instructions, parseYaml, SERVICES, words, ZITI_VERSION, type Problem } from './compose-check.js';

/** Compose documents are mutated freely in the tampering tests: a loose type keeps each mutation one line. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const composeText = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
const dockerfileText = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const initScript = join(ROOT, 'deploy', 'ziti-init.sh');
const receiverJson = join(ROOT, 'deploy', 'receiver.json');

/** Values for the config's env: references: a real whsec_ key where one is required, long tokens elsewhere. */
const secretEnv = (name: string): string => (name === 'DARKHOOK_SECRET' ? generateHmacSecret() : `${name.toLowerCase()}-0123456789abcdef`);
const fresh = (): Json => parseYaml(composeText);
const check = (doc: Json): Problem[] => checkCompose(doc, ROOT, secretEnv);
const rules = (problems: readonly Problem[]): string[] => [...new Set(problems.map((p) => p.rule))].sort();

const tmp = mkdtempSync(join(tmpdir(), 'darkhook-compose-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('docker-compose.yml', () => {
  it('passes every check as committed', () => {
    assert.deepEqual(check(fresh()), []);
  });

  it('has the controller, router, init, sidecar and Jenkins, on pinned images', () => {
    const doc = fresh();
    for (const name of Object.values(SERVICES)) assert.ok(doc.services[name] !== undefined, name);
    assert.equal(doc.services[SERVICES.controller].image, `openziti/ziti-controller:${ZITI_VERSION}`);
    assert.equal(doc.services[SERVICES.router].image, `openziti/ziti-router:${ZITI_VERSION}`);
    assert.equal(doc.services[SERVICES.init].image, `openziti/ziti-cli:${ZITI_VERSION}`);
    assert.equal(doc.services[SERVICES.jenkins].network_mode, 'service:darkhook');
    assert.equal(doc.services[SERVICES.sidecar].ports, undefined);
    assert.equal(doc.services[SERVICES.jenkins].ports, undefined);
    for (const name of ['ziti-controller', 'ziti-router', 'identities', 'darkhook-store', 'jenkins-home']) assert.ok(name in doc.volumes, name);
  });

  it('tells a pinned tag from latest, an untagged image and a variable', () => {
    for (const ok of ['openziti/ziti-router:1.7.2', 'node:24.19.0-bookworm-slim', 'registry:5000/x/y:2.1', `a/b@sha256:${'0'.repeat(64)}`]) assert.ok(imagePinned(ok), ok);
    for (const bad of ['openziti/ziti-router', 'openziti/ziti-router:latest', 'jenkins/jenkins:lts-jdk21', 'registry:5000/x/y', '${IMAGE}:1.0', undefined]) assert.ok(!imagePinned(bad), String(bad));
  });

  it('refuses a published port on the sidecar or Jenkins, or the host network', () => {
    for (const name of [SERVICES.sidecar, SERVICES.jenkins]) {
      const doc = fresh();
      doc.services[name].ports = ['8080:8080'];
      assert.deepEqual(rules(check(doc)), ['port-published'], name);
    }
    const doc = fresh();
    doc.services[SERVICES.sidecar].network_mode = 'host';
    assert.ok(rules(check(doc)).includes('port-published'));
  });

  it('refuses an unpinned image', () => {
    for (const image of ['openziti/ziti-controller:latest', 'openziti/ziti-controller', 'openziti/ziti-controller:1.6.5']) {
      const doc = fresh();
      doc.services[SERVICES.controller].image = image;
      assert.ok(rules(check(doc)).some((r) => r === 'image-unpinned' || r === 'ziti-image'), image);
    }
    const doc = fresh();
    doc.services[SERVICES.sidecar].image = 'darkhook-receiver:latest';
    assert.deepEqual(rules(check(doc)), ['image-unpinned']);
  });

  it('refuses dependencies without conditions, or without the required ones', () => {
    const list = fresh();
    list.services[SERVICES.router].depends_on = [SERVICES.init];
    assert.deepEqual(rules(check(list)), ['depends-condition', 'depends-required']);
    const started = fresh();
    started.services[SERVICES.jenkins].depends_on[SERVICES.sidecar].condition = 'service_started';
    assert.deepEqual(rules(check(started)), ['depends-required']);
    const unknown = fresh();
    unknown.services[SERVICES.sidecar].depends_on['ziti-edge'] = { condition: 'service_started' };
    assert.deepEqual(rules(check(unknown)), ['depends-unknown']);
  });

  it('refuses a long-running service without a healthcheck', () => {
    const doc = fresh();
    delete doc.services[SERVICES.sidecar].healthcheck;
    // Jenkins waits for the sidecar to be healthy, so that dependency breaks too.
    assert.deepEqual(rules(check(doc)), ['depends-healthcheck', 'healthcheck-missing']);
    const disabled = fresh();
    disabled.services[SERVICES.router].healthcheck = { test: ['NONE'] };
    assert.ok(rules(check(disabled)).includes('healthcheck-missing'));
  });

  it('refuses Jenkins outside the sidecar namespace or listening beyond loopback', () => {
    const own = fresh();
    own.services[SERVICES.jenkins].network_mode = 'bridge';
    assert.deepEqual(rules(check(own)), ['jenkins-namespace']);
    const open = fresh();
    open.services[SERVICES.jenkins].environment.JENKINS_OPTS = '--httpListenAddress=0.0.0.0';
    assert.deepEqual(rules(check(open)), ['jenkins-loopback']);
  });

  it('keeps the store, the identities and the controller PKI on named volumes', () => {
    const noStore = fresh();
    noStore.services[SERVICES.sidecar].volumes = noStore.services[SERVICES.sidecar].volumes.filter((v: string) => !v.endsWith(':/data'));
    assert.deepEqual(rules(check(noStore)), ['volume-store']);
    const bindIds = fresh();
    bindIds.services[SERVICES.sidecar].volumes = bindIds.services[SERVICES.sidecar].volumes.map((v: string) => (v.startsWith('identities:') ? './deploy:/identities:ro' : v));
    assert.deepEqual(rules(check(bindIds)), ['volume-identities']);
    const noPki = fresh();
    noPki.services[SERVICES.controller].volumes = [];
    assert.deepEqual(rules(check(noPki)), ['volume-pki']);
    const undeclared = fresh();
    delete undeclared.volumes['darkhook-store'];
    assert.deepEqual(rules(check(undeclared)), ['volume-undeclared']);
  });

  it('runs the sidecar config through the real config checker', () => {
    const cases: [string, (c: Json) => void, string][] = [
      ['admin on every interface', (c) => void (c.admin.listen = '0.0.0.0:9464'), 'ERR_CONFIG_NOT_LOOPBACK'],
      ['a literal secret', (c) => void (c.sinks.jenkins.secret = 'hunter2'), 'ERR_CONFIG_SECRET_LITERAL'],
      ['an unknown key', (c) => void (c.storePath = '/data/x.db'), 'ERR_CONFIG_UNKNOWN_KEY'],
      ['a route to an unknown sink', (c) => void (c.routes[0].sinks = ['slack']), 'ERR_CONFIG_SINK_UNKNOWN'],
    ];
    for (const [what, mutate, code] of cases) {
      const config = JSON.parse(readFileSync(receiverJson, 'utf8'));
      mutate(config);
      const file = join(tmp, `${code}.json`);
      writeFileSync(file, JSON.stringify(config));
      const doc = fresh();
      doc.services[SERVICES.sidecar].volumes = doc.services[SERVICES.sidecar].volumes.map((v: string) => (v.includes('receiver.json') ? `${file}:/config/receiver.json:ro` : v));
      const problems = check(doc);
      assert.deepEqual(rules(problems), ['sidecar-config-invalid'], what);
      assert.ok(problems[0]!.message.startsWith(`${code}:`), `${what}: ${problems[0]!.message}`);
    }
  });

  it('refuses a config secret the sidecar environment does not set, and a missing mount source', () => {
    const env = fresh();
    delete env.services[SERVICES.sidecar].environment.JENKINS_HOOK_SECRET;
    assert.deepEqual(rules(check(env)), ['sidecar-env']);
    const missing = fresh();
    missing.services[SERVICES.init].volumes[0] = './deploy/no-such-script.sh:/ziti-init.sh:ro';
    assert.deepEqual(rules(check(missing)), ['mount-missing']);
  });
});

describe('Dockerfile', () => {
  const ops = instructions(dockerfileText);

  it('passes every check: pinned bases, non-root USER, HEALTHCHECK, COPY sources present', () => {
    assert.deepEqual(checkDockerfile(dockerfileText, ROOT), []);
    assert.deepEqual(checkDockerfile(readFileSync(join(ROOT, 'deploy', 'jenkins', 'Dockerfile'), 'utf8'), join(ROOT, 'deploy', 'jenkins')), []);
  });

  it('builds natively in one stage and runs darkhook from another, with the store and identities as volumes', () => {
    const froms = ops.filter((o) => o.op === 'FROM').map((o) => words(o.args)[0]!);
    assert.equal(froms.length, 2);
    for (const f of froms) assert.match(f, /^node:24\.\d+\.\d+-bookworm-slim$/);
    const build = ops.slice(0, ops.findIndex((o, i) => i > 0 && o.op === 'FROM'));
    assert.ok(build.some((o) => o.op === 'RUN' && /\bpython3\b/.test(o.args) && /\bmake\b/.test(o.args) && /\bg\+\+/.test(o.args)), 'build tools in the build stage');
    const entry = ops.find((o) => o.op === 'ENTRYPOINT');
    assert.deepEqual(words(entry!.args), ['darkhook']);
    const volumes = ops.filter((o) => o.op === 'VOLUME').flatMap((o) => words(o.args));
    assert.deepEqual(volumes.sort(), ['/data', '/identities']);
    const health = ops.find((o) => o.op === 'HEALTHCHECK')!;
    assert.match(health.args, /fetch\(process\.env\.DARKHOOK_HEALTH_URL\)/);
    assert.match(dockerfileText, /DARKHOOK_HEALTH_URL=http:\/\/127\.0\.0\.1:9464\/healthz/);
  });

  it('refuses root, no healthcheck, an unpinned base and a COPY the context lacks', () => {
    const cases: [string, string, string][] = [
      ['no USER', dockerfileText.replace(/^USER .*$/m, ''), 'user-root'],
      ['USER root', `${dockerfileText}\nUSER root\n`, 'user-root'],
      ['no HEALTHCHECK', dockerfileText.replace(/^HEALTHCHECK[^\n]*\\\n[^\n]*$/m, ''), 'healthcheck-missing'],
      ['HEALTHCHECK NONE', dockerfileText.replace(/^HEALTHCHECK[^\n]*\\\n[^\n]*$/m, 'HEALTHCHECK NONE'), 'healthcheck-missing'],
      ['node:latest', dockerfileText.replace(/^FROM node:\S+ AS build$/m, 'FROM node:latest AS build'), 'image-unpinned'],
      ['missing source', dockerfileText.replace('COPY cli ./cli', 'COPY client ./client'), 'copy-missing'],
      ['ignored source', dockerfileText.replace('COPY cli ./cli', 'COPY test ./test'), 'copy-ignored'],
    ];
    for (const [what, text, rule] of cases) {
      assert.notEqual(text, dockerfileText, `${what}: the tampering changed nothing`);
      assert.deepEqual(rules(checkDockerfile(text, ROOT)), [rule], what);
    }
  });
});

describe('deploy/ziti-init.sh', () => {
  const script = readFileSync(initScript, 'utf8');
  const config = JSON.parse(readFileSync(receiverJson, 'utf8'));

  it('is valid bash', () => {
    const r = spawnSync('bash', ['-n', initScript], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  it('creates the router, identities, service and the four policies, and enrolls the receiver', () => {
    for (const cmd of ['edge login', 'edge create edge-router', 'edge create identity', 'edge create service ', 'edge create edge-router-policy', 'edge create service-edge-router-policy', 'edge enroll']) {
      assert.ok(script.includes(`ziti ${cmd}`), cmd);
    }
    assert.match(script, /service-policy "\$service-bind" Bind /);
    assert.match(script, /service-policy "\$service-dial" Dial /);
  });

  it('uses the names the sidecar config and the router expect', () => {
    const byDefault = (v: string): string | undefined => new RegExp(`^${v}="\\$\\{[A-Z_]+:-([^}]+)\\}"$`, 'm').exec(script)?.[1];
    assert.equal(byDefault('service'), config.service);
    assert.equal(`/identities/${byDefault('receiver')}.json`, config.identity);
    // OpenZiti 1.x routers send no dialer name, so a callers list would refuse every event (403):
    // the Dial policy for the sender's attribute is what admits it.
    assert.equal(config.routes[0].callers, undefined);
    assert.match(script, /create identity "\$sender" --role-attributes webhook-senders/);
    assert.match(script, /Dial --service-roles "@\$service" --identity-roles '#webhook-senders'/);
    const router = (fresh() as Json).services[SERVICES.router].environment;
    assert.equal(router.ZITI_ENROLL_TOKEN, `/router-token/${byDefault('router')}.jwt`);
  });
});
