/** `darkhook fabric …`: run the embedded fabric in the foreground, and manage its identities, services and policies. */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { FabricError, OptionError } from '../../core/index.js';
import { createIdentityWithJwt, startFabric } from '../../fabric/fabric.js';
import { loadHome } from '../../fabric/home.js';
import { decodeEnrollmentJwt } from '../../pki/index.js';
import { FabricStore } from '../../fabric/store.js';
import type { CliContext } from '../context.js';

/** Where the fabric lives when `--home` is not given. */
export const DEFAULT_FABRIC_HOME = join(homedir(), '.darkhook', 'fabric');

const HOME_HELP = `fabric home directory (default ${DEFAULT_FABRIC_HOME})`;

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function port(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new OptionError('ERR_OPTION_INVALID', `${flag} must be a port number 0-65535 (0 = any free port)`);
  return Number(value);
}

/** Open the store of an existing home (never creates one), run `fn`, close. */
async function withStore<T>(home: string, fn: (store: FabricStore) => T | Promise<T>): Promise<T> {
  await loadHome(home);
  const store = FabricStore.open(home);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

/** Fixed-width columns, header first. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

function notFound(kind: string, name: string): FabricError {
  return new FabricError('ERR_FABRIC_NOT_FOUND', `no ${kind} named "${name}"`);
}

/** Register `darkhook fabric`. */
export function registerFabric(program: Command, context: () => CliContext): void {
  const fabric = program.command('fabric').description('run and manage the embedded Ziti-compatible fabric (controller + edge router)');

  fabric
    .command('up')
    .description('start the controller and edge router in the foreground until SIGINT/SIGTERM')
    .option('--home <dir>', HOME_HELP, DEFAULT_FABRIC_HOME)
    .option('--ctrl-port <port>', 'controller REST port; 0 = any free port (default: stored, else 1280)')
    .option('--router-port <port>', 'edge router port; 0 = any free port (default: stored, else 3022)')
    .option('--address <host>', 'IP address or DNS name to listen on and advertise (default: stored, else 127.0.0.1)')
    .action(async (opts: { home: string; ctrlPort?: string; routerPort?: string; address?: string }) => {
      const ctx = context();
      const ctrlPort = port(opts.ctrlPort, '--ctrl-port');
      const routerPort = port(opts.routerPort, '--router-port');
      const running = await startFabric({
        home: resolve(opts.home),
        logger: ctx.log,
        ...(opts.address === undefined ? {} : { address: opts.address }),
        ...(ctrlPort === undefined ? {} : { ctrlPort }),
        ...(routerPort === undefined ? {} : { routerPort }),
      });
      const stopped = new Promise<string>((done) => {
        for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => done(sig));
      });
      ctx.out(
        ctx.json
          ? JSON.stringify({ ready: true, controller: running.ctrlUrl, router: running.routerAddress, home: running.home })
          : `fabric ready: controller ${running.ctrlUrl}, router ${running.routerAddress}`,
      );
      const signal = await stopped;
      ctx.log.info({ signal }, 'stopping');
      await running.close();
    });

  const identity = fabric.command('identity').description('identities: who may connect');
  identity
    .command('create <name>')
    .description('create an identity and write its one-time enrollment token (JWT)')
    .option('-a, --attributes <list>', 'role attributes, comma-separated (e.g. senders,ci)')
    .requiredOption('--jwt-out <file>', 'where to write the enrollment JWT (mode 0600, must not exist)')
    .option('--home <dir>', HOME_HELP, DEFAULT_FABRIC_HOME)
    .action(async (name: string, opts: { attributes?: string; jwtOut: string; home: string }) => {
      const ctx = context();
      const home = resolve(opts.home);
      const { result, jwt } = await withStore(home, async (store) => {
        const token = await createIdentityWithJwt(home, store, { name, roleAttributes: list(opts.attributes), jwtOut: opts.jwtOut });
        return { result: store.identity(name)!, jwt: token };
      });
      const expiresAt = new Date(decodeEnrollmentJwt(jwt).claims.exp * 1000).toISOString();
      ctx.out(
        ctx.json
          ? JSON.stringify({ id: result.id, name: result.name, roleAttributes: result.roleAttributes, jwt: opts.jwtOut, expiresAt })
          : `identity "${result.name}" created (id ${result.id}); enrollment token written to ${opts.jwtOut}, valid until ${expiresAt}`,
      );
    });
  identity
    .command('delete <name>')
    .description('delete an identity; its API sessions end and it can no longer authenticate')
    .option('--home <dir>', HOME_HELP, DEFAULT_FABRIC_HOME)
    .action(async (name: string, opts: { home: string }) => {
      const ctx = context();
      if (!(await withStore(resolve(opts.home), (s) => s.deleteIdentity(name)))) throw notFound('identity', name);
      ctx.out(ctx.json ? JSON.stringify({ deleted: name }) : `identity "${name}" deleted`);
    });
  identity
    .command('list')
    .description('list identities')
    .option('--home <dir>', HOME_HELP, DEFAULT_FABRIC_HOME)
    .action(async (opts: { home: string }) => {
      const ctx = context();
      const rows = await withStore(resolve(opts.home), (s) => s.listIdentities());
      if (ctx.json) {
        ctx.out(JSON.stringify(rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() }))));
        return;
      }
      ctx.out(
        table(
          ['NAME', 'ID', 'ATTRIBUTES', 'ENROLLED', 'CREATED'],
          rows.map((r) => [r.name, r.id, r.roleAttributes.map((a) => `#${a}`).join(',') || '-', r.enrolled ? 'yes' : 'no', r.createdAt.toISOString()]),
        ),
      );
    });

  const service = fabric.command('service').description('services: what may be dialed and bound');
  service
    .command('create <name>')
    .description('create a service')
    .option('-a, --attributes <list>', 'role attributes, comma-separated')
    .option('--encryption <mode>', 'end-to-end encryption: required or optional', 'required')
    .option('--home <dir>', HOME_HELP, DEFAULT_FABRIC_HOME)
    .action(async (name: string, opts: { attributes?: string; encryption: string; home: string }) => {
      const ctx = context();
      if (opts.encryption !== 'required' && opts.encryption !== 'optional') {
        throw new OptionError('ERR_OPTION_INVALID', '--encryption must be "required" or "optional"');
      }
      const encryptionRequired = opts.encryption === 'required';
      const created = await withStore(resolve(opts.home), (s) => s.createService({ name, roleAttributes: list(opts.attributes), encryptionRequired }));
      ctx.out(ctx.json ? JSON.stringify(created) : `service "${created.name}" created (id ${created.id}, encryption ${opts.encryption})`);
    });
  service
    .command('delete <name>')
    .description('delete a service and its sessions')
    .option('--home <dir>', HOME_HELP, DEFAULT_FABRIC_HOME)
    .action(async (name: string, opts: { home: string }) => {
      const ctx = context();
      if (!(await withStore(resolve(opts.home), (s) => s.deleteService(name)))) throw notFound('service', name);
      ctx.out(ctx.json ? JSON.stringify({ deleted: name }) : `service "${name}" deleted`);
    });
  service
    .command('list')
    .description('list services')
    .option('--home <dir>', HOME_HELP, DEFAULT_FABRIC_HOME)
    .action(async (opts: { home: string }) => {
      const ctx = context();
      const rows = await withStore(resolve(opts.home), (s) => s.listServices());
      if (ctx.json) {
        ctx.out(JSON.stringify(rows));
        return;
      }
      ctx.out(
        table(
          ['NAME', 'ID', 'ATTRIBUTES', 'ENCRYPTION'],
          rows.map((r) => [r.name, r.id, r.roleAttributes.map((a) => `#${a}`).join(',') || '-', r.encryptionRequired ? 'required' : 'optional']),
        ),
      );
    });

  const policy = fabric.command('policy').description('service policies: which identities may Dial or Bind which services');
  policy
    .command('create <name>')
    .description('create a Dial or Bind service policy')
    .requiredOption('--type <type>', 'Dial or Bind')
    .requiredOption('--identities <roles>', 'identity roles, comma-separated: #attribute, #all, @name')
    .requiredOption('--services <roles>', 'service roles, comma-separated: #attribute, #all, @name')
    .option('--home <dir>', HOME_HELP, DEFAULT_FABRIC_HOME)
    .action(async (name: string, opts: { type: string; identities: string; services: string; home: string }) => {
      const ctx = context();
      const created = await withStore(resolve(opts.home), (s) =>
        s.createPolicy({ name, type: opts.type as 'Dial' | 'Bind', identityRoles: list(opts.identities), serviceRoles: list(opts.services) }),
      );
      ctx.out(
        ctx.json
          ? JSON.stringify(created)
          : `policy "${created.name}" created (id ${created.id}): ${created.type} ${created.identityRoles.join(',')} -> ${created.serviceRoles.join(',')}`,
      );
    });
  policy
    .command('delete <name>')
    .description('delete a service policy')
    .option('--home <dir>', HOME_HELP, DEFAULT_FABRIC_HOME)
    .action(async (name: string, opts: { home: string }) => {
      const ctx = context();
      if (!(await withStore(resolve(opts.home), (s) => s.deletePolicy(name)))) throw notFound('policy', name);
      ctx.out(ctx.json ? JSON.stringify({ deleted: name }) : `policy "${name}" deleted`);
    });
  policy
    .command('list')
    .description('list service policies')
    .option('--home <dir>', HOME_HELP, DEFAULT_FABRIC_HOME)
    .action(async (opts: { home: string }) => {
      const ctx = context();
      const rows = await withStore(resolve(opts.home), (s) => s.listPolicies());
      if (ctx.json) {
        ctx.out(JSON.stringify(rows));
        return;
      }
      ctx.out(table(['NAME', 'ID', 'TYPE', 'IDENTITIES', 'SERVICES'], rows.map((r) => [r.name, r.id, r.type, r.identityRoles.join(','), r.serviceRoles.join(',')])));
    });
}
