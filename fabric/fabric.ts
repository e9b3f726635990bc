/** Starting the embedded fabric (controller + edge router in one process) and the management helpers the CLI and tests share. */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { FabricError, FileError, OptionError } from '../core/index.js';
import { createEnrollmentJwt } from '../pki/index.js';
import { type RunningController, startController } from './controller.js';
import { DEFAULT_ADDRESS, DEFAULT_CTRL_PORT, DEFAULT_ROUTER_PORT, type FabricHome, httpsUrl, initHome, loadHome } from './home.js';
import { EdgeRouter } from './router.js';
import { type FabricIdentity, FabricStore } from './store.js';
import { processAlive } from '../core/process.js';

/** Lifetime of an enrollment token, in milliseconds (OpenZiti's default, 180 minutes). */
export const DEFAULT_ENROLLMENT_TTL_MS = 3 * 60 * 60 * 1000;
/** Name of the embedded edge router. */
export const ROUTER_NAME = 'darkhook-router';

/** Options of {@link startFabric}. */
export interface StartFabricOptions {
  /** Fabric home directory (created if missing). */
  readonly home: string;
  /** Address to listen on and advertise. Default: the stored one, else `127.0.0.1`. */
  readonly address?: string;
  /** Controller port; 0 = ephemeral. Default: the stored one, else 1280. */
  readonly ctrlPort?: number;
  /** Edge router port; 0 = ephemeral. Default: the stored one, else 3022. */
  readonly routerPort?: number;
  /** Root logger; silent when omitted. */
  readonly logger?: Logger;
}

/** A running fabric. `close()` stops both listeners and the store. */
export interface RunningFabric {
  /** `https://address:port` of the controller (real port). */
  readonly ctrlUrl: string;
  /** `tls://address:port` of the edge router (real port). */
  readonly routerAddress: string;
  readonly store: FabricStore;
  readonly home: string;
  close(): Promise<void>;
}

/**
 * Initialise the home if needed, open the store, start the edge router and the controller, and
 * resolve once both listen. Ephemeral ports are advertised as bound, and recorded in the store so
 * that management commands in other processes put the right controller URL in enrollment tokens.
 * @throws ERR_FABRIC_LISTEN_FAILED, ERR_FABRIC_STORE_FAILED, ERR_FABRIC_HOME_INVALID, ERR_OPTION_INVALID, ERR_PKI_*
 * @example const fabric = await startFabric({ home: '/tmp/fab', ctrlPort: 0, routerPort: 0 });
 */
export async function startFabric(options: StartFabricOptions): Promise<RunningFabric> {
  const settings: { address?: string; ctrlPort?: number; routerPort?: number } = {};
  if (options.address !== undefined) settings.address = options.address;
  if (options.ctrlPort !== undefined) settings.ctrlPort = options.ctrlPort;
  if (options.routerPort !== undefined) settings.routerPort = options.routerPort;
  const home = await initHome(options.home, settings);
  const log = options.logger;
  const store = FabricStore.open(options.home);
  const { address } = home.config;
  let router: EdgeRouter | undefined;
  let controller: RunningController | undefined;
  try {
    router = new EdgeRouter({
      store,
      certPem: home.router.certPem,
      keyPem: home.router.keyPem,
      caPem: home.ca.certPem,
      host: address,
      port: home.config.routerPort,
      name: ROUTER_NAME,
    });
    const { port: routerPort } = await router.listen().catch((cause: Error) => {
      throw new FabricError('ERR_FABRIC_LISTEN_FAILED', `edge router could not listen on ${address}:${home.config.routerPort}: ${cause.message}`, { cause });
    });
    controller = await startController({
      store,
      ca: home.ca,
      tls: home.controller,
      host: address,
      port: home.config.ctrlPort,
      edgeRouters: [{ name: ROUTER_NAME, host: address, port: routerPort }],
      ...(log === undefined ? {} : { logger: log.child({ component: 'controller' }) }),
    });
  } catch (err) {
    await router?.close().catch(() => undefined);
    store.close();
    throw err;
  }
  store.setRuntime({ ctrlUrl: controller.url, routerAddress: router.address, pid: process.pid });
  log?.info({ home: options.home, controller: controller.url, router: router.address }, 'fabric started');
  const started = { router, controller };
  let closing: Promise<void> | undefined;
  return {
    ctrlUrl: controller.url,
    routerAddress: router.address,
    store,
    home: options.home,
    close() {
      closing ??= (async () => {
        await Promise.allSettled([started.controller.close(), started.router.close()]);
        try {
          store.setRuntime(undefined);
        } finally {
          store.close();
        }
        log?.info({ home: options.home }, 'fabric stopped');
      })();
      return closing;
    },
  };
}

