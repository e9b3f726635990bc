/** Receiver test fixtures: an embedded fabric on 127.0.0.1 with a hooks service, enrolled identities, signed requests. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { createTransport, type TransportResponse } from '../../connector/sender/transport.js';
import { EVENT_TYPE_HEADER } from '../../connector/webhook/headers.js';
import { createSigner } from '../../connector/webhook/signature-standard.js';
import { enroll, ZitiContext } from '../../connector/ziti/index.js';
import { createIdentityWithJwt, type RunningFabric, startFabric } from '../../fabric/fabric.js';
import { writeIdentityFile, type ZitiIdentity } from '../../pki/index.js';

/** Listening TCP ports of a process, from /proc: the same reader `darkhook demo` uses. */
export { listeningTcpPorts } from '../../cli/listening-ports.js';

/** Services made with `createService` carry this attribute; receivers may bind and senders dial them. */
const HOOKS_ATTRIBUTE = 'hooks';

/** An embedded fabric with a Bind policy for `#receivers` and a Dial policy for `#senders` on `#hooks` services. */
export interface TestNet {
  readonly fabric: RunningFabric;
  /** A temp folder for identity files, stores and outboxes (removed by `close`). */
  readonly dir: string;
  /** Create a service that receivers may bind and senders dial. */
  createService(name: string): void;
  /** Create and enroll an identity with these role attributes. */
  identity(name: string, attributes: readonly string[]): Promise<ZitiIdentity>;
  /** Enroll an identity and write it to `<dir>/<name>.json`; returns the path. */
  identityFile(name: string, attributes: readonly string[]): Promise<string>;
  /** Enroll an identity and open a context for it (closed by `close`). */
  context(name: string, attributes: readonly string[]): Promise<ZitiContext>;
  close(): Promise<void>;
}

/** Start a fabric on ephemeral 127.0.0.1 ports; `t.after(() => net.close())` it. */
export async function startTestNet(): Promise<TestNet> {
  const dir = mkdtempSync(join(tmpdir(), 'darkhook-recv-'));
  const home = join(dir, 'fabric');
  const fabric = await startFabric({ home, ctrlPort: 0, routerPort: 0 });
  fabric.store.createPolicy({ name: 'hooks-bind', type: 'Bind', serviceRoles: [`#${HOOKS_ATTRIBUTE}`], identityRoles: ['#receivers'] });
  fabric.store.createPolicy({ name: 'hooks-dial', type: 'Dial', serviceRoles: [`#${HOOKS_ATTRIBUTE}`], identityRoles: ['#senders'] });
  const contexts: ZitiContext[] = [];
  const identity = async (name: string, attributes: readonly string[]): Promise<ZitiIdentity> =>
    enroll(await createIdentityWithJwt(home, fabric.store, { name, roleAttributes: [...attributes] }));
  return {
    fabric,
    dir,
    createService: (name) => void fabric.store.createService({ name, roleAttributes: [HOOKS_ATTRIBUTE] }),
    identity,
    async identityFile(name, attributes) {
      const path = join(dir, `${name}.json`);
      await writeIdentityFile(path, await identity(name, attributes));
      return path;
    },
    async context(name, attributes) {
      const ctx = new ZitiContext(await identity(name, attributes));
      contexts.push(ctx);
      return ctx;
    },
    async close() {
      await Promise.allSettled(contexts.map((c) => c.close()));
      await fabric.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Standard Webhooks headers for one event, signed with `secret`. */
export function signedHeaders(input: { id: string; body: Buffer; secret: string; timestamp?: number; type?: string; contentType?: string }): Record<string, string> {
  const timestamp = input.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    'content-type': input.contentType ?? 'application/json',
    ...(input.type === undefined ? {} : { [EVENT_TYPE_HEADER]: input.type }),
    ...createSigner(input.secret).headers(input.id, timestamp, input.body),
  };
}

/** POST over a fresh Ziti dial with the sender's HTTP client; resolves with the answer, parsed JSON in `json`. */
export async function post(
  ziti: ZitiContext,
  service: string,
  headers: Record<string, string>,
  body: Buffer,
  path = '/webhooks',
): Promise<TransportResponse & { json: Record<string, unknown> }> {
  const transport = createTransport({ connect: () => ziti.dial(service), path, host: service, requestTimeoutMs: 20_000, maxResponseBytes: 65_536 });
  try {
    const res = await transport.post(headers, body);
    return { ...res, json: JSON.parse(res.body.toString('utf8') || '{}') as Record<string, unknown> };
  } finally {
    transport.close();
  }
}

/** A pino logger whose lines are kept in `lines` (level info and up). */
export function memoryLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

/** Poll `check` (sync or async) every 20 ms until true; fail after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
