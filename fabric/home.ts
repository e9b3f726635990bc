/** The fabric home directory: its layout, its configuration, its CA and the controller/router server certificates. */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { FabricError, FileError, OptionError } from '../core/index.js';
import { type CaBundle, CA_CERT_FILE, CA_KEY_FILE, createCa, issueServerCert, loadCa, saveCa, verifyIssuedBy } from '../pki/index.js';

/** Default controller (REST) port, as in `ziti edge quickstart`. */
export const DEFAULT_CTRL_PORT = 1280;
/** Default edge router (TLS edge listener) port, as in `ziti edge quickstart`. */
export const DEFAULT_ROUTER_PORT = 3022;
/** Default address the fabric listens on and advertises. */
export const DEFAULT_ADDRESS = '127.0.0.1';
/** Validity of the controller and router server certificates, in days. */
export const SERVER_CERT_VALIDITY_DAYS = 825;
/** A server certificate closer than this to its notAfter is re-issued at start, in milliseconds (30 days). */
export const SERVER_CERT_RENEW_BEFORE_MS = 30 * 24 * 60 * 60 * 1000;

/** Names every server certificate carries besides the configured address. */
const LOCAL_NAMES: readonly string[] = ['localhost', '127.0.0.1', '::1'];

/** `<home>/fabric.json`: where the fabric listens. A port of 0 means "any free port" at each start. */
export interface FabricConfig {
  /** IP address or DNS name the controller and router listen on and advertise. */
  readonly address: string;
  /** Controller REST port; 0 = ephemeral. */
  readonly ctrlPort: number;
  /** Edge router port; 0 = ephemeral. */
  readonly routerPort: number;
}

/** Absolute paths of every file in a fabric home. */
export interface FabricPaths {
  readonly home: string;
  readonly pkiDir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly controllerCert: string;
  readonly controllerKey: string;
  readonly routerCert: string;
  readonly routerKey: string;
  readonly db: string;
  readonly config: string;
}

/** A TLS server certificate and its key, PEM. */
export interface ServerTls {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A loaded fabric home: paths, configuration, CA and server TLS material (keys held in memory only). */
export interface FabricHome {
  readonly paths: FabricPaths;
  readonly config: FabricConfig;
  readonly ca: CaBundle;
  readonly controller: ServerTls;
  readonly router: ServerTls;
}

/** The file layout of `home`. */
export function fabricPaths(home: string): FabricPaths {
  const pkiDir = join(home, 'pki');
  return Object.freeze({
    home,
    pkiDir,
    caCert: join(pkiDir, CA_CERT_FILE),
    caKey: join(pkiDir, CA_KEY_FILE),
    controllerCert: join(pkiDir, 'controller.cert.pem'),
    controllerKey: join(pkiDir, 'controller.key.pem'),
    routerCert: join(pkiDir, 'router.cert.pem'),
    routerKey: join(pkiDir, 'router.key.pem'),
    db: join(home, 'fabric.db'),
    config: join(home, 'fabric.json'),
  });
}

/**
 * Create or update a fabric home, idempotently: directories (0700), the CA (kept once made), the
 * controller and router server certificates (re-issued only when missing, not from this CA, about to
 * expire, or not covering the address), and `fabric.json`. Settings not given keep their stored value,
 * then the defaults. Returns the loaded home.
 * @throws ERR_OPTION_INVALID for a bad address or port; ERR_FABRIC_HOME_INVALID; ERR_FILE_UNREADABLE; ERR_PKI_*
 * @example const home = await initHome('/var/lib/darkhook/fabric', { address: '10.0.0.5' });
 */
export async function initHome(home: string, settings: Partial<FabricConfig> = {}): Promise<FabricHome> {
  const paths = fabricPaths(home);
  const stored = existsSync(paths.config) ? await readConfig(paths) : undefined;
  const config = checkConfig({
    address: settings.address ?? stored?.address ?? DEFAULT_ADDRESS,
    ctrlPort: settings.ctrlPort ?? stored?.ctrlPort ?? DEFAULT_CTRL_PORT,
    routerPort: settings.routerPort ?? stored?.routerPort ?? DEFAULT_ROUTER_PORT,
  });
  await guard(paths.home, async () => {
    await mkdir(paths.pkiDir, { recursive: true, mode: 0o700 });
    await chmod(paths.home, 0o700);
    await chmod(paths.pkiDir, 0o700);
  });
  const ca = existsSync(paths.caCert) || existsSync(paths.caKey) ? await loadCa(paths.pkiDir) : await newCa(paths.pkiDir);
  await ensureServerCert(ca, config.address, 'darkhook-fabric-controller', paths.controllerCert, paths.controllerKey);
  await ensureServerCert(ca, config.address, 'darkhook-fabric-router', paths.routerCert, paths.routerKey);
  await writeAtomic(paths.config, `${JSON.stringify(config, null, 2)}\n`, 0o600);
  return loadHome(home);
}

/**
 * Load an initialised fabric home (never creates anything).
 * @throws ERR_FABRIC_HOME_NOT_FOUND when `home` has no fabric.json; ERR_FABRIC_HOME_INVALID; ERR_PKI_*
 */
export async function loadHome(home: string): Promise<FabricHome> {
  const paths = fabricPaths(home);
  if (!existsSync(paths.config)) {
    throw new FabricError('ERR_FABRIC_HOME_NOT_FOUND', `no fabric in ${home} (fabric.json is missing)`);
  }
  const config = await readConfig(paths);
  const ca = await loadCa(paths.pkiDir);
  const controller = await readServerTls(paths.controllerCert, paths.controllerKey);
  const router = await readServerTls(paths.routerCert, paths.routerKey);
  return Object.freeze({ paths, config, ca, controller, router });
}

/** `https://host:port` for an address (IPv6 literals bracketed). */
export function httpsUrl(address: string, port: number): string {
  return `https://${hostPort(address, port)}`;
}

/** `host:port` with IPv6 literals bracketed. */
export function hostPort(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

async function newCa(pkiDir: string): Promise<CaBundle> {
  const ca = await createCa({ commonName: 'darkhook fabric CA', organization: 'darkhook' });
  await saveCa(pkiDir, ca);
  return ca;
}

async function readConfig(paths: FabricPaths): Promise<FabricConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(paths.config, 'utf8'));
  } catch (cause) {
    throw new FabricError('ERR_FABRIC_HOME_INVALID', `${paths.config} is not readable JSON`, { cause });
  }
  const o = (raw ?? {}) as Record<string, unknown>;
  try {
    return checkConfig({ address: o['address'] as string, ctrlPort: o['ctrlPort'] as number, routerPort: o['routerPort'] as number });
  } catch (cause) {
    throw new FabricError('ERR_FABRIC_HOME_INVALID', `${paths.config} has a bad address or port`, { cause });
  }
}

