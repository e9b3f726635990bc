/** Splits a MULTIPART_MSG Data body (PROTOCOL §4.7) into its parts; applied after E2E decryption. */
import { ZitiError } from '../../core/index.js';

/** Size of each part's length prefix (uint16, little-endian), in bytes. */
const LENGTH_PREFIX_BYTES = 2;

/**
 * Splits a Data body flagged MULTIPART_MSG (16) into its parts: repeated `uint16 LE length ‖ bytes`.
 * The parts are views into `body` (no copy). An empty body yields no parts; zero-length parts are kept.
 * @throws {ZitiError} `ERR_ZITI_E2E_MULTIPART_INVALID` when a length prefix is cut short or a part
 *   runs past the end of the body (a misbehaving peer: close the connection).
 * @example
 * const parts = flags & EDGE_FLAG_MULTIPART_MSG ? parseMultipart(plain) : [plain];
 */
export function parseMultipart(body: Uint8Array): Buffer[] {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset < buf.length) {
    if (buf.length - offset < LENGTH_PREFIX_BYTES) {
      throw new ZitiError(
        'ERR_ZITI_E2E_MULTIPART_INVALID',
        `multipart body ends inside a length prefix at offset ${offset} of ${buf.length}`,
      );
    }
    const length = buf.readUInt16LE(offset);
    offset += LENGTH_PREFIX_BYTES;
    if (length > buf.length - offset) {
      throw new ZitiError(
        'ERR_ZITI_E2E_MULTIPART_INVALID',
        `multipart part of ${length} bytes at offset ${offset} overruns the ${buf.length}-byte body`,
      );
    }
    parts.push(buf.subarray(offset, offset + length));
    offset += length;
  }
  return parts;
}
