/** `darkhook pki …`: CA creation, certificate issuance and inspection of certificates, CSRs and identities. */
import { createPrivateKey } from 'node:crypto';
import { access, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { CliError, FileError, OptionError, PkiError } from '../../core/index.js';
import {
  CA_CERT_FILE,
  CA_KEY_FILE,
  type CertSummary,
  createCa,
  describeCertificate,
  describeCsr,
  issueClientCert,
  issueServerCert,
  loadCa,
  parseIdentity,
  saveCa,
  signCsr,
  splitPemBundle,
} from '../../pki/index.js';
import { writeFileAtomic } from '../../pki/files.js';
import type { CliContext } from '../context.js';

const DAY_MS = 24 * 60 * 60 * 1000;

function fileError(err: unknown, path: string): FileError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new FileError('ERR_FILE_NOT_FOUND', `${path} does not exist`, { cause: err });
  if (code === 'EEXIST') return new FileError('ERR_FILE_EXISTS', `${path} already exists`, { cause: err });
  return new FileError('ERR_FILE_UNREADABLE', `${path} could not be read or written`, { cause: err });
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw fileError(err, path);
  }
}

/** Write an output file with `mode`; an existing file is replaced only with --force (and gets `mode`). */
async function writeOutput(path: string, data: string, mode: number, force: boolean): Promise<void> {
  try {
    // With --force the file is replaced by an atomic rename of a new file created with `mode`, so a
    // key never sits in an old file's (perhaps wider) mode and a symlink at `path` is not followed.
    if (force) await writeFileAtomic(path, data, mode);
    else await writeFile(path, data, { mode, flag: 'wx' });
  } catch (err) {
    throw err instanceof PkiError || err instanceof FileError ? err : fileError(err, path);
  }
}

function parseDays(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new OptionError('ERR_OPTION_INVALID', '--days must be a whole number of days, at least 1');
  return Number(value);
}

function list(value: string | undefined): string[] | undefined {
  return value?.split(',').map((s) => s.trim()).filter(Boolean);
}

/** A certificate summary as JSON-ready data with validity status relative to `now`. */
function certView(summary: CertSummary, now: Date) {
  return {
    ...summary,
    notBefore: summary.notBefore.toISOString(),
    notAfter: summary.notAfter.toISOString(),
    daysLeft: Math.floor((summary.notAfter.getTime() - now.getTime()) / DAY_MS),
    expired: now > summary.notAfter,
    notYetValid: now < summary.notBefore,
  };
}

type CertView = ReturnType<typeof certView>;

function certLines(title: string, c: CertView): string[] {
  const lines = [
    title,
    `  subject      ${c.subject}`,
    `  issuer       ${c.issuer}`,
    `  SANs         ${c.sans.length > 0 ? c.sans.join(', ') : '(none)'}`,
    `  valid from   ${c.notBefore}`,
    `  valid until  ${c.notAfter} (${c.expired ? 'expired' : `${c.daysLeft} days left`})`,
    `  serial       ${c.serialNumber}`,
    `  SHA-256      ${c.sha256}`,
    `  CA           ${c.isCa ? 'yes' : 'no'}`,
    `  key          ${c.keyType}${c.keyBits === undefined ? '' : ` ${c.keyBits}`}`,
  ];
  if (c.expired) lines.push(`  WARNING: this certificate expired ${-c.daysLeft} days ago`);
  if (c.notYetValid) lines.push('  WARNING: this certificate is not valid yet (check the clock)');
  return lines;
}

function certsFromPem(pem: string, now: Date): CertView[] {
  return splitPemBundle(pem).map((p) => certView(describeCertificate(p), now));
}

