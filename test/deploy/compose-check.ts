/** Static checks of docker-compose.yml and the Dockerfiles it builds (no Docker engine runs on these machines). */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, posix, resolve } from 'node:path';
import { DarkhookError } from '../../core/index.js';
import { checkConfig, loadConfig } from '../../receiver/config/config.js';

/** One thing wrong, named by the rule it breaks so tests branch on `rule`, never on the text. */
export interface Problem {
  readonly rule: string;
  readonly where: string;
  readonly message: string;
}

/** The services the deployment is made of, by role. */
export const SERVICES = {
  controller: 'ziti-controller',
  router: 'ziti-router',
  init: 'ziti-init',
  sidecar: 'darkhook',
  jenkins: 'jenkins',
} as const;

/** The OpenZiti release the interop tests run against (scripts/install-ziti.sh). */
export const ZITI_VERSION = '1.7.2';

/** Each service's required dependencies and the condition each waits for. */
const REQUIRED_DEPENDS: Record<string, Record<string, string>> = {
  [SERVICES.init]: { [SERVICES.controller]: 'service_healthy' },
  [SERVICES.router]: { [SERVICES.init]: 'service_completed_successfully' },
  [SERVICES.sidecar]: { [SERVICES.init]: 'service_completed_successfully', [SERVICES.router]: 'service_healthy' },
  [SERVICES.jenkins]: { [SERVICES.sidecar]: 'service_healthy' },
};
const CONDITIONS = ['service_started', 'service_healthy', 'service_completed_successfully'];
/** Long-running services: each must report health. */
const HEALTHY = [SERVICES.controller, SERVICES.router, SERVICES.sidecar, SERVICES.jenkins];

const nodeRequire = createRequire(import.meta.url);

/**
 * Parse YAML with the `yaml` package (a devDependency); until it is installed, with `js-yaml`, which
 * ESLint already brings. Both are full YAML parsers; the checks below see the same plain objects.
 */
