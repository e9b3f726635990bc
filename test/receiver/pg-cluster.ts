/** A throw-away PostgreSQL cluster for tests: initdb + pg_ctl in a temp folder, on 127.0.0.1 with a free port, password login; torn down after. */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** The role the cluster is created with. */
export const PG_USER = 'darkhook';

/** A running cluster. */
export interface PgCluster {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The role's password (tests pass it by `env:` reference). */
  readonly password: string;
  /** A fresh, empty database; returns its name. */
  createDatabase(prefix?: string): Promise<string>;
  /** `postgres://darkhook:env:VAR@127.0.0.1:PORT/db` for a config (the password in `env[VAR]`). */
  url(database: string, envVar?: string): string;
  /** Stop the server (`immediate`: as a crash, no checkpoint). */
  stop(mode?: 'fast' | 'immediate'): void;
  /** Start it again on the same port and data. */
  start(): void;
  /** Stop and remove everything. Idempotent. */
  destroy(): void;
}

function binDir(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir !== '' && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  for (const v of readdirSync(root).sort().reverse()) if (existsSync(join(root, v, 'bin', 'initdb'))) return join(root, v, 'bin');
  return undefined;
}

/**
 * Why PostgreSQL suites cannot run here, or undefined when they can. Under CI=true a missing
 * PostgreSQL is a failure, never a skip.
 */
export function pgSkipReason(): string | undefined {
  if (binDir() !== undefined) return undefined;
  const reason = 'PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin; apt-get install postgresql)';
  if (process.env.CI === 'true') throw new Error(`${reason} — required under CI=true`);
  return reason;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Start a cluster (initdb refuses root: as root the cluster runs as the `postgres` user). */
export async function startPgCluster(): Promise<PgCluster> {
  const bin = binDir();
  if (bin === undefined) throw new Error(pgSkipReason() ?? 'no PostgreSQL');
  const dir = mkdtempSync(join(tmpdir(), 'darkhook-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  const pgUid = asRoot ? Number(execFileSync('id', ['-u', 'postgres']).toString().trim()) : undefined;
  const pgGid = asRoot ? Number(execFileSync('id', ['-g', 'postgres']).toString().trim()) : undefined;
  if (asRoot) chownSync(dir, pgUid!, pgGid!);
  const run = (tool: string, args: string[]): void => {
    const cmd = join(bin, tool);
    const opts = { stdio: ['ignore', 'ignore', 'pipe'] as ['ignore', 'ignore', 'pipe'], timeout: 60_000 };
    if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], opts);
    else execFileSync(cmd, args, opts);
  };
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, password, { mode: 0o600 });
  if (asRoot) chownSync(pwfile, pgUid!, pgGid!);
  run('initdb', ['-D', data, '-U', PG_USER, '--pwfile', pwfile, '-A', 'scram-sha-256', '--no-sync', '-E', 'UTF8', '--locale', 'C']);
  rmSync(pwfile);
  const port = await freePort();
  const started = { on: false };
  const start = (): void => {
    run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '30', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`, 'start']);
    started.on = true;
  };
  const stop = (mode: 'fast' | 'immediate' = 'fast'): void => {
    if (!started.on) return;
    started.on = false;
    run('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']);
  };
  start();
  let n = 0;
  const cluster: PgCluster = {
    host: '127.0.0.1',
    port,
    user: PG_USER,
    password,
    async createDatabase(prefix = 'log') {
      const name = `${prefix}_${process.pid}_${++n}`;
      const c = new pg.Client({ host: '127.0.0.1', port, user: PG_USER, password, database: 'postgres' });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return name;
    },
    url(database, envVar = 'DARKHOOK_TEST_PG_PASSWORD') {
      return `postgres://${PG_USER}:env:${envVar}@127.0.0.1:${port}/${database}`;
    },
    stop,
    start,
    destroy() {
      try {
        stop('immediate');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  return cluster;
}