/** What `pki show` prints for one file: JSON-ready data and the human lines. Never key material. */
function show(path: string, text: string, now: Date): { data: object; lines: string[] } {
  if (text.trimStart().startsWith('{')) {
    const id = parseIdentity(text, dirname(path));
    const key = createPrivateKey(id.key);
    const keyInfo = { type: key.asymmetricKeyType, bits: key.asymmetricKeyDetails?.modulusLength };
    const certs = certsFromPem(id.cert, now);
    const cas = certsFromPem(id.ca, now);
    const data = { kind: 'ziti-identity', ztAPI: id.ztAPI, ztAPIs: id.ztAPIs, configTypes: id.configTypes, enableHa: id.enableHa, key: keyInfo, cert: certs, ca: cas };
    const lines = [
      `Ziti identity ${path}`,
      `  controller   ${id.ztAPI}`,
      `  ztAPIs       ${id.ztAPIs?.join(', ') ?? '(none)'}`,
      `  configTypes  ${id.configTypes?.join(', ') ?? '(none)'}`,
      `  enableHa     ${id.enableHa ? 'yes' : 'no'}`,
      `  key          ${keyInfo.type ?? 'unknown'}${keyInfo.bits === undefined ? '' : ` ${keyInfo.bits}`} (not shown)`,
      ...certs.flatMap((c, i) => certLines(`identity certificate ${i + 1} of ${certs.length}`, c)),
      ...cas.flatMap((c, i) => certLines(`trusted CA ${i + 1} of ${cas.length}`, c)),
    ];
    return { data, lines };
  }
  if (/-----BEGIN (NEW )?CERTIFICATE REQUEST-----/.test(text)) {
    const csr = describeCsr(text);
    const lines = [
      `certificate request ${path}`,
      `  subject      ${csr.subject}`,
      `  key          ${csr.keyType}${csr.keyBits === undefined ? '' : ` ${csr.keyBits}`}`,
      `  signature    ${csr.signatureAlgorithm}, ${csr.signatureValid ? 'valid' : 'INVALID'}`,
      `  asks for CA  ${csr.requestsCa ? 'yes' : 'no'}`,
      `  SHA-256      ${csr.sha256}`,
    ];
    return { data: { kind: 'csr', ...csr }, lines };
  }
  if (text.includes('-----BEGIN CERTIFICATE-----')) {
    const certs = certsFromPem(text, now);
    return { data: { kind: 'certificates', certificates: certs }, lines: certs.flatMap((c, i) => certLines(`certificate ${i + 1} of ${certs.length}`, c)) };
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw new PkiError('ERR_PKI_PEM_INVALID', `${path} holds a private key; pki show displays only certificates, CSRs and identity files`);
  }
  throw new PkiError('ERR_PKI_PEM_INVALID', `${path} is not a PEM certificate, a CSR or a Ziti identity JSON`);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Register the `pki` group. */
export function registerPki(program: Command, context: () => CliContext): void {
  const pki = program.command('pki').description('create a CA, issue certificates, show certificates, CSRs and identity files');

  const ca = pki.command('ca').description('certificate authorities');
  ca.command('create')
    .description(`create a self-signed root CA in DIR (${CA_CERT_FILE} 0644, ${CA_KEY_FILE} 0600)`)
    .requiredOption('--dir <dir>', 'CA folder (created with mode 0700)')
    .option('--cn <name>', 'CA common name', 'darkhook CA')
    .option('--days <n>', 'validity in days (default 3650)')
    .option('--force', 'replace an existing CA in DIR', false)
    .action(async (opts: { dir: string; cn: string; days?: string; force: boolean }) => {
      const ctx = context();
      const validityDays = parseDays(opts.days, 3650);
      if (!opts.force && ((await exists(join(opts.dir, CA_CERT_FILE))) || (await exists(join(opts.dir, CA_KEY_FILE))))) {
        throw new FileError('ERR_FILE_EXISTS', `${opts.dir} already holds a CA; pass --force to replace it`);
      }
      const bundle = await createCa({ commonName: opts.cn, validityDays });
      await saveCa(opts.dir, bundle, { overwrite: opts.force });
      const s = describeCertificate(bundle.certPem);
      const data = { dir: opts.dir, cert: join(opts.dir, CA_CERT_FILE), key: join(opts.dir, CA_KEY_FILE), subject: s.subject, sha256: s.sha256, notAfter: s.notAfter.toISOString() };
      ctx.out(ctx.json ? JSON.stringify(data) : [`created CA "${s.subject}" in ${opts.dir}`, `  certificate  ${data.cert}`, `  key          ${data.key} (mode 0600)`, `  SHA-256      ${s.sha256}`, `  valid until  ${data.notAfter}`].join('\n'));
    });

  const cert = pki.command('cert').description('certificates');
  cert
    .command('issue')
    .description('issue a server or client certificate from the CA in --ca-dir (a new RSA key, or a CSR with --client --csr)')
    .requiredOption('--ca-dir <dir>', 'CA folder made by `pki ca create`')
    .requiredOption('--cn <name>', 'subject common name')
    .option('--server', 'a TLS server certificate (serverAuth + clientAuth)', false)
    .option('--client', 'a TLS client certificate (clientAuth)', false)
    .option('--dns <names>', 'server: comma-separated DNS subjectAltNames')
    .option('--ip <addresses>', 'server: comma-separated IP subjectAltNames (IPv4 or IPv6)')
    .option('--csr <file>', 'client: certify the key of this CSR instead of generating one')
    .requiredOption('--out-cert <file>', 'where to write the certificate (mode 0644)')
    .option('--out-key <file>', 'where to write the new private key (mode 0600); not with --csr')
    .option('--days <n>', 'validity in days (default 365)')
    .option('--ca-passphrase-file <file>', 'file holding the passphrase of an encrypted CA key')
    .option('--force', 'replace existing output files', false)
    .action(async (opts: IssueOptions) => {
      const ctx = context();
      if (opts.server === opts.client) throw new CliError('ERR_CLI_USAGE', 'pass exactly one of --server and --client');
      if (opts.csr !== undefined && opts.server) throw new CliError('ERR_CLI_USAGE', '--csr goes with --client');
      if (opts.client && (opts.dns !== undefined || opts.ip !== undefined)) throw new CliError('ERR_CLI_USAGE', '--dns and --ip go with --server');
      if (opts.csr === undefined && opts.outKey === undefined) throw new CliError('ERR_CLI_USAGE', '--out-key is required unless --csr is given');
      if (opts.csr !== undefined && opts.outKey !== undefined) throw new CliError('ERR_CLI_USAGE', '--out-key cannot be used with --csr (the requester keeps its key)');
      const validityDays = parseDays(opts.days, 365);
      const passphrase = opts.caPassphraseFile === undefined ? undefined : (await readText(opts.caPassphraseFile)).replace(/\r?\n$/, '');
      const bundle = await loadCa(opts.caDir, passphrase === undefined ? {} : { passphrase });
      let certPem: string;
      let keyPem: string | undefined;
      if (opts.csr !== undefined) {
        certPem = signCsr(bundle, await readText(opts.csr), { commonName: opts.cn, validityDays });
      } else if (opts.server) {
        ({ certPem, keyPem } = await issueServerCert(bundle, { commonName: opts.cn, dnsNames: list(opts.dns), ipAddresses: list(opts.ip), validityDays }));
      } else {
        ({ certPem, keyPem } = await issueClientCert(bundle, { commonName: opts.cn, validityDays }));
      }
      if (keyPem !== undefined && opts.outKey !== undefined) await writeOutput(opts.outKey, keyPem, 0o600, opts.force);
      await writeOutput(opts.outCert, certPem, 0o644, opts.force);
      const s = describeCertificate(certPem);
      const data = { cert: opts.outCert, key: opts.outKey ?? null, subject: s.subject, sans: s.sans, sha256: s.sha256, notAfter: s.notAfter.toISOString() };
      ctx.out(ctx.json ? JSON.stringify(data) : [`issued ${opts.server ? 'server' : 'client'} certificate "${s.subject}"`, `  certificate  ${opts.outCert}`, ...(opts.outKey === undefined ? [] : [`  key          ${opts.outKey} (mode 0600)`]), `  SANs         ${s.sans.join(', ') || '(none)'}`, `  SHA-256      ${s.sha256}`, `  valid until  ${data.notAfter}`].join('\n'));
    });

  pki
    .command('show')
    .description('summarise a certificate PEM, a CSR or a Ziti identity JSON (never prints keys)')
    .argument('<file>', 'the file to show')
    .action(async (file: string) => {
      const ctx = context();
      const { data, lines } = show(file, await readText(file), new Date());
      ctx.out(ctx.json ? JSON.stringify(data) : lines.join('\n'));
    });
}

interface IssueOptions {
  caDir: string;
  cn: string;
  server: boolean;
  client: boolean;
  dns?: string;
  ip?: string;
  csr?: string;
  outCert: string;
  outKey?: string;
  days?: string;
  caPassphraseFile?: string;
  force: boolean;
}
