/** The SDK suite against the embedded fabric, plus fault tests that need a fabric we control. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { URL } from 'node:url';
import { ZitiContext, enroll } from '../../connector/ziti/index.js';
import { createIdentityWithJwt, startFabric, type RunningFabric } from '../../fabric/fabric.js';
import { writeIdentityFile } from '../../pki/index.js';
import { CLI } from '../cli/helpers.js';
import { eventually, readAll, sdkSuite, type FabricUnderTest } from '../ziti/sdk-suite.js';

let fabric: RunningFabric;

async function startEmbedded(): Promise<FabricUnderTest> {
  const home = mkdtempSync(join(tmpdir(), 'darkhook-fabric-'));
  fabric = await startFabric({ home, ctrlPort: 0, routerPort: 0 });
  const ctrlPort = Number(new URL(fabric.ctrlUrl).port);
  const routerPort = Number(new URL(fabric.routerAddress.replace(/^tls:/, 'https:')).port);
  return {
    ctrlUrl: fabric.ctrlUrl,
    createService: async (name, attrs) => void fabric.store.createService({ name, roleAttributes: [...attrs] }),
    createPolicy: async (name, type, services, identities) =>
      void fabric.store.createPolicy({ name, type, serviceRoles: [...services], identityRoles: [...identities] }),
    createIdentity: (name, attrs) => createIdentityWithJwt(home, fabric.store, { name, roleAttributes: [...attrs] }),
    deleteIdentity: async (name) => void fabric.store.deleteIdentity(name),
    restart: async () => {
      await fabric.close();
      fabric = await startFabric({ home, ctrlPort, routerPort });
    },
    dispose: async () => {
      await fabric.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** `darkhook host --echo` as a real child process; resolves once it is bound. */
async function hostProcess(identity: string, service: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, '--log-level', 'silent', 'host', '--identity', identity, '--service', service, '--echo'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  await eventually(async () => assert.match(out, /hosting/), 20_000);
  return child;
}

sdkSuite('the embedded fabric', {
  start: startEmbedded,
  extra: (env) => {
    it('removes the terminator of a receiver killed with SIGKILL; dials fail retryably until a new one takes over', async () => {
      const { fabric: f, sender, dir } = env();
      await f.createService('killsvc', ['echo-svc']);
      await f.createPolicy('kill-bind', 'Bind', ['@killsvc'], ['#hostprocs']);
      const idPath = join(dir, 'hostproc.json');
      await writeIdentityFile(idPath, await enroll(await f.createIdentity('hostproc', ['hostprocs'])));

      const first = await hostProcess(idPath, 'killsvc');
      const before = await sender.dial('killsvc');
      before.end('one');
      assert.equal((await readAll(before)).toString(), 'one');

      first.kill('SIGKILL');
      await once(first, 'exit');
      await eventually(() => assert.rejects(sender.dial('killsvc'), { code: 'ERR_ZITI_SERVICE_UNAVAILABLE' }), 10_000);

      const second = await hostProcess(idPath, 'killsvc');
      try {
        const after = await eventually(() => sender.dial('killsvc'));
        after.end('two');
        assert.equal((await readAll(after)).toString(), 'two');
      } finally {
        second.kill('SIGTERM');
        await once(second, 'exit');
      }
    });

    it('drops the router link of a deleted identity and stops its listener with ERR_ZITI_UNAUTHORIZED', async () => {
      const { fabric: f } = env();
      await f.createService('revsvc', []);
      await f.createPolicy('rev-bind', 'Bind', ['@revsvc'], ['#revocable']);
      const ctx = new ZitiContext(await enroll(await f.createIdentity('revoked', ['revocable'])));
      try {
        const listener = ctx.listen('revsvc');
        await once(listener, 'listening');
        const states: string[] = [];
        listener.on('state', (s) => states.push(s.type));
        const failed = once(listener, 'error');
        await f.deleteIdentity('revoked');
        const [err] = (await failed) as [{ code: string }];
        assert.ok(states.includes('disconnected'), `states: ${states.join(',')}`);
        assert.equal(err.code, 'ERR_ZITI_UNAUTHORIZED');
      } finally {
        await ctx.close();
      }
    });
  },
});
