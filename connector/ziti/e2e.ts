/** Ziti end-to-end encryption (PROTOCOL §5): crypto_kx session keys and secretstream framing on native or WASM libsodium. */
import { OptionError, ZitiError } from '../../core/index.js';
import {
  E2E_ABYTES,
  E2E_HEADER_BYTES,
  E2E_KEY_BYTES,
  TAG_MESSAGE,
  type CryptoBackend,
  type CryptoBackendName,
  type KxKeyPair,
  type PullStream,
  type PushStream,
  type SessionKeys,
} from './e2e-backend.js';
import { loadNativeBackend } from './e2e-native.js';
import { loadWasmBackend } from './e2e-wasm.js';
import { rejectUnknownKeys } from '../../core/options.js';
import { zitiChannels } from './channels.js';

export { parseMultipart } from './multipart.js';
export { E2E_ABYTES, E2E_HEADER_BYTES, E2E_KEY_BYTES } from './e2e-backend.js';
export type { CryptoBackendName, KxKeyPair, SessionKeys } from './e2e-backend.js';

/** Options of {@link ensureCryptoReady}. */
export interface CryptoReadyOptions {
  /**
   * Which libsodium does the work. `'auto'` (default) uses `'native'` (the optional sodium-native
   * addon) and falls back to `'wasm'` (libsodium-wrappers) when the addon cannot load. Forcing one is
   * meant for tests and benches: it switches the whole process for objects made afterwards.
   */
  readonly backend?: 'auto' | CryptoBackendName;
}

type BackendChoice = NonNullable<CryptoReadyOptions['backend']>;

const LOAD_FAILURE = {
  auto: 'neither sodium-native nor libsodium-wrappers could be loaded',
  native: 'sodium-native could not be loaded',
  wasm: 'libsodium-wrappers could not be loaded',
} as const;

let active: CryptoBackend | undefined;
let readyPromise: Promise<void> | undefined;
let readyChoice: BackendChoice | undefined;

function backendChoice(options: CryptoReadyOptions | undefined): BackendChoice {
  if (options === undefined) return 'auto';
  if (typeof options !== 'object' || options === null) {
    throw new OptionError('ERR_OPTION_INVALID', 'ensureCryptoReady(options): options must be an object');
  }
  rejectUnknownKeys(options, ['backend'], 'ensureCryptoReady(options): options');
  const backend = options.backend ?? 'auto';
  if (backend !== 'auto' && backend !== 'native' && backend !== 'wasm') {
    throw new OptionError('ERR_OPTION_INVALID', 'ensureCryptoReady(options): options.backend must be "auto", "native" or "wasm"');
  }
  return backend;
}

async function loadBackend(choice: BackendChoice): Promise<{ backend: CryptoBackend; nativeError?: unknown }> {
  if (choice === 'native') return { backend: await loadNativeBackend() };
  if (choice === 'wasm') return { backend: await loadWasmBackend() };
  try {
    return { backend: await loadNativeBackend() };
  } catch (nativeError) {
    return { backend: await loadWasmBackend(), nativeError };
  }
}

/**
 * Loads libsodium once, native if it can (see {@link CryptoReadyOptions}); later calls without a
 * different `backend` return the same promise. Await it before any other function of this module.
 * When calls with different backends overlap, the last one wins and the earlier ones settle with it; senders and receivers keep the backend they were made with. Each switch is
 * published on `diagnostics_channel` `darkhook:ziti:e2e`, with the addon's load error on a fallback.
 * @throws {OptionError} (synchronously) `ERR_OPTION_INVALID`, `ERR_OPTION_UNKNOWN` for bad `options`.
 * @throws {ZitiError} (rejects) `ERR_ZITI_E2E_NOT_READY` when the requested libsodium cannot load
 *   (with `'auto'`: when even WebAssembly cannot); the error's `cause` says why. A later call retries.
 * @example
 * await ensureCryptoReady();
 * cryptoBackendName(); // 'native' when sodium-native is installed, else 'wasm'
 * const pair = generateKxKeyPair();
 * @example
 * await ensureCryptoReady({ backend: 'wasm' }); // e.g. to compare backends in a bench
 */
