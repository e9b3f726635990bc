/** The native (sodium-native) and WebAssembly (libsodium-wrappers) E2E backends interoperate and fail alike. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { loadNativeBackend } from '../../connector/ziti/e2e-native.js';
import {
  E2EReceiver,
  E2ESender,
  clientSessionKeys,
  cryptoBackendName,
  ensureCryptoReady,
  generateKxKeyPair,
  serverSessionKeys,
  type CryptoBackendName,
  type KxKeyPair,
} from '../../connector/ziti/e2e.js';
import { ZitiError } from '../../core/index.js';

/** Sealing side → opening side, every combination. */
const DIRECTIONS: ReadonlyArray<readonly [CryptoBackendName, CryptoBackendName]> = [
  ['native', 'wasm'],
  ['wasm', 'native'],
  ['native', 'native'],
  ['wasm', 'wasm'],
];

/** Runs `fn` with `backend` active; the senders and receivers it makes keep that backend afterwards. */
async function on<T>(backend: CryptoBackendName, fn: () => T): Promise<T> {
  await ensureCryptoReady({ backend }); // rejects, failing the test, when sodium-native cannot load
  assert.equal(cryptoBackendName(), backend);
  return fn();
}

/** The error code `fn` throws, or 'none'. */
function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'none';
  } catch (err) {
    assert.ok(err instanceof ZitiError, `expected ZitiError, got ${String(err)}`);
    return err.code;
  }
}

/** A sender on `from` and a receiver on `to` for the same random key. */
async function stream(from: CryptoBackendName, to: CryptoBackendName, rxKey?: Uint8Array) {
  const key = randomBytes(32);
  const tx = await on(from, () => new E2ESender(key));
  const rx = await on(to, () => new E2EReceiver(rxKey ?? key, tx.header));
  return { tx, rx };
}

test('a message sealed on one backend opens on the other, both ways: 0 B, 1 B, 64 KiB and random sizes', async () => {
  for (const [from, to] of DIRECTIONS) {
    const { tx, rx } = await stream(from, to);
    const sizes = [0, 1, 65536, 17, ...Array.from({ length: 20 }, () => randomInt(0, 65537))];
    for (const n of sizes) {
      const plain = randomBytes(n);
      const sealed = tx.seal(plain);
      assert.equal(sealed.length, n + 17);
      assert.deepEqual(rx.open(sealed), plain, `${from} → ${to}, ${n} bytes`);
    }
    assert.equal(rx.poisoned, false);
  }
});

test('both backends derive the same session keys from the same key pairs, in either role', async () => {
  const pairs: KxKeyPair[] = [await on('native', generateKxKeyPair), await on('wasm', generateKxKeyPair)];
  for (const [client, server] of [pairs, [...pairs].reverse()] as Array<[KxKeyPair, KxKeyPair]>) {
    const nativeKeys = await on('native', () => ({
      c: clientSessionKeys(client, server.publicKey),
      s: serverSessionKeys(server, client.publicKey),
    }));
    const wasmKeys = await on('wasm', () => ({
      c: clientSessionKeys(client, server.publicKey),
      s: serverSessionKeys(server, client.publicKey),
    }));
    assert.deepEqual(nativeKeys, wasmKeys, 'same keys, same types (plain Uint8Array)');
    assert.deepEqual(nativeKeys.c.tx, wasmKeys.s.rx);
    assert.deepEqual(nativeKeys.c.rx, wasmKeys.s.tx);
    assert.notDeepEqual(nativeKeys.c.rx, nativeKeys.c.tx);
  }
});

test('tampered, reordered and wrong-key messages give the same codes on both backends', async () => {
  const outcomes: Record<string, string[]> = {};
  for (const [from, to] of DIRECTIONS) {
    const codes: string[] = [];
    for (const where of [0, 5, 26]) {
      const { tx, rx } = await stream(from, to);
      const sealed = tx.seal(Buffer.from('0123456789'));
      sealed[where]! ^= 0x01;
      codes.push(codeOf(() => rx.open(sealed)), String(rx.poisoned), codeOf(() => rx.open(tx.seal(Buffer.from('next')))));
    }
    const reordered = await stream(from, to);
    const a = reordered.tx.seal(Buffer.from('a'));
    const b = reordered.tx.seal(Buffer.from('b'));
    codes.push(codeOf(() => reordered.rx.open(b)), codeOf(() => reordered.rx.open(a)));
    const wrongKey = await stream(from, to, randomBytes(32));
    codes.push(codeOf(() => wrongKey.rx.open(wrongKey.tx.seal(Buffer.from('secret')))));
    const short = await stream(from, to);
    codes.push(codeOf(() => short.rx.open(new Uint8Array(16))));
    outcomes[`${from} → ${to}`] = codes;
  }
  const tampered = ['ERR_ZITI_E2E_DECRYPT_FAILED', 'true', 'ERR_ZITI_E2E_DECRYPT_FAILED'];
  const expected = [...tampered, ...tampered, ...tampered, ...Array<string>(4).fill('ERR_ZITI_E2E_DECRYPT_FAILED')];
  for (const [direction, codes] of Object.entries(outcomes)) assert.deepEqual(codes, expected, direction);
});

