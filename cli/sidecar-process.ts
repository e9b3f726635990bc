/** `darkhook receive --config` as a child process: write its config, start it, wait for its ready line, stop or kill it. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CliError } from '../core/index.js';

/** The built CLI entry, next to this file. */
// Beside this file in build/; in the single-file bundle (dist/darkhook.cjs) there is no main.js beside it,
// and the running CLI is the bundle itself.
const BESIDE = fileURLToPath(new URL('./main.js', import.meta.url));
export const CLI_MAIN = existsSync(BESIDE) ? BESIDE : process.argv[1]!;

/** Write `config` as JSON (mode 0600) to `path`. */
export function writeReceiverConfig(path: string, config: Record<string, unknown>): void {
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}

/** What the receiver's `--json` ready line says. */
export interface ReceiverReady {
  readonly service: string;
  readonly routes: string[];
  readonly sinks: string[];
  /** `host:port` of the loopback admin listener, or null. */
  readonly admin: string | null;
}

/** A running `darkhook receive` child. */
export interface ReceiverProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly ready: ReceiverReady;
  /** Ids of messages it printed as stored. */
  readonly stored: string[];
  /** Its stderr so far (log lines at the chosen level). */
  stderr(): string;
  /** SIGTERM, then wait for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, then wait for the exit. */
  kill(): Promise<void>;
}

/** Start `node <cli> --json receive --config <file>`; resolves at its ready line, rejects if it exits first or `timeoutMs` passes. */
export async function startReceiverProcess(configFile: string, env: NodeJS.ProcessEnv, options: { logLevel?: string; timeoutMs?: number } = {}): Promise<ReceiverProcess> {
  const child = spawn(process.execPath, [CLI_MAIN, '--json', '--log-level', options.logLevel ?? 'warn', 'receive', '--config', configFile], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stored: string[] = [];
  let err = '';
  let pending = '';
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString('utf8');
    if (err.length > 200_000) err = err.slice(-100_000);
  });
  const ready = await new Promise<ReceiverReady>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new CliError('ERR_CLI_DEMO_FAILED', `the receiver did not become ready: ${err.trim().split('\n').at(-1) ?? ''}`));
    }, options.timeoutMs ?? 30_000);
    child.stdout!.on('data', (c: Buffer) => {
      pending += c.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        let event: Record<string, unknown>;
        try {
          event = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (event['event'] === 'stored') stored.push(String(event['id']));
        else if (event['event'] === 'ready') {
          clearTimeout(timer);
          resolve(event as unknown as ReceiverReady);
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new CliError('ERR_CLI_DEMO_FAILED', `the receiver exited with ${code}: ${err.trim().split('\n').at(-1) ?? ''}`));
    });
  });
  return {
    child,
    pid: child.pid!,
    ready,
    stored,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
