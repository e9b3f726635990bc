/** `darkhook enroll`, `darkhook dial`, `darkhook host`: identity enrollment and low-level Ziti debugging. */
import { existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import type { Command } from 'commander';
import { ZitiContext, enroll } from '../../connector/ziti/index.js';
import { nativeDial } from '../../connector/ziti/native.js';
import { FileError, OptionError } from '../../core/index.js';
import { describeCertificate, writeIdentityFile } from '../../pki/index.js';
import type { CliContext } from '../context.js';

function readText(path: string, what: string): string {
  if (!existsSync(path)) throw new FileError('ERR_FILE_NOT_FOUND', `${what} "${path}" does not exist`);
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new FileError('ERR_FILE_UNREADABLE', `${what} "${path}" could not be read`, { cause });
  }
}

/** Register `enroll`, `dial` and `host`. */
export function registerZiti(program: Command, context: () => CliContext): void {
  program
    .command('enroll')
    .description('turn a one-time enrollment JWT into an identity file (key, certificate, CA bundle)')
    .requiredOption('--jwt <file>', 'the enrollment token file from the fabric admin')
    .requiredOption('--out <file>', 'where to write the identity JSON (mode 0600)')
    .option('--key-bits <n>', 'RSA key size in bits', '3072')
    .option('--force', 'overwrite an existing identity file', false)
    .action(async (opts: { jwt: string; out: string; keyBits: string; force: boolean }) => {
      const ctx = context();
      const keyBits = Number(opts.keyBits);
      if (!Number.isInteger(keyBits) || keyBits < 2048) throw new OptionError('ERR_OPTION_INVALID', '--key-bits must be a whole number ≥ 2048');
      if (existsSync(opts.out) && !opts.force) throw new FileError('ERR_FILE_EXISTS', `"${opts.out}" already exists`);
      const jwt = readText(opts.jwt, 'enrollment token');
      ctx.log.debug({ jwtFile: opts.jwt }, 'enrolling');
      const identity = await enroll(jwt, { keyBits });
      await writeIdentityFile(opts.out, identity);
      const cert = describeCertificate(identity.cert);
      const result = { identity: opts.out, subject: cert.subject, controller: identity.ztAPI, notAfter: cert.notAfter.toISOString(), sha256: cert.sha256 };
      ctx.out(ctx.json ? JSON.stringify(result) : `enrolled: ${result.subject}, controller ${result.controller}, certificate valid until ${result.notAfter}\nidentity written to ${opts.out}`);
    });

  program
    .command('dial')
    .description('connect to a service and pipe stdin to it and its answer to stdout (like netcat)')
    .requiredOption('--identity <file>', 'identity JSON')
    .requiredOption('--service <name>', 'service to dial')
    .option('--transport <kind>', 'ts (pure TypeScript, default) or native (@openziti/ziti-sdk-nodejs, if installed)', 'ts')
    .action(async (opts: { identity: string; service: string; transport: string }) => {
      const ctx = context();
      if (opts.transport !== 'ts' && opts.transport !== 'native') throw new OptionError('ERR_OPTION_INVALID', '--transport must be "ts" or "native"');
      if (opts.transport === 'native') {
        const conn = await nativeDial(opts.identity, opts.service);
        process.stdin.pipe(conn);
        conn.pipe(process.stdout, { end: false });
        await once(conn, 'end');
        return;
      }
      const ziti = await ZitiContext.fromFile(opts.identity);
      try {
        const conn = await ziti.dial(opts.service);
        ctx.log.info({ service: opts.service, encrypted: conn.encrypted, router: conn.routerAddress }, 'connected');
        process.stdin.pipe(conn);
        conn.pipe(process.stdout, { end: false });
        await once(conn, 'end');
        conn.destroy();
      } finally {
        await ziti.close();
      }
    });

  program
    .command('host')
    .description('bind a service and echo every connection until stopped (SIGINT/SIGTERM)')
    .requiredOption('--identity <file>', 'identity JSON')
    .requiredOption('--service <name>', 'service to bind')
    .option('--echo', 'echo every connection back to its caller (the only mode so far)', false)
    .action(async (opts: { identity: string; service: string; echo: boolean }) => {
      const ctx = context();
      if (!opts.echo) throw new OptionError('ERR_OPTION_INVALID', 'host needs --echo (the only mode so far)');
      const ziti = await ZitiContext.fromFile(opts.identity);
      const server = ziti.listen(opts.service);
      server.on('state', (s) => ctx.log.info({ service: opts.service, state: s.type, ...('router' in s ? { router: s.router } : {}) }, 'listener'));
      server.on('connection', (conn) => {
        ctx.log.info({ caller: conn.caller?.identityName ?? conn.caller?.callerId, encrypted: conn.encrypted }, 'accepted');
        conn.on('error', (err) => ctx.log.info({ err }, 'connection error'));
        conn.pipe(conn);
      });
      server.once('listening', () => ctx.out(ctx.json ? JSON.stringify({ listening: opts.service }) : `hosting "${opts.service}" (echo); stop with Ctrl-C`));
      const stopped = new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
      });
      try {
        await stopped;
      } finally {
        await ziti.close();
      }
    });
}
