/** `darkhook fabric …` as real child processes: `up` in the foreground, management against its home while it runs. */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EXIT } from '../../cli/exit-codes.js';
import { ControllerClient } from '../../connector/ziti/controller-client.js';
import { enroll } from '../../connector/ziti/enroll.js';
import { FabricStore } from '../../fabric/store.js';
import { decodeEnrollmentJwt } from '../../pki/index.js';
import { CLI, runCli } from '../cli/helpers.js';

const READY = /^fabric ready: controller (https:\/\/127\.0\.0\.1:\d+), router (tls:\/\/127\.0\.0\.1:\d+)$/;

describe('darkhook fabric (CLI)', () => {
  let dir: string;
  let home: string;
  let up: ChildProcessWithoutNullStreams;
  let ctrlUrl: string;
  let routerAddress: string;
  let stdout = '';
  let stderr = '';
  const clients: ControllerClient[] = [];

  const fabric = (...args: string[]) => runCli(['fabric', ...args, '--home', home]);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'darkhook-cli-fabric-'));
    home = join(dir, 'home');
    up = spawn(process.execPath, [CLI, 'fabric', 'up', '--home', home, '--ctrl-port', '0', '--router-port', '0'], { stdio: 'pipe' });
    up.stdin.end();
    up.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    const line = await new Promise<string>((resolve, reject) => {
      up.stdout.on('data', (c: Buffer) => {
        stdout += c.toString('utf8');
        if (stdout.includes('\n')) resolve(stdout.split('\n')[0]!);
      });
      up.once('exit', (code) => reject(new Error(`fabric up exited with ${code}: ${stderr}`)));
    });
    const m = READY.exec(line);
    assert.ok(m !== null, line);
    [, ctrlUrl, routerAddress] = m as unknown as [string, string, string];
  });

  after(async () => {
    for (const c of clients) c.close();
    if (up.exitCode === null && up.signalCode === null) {
      up.kill('SIGKILL');
      await once(up, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('`fabric up` prints one readiness line with the real ephemeral ports, and logs to stderr', () => {
    assert.notEqual(new URL(ctrlUrl).port, '0');
    assert.notEqual(new URL(routerAddress.replace('tls:', 'https:')).port, '0');
    assert.equal(statSync(home).mode & 0o777, 0o700);
    assert.equal(statSync(join(home, 'pki', 'ca.key.pem')).mode & 0o777, 0o600);
    assert.match(stderr, /fabric started/);
  });

  test('management commands change the running fabric at once: create, enroll, see, revoke', async () => {
    const jwtFile = join(dir, 'sender.jwt');
    for (const args of [
      ['service', 'create', 'hooks', '-a', 'webhooks'],
      ['service', 'create', 'plain', '--encryption', 'optional'],
      ['identity', 'create', 'sender', '-a', 'senders,ci', '--jwt-out', jwtFile],
      ['policy', 'create', 'hooks-dial', '--type', 'Dial', '--identities', '#senders', '--services', '@hooks'],
    ]) {
      const r = await fabric(...args);
      assert.equal(r.code, EXIT.ok, `${args.join(' ')}: ${r.stderr}`);
    }
    assert.equal(statSync(jwtFile).mode & 0o777, 0o600);
    const jwt = readFileSync(jwtFile, 'utf8');
    assert.equal(decodeEnrollmentJwt(jwt).claims.iss, ctrlUrl, 'the token names the running controller, ephemeral port included');

    const identity = await enroll(jwt, { keyBits: 2048 });
    const c = new ControllerClient(identity);
    clients.push(c);
    assert.deepEqual((await c.services()).map((s) => [s.name, s.permissions]), [['hooks', ['Dial']]]);
    const session = await c.createSession((await c.serviceByName('hooks')).id, 'Dial');
    assert.deepEqual(session.edgeRouters.map((r) => r.supportedProtocols['tls']), [routerAddress]);

    const del = await fabric('policy', 'delete', 'hooks-dial');
    assert.equal(del.code, EXIT.ok, del.stderr);
    assert.deepEqual(await c.services(), []);
  });

  test('list commands print a table, or JSON with --json', async () => {
    const ids = await fabric('identity', 'list');
    assert.equal(ids.code, EXIT.ok, ids.stderr);
    const [header, row] = ids.stdout.trim().split('\n');
    assert.match(header!, /^NAME\s+ID\s+ATTRIBUTES\s+ENROLLED\s+CREATED$/);
    assert.match(row!, /^sender\s+[A-Za-z0-9]{10}\s+#senders,#ci\s+yes\s+\d{4}-/);

    const services = await runCli(['--json', 'fabric', 'service', 'list', '--home', home]);
    assert.equal(services.code, EXIT.ok, services.stderr);
    const parsed = JSON.parse(services.stdout) as { name: string; encryptionRequired: boolean }[];
    assert.deepEqual(
      parsed.map((s) => [s.name, s.encryptionRequired]),
      [
        ['hooks', true],
        ['plain', false],
      ],
    );

    const policies = await fabric('policy', 'list');
    assert.equal(policies.code, EXIT.ok);
    assert.match(policies.stdout, /^NAME\s+ID\s+TYPE\s+IDENTITIES\s+SERVICES\n?$/);
  });

  test('bad input: one coded line on stderr and the mapped exit status', async () => {
    const cases: [string[], string, number][] = [
      [['policy', 'create', 'p', '--type', 'Host', '--identities', '#a', '--services', '#b'], 'ERR_FABRIC_POLICY_INVALID', EXIT.network],
      [['policy', 'create', 'p', '--type', 'Dial', '--identities', 'a', '--services', '#b'], 'ERR_FABRIC_POLICY_INVALID', EXIT.network],
      [['identity', 'create', 'sender', '--jwt-out', join(dir, 'again.jwt')], 'ERR_FABRIC_NAME_TAKEN', EXIT.network],
      [['identity', 'create', 'bad name', '--jwt-out', join(dir, 'bad.jwt')], 'ERR_FABRIC_NAME_INVALID', EXIT.network],
      [['identity', 'delete', 'nobody'], 'ERR_FABRIC_NOT_FOUND', EXIT.network],
      [['service', 'create', 'x', '--encryption', 'maybe'], 'ERR_OPTION_INVALID', EXIT.usage],
    ];
    for (const [args, code, exit] of cases) {
      const r = await fabric(...args);
      assert.equal(r.code, exit, `${args.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(lines[0]!.startsWith(`darkhook: ${code}: `), lines[0]);
    }
    // commander prints its own usage line before darkhook's coded one
    const usage = await fabric('identity', 'create', 'nojwt');
    assert.equal(usage.code, EXIT.usage);
    assert.match(usage.stderr, /^darkhook: ERR_CLI_USAGE: .*--jwt-out/m);
    const noHome = await runCli(['fabric', 'identity', 'list', '--home', join(dir, 'nowhere')]);
    assert.equal(noHome.code, EXIT.network);
    assert.match(noHome.stderr, /^darkhook: ERR_FABRIC_HOME_NOT_FOUND: /);
    const busy = await runCli(['fabric', 'up', '--home', join(dir, 'second'), '--ctrl-port', new URL(ctrlUrl).port, '--router-port', '0']);
    assert.equal(busy.code, EXIT.network);
    assert.match(busy.stderr, /darkhook: ERR_FABRIC_LISTEN_FAILED: /);
  });

  test('SIGTERM stops the fabric gracefully: exit 0, nothing more on stdout, runtime record cleared', async () => {
    const exited = once(up, 'exit');
    up.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0, stderr);
    assert.equal(stdout.trim().split('\n').length, 1);
    const store = FabricStore.open(home);
    try {
      assert.equal(store.runtime(), undefined);
    } finally {
      store.close();
    }
    assert.doesNotMatch(stderr, /BEGIN|zt-session/i);
  });
});
