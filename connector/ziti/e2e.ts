/** Ziti end-to-end encryption (PROTOCOL §5): libsodium crypto_kx session keys and secretstream framing. */
// The default import works under Node ESM with libsodium-wrappers 0.8.4: its `exports` map points
// `import` at a real ESM build (dist/modules-esm) whose default export carries every function once
// `ready` resolves. The named exports in its .d.mts are NOT all real at runtime, so use the default only.
import sodium from 'libsodium-wrappers';
import { ZitiError } from '../../errors/index.js';

export { parseMultipart } from './multipart.js';

/** Length of a secretstream header: the first Data body each side sends, alone, in bytes. */
export const E2E_HEADER_BYTES = 24;
/** Bytes a sealed message adds to its plaintext: 1 tag byte + 16-byte Poly1305 MAC. */
export const E2E_ABYTES = 17;
/** Length of an X25519 key and of each session key, in bytes. */
export const E2E_KEY_BYTES = 32;

/** secretstream tag 0: an ordinary message; Go and C only ever send this one (§5.3 step 4). */
const TAG_MESSAGE = 0;
/** Size of a secretstream state in libsodium's heap (`crypto_secretstream_xchacha20poly1305_statebytes`). */
const STATE_BYTES = 52;

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

let readyPromise: Promise<void> | undefined;
let isReady = false;

/**
 * Loads libsodium (WebAssembly) once; every later call returns the same promise. Await it before
 * any other function of this module.
 * @throws {ZitiError} (rejects) `ERR_ZITI_E2E_NOT_READY` when libsodium cannot initialise; a later call retries.
 * @example
 * await ensureCryptoReady();
 * const pair = generateKxKeyPair();
 */
export function ensureCryptoReady(): Promise<void> {
  readyPromise ??= sodium.ready.then(
    () => {
      isReady = true;
    },
    (cause: unknown) => {
      readyPromise = undefined;
      throw new ZitiError('ERR_ZITI_E2E_NOT_READY', 'libsodium failed to initialise', { cause });
    },
  );
  return readyPromise;
}

function requireReady(): void {
  if (!isReady) {
    throw new ZitiError('ERR_ZITI_E2E_NOT_READY', 'ensureCryptoReady() must be awaited before using E2E crypto');
  }
}

