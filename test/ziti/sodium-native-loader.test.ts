/** The sodium-native loader: finds the same prebuilt binary as the package's own resolver, and steps aside when it cannot be sure. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { requireSodiumNative, sodiumLoadPath, sodiumPrebuildFor } from '../../connector/ziti/sodium-native-loader.js';

const STOCK = "require.addon = require('require-addon')\nmodule.exports = require.addon('.', __filename)\n";
const HOST = `${process.platform}-${process.arch}`;

test('the installed sodium-native loads from the binary its own resolver picks, and works', () => {
  const req = createRequire(import.meta.url);
  const bindingPath = req.resolve('sodium-native/binding.js');
  assert.equal(req.cache[bindingPath], undefined, 'nothing in this process loaded sodium-native before');
  const lib = requireSodiumNative(req);
  assert.equal(sodiumLoadPath(), 'prebuild');
  // require-addon resolves through bare-addon-resolve and then require()s the file: a .node module is cached by
  // its path, so the same exports object means the same binary.
  const viaResolver: unknown = (req('require-addon') as (specifier: string, parent: string) => unknown)('.', bindingPath);
  assert.equal((req.cache[bindingPath] as NodeJS.Module | undefined)?.exports, viaResolver);
  const pk = new Uint8Array(lib.crypto_kx_PUBLICKEYBYTES);
  const sk = new Uint8Array(lib.crypto_kx_SECRETKEYBYTES);
  lib.crypto_kx_keypair(pk, sk);
  assert.ok(pk.some((b) => b !== 0));
  assert.equal(requireSodiumNative(req), lib, 'a second call returns the loaded module');
});

test('the binary is found only beside a stock binding.js, only when it exists and no versioned binary would be tried first', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'darkhook-sodium-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const binding = join(dir, 'binding.js');
  writeFileSync(binding, STOCK);
  assert.equal(sodiumPrebuildFor(binding), undefined, 'no prebuilds folder');
  mkdirSync(join(dir, 'prebuilds', HOST), { recursive: true });
  writeFileSync(join(dir, 'prebuilds', HOST, 'sodium-native.node'), '');
  assert.equal(sodiumPrebuildFor(binding), join(dir, 'prebuilds', HOST, 'sodium-native.node'));
  // bare-addon-resolve tries the versioned name first: with one there, the package's resolver decides.
  writeFileSync(join(dir, 'prebuilds', HOST, 'sodium-native@5.9.9.node'), '');
  assert.equal(sodiumPrebuildFor(binding), undefined, 'a versioned binary beside it');
  rmSync(join(dir, 'prebuilds', HOST, 'sodium-native@5.9.9.node'));
  writeFileSync(binding, `${STOCK}// patched\n`);
  assert.equal(sodiumPrebuildFor(binding), undefined, 'a binding.js that is not the stock one');
  assert.equal(sodiumPrebuildFor(join(dir, 'missing.js')), undefined);
});
