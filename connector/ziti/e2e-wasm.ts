/** The WebAssembly E2E backend (libsodium-wrappers): always available, the fallback for the native one. */
// The default export works under Node ESM with libsodium-wrappers 0.8.4: its `exports` map points
// `import` at a real ESM build (dist/modules-esm) whose default export carries every function once
// `ready` resolves. The named exports in its .d.mts are NOT all real at runtime, so use the default only.
import assert from 'node:assert/strict';
import type sodiumModule from 'libsodium-wrappers';
import { TAG_MESSAGE, type CryptoBackend, type KxKeyPair, type PullStream, type PushStream, type SessionKeys } from './e2e-backend.js';

type Sodium = typeof sodiumModule;
type StreamState = ReturnType<Sodium['crypto_secretstream_xchacha20poly1305_init_pull']>;

/** Size of a secretstream state in libsodium's heap (`crypto_secretstream_xchacha20poly1305_statebytes`). */
const STATE_BYTES = 52;

/** The parts of libsodium's Emscripten module needed to free a stream state; absent from the typings. */
interface SodiumHeap {
  readonly HEAPU8: Uint8Array;
  _free(address: number): void;
}

/** Set once libsodium is ready; states exist only after that. */
let sodium: Sodium | undefined;
let loading: Promise<CryptoBackend> | undefined;

// libsodium-wrappers mallocs each secretstream state (52 bytes holding the derived subkey) in the
// WebAssembly heap and never frees it: one leak per stream, measured at 8 MiB per 200 000 streams.
// We wipe and free it on wipe(), with a FinalizationRegistry as the backstop for forgotten ones.
function freeState(address: number): void {
  // Guard: on Node 20 `HEAPU8.fill(0, undefined, NaN)` zeroes the WHOLE heap and kills libsodium.
  if (!Number.isInteger(address) || address <= 0) return;
  const lib = (sodium as unknown as { libsodium?: Partial<SodiumHeap> } | undefined)?.libsodium;
  if (lib?.HEAPU8 instanceof Uint8Array && typeof lib._free === 'function') {
    lib.HEAPU8.fill(0, address, address + STATE_BYTES); // re-read HEAPU8: it is replaced when the heap grows
    lib._free(address);
  }
}

/** Keyed by the stream object: the E2ESender/E2EReceiver holding it is its only owner. */
const stateRegistry = new FinalizationRegistry<number>(freeState);

/** The heap address of a stream state: a plain number at runtime, although the typings say `{ address }`. */
function addressOf(state: StreamState): number {
  const raw: unknown = state;
  return typeof raw === 'number' ? raw : state.address;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A state in the WebAssembly heap, freed exactly once by `wipe()` or by the registry. */
class WasmState {
  #state: StreamState | undefined;

  constructor(state: StreamState) {
    this.#state = state;
    stateRegistry.register(this, addressOf(state), this);
  }

  protected get state(): StreamState {
    assert.ok(this.#state !== undefined, 'secretstream state used after wipe()');
    return this.#state;
  }

  wipe(): void {
    if (this.#state === undefined) return;
    stateRegistry.unregister(this);
    freeState(addressOf(this.#state));
    this.#state = undefined;
  }
}

class WasmPush extends WasmState implements PushStream {
  readonly header: Buffer;
  readonly #lib: Sodium;

  constructor(lib: Sodium, key: Uint8Array) {
    const { state, header } = lib.crypto_secretstream_xchacha20poly1305_init_push(key);
    super(state);
    this.header = toBuffer(header);
    this.#lib = lib;
  }

  push(plain: Uint8Array): Buffer {
    // libsodium-wrappers copies the result out of its heap into a new Uint8Array: already fresh.
    return toBuffer(this.#lib.crypto_secretstream_xchacha20poly1305_push(this.state, plain, null, TAG_MESSAGE));
  }
}

class WasmPull extends WasmState implements PullStream {
  readonly #lib: Sodium;

  constructor(lib: Sodium, key: Uint8Array, header: Uint8Array) {
    super(lib.crypto_secretstream_xchacha20poly1305_init_pull(header, key));
    this.#lib = lib;
  }

  pull(cipher: Uint8Array): { message: Buffer; tag: number } | undefined {
    const result = this.#lib.crypto_secretstream_xchacha20poly1305_pull(this.state, cipher, null);
    return result === false ? undefined : { message: toBuffer(result.message), tag: result.tag };
  }
}

function sessionKeys(shared: { sharedRx: Uint8Array; sharedTx: Uint8Array }): SessionKeys {
  return { rx: shared.sharedRx, tx: shared.sharedTx };
}

function makeBackend(lib: Sodium): CryptoBackend {
  const backend: CryptoBackend = {
    name: 'wasm',
    kxKeyPair: (): KxKeyPair => {
      const { publicKey, privateKey } = lib.crypto_kx_keypair();
      return { publicKey, privateKey };
    },
    kxClientSessionKeys: (own: KxKeyPair, server: Uint8Array) =>
      sessionKeys(lib.crypto_kx_client_session_keys(own.publicKey, own.privateKey, server)),
    kxServerSessionKeys: (own: KxKeyPair, client: Uint8Array) =>
      sessionKeys(lib.crypto_kx_server_session_keys(own.publicKey, own.privateKey, client)),
    initPush: (key: Uint8Array) => new WasmPush(lib, key),
    initPull: (key: Uint8Array, header: Uint8Array) => new WasmPull(lib, key, header),
  };
  return Object.freeze(backend);
}

/**
 * Loads and initialises libsodium-wrappers once; a failed load is retried by the next call.
 * Imported lazily so a process on the native backend never instantiates the WebAssembly module.
 * @throws (rejects) whatever the import or `sodium.ready` rejects with; `e2e.ts` wraps it.
 */
export function loadWasmBackend(): Promise<CryptoBackend> {
  loading ??= import('libsodium-wrappers')
    .then(async ({ default: lib }) => {
      await lib.ready;
      sodium = lib;
      return makeBackend(lib);
    })
    .catch((cause: unknown) => {
      loading = undefined;
      throw cause;
    });
  return loading;
}
