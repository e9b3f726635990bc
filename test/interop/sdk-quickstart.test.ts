/** The SDK suite against a real OpenZiti quickstart over OIDC (the default there), plus token refresh and interop with the ziti CLI's Go SDK. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { it } from 'node:test';
import { EdgeLink } from '../../connector/ziti/index.js';
import { join } from 'node:path';
import { generateHmacSecret } from '../../connector/webhook/secrets.js';
import { startReceiver } from '../../receiver/server.js';
import { runCli } from '../cli/helpers.js';
import { readAllAnswers, signedRequest } from '../receiver/raw-http.js';
import { eventually, readAll, sdkSuite, type FabricUnderTest } from '../ziti/sdk-suite.js';
import { fabricOf, Quickstart, zitiBinary } from './quickstart.js';

const ziti = zitiBinary();
let qs: Quickstart;

/** The real network, administered with the real `ziti` CLI. */
async function startQuickstart(): Promise<FabricUnderTest> {
  qs = await Quickstart.start(ziti.path!);
  return fabricOf(qs);
}

sdkSuite('a real OpenZiti quickstart (OIDC)', {
  skip: ziti.reason,
  start: startQuickstart,
  extra: (env) => {
    it('authenticates over OIDC by default: the 1.7.2 controller advertises OIDC_AUTH and edge-oidc', async () => {
      const v = await env().sender.controller.version();
      assert.ok(v.capabilities?.includes('OIDC_AUTH'), `capabilities ${JSON.stringify(v.capabilities)}`);
      await env().sender.authenticate();
      assert.equal(env().sender.controller.authMode, 'oidc');
      const session = env().sender.controller.apiSession!;
      assert.equal(session.kind, 'oidc');
      assert.equal(session.token.split('.').length, 3, 'the access token is a JWT');
      assert.equal(env().receiver.controller.authMode, 'oidc');
    });

    it('three token refreshes: every router link takes the new token (UpdateToken) and an open circuit and the bind survive', async () => {
      const events: Record<string, unknown>[] = [];
      const onLink = (m: unknown): void => void events.push(m as Record<string, unknown>);
      const authEvents: Record<string, unknown>[] = [];
      const onAuth = (m: unknown): void => void authEvents.push(m as Record<string, unknown>);
      subscribe('darkhook:ziti:link', onLink);
      subscribe('darkhook:ziti:auth', onAuth);
      try {
        const conn = await eventually(() => env().sender.dial('echo'));
        const tokens = new Set<string>();
        let echoed = '';
        conn.on('data', (c: Buffer) => (echoed += c.toString()));
        for (let i = 0; i < 3; i++) {
          conn.write(`before-${i};`);
          await env().sender.refreshSession();
          await env().receiver.refreshSession();
          tokens.add(env().sender.controller.apiSession!.token);
          conn.write(`after-${i};`);
        }
        assert.equal(tokens.size, 3, 'each refresh minted a new access token');
        const updated = events.filter((e) => e['event'] === 'token-updated').length;
        assert.ok(updated >= 6, `sender and receiver links updated 3 times each (saw ${updated})`);
        assert.equal(events.filter((e) => e['event'] === 'token-refused').length, 0);
        // Bearer tokens never leave the SDK: not in any diagnostics event of this test.
        const published = JSON.stringify([...events, ...authEvents]);
        for (const t of tokens) assert.ok(!published.includes(t), 'an access token appeared in a diagnostics event');
        assert.ok(authEvents.some((e) => e['event'] === 'refreshed'));
        conn.end();
        await once(conn, 'end');
        assert.equal(echoed, [0, 1, 2].map((i) => `before-${i};after-${i};`).join(''));
        assert.equal(env().server.listening, true);
        // New dials use the refreshed session on the same link.
        const fresh = await env().sender.dial('echo');
        fresh.end('fresh');
        assert.equal((await readAll(fresh)).toString(), 'fresh');
      } finally {
        unsubscribe('darkhook:ziti:link', onLink);
        unsubscribe('darkhook:ziti:auth', onAuth);
      }
    });

    it('a router that refuses an UpdateToken gets its link closed cleanly (no process fault)', async () => {
      const ctrl = env().sender.controller;
      const session = ctrl.apiSession ?? (await ctrl.authenticate());
      const link = await EdgeLink.connect({
        host: '127.0.0.1', port: qs.routerPort, ca: env().sender.identity.ca, cert: env().sender.identity.cert,
        key: env().sender.identity.key, sessionToken: session.token, label: 'refusal-test',
      });
      const closed = once(link, 'state');
      assert.equal(await link.updateToken('not-a-jwt', 5_000), false);
      assert.equal(link.isOpen, false);
      const [state] = (await closed) as [{ type: string; error?: { code: string } }];
      assert.equal(state.type, 'closed');
      assert.equal(state.error?.code, 'ERR_ZITI_LINK_CLOSED');
    });

    it('darkhook enroll and darkhook dial work as commands against the real controller and router', async () => {
      await qs.createIdentity('clidialer', ['senders']);
      const out = join(qs.home, 'clidialer.darkhook.json');
      const enrolled = await runCli(['--log-level', 'silent', 'enroll', '--jwt', join(qs.home, 'clidialer.jwt'), '--out', out]);
      assert.equal(enrolled.code, 0, enrolled.stderr);
      assert.match(enrolled.stdout, /enrolled: .*controller https:\/\/127\.0\.0\.1:\d+\/edge\/client\/v1/);
      // The suite's listener on "echo" answers; dial pipes stdin to it and the echo to stdout.
      const dialed = await runCli(['--log-level', 'silent', 'dial', '--identity', out, '--service', 'echo'], { input: 'over the real fabric\n' });
      assert.equal(dialed.code, 0, dialed.stderr);
      assert.equal(dialed.stdout, 'over the real fabric\n');
      // The token was burnt by the first enrollment.
      const again = await runCli(['enroll', '--jwt', join(qs.home, 'clidialer.jwt'), '--out', `${out}.2`]);
      assert.equal(again.code, 4);
      assert.match(again.stderr, /darkhook: ERR_ZITI_ENROLL_REJECTED: /);
    });

    it("interoperates with the ziti CLI's Go SDK: zcat dials our listener, our dial reaches its echo-server", async () => {
      await qs.ziti('edge', 'create', 'service', 'echo-go', '-a', 'echo-svc');
      await qs.ziti('edge', 'create', 'service-policy', 'echo-go-bind', 'Bind', '--service-roles', '@echo-go', '--identity-roles', '#gohosts');
      await qs.createIdentity('sendergo', ['senders']);
      await qs.createIdentity('receivergo', ['gohosts']);
      const [sendergo, receivergo] = [await qs.enrollWithCli('sendergo'), await qs.enrollWithCli('receivergo')];

      // Go dialer (zcat) → our host.
      const zcat = qs.spawnZiti('demo', 'zcat', '-i', sendergo, 'ziti:echo');
      let zOut = '';
      zcat.stdout!.on('data', (c: Buffer) => (zOut += c.toString()));
      zcat.stdin!.write('ping from go\n');
      await eventually(async () => assert.match(zOut, /ping from go/), 20_000);
      zcat.kill('SIGTERM');

      // Our dialer → Go host (echo-server); the service requires E2E.
      const host = qs.spawnZiti('demo', 'echo-server', '-i', receivergo, '-s', 'echo-go', '--cli-agent=false');
      try {
        const conn = await eventually(() => env().sender.dial('echo-go'), 30_000);
        assert.equal(conn.encrypted, true);
        conn.write('hello go\n');
        const [chunk] = (await once(conn, 'data')) as [Buffer];
        assert.match(chunk.toString(), /hello go/);
        conn.destroy();
      } finally {
        host.kill('SIGTERM');
      }
    });

    it('the receiver answers half-closed, pipelined and Go-SDK (zcat) clients over the real quickstart', async () => {
      await qs.ziti('edge', 'create', 'service', 'hooks-qs', '-a', 'hooks-qs');
      await qs.ziti('edge', 'create', 'service-policy', 'hooks-qs-bind', 'Bind', '--service-roles', '#hooks-qs', '--identity-roles', '#receivers');
      await qs.ziti('edge', 'create', 'service-policy', 'hooks-qs-dial', 'Dial', '--service-roles', '#hooks-qs', '--identity-roles', '#senders');
      const secret = generateHmacSecret();
      const receiver = await startReceiver({ ziti: env().receiver, service: 'hooks-qs', secrets: [secret], storePath: join(env().dir, 'qs-receiver.db') });
      try {
        // 30 requests, each written then half-closed (FIN), 10 at a time.
        const statuses: number[] = [];
        for (let i = 0; i < 30; i += 10) {
          const batch = Array.from({ length: 10 }, (_, j) => `msg_qs_half_${i + j}`);
          const got = await Promise.all(batch.map(async (id) => {
            const conn = await eventually(() => env().sender.dial('hooks-qs'), 30_000);
            const answers = readAllAnswers(conn, 30_000);
            conn.end(signedRequest({ id, secret }));
            const all = await answers;
            return all.length === 1 && all[0]!.json['id'] === id ? all[0]!.status : -1;
          }));
          statuses.push(...got);
        }
        assert.deepEqual(statuses, Array(30).fill(200));

        // 50 pipelined on one connection: 50 answers in order.
        const ids = Array.from({ length: 50 }, (_, i) => `msg_qs_pipe_${i}`);
        const conn = await env().sender.dial('hooks-qs');
        const answers = readAllAnswers(conn, 30_000);
        conn.end(Buffer.concat(ids.map((id) => signedRequest({ id, secret }))));
        assert.deepEqual((await answers).map((a) => [a.status, a.json['id']]), ids.map((id) => [200, id]));
        assert.equal((await receiver.store.list({ limit: 1_000 })).length, 80);

        // The Go SDK as the client: zcat writes its stdin and, at its end, half-closes; the
        // receiver answers the kept-alive request and then ends, which ends zcat.
        await qs.createIdentity('hooksgo', ['senders']);
        const hooksgo = await qs.enrollWithCli('hooksgo');
        const zcat = qs.spawnZiti('demo', 'zcat', '-i', hooksgo, 'ziti:hooks-qs');
        let zOut = '';
        zcat.stdout!.on('data', (c: Buffer) => (zOut += c.toString('latin1')));
        const exited = new Promise<NodeJS.Signals | null>((resolve) => zcat.once('exit', (_code, signal) => resolve(signal)));
        zcat.stdin!.end(signedRequest({ id: 'msg_qs_go', secret }));
        const timer = setTimeout(() => zcat.kill('SIGKILL'), 30_000);
        const signal = await exited;
        clearTimeout(timer);
        assert.equal(signal, null, 'zcat ended by itself once the receiver closed its side');
        assert.match(zOut, /^HTTP\/1\.1 200 /);
        assert.match(zOut, /"id":"msg_qs_go"/);
      } finally {
        await receiver.close();
      }
    });
  },
});