function checkLocalKey(key: unknown, name: string): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array) || key.byteLength !== E2E_KEY_BYTES) {
    throw new ZitiError('ERR_ZITI_E2E_KEY_INVALID', `${name} must be a ${E2E_KEY_BYTES}-byte Uint8Array`);
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Makes a fresh X25519 key pair: one per dial (dialer), one per listener (host, sent in Bind).
 * @throws {ZitiError} `ERR_ZITI_E2E_NOT_READY` before `ensureCryptoReady()` resolved.
 */
export function generateKxKeyPair(): KxKeyPair {
  requireReady();
  const { publicKey, privateKey } = sodium.crypto_kx_keypair();
  return { publicKey, privateKey };
}

type KxSessionFn = (ownPk: Uint8Array, ownSk: Uint8Array, peerPk: Uint8Array) => {
  sharedRx: Uint8Array;
  sharedTx: Uint8Array;
};

function sessionKeys(kx: KxSessionFn, own: KxKeyPair, peerPublicKey: Uint8Array, peer: string): SessionKeys {
  requireReady();
  checkLocalKey(own?.publicKey, 'own.publicKey');
  checkLocalKey(own.privateKey, 'own.privateKey');
  if (!(peerPublicKey instanceof Uint8Array) || peerPublicKey.byteLength !== E2E_KEY_BYTES) {
    const got = peerPublicKey instanceof Uint8Array ? `${peerPublicKey.byteLength} bytes` : typeof peerPublicKey;
    throw new ZitiError('ERR_ZITI_E2E_PEER_KEY_INVALID', `${peer} public key must be ${E2E_KEY_BYTES} bytes, got ${got}`);
  }
  try {
    const { sharedRx, sharedTx } = kx(own.publicKey, own.privateKey, peerPublicKey);
    return { rx: sharedRx, tx: sharedTx };
  } catch (cause) {
    // crypto_kx fails only when X25519 yields all zeros, i.e. the peer sent a low-order point.
    throw new ZitiError('ERR_ZITI_E2E_PEER_KEY_INVALID', `${peer} public key is a low-order point`, { cause });
  }
}

/**
 * Session keys of the dialer (kx client) from its pair and the host's key (from StateConnected).
 * @throws {ZitiError} `ERR_ZITI_E2E_PEER_KEY_INVALID` (bad length, low-order point),
 *   `ERR_ZITI_E2E_KEY_INVALID` (bad own pair), `ERR_ZITI_E2E_NOT_READY`.
 */
export function clientSessionKeys(own: KxKeyPair, serverPublicKey: Uint8Array): SessionKeys {
  return sessionKeys((pk, sk, peer) => sodium.crypto_kx_client_session_keys(pk, sk, peer), own, serverPublicKey, 'server');
}

/**
 * Session keys of the host (kx server) from its listener pair and the dialer's key (from Dial).
 * @throws {ZitiError} `ERR_ZITI_E2E_PEER_KEY_INVALID` (bad length, low-order point),
 *   `ERR_ZITI_E2E_KEY_INVALID` (bad own pair), `ERR_ZITI_E2E_NOT_READY`.
 */
export function serverSessionKeys(own: KxKeyPair, clientPublicKey: Uint8Array): SessionKeys {
  return sessionKeys((pk, sk, peer) => sodium.crypto_kx_server_session_keys(pk, sk, peer), own, clientPublicKey, 'client');
}

/** The parts of libsodium's Emscripten module needed to free a stream state; absent from the typings. */
interface SodiumHeap {
  readonly HEAPU8: Uint8Array;
  _free(address: number): void;
}

// libsodium-wrappers mallocs each secretstream state (52 bytes holding the derived subkey) in the
// WebAssembly heap and never frees it: one leak per stream, measured at 8 MiB per 200 000 streams.
// We wipe and free it on destroy(), with a FinalizationRegistry as the backstop for forgotten ones.
function freeState(address: number): void {
  // Guard: on Node 20 `HEAPU8.fill(0, undefined, NaN)` zeroes the WHOLE heap and kills libsodium.
  if (!Number.isInteger(address) || address <= 0) return;
  const lib = (sodium as unknown as { libsodium?: Partial<SodiumHeap> }).libsodium;
  if (lib?.HEAPU8 instanceof Uint8Array && typeof lib._free === 'function') {
    lib.HEAPU8.fill(0, address, address + STATE_BYTES); // re-read HEAPU8: it is replaced when the heap grows
    lib._free(address);
  }
}

const stateRegistry = new FinalizationRegistry<number>(freeState);

type StreamState = ReturnType<typeof sodium.crypto_secretstream_xchacha20poly1305_init_pull>;

/** The heap address of a stream state: a plain number at runtime, although the typings say `{ address }`. */
function addressOf(state: StreamState): number {
  const raw: unknown = state;
  return typeof raw === 'number' ? raw : state.address;
}

function destroyedError(role: string): ZitiError {
  return new ZitiError('ERR_ZITI_E2E_DESTROYED', `the E2E ${role} was destroyed`);
}

/**
 * Seals outbound Data bodies with one secretstream push state. Send `header` as the conn's first
 * Data (alone), then one `seal()` output per Data. Not thread-safe by nature: one sender per conn.
 * @example
 * const tx = new E2ESender(keys.tx);
 * send(tx.header);
 * send(tx.seal(Buffer.from('hello')));
 */
export class E2ESender {
  /** The 24 random header bytes the peer needs to open this stream; not secret. */
  readonly header: Buffer;
  #state: StreamState | undefined;

  /**
   * @param txKey the connection's `tx` session key (32 bytes).
   * @throws {ZitiError} `ERR_ZITI_E2E_KEY_INVALID`, `ERR_ZITI_E2E_NOT_READY`.
   */
  constructor(txKey: Uint8Array) {
    requireReady();
    checkLocalKey(txKey, 'txKey');
    const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(txKey);
    this.header = toBuffer(header);
    this.#state = state;
    stateRegistry.register(this, addressOf(state), this);
  }

  /**
   * Encrypts one message (tag MESSAGE); the result, `plain.length + 17` bytes, is one Data body.
   * @throws {ZitiError} `ERR_ZITI_E2E_DESTROYED` after `destroy()`.
   */
  seal(plain: Uint8Array): Buffer {
    if (this.#state === undefined) throw destroyedError('sender');
    return toBuffer(sodium.crypto_secretstream_xchacha20poly1305_push(this.#state, plain, null, TAG_MESSAGE));
  }

  /** Wipes and frees the stream state; call when the connection closes. Idempotent. */
  destroy(): void {
    if (this.#state === undefined) return;
    stateRegistry.unregister(this);
    freeState(addressOf(this.#state));
    this.#state = undefined;
  }
}

/**
 * Opens inbound Data bodies with one secretstream pull state built from the peer's header (its
 * first Data). Messages must arrive in order, each exactly once; any failure poisons the receiver.
 * @example
 * const rx = new E2EReceiver(keys.rx, firstDataBody);
 * const plain = rx.open(nextDataBody);
 */
export class E2EReceiver {
  #state: StreamState | undefined;
  #poisoned = false;

  /**
   * @param rxKey the connection's `rx` session key (32 bytes).
   * @param header the peer's first Data body: exactly 24 bytes.
   * @throws {ZitiError} `ERR_ZITI_E2E_HEADER_INVALID`, `ERR_ZITI_E2E_KEY_INVALID`, `ERR_ZITI_E2E_NOT_READY`.
   */
  constructor(rxKey: Uint8Array, header: Uint8Array) {
    requireReady();
    checkLocalKey(rxKey, 'rxKey');
    if (!(header instanceof Uint8Array) || header.byteLength !== E2E_HEADER_BYTES) {
      const got = header instanceof Uint8Array ? `${header.byteLength} bytes` : typeof header;
      throw new ZitiError('ERR_ZITI_E2E_HEADER_INVALID', `E2E header must be exactly ${E2E_HEADER_BYTES} bytes, got ${got}`);
    }
    this.#state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(header, rxKey);
    stateRegistry.register(this, addressOf(this.#state), this);
  }

  /** True once a message failed to open; every later `open()` fails too. */
  get poisoned(): boolean {
    return this.#poisoned;
  }

  /**
   * Authenticates and decrypts one Data body (`tag ‖ ciphertext ‖ MAC`).
   * @throws {ZitiError} `ERR_ZITI_E2E_DECRYPT_FAILED` (shorter than 17 bytes, bad MAC, reordered,
   *   replayed, or the receiver is already poisoned), `ERR_ZITI_E2E_TAG_UNEXPECTED` (a tag other than
   *   MESSAGE), `ERR_ZITI_E2E_DESTROYED` (after `destroy()`).
   */
  open(cipher: Uint8Array): Buffer {
    if (this.#poisoned) {
      throw new ZitiError('ERR_ZITI_E2E_DECRYPT_FAILED', 'E2E receiver is unusable after an earlier failure');
    }
    const state = this.#state;
    if (state === undefined) throw destroyedError('receiver');
    if (!(cipher instanceof Uint8Array) || cipher.byteLength < E2E_ABYTES) {
      throw this.#poison('ERR_ZITI_E2E_DECRYPT_FAILED', `E2E message shorter than ${E2E_ABYTES} bytes`);
    }
    const result = sodium.crypto_secretstream_xchacha20poly1305_pull(state, cipher, null);
    if (result === false) {
      throw this.#poison('ERR_ZITI_E2E_DECRYPT_FAILED', 'E2E message failed authentication');
    }
    if (result.tag !== TAG_MESSAGE) {
      // Go's secretstream port neither sends nor understands other tags (REKEY, FINAL): refuse them.
      throw this.#poison('ERR_ZITI_E2E_TAG_UNEXPECTED', `E2E message carries secretstream tag ${result.tag}`);
    }
    return toBuffer(result.message);
  }

  /** Wipes and frees the stream state; call when the connection closes. Idempotent. */
  destroy(): void {
    if (this.#state === undefined) return;
    stateRegistry.unregister(this);
    freeState(addressOf(this.#state));
    this.#state = undefined;
  }

  #poison(code: 'ERR_ZITI_E2E_DECRYPT_FAILED' | 'ERR_ZITI_E2E_TAG_UNEXPECTED', message: string): ZitiError {
    this.#poisoned = true;
    this.destroy(); // nothing can be opened any more: release the key material now
    return new ZitiError(code, message);
  }
}
