/** Strict base64 decoding for secrets, signatures and batch bodies (Node's own decoder skips bad characters). */

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decode standard-alphabet base64 (padding optional), or return undefined when `text` is not
 * canonical base64. `Buffer.from(text, 'base64')` silently drops invalid characters, which would
 * turn a typo in a secret into a different key; this rejects instead.
 */
export function decodeBase64Strict(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  const unpadded = text.replace(/=+$/, '');
  // Padding, when present, must complete the last group of four exactly.
  if (unpadded.length !== text.length && text.length % 4 !== 0) return undefined;
  if (unpadded.length % 4 === 1) return undefined;
  const bytes = Buffer.from(unpadded, 'base64');
  // Non-zero unused bits in the last character mean a non-canonical encoding of other bytes.
  if (bytes.toString('base64').replace(/=+$/, '') !== unpadded) return undefined;
  return bytes;
}
