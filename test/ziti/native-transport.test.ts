/** The optional native transport: absent by default, and asking for it then is one clear coded error. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadNativeSdk } from '../../connector/ziti/native.js';
import { runCli } from '../cli/helpers.js';

test('loading the native SDK without the package fails with ERR_ZITI_NATIVE_UNAVAILABLE', async () => {
  await assert.rejects(loadNativeSdk(), { code: 'ERR_ZITI_NATIVE_UNAVAILABLE' });
});

test('darkhook dial --transport native explains how to install it and exits 4', async () => {
  const r = await runCli(['dial', '--identity', '/nonexistent.json', '--service', 's', '--transport', 'native']);
  assert.equal(r.code, 4);
  assert.match(r.stderr, /darkhook: ERR_ZITI_NATIVE_UNAVAILABLE: .*@openziti\/ziti-sdk-nodejs.*\(hint: npm install @openziti\/ziti-sdk-nodejs/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});
