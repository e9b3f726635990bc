/** A three-node HA cluster of the real `ziti` (raft, OIDC) on 127.0.0.1, each node with its own router, for interop tests and bench. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Fixed ports (the quickstart's join needs to know a member's address up front): an unusual range,
 * away from the single-node quickstart tests (ephemeral ports) and the usual 1280/3022.
 */
export const HA_CTRL_PORTS = [22281, 22282, 22283] as const;
export const HA_ROUTER_PORTS = [22291, 22292, 22293] as const;
/** Node ids, as `--instance-id`. */
export const HA_NODES = ['ctrl1', 'ctrl2', 'ctrl3'] as const;
export type HaNode = (typeof HA_NODES)[number];

/** How long one quickstart member may take to print its readiness line, in milliseconds. */
const FORM_TIMEOUT_MS = 120_000;
/** How long a restarted node may take to answer and be connected to the cluster again, in milliseconds. */
const REJOIN_TIMEOUT_MS = 60_000;

/** A member as `ziti ops cluster list -j` reports it. */
export interface HaMember {
  readonly id: string;
  readonly address: string;
  readonly connected: boolean;
  readonly leader: boolean;
  readonly voter: boolean;
}

/** Options of `HaCluster.start`. */
export interface HaClusterOptions {
  /** OIDC access token lifetime written into every ctrl.yaml (`edge.oidc.accessTokenDuration`); the controller's minimum is 1m. */
  readonly accessTokenDuration?: string;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Formed as OpenZiti's HA quickstart does (`ziti edge quickstart ha --instance-id ctrl1`, then
 * `ziti edge quickstart join --cluster-member tls:…` for ctrl2 and ctrl3, one home, one PKI). Then
 * every quickstart is stopped, the routers' listeners are pinned to 127.0.0.1 (the router template
 * binds 0.0.0.0), and each controller and each router runs as its own process from the generated
 * configs, so that a controller can be SIGKILLed while its router keeps carrying circuits.
 */
export class HaCluster {
  readonly bin: string;
  readonly home: string;
  readonly #ctrls = new Map<HaNode, ChildProcess>();
  readonly #routers = new Map<HaNode, ChildProcess>();
  readonly #logs: string[] = [];
  #loggedInto: number | undefined;
  readonly #nodeLogins = new Set<HaNode>();

  private constructor(bin: string, home: string) {
    this.bin = bin;
    this.home = home;
  }

