/** Prints E2E seal+open throughput: libsodium-wrappers (the product) vs node:crypto ChaCha20 + JS Poly1305. */
import { randomBytes } from 'node:crypto';
import { E2EReceiver, E2ESender, ensureCryptoReady } from '../connector/ziti/e2e.js';
import { NodeSecretstream } from './e2e-node-crypto.js';

/** Plaintext bytes pushed through seal+open per size and implementation. */
const BYTES_PER_RUN = 32 * 1024 * 1024;
const SIZES = [1024, 16 * 1024, 64 * 1024];

interface Pair {
  seal(m: Uint8Array): Uint8Array;
  open(c: Uint8Array): Uint8Array | undefined;
}

function libsodiumPair(key: Uint8Array): Pair & { header: Buffer } {
  const tx = new E2ESender(key);
  const rx = new E2EReceiver(key, tx.header);
  return { header: tx.header, seal: (m) => tx.seal(m), open: (c) => rx.open(c) };
}

function nodePair(key: Uint8Array, header: Uint8Array): Pair {
  const tx = new NodeSecretstream(key, header);
  const rx = new NodeSecretstream(key, header);
  return { seal: (m) => tx.push(m), open: (c) => rx.pull(c) };
}

/** Byte-for-byte cross-check before timing: a fast wrong answer is no answer. */
function verify(): void {
  const key = randomBytes(32);
  const lib = libsodiumPair(key);
  const alt = nodePair(key, lib.header);
  const check = nodePair(key, lib.header);
  for (const n of [0, 1, 15, 16, 17, 63, 64, 65, 1000, 1024, 16384, 65536]) {
    const m = randomBytes(n);
    const a = lib.seal(m);
    const b = alt.seal(m);
    if (!Buffer.from(a).equals(Buffer.from(b))) throw new Error(`node:crypto push differs from libsodium at ${n} bytes`);
    const opened = check.open(a);
    if (opened === undefined || !Buffer.from(opened).equals(m)) throw new Error(`node:crypto pull failed at ${n} bytes`);
  }
}

function measure(pair: Pair, size: number): number {
  const m = randomBytes(size);
  const rounds = Math.max(1, Math.floor(BYTES_PER_RUN / size));
  for (let i = 0; i < Math.min(rounds, 200); i++) pair.open(pair.seal(m)); // warm up the JIT
  const start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) {
    if (pair.open(pair.seal(m)) === undefined) throw new Error('open failed');
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return (rounds * size) / 1e6 / seconds;
}

await ensureCryptoReady();
verify();
const out = (line: string): boolean => process.stdout.write(`${line}\n`);
out(`node ${process.version}, ${BYTES_PER_RUN / 2 ** 20} MiB per cell, seal+open (MB/s = 10^6 plaintext bytes/s)`);
out('size      libsodium-wrappers   node:crypto+JS-Poly1305');
for (const size of SIZES) {
  const key = randomBytes(32);
  const lib = libsodiumPair(key);
  const libRate = measure(lib, size);
  const altRate = measure(nodePair(key, lib.header), size);
  out(`${`${size / 1024} KiB`.padEnd(10)}${libRate.toFixed(1).padStart(18)}${altRate.toFixed(1).padStart(26)}`);
}
