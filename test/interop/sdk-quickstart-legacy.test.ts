/** The same SDK suite against a real OpenZiti quickstart with legacy API sessions forced (`auth: 'legacy'`). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { sdkSuite } from '../ziti/sdk-suite.js';
import { fabricOf, Quickstart, zitiBinary } from './quickstart.js';

const ziti = zitiBinary();

sdkSuite('a real OpenZiti quickstart (legacy API sessions)', {
  skip: ziti.reason,
  start: async () => fabricOf(await Quickstart.start(ziti.path!)),
  contextOptions: { auth: 'legacy' },
  extra: (env) => {
    it('used legacy API sessions although the controller offers OIDC', async () => {
      await env().sender.authenticate();
      assert.equal(env().sender.controller.authMode, 'legacy');
      assert.equal(env().sender.controller.apiSession?.kind, 'legacy');
    });
  },
});
