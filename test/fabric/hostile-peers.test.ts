/** Malformed frames from an authenticated peer close that peer's channel or connection, never the process. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ContentType, EdgeFlag, HeaderId } from '../../connector/ziti/constants.js';
import { type EdgeLink, ZitiContext, enroll, type ZitiConnection } from '../../connector/ziti/index.js';
import { createMessage, setHeaderU32, type Message } from '../../connector/ziti/message.js';
import { createIdentityWithJwt, startFabric, type RunningFabric } from '../../fabric/fabric.js';
import { readAll } from '../ziti/sdk-suite.js';

let fabric: RunningFabric;
let home: string;
const contexts: ZitiContext[] = [];

async function context(name: string, attrs: string[], encryption: 'required' | 'off' = 'required'): Promise<ZitiContext> {
  const ctx = new ZitiContext(await enroll(await createIdentityWithJwt(home, fabric.store, { name, roleAttributes: attrs })), { encryption });
  contexts.push(ctx);
  return ctx;
}

/** An authenticated raw link of `ctx` to the fabric's router. */
async function rawLink(ctx: ZitiContext): Promise<EdgeLink> {
  await ctx.authenticate();
  return ctx.sessions.linkFor(await ctx.controller.edgeRouters());
}

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'darkhook-hostile-'));
  fabric = await startFabric({ home, ctrlPort: 0, routerPort: 0 });
  fabric.store.createService({ name: 'plain', roleAttributes: ['t'], encryptionRequired: false });
  fabric.store.createService({ name: 'secure', roleAttributes: ['t'] });
  fabric.store.createPolicy({ name: 'bind', type: 'Bind', serviceRoles: ['#t'], identityRoles: ['#hosts'] });
  fabric.store.createPolicy({ name: 'dial', type: 'Dial', serviceRoles: ['#t'], identityRoles: ['#dialers'] });
});

after(async () => {
  for (const c of contexts) await c.close();
  await fabric.close();
  rmSync(home, { recursive: true, force: true });
});

test('a Data or Connect frame with a wrong-size ConnId closes only the sender’s channel; the fabric serves on', { timeout: 30_000 }, async () => {
  const host = await context('echo-host', ['hosts']);
  const server = host.listen('secure');
  server.on('connection', (c) => c.pipe(c));
  await once(server, 'listening');
  const dialer = await context('good-dialer', ['dialers']);

  for (const type of [ContentType.Data, ContentType.Connect]) {
    const attacker = await context(`attacker-${type}`, []);
    const link = await rawLink(attacker);
    const closed = once(link, 'state');
    const bad = createMessage(type, 'x');
    bad.headers.set(HeaderId.ConnId, Buffer.alloc(2)); // a uint32 header must be 4 bytes
    link.send(bad);
    const [state] = (await closed) as [{ type: string }];
    assert.equal(state.type, 'closed');

    const conn = await dialer.dial('secure');
    conn.end(`still serving after ${type}`);
    assert.equal((await readAll(conn)).toString(), `still serving after ${type}`);
  }
});

