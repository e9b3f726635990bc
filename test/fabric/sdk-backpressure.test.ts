/** Backpressure over a shared router link: an unread connection's buffer stays bounded, and nothing is lost. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DEFAULT_CONN_WINDOW_BYTES, ZitiContext, enroll } from '../../connector/ziti/index.js';
import { createIdentityWithJwt, startFabric, type RunningFabric } from '../../fabric/fabric.js';
import { readAll } from '../ziti/sdk-suite.js';

const PER_CONN = 8 * 1024 * 1024;
let fabric: RunningFabric;
let home: string;
let host: ZitiContext;
let dialer: ZitiContext;

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'darkhook-bp-'));
  fabric = await startFabric({ home, ctrlPort: 0, routerPort: 0 });
  fabric.store.createService({ name: 'firehose', roleAttributes: [] });
  fabric.store.createPolicy({ name: 'b', type: 'Bind', serviceRoles: ['@firehose'], identityRoles: ['@fh-host'] });
  fabric.store.createPolicy({ name: 'd', type: 'Dial', serviceRoles: ['@firehose'], identityRoles: ['@fh-dialer'] });
  fabric.store.createService({ name: 'sink', roleAttributes: [] });
  fabric.store.createPolicy({ name: 'sb', type: 'Bind', serviceRoles: ['@sink'], identityRoles: ['@fh-host'] });
  fabric.store.createPolicy({ name: 'sd', type: 'Dial', serviceRoles: ['@sink'], identityRoles: ['@fh-dialer'] });
  host = new ZitiContext(await enroll(await createIdentityWithJwt(home, fabric.store, { name: 'fh-host' })));
  dialer = new ZitiContext(await enroll(await createIdentityWithJwt(home, fabric.store, { name: 'fh-dialer' })));
});

after(async () => {
  await dialer.close();
  await host.close();
  await fabric.close();
  rmSync(home, { recursive: true, force: true });
});

test('a second dial works while a first connection is busy; an unread connection stays within its window; nothing is lost', { timeout: 60_000 }, async () => {
  const server = host.listen('firehose');
  server.on('connection', (c) => {
    // On the dialer's "go", each accepted connection pushes PER_CONN bytes as fast as it may, then ends.
    c.once('data', () => void (async () => {
      const chunk = Buffer.alloc(64 * 1024, 7);
      for (let sent = 0; sent < PER_CONN; sent += chunk.length) if (!c.write(chunk)) await once(c, 'drain');
      c.end();
    })().catch(() => undefined));
  });
  await once(server, 'listening');
  const [a, b] = [await dialer.dial('firehose'), await dialer.dial('firehose')];
  a.write('go');
  b.write('go');
  await new Promise((r) => setTimeout(r, 500)); // both fill their receive windows; the link pauses

  // Read A for a while; B stays unread. B's buffer must not grow with A's progress.
  let aBytes = 0;
  a.on('data', (c: Buffer) => (aBytes += c.length));
  const bSizes: number[] = [];
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 50));
    bSizes.push(b.readableLength);
  }
  const bound = DEFAULT_CONN_WINDOW_BYTES + 1024 * 1024; // the window plus the frames already in flight
  assert.ok(Math.max(...bSizes) < bound, `B buffered ${Math.max(...bSizes)} bytes while A was read`);

  // Reading B as well lets everything through: nothing was dropped.
  const [restA, allB] = await Promise.all([once(a, 'end').then(() => aBytes), readAll(b)]);
  assert.equal(restA, PER_CONN);
  assert.equal(allB.length, PER_CONN);
});

test('many connections blocked on one full link share its drain wait (no listener-leak warning)', { timeout: 60_000 }, async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    const sink = host.listen('sink');
    sink.on('connection', (c) => c.resume());
    await once(sink, 'listening');
    const conns = await Promise.all(Array.from({ length: 30 }, () => dialer.dial('sink')));
    const chunk = Buffer.alloc(4 * 1024 * 1024);
    await Promise.all(conns.map((c) => new Promise<void>((resolve) => c.end(chunk, resolve))));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings.filter((n) => n === 'MaxListenersExceededWarning'), []);
  } finally {
    process.off('warning', onWarning);
  }
});
