/** The SDK suite against a real OpenZiti quickstart, plus interop with the ziti CLI's Go SDK. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { it } from 'node:test';
import { join } from 'node:path';
import { runCli } from '../cli/helpers.js';
import { eventually, sdkSuite, type FabricUnderTest } from '../ziti/sdk-suite.js';
import { Quickstart, zitiBinary } from './quickstart.js';

const ziti = zitiBinary();
let qs: Quickstart;

/** The real network, administered with the real `ziti` CLI. */
async function startQuickstart(): Promise<FabricUnderTest> {
  qs = await Quickstart.start(ziti.path!);
  return {
    ctrlUrl: qs.ctrlUrl,
    createService: async (name, attrs) => void (await qs.ziti('edge', 'create', 'service', name, ...(attrs.length > 0 ? ['-a', attrs.join(',')] : []))),
    createPolicy: async (name, type, services, identities) =>
      void (await qs.ziti('edge', 'create', 'service-policy', name, type, '--service-roles', services.join(','), '--identity-roles', identities.join(','))),
    createIdentity: (name, attrs) => qs.createIdentity(name, attrs),
    deleteIdentity: async (name) => void (await qs.ziti('edge', 'delete', 'identity', name)),
    restart: () => qs.restart(),
    dispose: () => qs.dispose(),
  };
}

sdkSuite('a real OpenZiti quickstart', {
  skip: ziti.reason,
  start: startQuickstart,
  extra: (env) => {
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
  },
});
