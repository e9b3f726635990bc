/** Message and batch ids: `msg_` + a 26-character ULID (time-ordered), and content-derived batch ids. */
import { createHash, randomFillSync } from 'node:crypto';

/** Prefix of every message id darkhook makes. */
export const MESSAGE_ID_PREFIX = 'msg_';
/** Prefix of every batch id (the `webhook-id` of a batch envelope request). */
export const BATCH_ID_PREFIX = 'batch_';

// Crockford base32: no I, L, O, U, so ids survive being read aloud or typed.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Base32 of `bytes` taken as a big-endian bit string, `length` characters (leading bits first). */
function base32(bytes: Buffer, length: number): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out;
}

// Random bytes drawn in blocks: one CSPRNG call per 409 ids instead of one per id.
const POOL = Buffer.alloc(4096);
const RANDOM_BYTES = 10;
let poolAt = POOL.length;

function random10(): Buffer {
  if (poolAt + RANDOM_BYTES > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  const bytes = POOL.subarray(poolAt, poolAt + RANDOM_BYTES);
  poolAt += RANDOM_BYTES;
  return bytes;
}

/**
 * A ULID: 10 characters of milliseconds since the epoch, then 16 of randomness (80 bits), so ids
 * sort by creation time and never collide in practice.
 */
export function ulid(now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return time + base32(random10(), 16);
}

/**
 * A new message id, e.g. `msg_01JD7Z3K8Q4W9X2M5N6P7R8S9T`; it is the `webhook-id` of the message on
 * every attempt.
 */
export function newMessageId(now?: number): string {
  return MESSAGE_ID_PREFIX + ulid(now);
}

/**
 * The id of a batch made of exactly these message ids, in this order: a retry of the same batch
 * carries the same `webhook-id`, a differently composed batch another one.
 */
export function batchIdFor(ids: readonly string[]): string {
  const digest = createHash('sha256').update(ids.join('\n')).digest();
  return BATCH_ID_PREFIX + base32(digest, 26);
}