test('bad and low-order peer keys give the same codes on both backends', async () => {
  const lowOrder = Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex');
  for (const backend of ['native', 'wasm'] as const) {
    const own = await on(backend, generateKxKeyPair);
    const codes = [new Uint8Array(32), lowOrder, new Uint8Array(31)].flatMap((peer) => [
      codeOf(() => clientSessionKeys(own, peer)),
      codeOf(() => serverSessionKeys(own, peer)),
    ]);
    assert.deepEqual(codes, Array<string>(6).fill('ERR_ZITI_E2E_PEER_KEY_INVALID'), backend);
    assert.equal(codeOf(() => clientSessionKeys({ ...own, privateKey: new Uint8Array(31) }, own.publicKey)), 'ERR_ZITI_E2E_KEY_INVALID');
  }
});

test('the native backend zeroes its stream states on wipe(), once', async () => {
  const native = await loadNativeBackend();
  const key = randomBytes(32);
  const push = native.initPush(key);
  const pull = native.initPull(key, push.header);
  for (const s of [push, pull]) {
    // `state` is protected in TypeScript only; reading it is the one way to see the wipe.
    const state = (s as unknown as { state: Buffer }).state;
    assert.equal(state.length, 52);
    assert.ok(state.some((byte) => byte !== 0), 'an initialised state holds the derived key');
    s.wipe();
    assert.ok(state.every((byte) => byte === 0), 'wipe() left key material behind');
    s.wipe();
  }
  assert.throws(() => push.push(Buffer.from('x')), { code: 'ERR_ASSERTION' });
});

test("'auto' falls back to WebAssembly when sodium-native cannot load, and says why", async (t) => {
  // A preloaded resolver patch makes `require('sodium-native')` fail as it does when the package is absent.
  const block = `const Module = require('node:module');
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, ...rest) {
      if (request === 'sodium-native' || request.startsWith('sodium-native/')) throw Object.assign(new Error('blocked by test'), { code: 'MODULE_NOT_FOUND' });
      return resolve.call(this, request, ...rest);
    };`;
  const preload = join(mkdtempSync(join(tmpdir(), 'darkhook-e2e-')), 'block-sodium.cjs');
  t.after(() => rmSync(dirname(preload), { recursive: true, force: true }));
  writeFileSync(preload, block);
  const e2e = fileURLToPath(new URL('../../connector/ziti/e2e.js', import.meta.url));
  const script = `
    import { subscribe } from 'node:diagnostics_channel';
    const e2e = await import(${JSON.stringify(e2e)});
    const events = [];
    subscribe('darkhook:ziti:e2e', (m) => events.push({ ...m, nativeError: m.nativeError?.code }));
    await e2e.ensureCryptoReady();
    const key = new Uint8Array(32).fill(7);
    const tx = new e2e.E2ESender(key);
    const roundTrip = new e2e.E2EReceiver(key, tx.header).open(tx.seal(Buffer.from('hi'))).toString();
    const forced = await e2e.ensureCryptoReady({ backend: 'native' }).then(() => 'resolved', (err) => err.code);
    console.log(JSON.stringify({ backend: e2e.cryptoBackendName(), events, roundTrip, forced }));`;
  const { stdout } = await promisify(execFile)(process.execPath, [
    '--require',
    preload,
    '--input-type=module',
    '--eval',
    script,
  ]);
  assert.deepEqual(JSON.parse(stdout), {
    backend: 'wasm',
    events: [{ event: 'backend', backend: 'wasm', requested: 'auto', nativeError: 'MODULE_NOT_FOUND' }],
    roundTrip: 'hi',
    forced: 'ERR_ZITI_E2E_NOT_READY',
  });
});