test('a malformed multipart body from the peer fails that connection only; the host keeps accepting', { timeout: 30_000 }, async () => {
  const host = await context('mp-host', ['hosts'], 'off');
  const server = host.listen('plain');
  const accepted: ZitiConnection[] = [];
  server.on('connection', (c) => {
    accepted.push(c);
    c.on('error', () => undefined);
    c.pipe(c);
  });
  await once(server, 'listening');

  // The attacker dials by hand so that it can send a Data frame whose Flags say MULTIPART_MSG.
  const attacker = await context('mp-attacker', ['dialers'], 'off');
  const svc = await attacker.sessions.service('plain', 'Dial');
  const session = await attacker.sessions.session(svc.id, 'Dial');
  const link = await attacker.sessions.linkFor(session.edgeRouters);
  const inbox: Message[] = [];
  const connId = link.register({ onMessage: (m) => inbox.push(m), onLinkClosed: () => undefined });
  const connect = createMessage(ContentType.Connect, session.token);
  setHeaderU32(connect, HeaderId.ConnId, connId);
  const reply = await link.request(connect);
  assert.equal(reply.contentType, ContentType.StateConnected);
  const errored = new Promise<{ code?: string }>((resolve) => {
    const watch = (): void => {
      const c = accepted.at(-1);
      if (c === undefined) setTimeout(watch, 10);
      else c.once('error', resolve);
    };
    watch();
  });
  const evil = createMessage(ContentType.Data, Buffer.from([0xff])); // a 1-byte multipart body: truncated length
  setHeaderU32(evil, HeaderId.ConnId, connId);
  setHeaderU32(evil, HeaderId.Flags, EdgeFlag.MULTIPART_MSG);
  link.send(evil);
  const err = await errored;
  assert.equal(err.code, 'ERR_ZITI_E2E_MULTIPART_INVALID');

  // The host process and its listener are fine: an honest dial is served.
  const honest = await context('mp-honest', ['dialers'], 'off');
  const conn = await honest.dial('plain');
  conn.end('after the attack');
  assert.equal((await readAll(conn)).toString(), 'after the attack');
});

test('revoking policies takes effect on live links: the Dial circuit closes and the terminator goes', { timeout: 30_000 }, async () => {
  fabric.store.createService({ name: 'revocable', roleAttributes: [] });
  fabric.store.createPolicy({ name: 'rev-bind', type: 'Bind', serviceRoles: ['@revocable'], identityRoles: ['@rev-host'] });
  fabric.store.createPolicy({ name: 'rev-dial', type: 'Dial', serviceRoles: ['@revocable'], identityRoles: ['@rev-dialer'] });
  const host = await context('rev-host', []);
  const server = host.listen('revocable');
  server.on('connection', (c) => {
    c.on('error', () => undefined);
    c.pipe(c);
  });
  await once(server, 'listening');
  const dialer = await context('rev-dialer', []);
  const conn = await dialer.dial('revocable');
  conn.write('before');
  assert.equal(((await once(conn, 'data')) as [Buffer])[0].toString(), 'before');

  // Revoke Dial: the open circuit is closed by the router within its sweep.
  const ended = once(conn, 'close');
  fabric.store.deletePolicy('rev-dial');
  await ended;

  // Revoke Bind: the terminator is dropped, the listener re-binds, is refused, and stops with a coded
  // error (with no policy left, the controller no longer shows the identity the service at all).
  const stopped = once(server, 'error');
  fabric.store.deletePolicy('rev-bind');
  const [err] = (await stopped) as [{ code: string }];
  assert.equal(err.code, 'ERR_ZITI_SERVICE_NOT_FOUND');
  assert.equal(server.listening, false);
});

test('a listener closed while its Bind is in flight leaves no terminator behind', { timeout: 30_000 }, async () => {
  fabric.store.createService({ name: 'closing', roleAttributes: ['t'] });
  const host = await context('closing-host', ['hosts']);
  const { channel } = await import('node:diagnostics_channel');
  const bindEvents = channel('darkhook:ziti:bind');
  let closed = false;
  const server = host.listen('closing');
  const onEvent = (e: unknown): void => {
    const ev = e as { event: string; service: string };
    if (ev.event === 'bind-sent' && ev.service === 'closing' && !closed) {
      closed = true;
      void server.close(); // the Bind request is on the wire, its reply not yet read
    }
  };
  bindEvents.subscribe(onEvent);
  try {
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(closed, true, 'the bind was sent');
    assert.equal(server.listening, false);
    const dialer = await context('closing-dialer', ['dialers']);
    await assert.rejects(dialer.dial('closing'), { code: 'ERR_ZITI_SERVICE_UNAVAILABLE' });
  } finally {
    bindEvents.unsubscribe(onEvent);
  }
});
