/**
 * Real processes on loopback for the fault suite and the end-to-end tests: a fabric home with its
 * identities prepared in-process, then `darkhook fabric up`, `darkhook receive --config` and
 * `darkhook send` as child processes that can be stopped, SIGKILLed and started again.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { enroll } from '../connector/ziti/index.js';
import { createIdentityWithJwt, startFabric } from '../fabric/fabric.js';
import { writeIdentityFile } from '../pki/index.js';
import { CLI_MAIN } from '../cli/sidecar-process.js';

export { CLI_MAIN };
export { startReceiverProcess, writeReceiverConfig, type ReceiverProcess } from '../cli/sidecar-process.js';

/** The service every harness net creates. */
export const SERVICE = 'jenkins-hooks';

/** A free TCP port on 127.0.0.1 (closed again at once, so a child can take it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** A prepared fabric home: fixed ports (so restarts keep them), service, policies, enrolled identity files. */
export interface NetHome {
  readonly dir: string;
  readonly home: string;
  readonly ctrlPort: number;
  readonly routerPort: number;
  /** Identity file per name. */
  readonly identities: Record<string, string>;
}

/**
 * Create the home with the embedded fabric in this process (service `SERVICE`, `#senders` dial,
 * `#receivers` bind), enroll `receivers` and `senders` names, write their identity files, stop it.
 */
export async function prepareNet(names: { receivers: readonly string[]; senders: readonly string[] }): Promise<NetHome> {
  const dir = mkdtempSync(join(tmpdir(), 'darkhook-faults-'));
  const home = join(dir, 'fabric');
  const ctrlPort = await freePort();
  const routerPort = await freePort();
  const fabric = await startFabric({ home, ctrlPort, routerPort });
  const identities: Record<string, string> = {};
  try {
    fabric.store.createService({ name: SERVICE, roleAttributes: ['hooks'], encryptionRequired: true });
    fabric.store.createPolicy({ name: 'senders-dial', type: 'Dial', serviceRoles: ['#hooks'], identityRoles: ['#senders'] });
    fabric.store.createPolicy({ name: 'receivers-bind', type: 'Bind', serviceRoles: ['#hooks'], identityRoles: ['#receivers'] });
    const all = [...names.receivers.map((n) => [n, 'receivers'] as const), ...names.senders.map((n) => [n, 'senders'] as const)];
    for (const [name, role] of all) {
      const identity = await enroll(await createIdentityWithJwt(home, fabric.store, { name, roleAttributes: [role] }));
      identities[name] = join(dir, `${name}.json`);
      await writeIdentityFile(identities[name], identity);
    }
  } finally {
    await fabric.close();
  }
  return { dir, home, ctrlPort, routerPort, identities };
}

/** A child process with its output collected. */
export interface Child {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
  /** SIGTERM (or `signal`) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Run `node <cli> ...args`. */
export function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv = {}, nodeArgs: readonly string[] = []): Child {
  const child = spawn(process.execPath, [...nodeArgs, CLI_MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString('utf8');
    if (err.length > 400_000) err = err.slice(-200_000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Poll `check` every 20 ms; false after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** The pattern of the receiver's start-up warning about deliveries left in flight by the previous run. */
const RECOVERED = /"deliveries":(\d+)[^\n]*in flight at the last stop/;

/**
 * How many deliveries a freshly started receiver found in flight (and sends again): read from its
 * start-up warning, which arrives on stderr, a separate pipe from the ready line, so it is awaited briefly.
 */
export async function recoveredInflight(receiver: { stderr(): string }, graceMs = 1_000): Promise<number> {
  await waitFor(() => RECOVERED.test(receiver.stderr()), graceMs);
  return Number(RECOVERED.exec(receiver.stderr())?.[1] ?? 0);
}

/** `darkhook fabric up` on the prepared home's fixed ports; resolves once it prints its ready line. */
export async function startFabricProcess(net: NetHome): Promise<Child> {
  const c = spawnCli(['--json', '--log-level', 'warn', 'fabric', 'up', '--home', net.home, '--ctrl-port', String(net.ctrlPort), '--router-port', String(net.routerPort)]);
  const ready = await waitFor(() => c.stdout().includes('"ready":true') || c.child.exitCode !== null, 30_000);
  assert.ok(ready && c.child.exitCode === null, `fabric up did not start: ${c.stderr().slice(-500)}`);
  return c;
}