export function parseYaml(text: string): unknown {
  for (const [name, fn] of [['yaml', 'parse'], ['js-yaml', 'load']] as const) {
    let mod: Record<string, (s: string) => unknown>;
    try {
      mod = nodeRequire(name) as Record<string, (s: string) => unknown>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') continue;
      throw err;
    }
    return mod[fn]!(text);
  }
  assert.fail('no YAML parser: run npm install (devDependency "yaml")');
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const asObj = (v: unknown): Obj => (isObj(v) ? v : {});

/** A tag that names one release: not `latest`, not missing, not an interpolated variable, with a version number. */
export function imagePinned(image: unknown): boolean {
  if (typeof image !== 'string' || image.includes('$')) return false;
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  if (colon <= slash) return false;
  const tag = image.slice(colon + 1);
  return tag !== 'latest' && /\d+\.\d+/.test(tag);
}

/** `{ NAME: value }` from a service's `environment` (map or list form). */
function environmentOf(svc: Obj): Record<string, string> {
  const env = svc.environment;
  const out: Record<string, string> = {};
  if (Array.isArray(env)) {
    for (const e of env) {
      const [k, ...v] = String(e).split('=');
      out[k!] = v.join('=');
    }
  } else if (isObj(env)) {
    for (const [k, v] of Object.entries(env)) out[k] = v === null || v === undefined ? '' : String(v);
  }
  return out;
}

interface Mount { readonly source: string; readonly target: string; readonly readOnly: boolean; readonly bind: boolean }

/** A service's volume mounts (short or long form); `bind` when the source is a host path. */
function mountsOf(svc: Obj): Mount[] {
  const list = Array.isArray(svc.volumes) ? svc.volumes : [];
  return list.map((v): Mount => {
    if (isObj(v)) {
      const source = String(v.source ?? '');
      return { source, target: String(v.target ?? ''), readOnly: v.read_only === true, bind: v.type === 'bind' };
    }
    const [source = '', target = '', mode = ''] = String(v).split(':');
    return { source, target, readOnly: mode.split(',').includes('ro'), bind: source.startsWith('.') || source.startsWith('/') };
  });
}

/** The command as an argument list (string commands split on spaces, as Compose does without a shell). */
function argsOf(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  return typeof v === 'string' ? v.split(/\s+/).filter((s) => s !== '') : [];
}

/** Every `env:NAME` reference in a parsed config. */
function envRefs(value: unknown, out = new Set<string>()): Set<string> {
  if (typeof value === 'string' && value.startsWith('env:')) out.add(value.slice(4));
  else if (Array.isArray(value)) for (const v of value) envRefs(v, out);
  else if (isObj(value)) for (const v of Object.values(value)) envRefs(v, out);
  return out;
}

/** Which mount holds `path` inside the container (the longest target that prefixes it). */
function mountFor(mounts: readonly Mount[], path: string): Mount | undefined {
  return mounts
    .filter((m) => path === m.target || path.startsWith(`${m.target.replace(/\/$/, '')}/`))
    .sort((a, b) => b.target.length - a.target.length)[0];
}

/**
 * Check a parsed compose document. `root` is the folder the compose file is in (relative bind mounts
 * and build contexts resolve against it); `secretEnv` supplies values for the sidecar config's
 * `env:` references, so the config is also checked with its secrets resolved.
 */
export function checkCompose(doc: unknown, root: string, secretEnv: (name: string) => string): Problem[] {
  const problems: Problem[] = [];
  const fail = (rule: string, where: string, message: string): void => void problems.push({ rule, where, message });
  const services = asObj(asObj(doc).services);
  const namedVolumes = new Set(Object.keys(asObj(asObj(doc).volumes)));

  for (const name of Object.values(SERVICES)) if (!isObj(services[name])) fail('service-missing', name, `no service "${name}"`);

  for (const [name, raw] of Object.entries(services)) {
    const svc = asObj(raw);
    // A built service is pinned through its Dockerfile's FROM lines (checked by checkDockerfile).
    if (svc.build === undefined && !imagePinned(svc.image)) fail('image-unpinned', name, `image ${String(svc.image)} is not pinned to a release`);
    if (svc.build !== undefined && typeof svc.image === 'string' && /:latest$|^[^:]+$/.test(svc.image)) fail('image-unpinned', name, `built image is tagged ${svc.image}`);
    const deps = svc.depends_on;
    if (Array.isArray(deps)) fail('depends-condition', name, 'depends_on lists names without conditions');
    for (const [dep, spec] of Object.entries(asObj(deps))) {
      const condition = asObj(spec).condition;
      if (!isObj(services[dep])) fail('depends-unknown', name, `depends on "${dep}", which is not a service`);
      if (typeof condition !== 'string' || !CONDITIONS.includes(condition)) fail('depends-condition', name, `depends on "${dep}" without a condition`);
      if (condition === 'service_healthy' && !isObj(asObj(services[dep]).healthcheck)) fail('depends-healthcheck', name, `waits for "${dep}" to be healthy, which has no healthcheck`);
    }
    for (const m of mountsOf(svc)) {
      if (m.bind) {
        const host = isAbsolute(m.source) ? m.source : resolve(root, m.source);
        if (!existsSync(host)) fail('mount-missing', name, `bind mount source ${m.source} does not exist`);
      } else if (!namedVolumes.has(m.source)) fail('volume-undeclared', name, `volume "${m.source}" is not declared under volumes`);
    }
    if (svc.build !== undefined) {
      const build = typeof svc.build === 'string' ? { context: svc.build } : asObj(svc.build);
      const context = resolve(root, String(build.context ?? '.'));
      const file = join(context, String(build.dockerfile ?? 'Dockerfile'));
      if (!existsSync(file)) fail('build-missing', name, `no Dockerfile at ${file}`);
      else for (const p of checkDockerfile(readFileSync(file, 'utf8'), context)) fail(p.rule, `${name}: ${p.where}`, p.message);
    }
  }

  for (const [name, want] of Object.entries(REQUIRED_DEPENDS)) {
    const deps = asObj(asObj(services[name]).depends_on);
    for (const [dep, condition] of Object.entries(want)) {
      if (asObj(deps[dep]).condition !== condition) fail('depends-required', name, `must wait for "${dep}" with ${condition}`);
    }
  }
  for (const name of HEALTHY) {
    const test = asObj(asObj(services[name]).healthcheck).test;
    const ok = Array.isArray(test) ? test.length > 1 && test[0] !== 'NONE' : typeof test === 'string' && test.trim() !== '';
    if (!ok || asObj(asObj(services[name]).healthcheck).disable === true) fail('healthcheck-missing', name, 'has no healthcheck');
  }
  for (const role of ['controller', 'router', 'init'] as const) {
    const image = asObj(services[SERVICES[role]]).image;
    const repo = role === 'init' ? /^(docker\.io\/)?openziti\/ziti-(cli|controller):/ : new RegExp(`^(docker\\.io/)?openziti/ziti-${role}:`);
    if (typeof image !== 'string' || !repo.test(image) || !image.includes(`:${ZITI_VERSION}`)) fail('ziti-image', SERVICES[role], `must run OpenZiti's published image at ${ZITI_VERSION}, not ${String(image)}`);
  }
  if (!mountsOf(asObj(services[SERVICES.controller])).some((m) => !m.bind && m.target === '/ziti-controller')) fail('volume-pki', SERVICES.controller, 'the controller PKI and database need a named volume at /ziti-controller');

  // Nothing reaches the sidecar or Jenkins from outside: no published port, no host network.
  for (const name of [SERVICES.sidecar, SERVICES.jenkins]) {
    const svc = asObj(services[name]);
    if (svc.ports !== undefined) fail('port-published', name, 'publishes ports');
    if (svc.network_mode === 'host') fail('port-published', name, 'uses the host network');
  }
  const jenkins = asObj(services[SERVICES.jenkins]);
  if (jenkins.network_mode !== `service:${SERVICES.sidecar}`) fail('jenkins-namespace', SERVICES.jenkins, `network_mode must be service:${SERVICES.sidecar}`);
  if (!/--httpListenAddress=127\.0\.0\.1(\s|$)/.test(environmentOf(jenkins).JENKINS_OPTS ?? '')) fail('jenkins-loopback', SERVICES.jenkins, 'JENKINS_OPTS must hold --httpListenAddress=127.0.0.1');

  problems.push(...checkSidecar(asObj(services[SERVICES.sidecar]), asObj(services[SERVICES.init]), root, secretEnv));
  return problems;
}

/** The sidecar: its config file is mounted, passes the real checker, and its store and identity live on named volumes. */
function checkSidecar(svc: Obj, init: Obj, root: string, secretEnv: (name: string) => string): Problem[] {
  const problems: Problem[] = [];
  const fail = (rule: string, message: string): void => void problems.push({ rule, where: SERVICES.sidecar, message });
  const mounts = mountsOf(svc);
  const args = argsOf(svc.command);
  const configPath = args[args.indexOf('--config') + 1];
  if (args[0] !== 'receive' || args.indexOf('--config') < 0 || configPath === undefined) {
    fail('sidecar-command', 'command must be receive --config <file>');
    return problems;
  }
  const configMount = mountFor(mounts, configPath);
  if (configMount === undefined || !configMount.bind) {
    fail('sidecar-config', `${configPath} is not bind-mounted from the repository`);
    return problems;
  }
  const relative = posix.relative(configMount.target, configPath);
  const hostFile = resolve(root, configMount.source, relative);
  if (!existsSync(hostFile) || !statSync(hostFile).isFile()) {
    fail('sidecar-config', `${hostFile} does not exist`);
    return problems;
  }
  let raw: unknown;
  try {
    loadConfig(hostFile, {}, { resolveSecrets: false });
    raw = JSON.parse(readFileSync(hostFile, 'utf8'));
    const env = Object.fromEntries([...envRefs(raw)].map((n) => [n, secretEnv(n)]));
    const config = checkConfig(raw, { env, baseDir: dirname(hostFile) });
    const declared = environmentOf(svc);
    for (const name of envRefs(raw)) if (!(name in declared)) fail('sidecar-env', `the config reads env:${name}, which the service does not set`);
    const store = mountFor(mounts, config.store);
    if (store === undefined || store.bind || store.readOnly) fail('volume-store', `the store ${config.store} must be on a writable named volume`);
    const identity = mountFor(mounts, config.identity);
    if (identity === undefined || identity.bind) fail('volume-identities', `the identity ${config.identity} must be on a named volume`);
    else if (!mountsOf(init).some((m) => m.source === identity.source)) fail('volume-identities', `ziti-init does not write the identities volume "${identity.source}"`);
    for (const sink of config.sinks) {
      if (sink.type === 'jenkins' && new URL(sink.url).host !== '127.0.0.1:8080') fail('sidecar-jenkins-url', `sink ${sink.name} must forward to Jenkins on 127.0.0.1:8080`);
    }
  } catch (err) {
    if (!(err instanceof DarkhookError)) throw err;
    fail('sidecar-config-invalid', `${err.code}: ${err.message}`);
  }
  return problems;
}

/** One Dockerfile instruction: its keyword and its argument text, continuation lines joined. */
export function instructions(text: string): { op: string; args: string }[] {
  const joined = text.replace(/\\\r?\n/g, ' ');
  return joined
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\S+)\s*(.*)$/.exec(l)!;
      return { op: m[1]!.toUpperCase(), args: m[2]!.trim() };
    });
}