/** Options of {@link createIdentityWithJwt}. */
export interface CreateIdentityOptions {
  readonly name: string;
  readonly roleAttributes?: string[];
  /** Also write the JWT to this file (mode 0600; must not exist). */
  readonly jwtOut?: string;
  /** Token lifetime in milliseconds. Default {@link DEFAULT_ENROLLMENT_TTL_MS}. */
  readonly ttlMs?: number;
}

/**
 * Create an identity and its one-time enrollment token (PROTOCOL.md §1.2), signed with the
 * controller's TLS key: iss `https://<address>:<ctrlPort>`, sub = identity id, jti = random UUID,
 * em `ott`, aud `[""]`, ctrls. The controller URL is the running fabric's (ephemeral port included),
 * else the configured one. Returns the JWT.
 * @throws ERR_FABRIC_NAME_TAKEN, ERR_FABRIC_NAME_INVALID, ERR_FABRIC_NOT_RUNNING, ERR_FILE_EXISTS,
 *   ERR_FILE_UNREADABLE, ERR_OPTION_INVALID, ERR_FABRIC_HOME_NOT_FOUND
 * @example const jwt = await createIdentityWithJwt(home, store, { name: 'sender', roleAttributes: ['senders'] });
 */
export async function createIdentityWithJwt(home: string | FabricHome, store: FabricStore, options: CreateIdentityOptions): Promise<string> {
  const ttlMs = options.ttlMs ?? DEFAULT_ENROLLMENT_TTL_MS;
  if (!Number.isInteger(ttlMs) || ttlMs < 1000) throw new OptionError('ERR_OPTION_INVALID', 'ttlMs must be an integer ≥ 1000 (milliseconds)');
  const loaded = typeof home === 'string' ? await loadHome(home) : home;
  const iss = controllerUrl(loaded, store);
  if (options.jwtOut !== undefined && existsSync(options.jwtOut)) throw new FileError('ERR_FILE_EXISTS', `${options.jwtOut} already exists`);
  const identity: FabricIdentity = store.createIdentity({ name: options.name, roleAttributes: options.roleAttributes ?? [] });
  try {
    const jti = randomUUID();
    const expiresAt = new Date(Date.now() + ttlMs);
    const jwt = createEnrollmentJwt(
      { iss, sub: identity.id, jti, em: 'ott', exp: Math.floor(expiresAt.getTime() / 1000), aud: [''], ctrls: [`tls:${new URL(iss).host}`] },
      loaded.controller,
    );
    store.setEnrollment(identity.id, jti, expiresAt);
    if (options.jwtOut !== undefined) await writeSecret(options.jwtOut, `${jwt}\n`);
    return jwt;
  } catch (err) {
    // No half-made identity: without its token nobody could ever enroll it.
    store.deleteIdentity(identity.id);
    throw err;
  }
}

/** The controller URL enrollment tokens must name: the running fabric's, else the configured one. */
export function controllerUrl(home: FabricHome, store: FabricStore): string {
  const runtime = store.runtime();
  if (runtime !== undefined && processAlive(runtime.pid)) return runtime.ctrlUrl;
  if (home.config.ctrlPort === 0) {
    throw new FabricError('ERR_FABRIC_NOT_RUNNING', `the fabric in ${home.paths.home} uses an ephemeral controller port and is not running`);
  }
  return httpsUrl(home.config.address, home.config.ctrlPort);
}

async function writeSecret(path: string, data: string): Promise<void> {
  try {
    await writeFile(path, data, { mode: 0o600, flag: 'wx' });
    await chmod(path, 0o600);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new FileError('ERR_FILE_EXISTS', `${path} already exists`, { cause });
    throw new FileError('ERR_FILE_UNREADABLE', `${path} could not be written`, { cause });
  }
}

export { DEFAULT_ADDRESS, DEFAULT_CTRL_PORT, DEFAULT_ROUTER_PORT };