export function ensureCryptoReady(options?: CryptoReadyOptions): Promise<void> {
  const choice = backendChoice(options);
  if (readyPromise !== undefined && (choice === 'auto' || choice === readyChoice)) return readyPromise;
  const promise: Promise<void> = loadBackend(choice).then(
    ({ backend, nativeError }) => {
      // Overtaken by a later call: settle with it, so that no caller resumes before a backend is active.
      if (readyPromise !== promise) return readyPromise;
      active = backend;
      if (zitiChannels.e2e.hasSubscribers) {
        zitiChannels.e2e.publish({ event: 'backend', backend: backend.name, requested: choice, ...(nativeError === undefined ? {} : { nativeError }) });
      }
    },
    (cause: unknown) => {
      if (readyPromise === promise) {
        readyPromise = undefined;
        readyChoice = undefined;
      }
      throw new ZitiError('ERR_ZITI_E2E_NOT_READY', `libsodium failed to initialise: ${LOAD_FAILURE[choice]}`, { cause });
    },
  );
  readyPromise = promise;
  readyChoice = choice;
  return promise;
}

/**
 * The libsodium build in use: `'native'` (sodium-native), `'wasm'` (libsodium-wrappers), or
 * `undefined` before {@link ensureCryptoReady} has resolved.
 * @example
 * await ensureCryptoReady();
 * if (cryptoBackendName() === 'wasm') log.warn({ backend: 'wasm' }, 'e2e without sodium-native');
 */
export function cryptoBackendName(): CryptoBackendName | undefined {
  return active?.name;
}

function requireReady(): CryptoBackend {
  if (active === undefined) {
    throw new ZitiError('ERR_ZITI_E2E_NOT_READY', 'ensureCryptoReady() must be awaited before using E2E crypto');
  }
  return active;
}

function checkLocalKey(key: unknown, name: string): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array) || key.byteLength !== E2E_KEY_BYTES) {
    throw new ZitiError('ERR_ZITI_E2E_KEY_INVALID', `${name} must be a ${E2E_KEY_BYTES}-byte Uint8Array`);
  }
}

/**
 * Makes a fresh X25519 key pair: one per dial (dialer), one per listener (host, sent in Bind).
 * @throws {ZitiError} `ERR_ZITI_E2E_NOT_READY` before `ensureCryptoReady()` resolved.
 */
export function generateKxKeyPair(): KxKeyPair {
  return requireReady().kxKeyPair();
}

