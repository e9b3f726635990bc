/** The small libsodium surface Ziti E2E needs, implemented by a native and a WebAssembly backend. */

/** Length of a secretstream header: the first Data body each side sends, alone, in bytes. */
export const E2E_HEADER_BYTES = 24;
/** Bytes a sealed message adds to its plaintext: 1 tag byte + 16-byte Poly1305 MAC. */
export const E2E_ABYTES = 17;
/** Length of an X25519 key and of each session key, in bytes. */
export const E2E_KEY_BYTES = 32;
/** secretstream tag 0: an ordinary message; Go and C only ever send this one (§5.3 step 4). */
export const TAG_MESSAGE = 0;

/** Which libsodium build does the work: `native` (sodium-native addon) or `wasm` (libsodium-wrappers). */
export type CryptoBackendName = 'native' | 'wasm';

/** An X25519 key pair for crypto_kx. `privateKey` is secret: never log it. */
export interface KxKeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

/** The two 32-byte session keys of one connection: `rx` opens what the peer sealed, `tx` seals for it. */
export interface SessionKeys {
  rx: Uint8Array;
  tx: Uint8Array;
}

/** One secretstream push state. Callers have checked the key; plaintexts are Uint8Arrays. */
export interface PushStream {
  /** The 24 random header bytes (a fresh Buffer). */
  readonly header: Buffer;
  /** Seals one message with tag MESSAGE into a fresh Buffer of `plain.length + 17` bytes. */
  push(plain: Uint8Array): Buffer;
  /** Wipes and releases the state; idempotent. Calling `push` afterwards is a bug. */
  wipe(): void;
}

/** One secretstream pull state. Callers have checked key, header and that `cipher` has ≥ 17 bytes. */
export interface PullStream {
  /** Opens one message into a fresh Buffer, or `undefined` when it fails authentication. */
  pull(cipher: Uint8Array): { message: Buffer; tag: number } | undefined;
  /** Wipes and releases the state; idempotent. Calling `pull` afterwards is a bug. */
  wipe(): void;
}

/**
 * A loaded libsodium. Inputs are already validated by `e2e.ts` (lengths, types); the kx functions
 * throw (any error) exactly when libsodium refuses the peer key, i.e. a low-order point.
 */
export interface CryptoBackend {
  readonly name: CryptoBackendName;
  kxKeyPair(): KxKeyPair;
  kxClientSessionKeys(own: KxKeyPair, serverPublicKey: Uint8Array): SessionKeys;
  kxServerSessionKeys(own: KxKeyPair, clientPublicKey: Uint8Array): SessionKeys;
  initPush(key: Uint8Array): PushStream;
  initPull(key: Uint8Array, header: Uint8Array): PullStream;
}
