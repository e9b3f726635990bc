/** Shared assertions of the webhook-format tests. */
import assert from 'node:assert/strict';
import { WebhookError } from '../../core/index.js';

/** `fn` throws a WebhookError with this code (and HTTP status, when given). */
export function rejectsWith(fn: () => unknown, code: string, statusCode?: number): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WebhookError, `expected WebhookError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (statusCode !== undefined) assert.equal(err.statusCode, statusCode);
    return true;
  });
}
