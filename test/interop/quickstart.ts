/** Runs a real `ziti edge quickstart` (controller + edge router) on 127.0.0.1 for interop tests. */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FabricUnderTest } from '../ziti/sdk-suite.js';

const INSTALL_SCRIPT = fileURLToPath(new URL('../../../scripts/install-ziti.sh', import.meta.url));
/** How long a quickstart may take to print its readiness line, in milliseconds. */
const READY_TIMEOUT_MS = 120_000;

/**
 * The `ziti` binary: `$ZITI_BIN`, else built (once, cached) by scripts/install-ziti.sh.
 * Returns undefined with a reason when neither is possible (no Go toolchain).
 */
export function zitiBinary(): { path?: string; reason?: string } {
  if (process.env['ZITI_BIN'] !== undefined && process.env['ZITI_BIN'] !== '') return { path: process.env['ZITI_BIN'] };
  if (spawnSync('go', ['version']).status !== 0) return { reason: 'no ZITI_BIN and no Go toolchain to build ziti (see scripts/install-ziti.sh)' };
  const r = spawnSync('bash', [INSTALL_SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 30 * 60_000 });
  const path = r.stdout.trim().split('\n').pop();
  if (r.status !== 0 || path === undefined || path === '') return { reason: `scripts/install-ziti.sh failed (exit ${r.status})` };
  process.env['ZITI_BIN'] = path;
  return { path };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0));
    });
  });
}

/** A running quickstart network, administered through the real `ziti` CLI. */
export class Quickstart {
  readonly bin: string;
  readonly home: string;
  readonly ctrlPort: number;
  readonly routerPort: number;
  #proc: ChildProcess | undefined;
  #runs = 0;

  private constructor(bin: string, home: string, ctrlPort: number, routerPort: number) {
    this.bin = bin;
    this.home = home;
    this.ctrlPort = ctrlPort;
    this.routerPort = routerPort;
  }

  /** Initialise a fresh network, rebind its router to loopback only, start it and log in as admin. */
  static async start(bin: string): Promise<Quickstart> {
    const home = mkdtempSync(join(tmpdir(), 'darkhook-qs-'));
    const qs = new Quickstart(bin, home, await freePort(), await freePort());
    process.once('exit', () => qs.#proc?.kill('SIGKILL'));
    // First run creates PKI, database and router config; the router template listens on 0.0.0.0,
    // so stop it, pin the router to 127.0.0.1 and start again (a re-run reuses the config).
    await qs.#launch();
    await qs.stop();
    const routerYaml = join(home, 'router-quickstart.yaml');
    writeFileSync(routerYaml, readFileSync(routerYaml, 'utf8').replaceAll('tls:0.0.0.0:', 'tls:127.0.0.1:'));
    await qs.#launch();
    await qs.ziti('edge', 'login', `127.0.0.1:${qs.ctrlPort}`, '-u', 'admin', '-p', 'admin', '-y');
    return qs;
  }

  /** Process id of the running quickstart (controller and router in one process), if running. */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** The controller's Client API URL. */
  get ctrlUrl(): string {
    return `https://127.0.0.1:${this.ctrlPort}`;
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

  async #launch(): Promise<void> {
    const log = join(this.home, `quickstart-${++this.#runs}.log`);
    const args = ['edge', 'quickstart', '--home', this.home, '--ctrl-address', '127.0.0.1', '--router-address', '127.0.0.1',
      '--ctrl-port', String(this.ctrlPort), '--router-port', String(this.routerPort)];
    const proc = spawn(this.bin, args, { env: this.#env(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.#proc = proc;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`quickstart not ready after ${READY_TIMEOUT_MS} ms; log: ${log}`)), READY_TIMEOUT_MS);
      const onChunk = (c: Buffer): void => {
        output += c.toString('utf8');
        if (output.includes('controller and router started')) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout!.on('data', onChunk);
      proc.stderr!.on('data', onChunk);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        writeFileSync(log, output);
        reject(new Error(`quickstart exited with ${code} before it was ready; log: ${log}`));
      });
    });
    proc.removeAllListeners('exit');
    proc.once('exit', () => writeFileSync(log, output));
  }

  /** Stop the quickstart process (SIGTERM, then SIGKILL after 10 s). */
  async stop(): Promise<void> {
    const proc = this.#proc;
    this.#proc = undefined;
    if (proc === undefined || proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      proc.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      proc.kill('SIGTERM');
    });
  }

  /** Stop and start again with the same home: identities, services and policies survive. */
  async restart(): Promise<void> {
    await this.stop();
    await this.#launch();
  }

  /** Run a `ziti` CLI command against this network; resolves with stdout. */
  ziti(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(this.bin, args, { env: this.#env(), cwd: this.home, timeout: 60_000 }, (err, stdout, stderr) => {
        if (err !== null) reject(new Error(`ziti ${args.join(' ')} failed: ${stderr || err.message}`));
        else resolve(stdout);
      });
    });
  }

  /** Start a long-running `ziti` process (e.g. `demo echo-server`) against this network. */
  spawnZiti(...args: string[]): ChildProcess {
    const child = spawn(this.bin, args, { env: this.#env(), cwd: this.home, stdio: ['pipe', 'pipe', 'pipe'] });
    process.once('exit', () => child.kill('SIGKILL'));
    return child;
  }

  /** Create an identity with role attributes; returns its enrollment JWT text. */
  async createIdentity(name: string, attributes: readonly string[] = []): Promise<string> {
    const jwtPath = join(this.home, `${name}.jwt`);
    const args = ['edge', 'create', 'identity', name, '-o', jwtPath];
    if (attributes.length > 0) args.push('-a', attributes.join(','));
    await this.ziti(...args);
    return readFileSync(jwtPath, 'utf8');
  }

  /** Enroll an identity with the `ziti` CLI itself (for interop with its Go SDK); returns the file path. */
  async enrollWithCli(name: string): Promise<string> {
    const out = join(this.home, `${name}.cli.json`);
    await this.ziti('edge', 'enroll', join(this.home, `${name}.jwt`), '-o', out);
    return out;
  }

  /** Stop and delete the home directory (kept, with its logs, when DARKHOOK_KEEP_QUICKSTART=1). */
  async dispose(): Promise<void> {
    await this.stop();
    if (process.env['DARKHOOK_KEEP_QUICKSTART'] === '1') {
      process.stderr.write(`quickstart home kept: ${this.home}\n`);
      return;
    }
    rmSync(this.home, { recursive: true, force: true });
  }
}

/** The quickstart as the SDK suite's fabric, administered with the real `ziti` CLI. */
export function fabricOf(qs: Quickstart): FabricUnderTest {
  return {
    ctrlUrl: qs.ctrlUrl,
    createService: async (name, attrs) => void (await qs.ziti('edge', 'create', 'service', name, ...(attrs.length > 0 ? ['-a', attrs.join(',')] : []))),
    createPolicy: async (name, type, services, identities) =>
      void (await qs.ziti('edge', 'create', 'service-policy', name, type, '--service-roles', services.join(','), '--identity-roles', identities.join(','))),
    createIdentity: (name, attrs) => qs.createIdentity(name, attrs),
    deleteIdentity: async (name) => void (await qs.ziti('edge', 'delete', 'identity', name)),
    restart: () => qs.restart(),
    dispose: () => qs.dispose(),
  };
}
