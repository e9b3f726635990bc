/** The error catalogue and docs/errors.md list exactly the same codes. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DarkhookError, ERROR_CATALOGUE, isErrorCode, PkiError } from '../../core/index.js';

const DOC = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
const documented = new Set([...DOC.matchAll(/^\|\s*`(ERR_[A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1]));

test('every catalogue code is documented in docs/errors.md', () => {
  const missing = Object.keys(ERROR_CATALOGUE).filter((code) => !documented.has(code));
  assert.deepEqual(missing, []);
});

test('every code documented in docs/errors.md exists in the catalogue', () => {
  const unknown = [...documented].filter((code) => !isErrorCode(code));
  assert.deepEqual(unknown, []);
});

test('codes are upper snake case with an ERR_ prefix and have a hint', () => {
  for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
    assert.match(code, /^ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/);
    assert.ok(entry.hint.length > 0, code);
  }
});

test('a coded error carries its code, class name, catalogue hint and cause', () => {
  const cause = new Error('inner');
  const err = new PkiError('ERR_PKI_CERT_EXPIRED', 'certificate expired on 2020-01-01', { cause });
  assert.ok(err instanceof DarkhookError);
  assert.equal(err.name, 'PkiError');
  assert.equal(err.code, 'ERR_PKI_CERT_EXPIRED');
  assert.equal(err.hint, ERROR_CATALOGUE.ERR_PKI_CERT_EXPIRED.hint);
  assert.equal(err.cause, cause);
  assert.deepEqual(Object.keys(err.toJSON()).sort(), ['code', 'hint', 'message', 'name']);
});
