/** The root logger never writes secrets: a sentinel logged under every redacted path is absent from the output. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createRootLogger } from '../../cli/logger.js';

const SENTINEL = 'whsec_SENTINEL-do-not-log-4f1c';

test('secrets under key, token, secret, password, authorization and cert paths are redacted', () => {
  let out = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString('utf8');
      done();
    },
  });
  const log = createRootLogger({ level: 'info', json: true, destination });
  log.info({ secret: SENTINEL, token: SENTINEL, key: SENTINEL, password: SENTINEL }, 'top level');
  log.info({ options: { secret: SENTINEL, token: SENTINEL, passphrase: SENTINEL } }, 'nested');
  log.info({ req: { headers: { authorization: `Bearer ${SENTINEL}`, 'zt-session': SENTINEL } } }, 'headers');
  log.info({ identity: { id: { key: SENTINEL, cert: SENTINEL } }, jwt: SENTINEL }, 'identity');
  const lines = out.trim().split('\n');
  assert.equal(lines.length, 4);
  assert.ok(!out.includes('SENTINEL'), `a secret reached the log: ${out}`);
  assert.match(out, /\[redacted\]/);
  // Redaction keeps the shape, so a reader sees that a field was there.
  assert.deepEqual(JSON.parse(lines[0]!).secret, '[redacted]');
});