function sessionKeys(role: 'client' | 'server', own: KxKeyPair, peerPublicKey: Uint8Array): SessionKeys {
  const backend = requireReady();
  const peer = role === 'client' ? 'server' : 'client';
  checkLocalKey(own?.publicKey, 'own.publicKey');
  checkLocalKey(own.privateKey, 'own.privateKey');
  if (!(peerPublicKey instanceof Uint8Array) || peerPublicKey.byteLength !== E2E_KEY_BYTES) {
    const got = peerPublicKey instanceof Uint8Array ? `${peerPublicKey.byteLength} bytes` : typeof peerPublicKey;
    throw new ZitiError('ERR_ZITI_E2E_PEER_KEY_INVALID', `${peer} public key must be ${E2E_KEY_BYTES} bytes, got ${got}`);
  }
  try {
    return role === 'client' ? backend.kxClientSessionKeys(own, peerPublicKey) : backend.kxServerSessionKeys(own, peerPublicKey);
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
  return sessionKeys('client', own, serverPublicKey);
}

/**
 * Session keys of the host (kx server) from its listener pair and the dialer's key (from Dial).
 * @throws {ZitiError} `ERR_ZITI_E2E_PEER_KEY_INVALID` (bad length, low-order point),
 *   `ERR_ZITI_E2E_KEY_INVALID` (bad own pair), `ERR_ZITI_E2E_NOT_READY`.
 */
export function serverSessionKeys(own: KxKeyPair, clientPublicKey: Uint8Array): SessionKeys {
  return sessionKeys('server', own, clientPublicKey);
}

function destroyedError(role: string): ZitiError {
  return new ZitiError('ERR_ZITI_E2E_DESTROYED', `the E2E ${role} was destroyed`);
}

/**
 * Seals outbound Data bodies with one secretstream push state. Send `header` as the conn's first
 * Data (alone), then one `seal()` output per Data. Not thread-safe by nature: one sender per conn.
 * It keeps the backend that was active when it was made.
 * @example
 * const tx = new E2ESender(keys.tx);
 * send(tx.header);
 * send(tx.seal(Buffer.from('hello')));
 */
export class E2ESender {
  /** The 24 random header bytes the peer needs to open this stream; not secret. */
  readonly header: Buffer;
  #stream: PushStream | undefined;

  /**
   * @param txKey the connection's `tx` session key (32 bytes).
   * @throws {ZitiError} `ERR_ZITI_E2E_KEY_INVALID`, `ERR_ZITI_E2E_NOT_READY`.
   */
  constructor(txKey: Uint8Array) {
    const backend = requireReady();
    checkLocalKey(txKey, 'txKey');
    this.#stream = backend.initPush(txKey);
    this.header = this.#stream.header;
  }

  /**
   * Encrypts one message (tag MESSAGE) into a new Buffer of `plain.length + 17` bytes: one Data body.
   * @throws {ZitiError} `ERR_ZITI_E2E_DESTROYED` after `destroy()`.
   * @throws {OptionError} `ERR_OPTION_INVALID` when `plain` is not a Uint8Array.
   */
  seal(plain: Uint8Array): Buffer {
    const stream = this.#stream;
    if (stream === undefined) throw destroyedError('sender');
    if (!(plain instanceof Uint8Array)) throw new OptionError('ERR_OPTION_INVALID', 'seal(plain): plain must be a Uint8Array');
    return stream.push(plain);
  }

  /** Wipes (and for WebAssembly frees) the stream state; call when the connection closes. Idempotent. */
  destroy(): void {
    this.#stream?.wipe();
    this.#stream = undefined;
  }
}

/**
 * Opens inbound Data bodies with one secretstream pull state built from the peer's header (its
 * first Data). Messages must arrive in order, each exactly once; any failure poisons the receiver.
 * It keeps the backend that was active when it was made.
 * @example
 * const rx = new E2EReceiver(keys.rx, firstDataBody);
 * const plain = rx.open(nextDataBody);
 */
export class E2EReceiver {
  #stream: PullStream | undefined;
  #poisoned = false;

  /**
   * @param rxKey the connection's `rx` session key (32 bytes).
   * @param header the peer's first Data body: exactly 24 bytes.
   * @throws {ZitiError} `ERR_ZITI_E2E_HEADER_INVALID`, `ERR_ZITI_E2E_KEY_INVALID`, `ERR_ZITI_E2E_NOT_READY`.
   */
  constructor(rxKey: Uint8Array, header: Uint8Array) {
    const backend = requireReady();
    checkLocalKey(rxKey, 'rxKey');
    if (!(header instanceof Uint8Array) || header.byteLength !== E2E_HEADER_BYTES) {
      const got = header instanceof Uint8Array ? `${header.byteLength} bytes` : typeof header;
      throw new ZitiError('ERR_ZITI_E2E_HEADER_INVALID', `E2E header must be exactly ${E2E_HEADER_BYTES} bytes, got ${got}`);
    }
    this.#stream = backend.initPull(rxKey, header);
  }

  /** True once a message failed to open; every later `open()` fails too. */
  get poisoned(): boolean {
    return this.#poisoned;
  }

  /**
   * Authenticates and decrypts one Data body (`tag ‖ ciphertext ‖ MAC`) into a new Buffer.
   * @throws {ZitiError} `ERR_ZITI_E2E_DECRYPT_FAILED` (shorter than 17 bytes, bad MAC, reordered,
   *   replayed, or the receiver is already poisoned), `ERR_ZITI_E2E_TAG_UNEXPECTED` (a tag other than
   *   MESSAGE), `ERR_ZITI_E2E_DESTROYED` (after `destroy()`).
   */
  open(cipher: Uint8Array): Buffer {
    if (this.#poisoned) {
      throw new ZitiError('ERR_ZITI_E2E_DECRYPT_FAILED', 'E2E receiver is unusable after an earlier failure');
    }
    const stream = this.#stream;
    if (stream === undefined) throw destroyedError('receiver');
    if (!(cipher instanceof Uint8Array) || cipher.byteLength < E2E_ABYTES) {
      throw this.#poison('ERR_ZITI_E2E_DECRYPT_FAILED', `E2E message shorter than ${E2E_ABYTES} bytes`);
    }
    const result = stream.pull(cipher);
    if (result === undefined) {
      throw this.#poison('ERR_ZITI_E2E_DECRYPT_FAILED', 'E2E message failed authentication');
    }
    if (result.tag !== TAG_MESSAGE) {
      // Go's secretstream port neither sends nor understands other tags (REKEY, FINAL): refuse them.
      throw this.#poison('ERR_ZITI_E2E_TAG_UNEXPECTED', `E2E message carries secretstream tag ${result.tag}`);
    }
    return result.message;
  }

  /** Wipes (and for WebAssembly frees) the stream state; call when the connection closes. Idempotent. */
  destroy(): void {
    this.#stream?.wipe();
    this.#stream = undefined;
  }

  #poison(code: 'ERR_ZITI_E2E_DECRYPT_FAILED' | 'ERR_ZITI_E2E_TAG_UNEXPECTED', message: string): ZitiError {
    this.#poisoned = true;
    this.destroy(); // nothing can be opened any more: release the key material now
    return new ZitiError(code, message);
  }
}