/** Arguments of an instruction in exec (JSON) or shell form. */
export function words(args: string): string[] {
  if (args.startsWith('[')) {
    try {
      return (JSON.parse(args) as unknown[]).map(String);
    } catch {
      return [];
    }
  }
  return args.split(/\s+/).filter((s) => s !== '');
}

/**
 * Check a Dockerfile: every base image pinned, the last USER not root, a HEALTHCHECK, and every
 * COPY source present in `context` and not excluded by its .dockerignore.
 */
export function checkDockerfile(text: string, context: string): Problem[] {
  const problems: Problem[] = [];
  const fail = (rule: string, where: string, message: string): void => void problems.push({ rule, where, message });
  const ops = instructions(text);
  const stages = new Set<string>();
  const ignorePath = join(context, '.dockerignore');
  const ignored = existsSync(ignorePath)
    ? readFileSync(ignorePath, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
    : [];
  for (const { op, args } of ops) {
    if (op === 'FROM') {
      const [image, as, stage] = words(args);
      if (!stages.has(image ?? '') && !imagePinned(image)) fail('image-unpinned', 'FROM', `base image ${String(image)} is not pinned to a release`);
      if (as?.toUpperCase() === 'AS' && stage !== undefined) stages.add(stage);
    }
    if (op === 'COPY' || op === 'ADD') {
      const w = words(args);
      if (w.some((a) => a.startsWith('--from='))) continue;
      const paths = w.filter((a) => !a.startsWith('--'));
      for (const src of paths.slice(0, -1)) {
        const clean = posix.normalize(src).replace(/\/$/, '');
        if (!existsSync(join(context, clean))) fail('copy-missing', op, `${src} is not in the build context`);
        if (ignored.includes(clean) || ignored.includes(clean.split('/')[0]!)) fail('copy-ignored', op, `${src} is excluded by .dockerignore`);
      }
    }
  }
  const users = ops.filter((o) => o.op === 'USER');
  const user = users.at(-1)?.args.split(':')[0];
  if (user === undefined || user === 'root' || user === '0') fail('user-root', 'USER', 'the image must end as a non-root USER');
  const health = ops.find((o) => o.op === 'HEALTHCHECK');
  if (health === undefined || /^NONE$/i.test(health.args)) fail('healthcheck-missing', 'HEALTHCHECK', 'the image has no HEALTHCHECK');
  return problems;
}
