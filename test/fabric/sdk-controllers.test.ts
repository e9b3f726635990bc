/** Several controllers in one identity (ztAPIs): tried in turn, failover while running, all down → coded error; auth mode choice. */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ZitiContext, enroll, parseControllerList, pkceChallenge } from '../../connector/ziti/index.js';
import { createIdentityWithJwt, startFabric, type RunningFabric } from '../../fabric/fabric.js';
import type { ZitiIdentity } from '../../pki/index.js';
import { parseIdentity, serializeIdentity } from '../../pki/index.js';
import { eventually, readAll } from '../ziti/sdk-suite.js';

/** A loopback TCP forwarder to the controller: a second address of the same controller, which the test can take down. */
class Forwarder {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  port = 0;

  constructor(targetPort: number) {
    this.#server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
    return `https://127.0.0.1:${this.port}/edge/client/v1`;
  }

  /** Stop accepting and cut every connection through it: the controller at this address "dies". */
  async kill(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A loopback address where nothing listens (bound, then released). */
async function deadUrl(): Promise<string> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return `https://127.0.0.1:${port}/edge/client/v1`;
}

function withControllers(identity: ZitiIdentity, ztAPI: string, ztAPIs: string[]): ZitiIdentity {
  // Through the identity file format, as a user's file would carry them.
  return parseIdentity(serializeIdentity({ ...identity, ztAPI, ztAPIs }));
}

describe('several controllers (ztAPIs)', () => {
  let home: string;
  let fabric: RunningFabric;
  let sender: ZitiIdentity;
  let receiver: ZitiContext;
  const contexts: ZitiContext[] = [];
  const forwarders: Forwarder[] = [];
  const events: Record<string, unknown>[] = [];
  const onEvent = (m: unknown): void => void events.push(m as Record<string, unknown>);

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'darkhook-ctrls-'));
    fabric = await startFabric({ home, ctrlPort: 0, routerPort: 0 });
    for (const name of ['svc-a', 'svc-b', 'svc-c']) fabric.store.createService({ name, roleAttributes: ['echo'] });
    fabric.store.createPolicy({ name: 'bind', type: 'Bind', serviceRoles: ['#echo'], identityRoles: ['#hosts'] });
    fabric.store.createPolicy({ name: 'dial', type: 'Dial', serviceRoles: ['#echo'], identityRoles: ['#senders'] });
    fabric.store.createService({ name: 'late', roleAttributes: [] });
    fabric.store.createPolicy({ name: 'late-bind', type: 'Bind', serviceRoles: ['@late'], identityRoles: ['#senders'] });
    sender = await enroll(await createIdentityWithJwt(home, fabric.store, { name: 'sender', roleAttributes: ['senders'] }));
    receiver = new ZitiContext(await enroll(await createIdentityWithJwt(home, fabric.store, { name: 'host', roleAttributes: ['hosts'] })));
    for (const name of ['svc-a', 'svc-b', 'svc-c']) {
      const l = receiver.listen(name);
      l.on('connection', (c) => c.pipe(c));
      await once(l, 'listening');
    }
    subscribe('darkhook:ziti:controller', onEvent);
  });

  after(async () => {
    unsubscribe('darkhook:ziti:controller', onEvent);
    for (const c of contexts) await c.close();
    await receiver.close();
    for (const f of forwarders) await f.kill().catch(() => undefined);
    await fabric.close();
    rmSync(home, { recursive: true, force: true });
  });

  async function echo(ctx: ZitiContext, service: string, text: string): Promise<string> {
    const conn = await eventually(() => ctx.dial(service));
    conn.end(text);
    return (await readAll(conn)).toString();
  }

  it('enrollment against a single controller leaves ztAPIs null (the embedded fabric reports no cluster)', () => {
    assert.equal(sender.ztAPIs, null);
    assert.equal(sender.ztAPI, `${fabric.ctrlUrl}/edge/client/v1`);
  });

  it('the identity\'s own controller down: the next entry of ztAPIs serves the dial', async () => {
    const dead = await deadUrl();
    const ctx = new ZitiContext(withControllers(sender, dead, [dead, `${fabric.ctrlUrl}/edge/client/v1`]));
    contexts.push(ctx);
    events.length = 0;
    assert.equal(await echo(ctx, 'svc-a', 'via the second controller'), 'via the second controller');
    assert.equal(ctx.controller.baseUrl, `${fabric.ctrlUrl}/edge/client/v1`);
    assert.ok(events.some((e) => e['event'] === 'unavailable' && e['controller'] === new URL(dead).origin));
    assert.ok(events.some((e) => e['event'] === 'switched' && e['to'] === fabric.ctrlUrl));
  });

  it('every controller down: ERR_ZITI_CONTROLLER_UNAVAILABLE naming each one tried', async () => {
    const [d1, d2, d3] = [await deadUrl(), await deadUrl(), await deadUrl()];
    const ctx = new ZitiContext(withControllers(sender, d1, [d2, d3]));
    contexts.push(ctx);
    await assert.rejects(ctx.dial('svc-a'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_ZITI_CONTROLLER_UNAVAILABLE');
      assert.match(err.message, /none of the 3 controllers answered/);
      for (const d of [d1, d2, d3]) assert.ok(err.message.includes(new URL(d).host), `${d} named`);
      return true;
    });
  });

  it('the controller in use dies: the context moves to the next one; open circuits keep flowing', async () => {
    const [a, b] = [new Forwarder(Number(new URL(fabric.ctrlUrl).port)), new Forwarder(Number(new URL(fabric.ctrlUrl).port))];
    forwarders.push(a, b);
    const [urlA, urlB] = [await a.listen(), await b.listen()];
    const ctx = new ZitiContext(withControllers(sender, urlA, [urlA, urlB]));
    contexts.push(ctx);
    const open = await eventually(() => ctx.dial('svc-a'));
    open.write('before ');
    assert.equal(ctx.controller.baseUrl, urlA);

    events.length = 0;
    await a.kill();
    // A service never looked up needs the controller: it is asked at B now.
    assert.equal(await echo(ctx, 'svc-b', 'after the controller died'), 'after the controller died');
    assert.equal(ctx.controller.baseUrl, urlB);
    assert.ok(events.some((e) => e['event'] === 'switched' && e['from'] === new URL(urlA).origin && e['to'] === new URL(urlB).origin));
    // The circuit opened through A's session was carried by the router all along.
    open.end('and after');
    assert.equal((await readAll(open)).toString(), 'before and after');
    // A listener started now binds through B too.
    const late = ctx.listen('late');
    await eventually(async () => assert.equal(late.listening, true), 10_000);
    await late.close();
  });

  it('moveToNext: the next controller becomes current (a switched event) and serves the next dial; one controller: false', async () => {
    const [a, b] = [new Forwarder(Number(new URL(fabric.ctrlUrl).port)), new Forwarder(Number(new URL(fabric.ctrlUrl).port))];
    forwarders.push(a, b);
    const [urlA, urlB] = [await a.listen(), await b.listen()];
    const ctx = new ZitiContext(withControllers(sender, urlA, [urlA, urlB]));
    contexts.push(ctx);
    assert.equal(await echo(ctx, 'svc-c', 'at A'), 'at A');
    events.length = 0;
    assert.equal(ctx.controller.moveToNext(), true);
    assert.equal(ctx.controller.baseUrl, urlB);
    assert.deepEqual(events, [{ event: 'switched', from: new URL(urlA).origin, to: new URL(urlB).origin }]);
    // Legacy sessions are per controller: the next call logs in at B, and the dial works there.
    await a.kill();
    assert.equal(await echo(ctx, 'svc-c', 'at B'), 'at B');
    assert.equal(ctx.controller.baseUrl, urlB);
    const single = new ZitiContext(sender);
    contexts.push(single);
    assert.equal(single.controller.moveToNext(), false);
  });

  it('auth "auto" picks legacy API sessions on the embedded fabric (it advertises no OIDC_AUTH)', async () => {
    const ctx = new ZitiContext(sender);
    contexts.push(ctx);
    await ctx.authenticate();
    assert.equal(ctx.controller.authMode, 'legacy');
    assert.equal(ctx.controller.apiSession?.kind, 'legacy');
  });

  it('auth "oidc" forced on a controller without OIDC fails with a coded error', async () => {
    const ctx = new ZitiContext(sender, { auth: 'oidc' });
    contexts.push(ctx);
    await assert.rejects(ctx.authenticate(), { code: 'ERR_ZITI_CONTROLLER_ERROR' });
  });

  it('rejects an unknown auth mode and a ztAPIs entry that is not a URL', () => {
    assert.throws(() => new ZitiContext(sender, { auth: 'saml' as never }), { code: 'ERR_OPTION_INVALID' });
    const doc = JSON.parse(serializeIdentity(sender)) as Record<string, unknown>;
    assert.throws(() => parseIdentity({ ...doc, ztAPIs: ['not a url'] }), { code: 'ERR_PKI_IDENTITY_INVALID' });
  });
});

describe('protocol pieces of OIDC and HA', () => {
  it('PKCE S256 challenge matches RFC 7636 appendix B', () => {
    assert.equal(pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  it('reads every edge-client v1 address from GET /controllers (shape of edge-api rest_model.ControllersList)', () => {
    const data = [
      { id: 'ctrl1', name: 'ctrl1', isOnline: true, apiAddresses: { 'edge-client': [{ url: 'https://127.0.0.1:22280/edge/client/v1', version: 'v1' }], 'edge-management': [{ url: 'https://127.0.0.1:22280/edge/management/v1', version: 'v1' }] } },
      { id: 'ctrl2', name: 'ctrl2', isOnline: false, apiAddresses: { 'edge-client': [{ url: 'https://127.0.0.1:22281/edge/client/v1', version: 'v1' }, { url: 'https://x/edge/client/v2', version: 'v2' }] } },
      { id: 'ctrl3', name: 'ctrl3', apiAddresses: {} },
    ];
    assert.deepEqual(parseControllerList(data), ['https://127.0.0.1:22280/edge/client/v1', 'https://127.0.0.1:22281/edge/client/v1']);
    assert.deepEqual(parseControllerList({}), []);
  });
});