function checkConfig(c: FabricConfig): FabricConfig {
  if (typeof c.address !== 'string' || !validAddress(c.address)) {
    throw new OptionError('ERR_OPTION_INVALID', 'address must be an IP address or a DNS name');
  }
  for (const key of ['ctrlPort', 'routerPort'] as const) {
    const port = c[key];
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new OptionError('ERR_OPTION_INVALID', `${key} must be a port number 0-65535 (0 = any free port)`);
    }
  }
  return Object.freeze({ address: c.address, ctrlPort: c.ctrlPort, routerPort: c.routerPort });
}

function validAddress(address: string): boolean {
  if (isIP(address) !== 0) return !address.includes('%');
  return address.length <= 253 && /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(address);
}

/** Keep a server certificate that is ours, valid for a while and covers `address`; otherwise issue a new one. */
async function ensureServerCert(ca: CaBundle, address: string, commonName: string, certPath: string, keyPath: string): Promise<void> {
  if (existsSync(certPath) && existsSync(keyPath)) {
    const certPem = await readFile(certPath, 'utf8').catch(() => '');
    if (certPem !== '' && serverCertUsable(certPem, ca, address)) return;
  }
  const names = [address, ...LOCAL_NAMES.filter((n) => n !== address)];
  const issued = await issueServerCert(ca, {
    commonName,
    dnsNames: names.filter((n) => isIP(n) === 0),
    ipAddresses: names.filter((n) => isIP(n) !== 0),
    validityDays: SERVER_CERT_VALIDITY_DAYS,
  });
  await writeAtomic(keyPath, issued.keyPem!, 0o600);
  await writeAtomic(certPath, issued.certPem, 0o644);
}

function serverCertUsable(certPem: string, ca: CaBundle, address: string): boolean {
  try {
    const x509 = new X509Certificate(certPem);
    if (!verifyIssuedBy(certPem, ca.certPem)) return false;
    if (new Date(x509.validTo).getTime() - Date.now() < SERVER_CERT_RENEW_BEFORE_MS) return false;
    return isIP(address) !== 0 ? x509.checkIP(address) !== undefined : x509.checkHost(address) !== undefined;
  } catch {
    return false;
  }
}

async function readServerTls(certPath: string, keyPath: string): Promise<ServerTls> {
  try {
    return Object.freeze({ certPem: await readFile(certPath, 'utf8'), keyPem: await readFile(keyPath, 'utf8') });
  } catch (cause) {
    throw new FabricError('ERR_FABRIC_HOME_INVALID', `${certPath} or its key is missing or unreadable`, { cause });
  }
}

/** Write via a temporary file and rename, so a reader never sees half a key. */
async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await guard(path, async () => {
    await writeFile(tmp, data, { mode });
    await chmod(tmp, mode);
    await rename(tmp, path);
  });
}

async function guard(path: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (cause) {
    throw new FileError('ERR_FILE_UNREADABLE', `${path} could not be written`, { cause });
  }
}