  /** Form the cluster and run it; resolves once every controller answers and the admin is logged in. */
  static async start(bin: string, options: HaClusterOptions = {}): Promise<HaCluster> {
    // Fixed ports: a second cluster (another test run on this machine) would fail obscurely.
    const busy: number[] = [];
    for (const port of [...HA_CTRL_PORTS, ...HA_ROUTER_PORTS]) if (await portOpen(port)) busy.push(port);
    if (busy.length > 0) throw new Error(`HA cluster ports already in use on 127.0.0.1: ${busy.join(', ')} (another HA test or bench running?)`);
    const home = mkdtempSync(join(tmpdir(), 'darkhook-ha-'));
    const c = new HaCluster(bin, home);
    process.once('exit', () => c.#killAll());
    try {
      await c.#form();
      for (const node of HA_NODES) {
        const routerYaml = join(home, 'h', node, `router-${node}.yaml`);
        writeFileSync(routerYaml, readFileSync(routerYaml, 'utf8').replaceAll('tls:0.0.0.0:', 'tls:127.0.0.1:'));
        if (options.accessTokenDuration !== undefined) {
          const ctrlYaml = join(home, 'h', node, 'ctrl.yaml');
          const text = readFileSync(ctrlYaml, 'utf8');
          writeFileSync(ctrlYaml, text.replace(/^edge:\n/m, `edge:\n  oidc:\n    accessTokenDuration: ${options.accessTokenDuration}\n`));
        }
      }
      for (const node of HA_NODES) c.startController(node);
      for (const node of HA_NODES) c.#startRouter(node);
      await c.waitConnected(HA_NODES);
      for (const port of HA_ROUTER_PORTS) await c.#waitPort(port);
      await c.#publishApiAddresses();
      return c;
    } catch (err) {
      await c.dispose();
      throw err;
    }
  }

  /** `https://127.0.0.1:port` of a node's controller. */
  ctrlUrl(node: HaNode): string {
    return `https://127.0.0.1:${HA_CTRL_PORTS[HA_NODES.indexOf(node)]}`;
  }

  #env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      HOME: this.home,
      ZITI_CONFIG_DIR: join(this.home, 'cli'),
      ZITI_CTRL_BIND_ADDRESS: '127.0.0.1',
      ZITI_CTRL_EDGE_BIND_ADDRESS: '127.0.0.1',
    };
  }

  async #form(): Promise<void> {
    const quickstarts: ChildProcess[] = [];
    try {
      for (const [i, node] of HA_NODES.entries()) {
        const args = i === 0 ? ['edge', 'quickstart', 'ha'] : ['edge', 'quickstart', 'join', '--cluster-member', `tls:127.0.0.1:${HA_CTRL_PORTS[0]}`];
        args.push('--home', join(this.home, 'h'), '--instance-id', node, '--trust-domain', 'darkhook-ha', '--ctrl-address', '127.0.0.1',
          '--router-address', '127.0.0.1', '--ctrl-port', String(HA_CTRL_PORTS[i]), '--router-port', String(HA_ROUTER_PORTS[i]));
        quickstarts.push(await this.#runUntil(args, 'controller and router started', `form-${node}`));
      }
    } finally {
      await Promise.all(quickstarts.map((p) => stopProcess(p, 'SIGTERM')));
    }
  }

  /** Spawn `ziti args…`, logging to the home; resolve once `ready` appears in its output. */
  #runUntil(args: string[], ready: string, name: string): Promise<ChildProcess> {
    const proc = this.#spawn(args, name);
    let output = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} not ready after ${FORM_TIMEOUT_MS} ms; logs in ${this.home}`)), FORM_TIMEOUT_MS);
      const onChunk = (c: Buffer): void => {
        output += c.toString('utf8');
        if (output.includes(ready)) {
          clearTimeout(timer);
          resolve(proc);
        }
      };
      proc.stdout!.on('data', onChunk);
      proc.stderr!.on('data', onChunk);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited with ${code} before it was ready; logs in ${this.home}`));
      });
    });
  }

  #spawn(args: string[], name: string): ChildProcess {
    const log = join(this.home, `${name}-${this.#logs.length}.log`);
    this.#logs.push(log);
    const proc = spawn(this.bin, args, { env: this.#env(), cwd: this.home, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (c: Buffer): void => {
      // Bounded: the tail is what explains a failure.
      output = (output + c.toString('utf8')).slice(-200_000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    proc.once('exit', () => writeFileSync(log, output));
    return proc;
  }

  /** Start (or restart) a node's controller from its generated config. */
  startController(node: HaNode): void {
    this.#ctrls.set(node, this.#spawn(['controller', 'run', join(this.home, 'h', node, 'ctrl.yaml')], `ctrl-${node}`));
  }

  #startRouter(node: HaNode): void {
    this.#routers.set(node, this.#spawn(['router', 'run', join(this.home, 'h', node, `router-${node}.yaml`)], `router-${node}`));
  }

  /** SIGKILL a node's controller (its router keeps running); resolves when the process is gone. */
  async killController(node: HaNode): Promise<void> {
    const proc = this.#ctrls.get(node);
    this.#ctrls.delete(node);
    if (proc !== undefined) await stopProcess(proc, 'SIGKILL');
    this.#nodeLogins.delete(node);
    if (this.#loggedInto === HA_NODES.indexOf(node)) this.#loggedInto = undefined;
  }

  /** The cluster as a live member sees it. */
  async members(): Promise<HaMember[]> {
    const out = await this.ziti('ops', 'cluster', 'list', '-j');
    return (JSON.parse(out) as { data: HaMember[] }).data;
  }

  /** The current raft leader's node id (waits until there is one). */
  async leader(timeoutMs = 30_000): Promise<HaNode> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leader = (await this.members().catch(() => [])).find((m) => m.leader && m.connected);
      if (leader !== undefined) return leader.id as HaNode;
      if (Date.now() > deadline) throw new Error(`no raft leader within ${timeoutMs} ms`);
      await sleep(500);
    }
  }

  /**
   * The cluster as `node` itself sees it (its own CLI login). Only the leader's view is complete:
   * a follower reports the members it has no mesh connection to as not connected.
   */
  async membersSeenBy(node: HaNode): Promise<HaMember[]> {
    const i = HA_NODES.indexOf(node);
    const env = { ZITI_CONFIG_DIR: join(this.home, `cli-${node}`) };
    if (!this.#nodeLogins.has(node)) {
      await this.#exec(['edge', 'login', `127.0.0.1:${HA_CTRL_PORTS[i]}`, '-u', 'admin', '-p', 'admin', '-y'], env);
      this.#nodeLogins.add(node);
    }
    try {
      return (JSON.parse(await this.#exec(['ops', 'cluster', 'list', '-j'], env)) as { data: HaMember[] }).data;
    } catch (err) {
      this.#nodeLogins.delete(node);
      throw err;
    }
  }

  /** Wait until every node in `nodes` answers and the leader, asked itself, sees each connected. */
  async waitConnected(nodes: readonly HaNode[], timeoutMs = REJOIN_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const node of nodes) await this.#waitPort(HA_CTRL_PORTS[HA_NODES.indexOf(node)]!, timeoutMs);
    for (;;) {
      const leader = (await this.members().catch(() => [] as HaMember[])).find((m) => m.leader);
      const members = leader === undefined ? [] : await this.membersSeenBy(leader.id as HaNode).catch(() => [] as HaMember[]);
      if (nodes.every((n) => members.some((m) => m.id === n && m.connected)) && members.some((m) => m.leader && m.id === leader?.id)) return;
      if (Date.now() > deadline) throw new Error(`nodes ${nodes.join(', ')} not connected within ${timeoutMs} ms: ${JSON.stringify(members)}`);
      await sleep(500);
    }
  }

  /**
   * Make every controller's API addresses part of the cluster state (`GET /controllers`). A 1.7.2
   * controller records its peers' API addresses when they connect over raft, which after a restart
   * can be before their web listeners are up: the list then has the controllers but no addresses.
   * Each controller re-publishes its own when it sees a new leader, so transfer the leadership
   * until the list is complete.
   */
  async #publishApiAddresses(timeoutMs = REJOIN_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leader = await this.leader();
      const listed = await this.reportedApiUrls(leader).catch(() => [] as string[]);
      if (HA_NODES.every((n) => listed.includes(`${this.ctrlUrl(n)}/edge/client/v1`))) return;
      if (Date.now() > deadline) throw new Error(`the cluster lists API addresses ${JSON.stringify(listed)} after ${timeoutMs} ms`);
      await this.ziti('ops', 'cluster', 'transfer-leadership').catch(() => undefined);
      await sleep(2_000);
    }
  }

  /** The `edge-client` v1 URLs `GET /edge/management/v1/controllers` lists on `node` (as admin, verified against the cluster's root CA). */
  async reportedApiUrls(node: HaNode): Promise<string[]> {
    const ca = readFileSync(join(this.home, 'h', 'pki', 'root-ca', 'certs', 'root-ca.cert'), 'utf8');
    const base = this.ctrlUrl(node);
    const auth = await httpsJson(`${base}/edge/management/v1/authenticate?method=password`, ca, 'POST', JSON.stringify({ username: 'admin', password: 'admin' }));
    const token = (auth as { data: { token: string } }).data.token;
    const list = (await httpsJson(`${base}/edge/management/v1/controllers`, ca, 'GET', undefined, { 'zt-session': token })) as {
      data: { apiAddresses?: Record<string, { url: string; version: string }[]> }[];
    };
    return list.data.flatMap((c) => (c.apiAddresses?.['edge-client'] ?? []).filter((a) => a.version === 'v1').map((a) => a.url));
  }

  async #waitPort(port: number, timeoutMs = REJOIN_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await portOpen(port))) {
      if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
      await sleep(250);
    }
  }

  /** Run a `ziti` CLI command as admin against a live controller (logging in again elsewhere if ours died). */
  async ziti(...args: string[]): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      if (this.#loggedInto === undefined) await this.#login();
      try {
        return await this.#exec(args);
      } catch (err) {
        if (attempt >= HA_NODES.length) throw err;
        this.#loggedInto = undefined;
      }
    }
  }

  async #login(): Promise<void> {
    const alive = [...this.#ctrls.keys()].map((n) => HA_NODES.indexOf(n));
    for (const i of alive.length > 0 ? alive : [0, 1, 2]) {
      try {
        await this.#exec(['edge', 'login', `127.0.0.1:${HA_CTRL_PORTS[i]}`, '-u', 'admin', '-p', 'admin', '-y']);
        this.#loggedInto = i;
        return;
      } catch {
        // the next one
      }
    }
    throw new Error('no controller of the cluster accepted the admin login');
  }

  #exec(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(this.bin, args, { env: { ...this.#env(), ...env }, cwd: this.home, timeout: 60_000 }, (err, stdout, stderr) => {
        if (err !== null) reject(new Error(`ziti ${args.join(' ')} failed: ${stderr || err.message}`));
        else resolve(stdout);
      });
    });
  }

  /** Create an identity with role attributes; returns its enrollment JWT text. */
  async createIdentity(name: string, attributes: readonly string[] = []): Promise<string> {
    const jwtPath = join(this.home, `${name}.jwt`);
    const args = ['edge', 'create', 'identity', name, '-o', jwtPath];
    if (attributes.length > 0) args.push('-a', attributes.join(','));
    await this.ziti(...args);
    return readFileSync(jwtPath, 'utf8');
  }

  #killAll(): void {
    for (const p of [...this.#ctrls.values(), ...this.#routers.values()]) if (p.exitCode === null) p.kill('SIGKILL');
  }

  /** Stop every process and delete the home (kept, with its logs, when DARKHOOK_KEEP_QUICKSTART=1). */
  async dispose(): Promise<void> {
    await Promise.all([...this.#routers.values(), ...this.#ctrls.values()].map((p) => stopProcess(p, 'SIGTERM')));
    this.#routers.clear();
    this.#ctrls.clear();
    if (process.env['DARKHOOK_KEEP_QUICKSTART'] === '1') {
      process.stderr.write(`HA cluster home kept: ${this.home}\n`);
      return;
    }
    rmSync(this.home, { recursive: true, force: true });
  }
}

/** Signal a process and wait for it to exit (SIGKILL after 10 s). */
async function stopProcess(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    proc.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    proc.kill(signal);
  });
}

/** One JSON request over HTTPS verified against `ca`. */
function httpsJson(url: string, ca: string, method: 'GET' | 'POST', body?: string, headers: Record<string, string> = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (err) {
          reject(err as Error);
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: timeout`)));
    req.on('error', reject);
    req.end(body);
  });
}
