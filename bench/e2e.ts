/** Prints E2E seal+open throughput per backend: sodium-native, libsodium-wrappers (WASM), node:crypto + JS Poly1305. */
import { randomBytes } from 'node:crypto';
import { E2EReceiver, E2ESender, cryptoBackendName, ensureCryptoReady, type CryptoBackendName } from '../connector/ziti/e2e.js';
import { NodeSecretstream } from './e2e-node-crypto.js';

/** Plaintext bytes pushed through seal+open per size and implementation. */
const BYTES_PER_RUN = 32 * 1024 * 1024;
const SIZES = [1024, 16 * 1024, 64 * 1024];
const CHECK_SIZES = [0, 1, 15, 16, 17, 63, 64, 65, 1000, 1024, 16384, 65536];

interface Pair {
  seal(m: Uint8Array): Uint8Array;
  open(c: Uint8Array): Uint8Array | undefined;
}

/** Makes E2E objects on `backend`; they keep it after another backend is selected. */
async function on<T>(backend: CryptoBackendName, make: () => T): Promise<T> {
  await ensureCryptoReady({ backend });
  if (cryptoBackendName() !== backend) throw new Error(`backend ${backend} is not active`);
  return make();
}

async function libsodiumPair(backend: CryptoBackendName, key: Uint8Array): Promise<Pair & { header: Buffer }> {
  return on(backend, () => {
    const tx = new E2ESender(key);
    const rx = new E2EReceiver(key, tx.header);
    return { header: tx.header, seal: (m) => tx.seal(m), open: (c) => rx.open(c) };
  });
}

function nodePair(key: Uint8Array, header: Uint8Array): Pair {
  const tx = new NodeSecretstream(key, header);
  const rx = new NodeSecretstream(key, header);
  return { seal: (m) => tx.push(m), open: (c) => rx.pull(c) };
}

const same = (a: Uint8Array | undefined, b: Uint8Array): boolean => a !== undefined && Buffer.from(a).equals(b);

/**
 * Byte-for-byte cross-check before timing: a fast wrong answer is no answer. Each backend's output
 * must equal node:crypto's for the same header, and open on the other backend.
 */
async function verify(): Promise<void> {
  const key = randomBytes(32);
  const native = await libsodiumPair('native', key);
  const wasm = await libsodiumPair('wasm', key);
  const nativeRef = nodePair(key, native.header);
  const wasmRef = nodePair(key, wasm.header);
  const wasmOpensNative = await on('wasm', () => new E2EReceiver(key, native.header));
  const nativeOpensWasm = await on('native', () => new E2EReceiver(key, wasm.header));
  const nodeOpensNative = nodePair(key, native.header);
  for (const n of CHECK_SIZES) {
    const m = randomBytes(n);
    const a = native.seal(m);
    const b = wasm.seal(m);
    if (!same(nativeRef.seal(m), a)) throw new Error(`node:crypto push differs from sodium-native at ${n} bytes`);
    if (!same(wasmRef.seal(m), b)) throw new Error(`node:crypto push differs from libsodium-wrappers at ${n} bytes`);
    if (!same(wasmOpensNative.open(a), m)) throw new Error(`wasm failed to open native output at ${n} bytes`);
    if (!same(nativeOpensWasm.open(b), m)) throw new Error(`native failed to open wasm output at ${n} bytes`);
    if (!same(nodeOpensNative.open(a), m)) throw new Error(`node:crypto pull failed at ${n} bytes`);
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

await verify();
const out = (line: string): boolean => process.stdout.write(`${line}\n`);
const cell = (text: string, width: number): string => text.padStart(width);
out(`node ${process.version}, ${BYTES_PER_RUN / 2 ** 20} MiB per cell, seal+open (MB/s = 10^6 plaintext bytes/s)`);
out(`size    ${cell('native (sodium-native)', 24)}${cell('wasm (libsodium-wrappers)', 28)}${cell('node:crypto+JS-Poly1305', 26)}${cell('native/wasm', 14)}`);
for (const size of SIZES) {
  const key = randomBytes(32);
  const native = await libsodiumPair('native', key);
  const wasm = await libsodiumPair('wasm', key);
  const nativeRate = measure(native, size);
  const wasmRate = measure(wasm, size);
  const nodeRate = measure(nodePair(key, wasm.header), size);
  out(
    `${`${size / 1024} KiB`.padEnd(8)}${cell(nativeRate.toFixed(1), 24)}${cell(wasmRate.toFixed(1), 28)}` +
      `${cell(nodeRate.toFixed(1), 26)}${cell(`${(nativeRate / wasmRate).toFixed(2)}×`, 14)}`,
  );
}
