/** How a node-postgres failure becomes the receiver's coded store error: unreachable (503, retry) or failed (500). */
import pg from 'pg';
import { ReceiverError } from '../../core/index.js';

/** SQLSTATEs that mean "the server is not there right now" (class 08, shutdowns, too many connections). */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** SQLSTATEs of a refused login: wrong password, no such role, pg_hba refusal. */
const AUTH_STATES = new Set(['28P01', '28000']);
/** How long an unreachable store asks senders to wait, in seconds (the `Retry-After` of its 503). */
export const STORE_RETRY_AFTER_SECONDS = 2;

/** True when the error came from the server (a SQLSTATE), rather than from the network or the driver. */
function sqlState(err: unknown): string | undefined {
  return err instanceof pg.DatabaseError && typeof err.code === 'string' ? err.code : undefined;
}

/** True when a login was refused (wrong password, unknown role). */
export function isAuthFailure(err: unknown): boolean {
  const state = sqlState(err);
  return state !== undefined && AUTH_STATES.has(state);
}

/**
 * True when the server cannot be reached or is going away: every error that is not the
 * server's own answer to a statement (a refused connection, a reset, a connect timeout, the
 * driver's "connection terminated"), and the server's shutdown and overload states.
 */
export function isUnavailable(err: unknown): boolean {
  const state = sqlState(err);
  if (state === undefined) return true;
  return state.startsWith('08') || UNAVAILABLE_STATES.has(state);
}

/** The coded error for a failed store call: ERR_RECEIVER_STORE_UNAVAILABLE (503) or ERR_RECEIVER_STORE_FAILED (500). */
export function pgStoreError(location: string, what: string, cause: unknown): ReceiverError {
  if (cause instanceof ReceiverError) return cause;
  if (isUnavailable(cause)) {
    return new ReceiverError('ERR_RECEIVER_STORE_UNAVAILABLE', `the message store ${location} cannot be reached; nothing was ${what}, try again`, {
      statusCode: 503,
      retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
      cause,
    });
  }
  return new ReceiverError('ERR_RECEIVER_STORE_FAILED', `the message store ${location} could not be ${what} (${sqlState(cause) ?? 'driver error'})`, { statusCode: 500, cause });
}
