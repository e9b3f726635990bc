/** Benchmark-only secretstream (PROTOCOL §5.4) on node:crypto ChaCha20 plus a plain-JS Poly1305. */
import { createCipheriv, timingSafeEqual } from 'node:crypto';

// Poly1305 in float64 arithmetic. 26-bit limbs (the usual 32-bit-CPU layout) do not fit: five
// 26×28-bit products add up past 2^53, where doubles stop being exact. Six 22-bit limbs do:
// h_i < 2^23, 20·r_j < 2^26.4, so a column of six products stays below 2^52.
const LIMB = 4194304; // 2^22
const MASK = 0x3fffff;
const TOP = 1048576; // 2^20: the top limb holds bits 110..129

/** One-shot Poly1305 tag of `msg` under the 32-byte one-time key `key`. */
export function poly1305(key: Uint8Array, msg: Uint8Array): Buffer {
  const kv = new DataView(key.buffer, key.byteOffset, 32);
  const k0 = kv.getUint32(0, true) & 0x0fffffff;
  const k1 = kv.getUint32(4, true) & 0x0ffffffc;
  const k2 = kv.getUint32(8, true) & 0x0ffffffc;
  const k3 = kv.getUint32(12, true) & 0x0ffffffc;
  const r0 = k0 & MASK;
  const r1 = ((k0 >>> 22) | (k1 << 10)) & MASK;
  const r2 = ((k1 >>> 12) | (k2 << 20)) & MASK;
  const r3 = (k2 >>> 2) & MASK;
  const r4 = ((k2 >>> 24) | (k3 << 8)) & MASK;
  const r5 = k3 >>> 14;
  // 2^132 ≡ 20 (mod 2^130 − 5): columns past limb 5 fold back multiplied by 20.
  const s1 = r1 * 20;
  const s2 = r2 * 20;
  const s3 = r3 * 20;
  const s4 = r4 * 20;
  const s5 = r5 * 20;
  let h0 = 0;
  let h1 = 0;
  let h2 = 0;
  let h3 = 0;
  let h4 = 0;
  let h5 = 0;
  const last = new Uint8Array(16);
  const mv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const lv = new DataView(last.buffer);
  for (let off = 0; off < msg.length; off += 16) {
    let v = mv;
    let at = off;
    let hibit = 1 << 18; // 2^128 sits at bit 18 of limb 5
    if (msg.length - off < 16) {
      last.fill(0);
      last.set(msg.subarray(off));
      last[msg.length - off] = 1;
      v = lv;
      at = 0;
      hibit = 0;
    }
    const w0 = v.getUint32(at, true);
    const w1 = v.getUint32(at + 4, true);
    const w2 = v.getUint32(at + 8, true);
    const w3 = v.getUint32(at + 12, true);
    h0 += w0 & MASK;
    h1 += ((w0 >>> 22) | (w1 << 10)) & MASK;
    h2 += ((w1 >>> 12) | (w2 << 20)) & MASK;
    h3 += (w2 >>> 2) & MASK;
    h4 += ((w2 >>> 24) | (w3 << 8)) & MASK;
    h5 += (w3 >>> 14) | hibit;
    let d0 = h0 * r0 + h1 * s5 + h2 * s4 + h3 * s3 + h4 * s2 + h5 * s1;
    let d1 = h0 * r1 + h1 * r0 + h2 * s5 + h3 * s4 + h4 * s3 + h5 * s2;
    let d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s5 + h4 * s4 + h5 * s3;
    let d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s5 + h5 * s4;
    let d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0 + h5 * s5;
    let d5 = h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1 + h5 * r0;
    let c = Math.floor(d0 / LIMB);
    d0 -= c * LIMB;
    d1 += c;
    c = Math.floor(d1 / LIMB);
    d1 -= c * LIMB;
    d2 += c;
    c = Math.floor(d2 / LIMB);
    d2 -= c * LIMB;
    d3 += c;
    c = Math.floor(d3 / LIMB);
    d3 -= c * LIMB;
    d4 += c;
    c = Math.floor(d4 / LIMB);
    d4 -= c * LIMB;
    d5 += c;
    c = Math.floor(d5 / TOP);
    d5 -= c * TOP;
    d0 += c * 5; // 2^130 ≡ 5
    c = Math.floor(d0 / LIMB);
    d0 -= c * LIMB;
    d1 += c;
    h0 = d0;
    h1 = d1;
    h2 = d2;
    h3 = d3;
    h4 = d4;
    h5 = d5;
  }
  // Full carry, then subtract p = 2^130 − 5 once if h ≥ p.
  let c = h1 >>> 22;
  h1 &= MASK;
  h2 += c;
  c = h2 >>> 22;
  h2 &= MASK;
  h3 += c;
  c = h3 >>> 22;
  h3 &= MASK;
  h4 += c;
  c = h4 >>> 22;
  h4 &= MASK;
  h5 += c;
  c = Math.floor(h5 / TOP);
  h5 -= c * TOP;
  h0 += c * 5;
  c = h0 >>> 22;
  h0 &= MASK;
  h1 += c;
  const g = [h0 + 5, h1, h2, h3, h4, h5];
  for (let i = 0; i < 5; i++) {
    g[i + 1]! += g[i]! >>> 22;
    g[i]! &= MASK;
  }
  if (g[5]! >= TOP) [h0, h1, h2, h3, h4, h5] = [g[0]!, g[1]!, g[2]!, g[3]!, g[4]!, g[5]! - TOP];
  // Pack 128 bits into four words and add s.
  const words = [
    (h0 | (h1 << 22)) >>> 0,
    ((h1 >>> 10) | (h2 << 12)) >>> 0,
    ((h2 >>> 20) | (h3 << 2) | (h4 << 24)) >>> 0,
    ((h4 >>> 8) | (h5 << 14)) >>> 0,
  ];
  const tag = Buffer.alloc(16);
  let carry = 0;
  for (let i = 0; i < 4; i++) {
    const sum = words[i]! + kv.getUint32(16 + 4 * i, true) + carry;
    tag.writeUInt32LE(sum >>> 0, 4 * i);
    carry = sum > 0xffffffff ? 1 : 0;
  }
  return tag;
}

const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574];

/** HChaCha20 as one ChaCha20 block minus the initial state words (§5.4). */
function hchacha20(key: Uint8Array, input16: Uint8Array): Buffer {
  const block = createCipheriv('chacha20', key, input16).update(Buffer.alloc(64));
  const input = Buffer.from(input16.buffer, input16.byteOffset, 16);
  const out = Buffer.alloc(32);
  for (let i = 0; i < 4; i++) {
    out.writeUInt32LE((block.readUInt32LE(4 * i) - SIGMA[i]!) >>> 0, 4 * i);
    out.writeUInt32LE((block.readUInt32LE(48 + 4 * i) - input.readUInt32LE(4 * i)) >>> 0, 16 + 4 * i);
  }
  return out;
}

/** Poly1305 over `t ‖ c ‖ zeros(len(c) mod 16) ‖ LE64(0) ‖ LE64(64 + len(c))`: libsodium's odd pad. */
function macOver(polyKey: Uint8Array, t: Uint8Array, c: Uint8Array): Buffer {
  const pad = c.length & 0xf;
  const macIn = Buffer.alloc(64 + c.length + pad + 16);
  macIn.set(t, 0);
  macIn.set(c, 64);
  macIn.writeUInt32LE((64 + c.length) >>> 0, 64 + c.length + pad + 8);
  return poly1305(polyKey, macIn);
}

/** One direction of a secretstream (tag MESSAGE only, no rekeying), as Go's port does it. */
export class NodeSecretstream {
  readonly #k: Buffer;
  readonly #iv = Buffer.alloc(16); // LE32 block counter (always 0 here) ‖ 12-byte nonce

  constructor(key: Uint8Array, header: Uint8Array) {
    this.#k = hchacha20(key, header.subarray(0, 16));
    this.#iv.writeUInt32LE(1, 4);
    this.#iv.set(header.subarray(16, 24), 8);
  }

  /** `tag ‖ C ‖ mac` for `m`. */
  push(m: Uint8Array): Buffer {
    const input = Buffer.alloc(128 + m.length);
    input.set(m, 128); // block 0 → Poly1305 key, block 1 → tag block (tag 0), blocks 2… → message
    const ks = createCipheriv('chacha20', this.#k, this.#iv).update(input);
    const mac = macOver(ks.subarray(0, 32), ks.subarray(64, 128), ks.subarray(128));
    const out = Buffer.allocUnsafe(m.length + 17);
    out[0] = ks[64]!;
    ks.copy(out, 1, 128);
    mac.copy(out, 1 + m.length);
    this.#advance(mac);
    return out;
  }

  /** Plaintext of `c`, or `undefined` when the MAC or the tag does not verify. */
  pull(c: Uint8Array): Buffer | undefined {
    if (c.length < 17) return undefined;
    const mlen = c.length - 17;
    const cipher = c.subarray(1, 1 + mlen);
    const input = Buffer.alloc(128 + mlen);
    input.set(cipher, 128);
    const out = createCipheriv('chacha20', this.#k, this.#iv).update(input); // out[128..] = plaintext
    const tagXor = out[64]!;
    out[64] = c[0]!; // T = in[0] ‖ keystream(counter 1)[1..64)
    const mac = macOver(out.subarray(0, 32), out.subarray(64, 128), cipher);
    if (!timingSafeEqual(mac, c.subarray(1 + mlen)) || (c[0]! ^ tagXor) !== 0) return undefined;
    this.#advance(mac);
    return out.subarray(128);
  }

  #advance(mac: Buffer): void {
    for (let i = 0; i < 8; i++) this.#iv[8 + i]! ^= mac[i]!;
    this.#iv.writeUInt32LE((this.#iv.readUInt32LE(4) + 1) >>> 0, 4);
  }
}
