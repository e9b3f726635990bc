/** The native E2E backend (the optional sodium-native addon): 2–4× the WebAssembly throughput (bench/e2e.ts). */
import assert from 'node:assert/strict';
import type { SodiumNative } from 'sodium-native';
import {
  E2E_ABYTES,
  E2E_HEADER_BYTES,
  E2E_KEY_BYTES,
  TAG_MESSAGE,
  type CryptoBackend,
  type KxKeyPair,
  type PullStream,
  type PushStream,
  type SessionKeys,
} from './e2e-backend.js';
import { requireSodiumNative } from './sodium-native-loader.js';

let loading: Promise<CryptoBackend> | undefined;

// States are ordinary Buffers (Buffer.alloc never hands out a slice of the shared pool), so wiping one
// touches nothing else. No FinalizationRegistry: the GC reclaims a forgotten state like any Buffer,
// and a registry could not wipe it without keeping it alive.
abstract class NativeState {
  protected readonly lib: SodiumNative;
  protected readonly state: Buffer;
  #live = true;

  constructor(lib: SodiumNative) {
    this.lib = lib;
    this.state = Buffer.alloc(lib.crypto_secretstream_xchacha20poly1305_STATEBYTES);
  }

  protected checkLive(): void {
    assert.ok(this.#live, 'secretstream state used after wipe()');
  }

  wipe(): void {
    if (!this.#live) return;
    this.#live = false;
    this.lib.sodium_memzero(this.state);
  }
}

class NativePush extends NativeState implements PushStream {
  readonly header = Buffer.alloc(E2E_HEADER_BYTES);

  constructor(lib: SodiumNative, key: Uint8Array) {
    super(lib);
    lib.crypto_secretstream_xchacha20poly1305_init_push(this.state, this.header, key);
  }

  push(plain: Uint8Array): Buffer {
    this.checkLive();
    // A new Buffer per message: callers keep what seal() returns, so no scratch buffer is reused.
    const sealed = Buffer.allocUnsafe(plain.byteLength + E2E_ABYTES);
    this.lib.crypto_secretstream_xchacha20poly1305_push(this.state, sealed, plain, null, TAG_MESSAGE);
    return sealed;
  }
}

class NativePull extends NativeState implements PullStream {
  readonly #tag = Buffer.alloc(1);

  constructor(lib: SodiumNative, key: Uint8Array, header: Uint8Array) {
    super(lib);
    lib.crypto_secretstream_xchacha20poly1305_init_pull(this.state, header, key);
  }

  pull(cipher: Uint8Array): { message: Buffer; tag: number } | undefined {
    this.checkLive();
    // libsodium checks the MAC before it decrypts, so a refused message writes nothing here.
    const message = Buffer.allocUnsafe(cipher.byteLength - E2E_ABYTES);
    try {
      this.lib.crypto_secretstream_xchacha20poly1305_pull(this.state, message, this.#tag, cipher, null);
    } catch {
      return undefined; // sodium-native throws on a bad MAC; the caller turns that into a coded error
    }
    return { message, tag: this.#tag[0]! };
  }
}

function sessionKeys(
  kx: (rx: Uint8Array, tx: Uint8Array, ownPk: Uint8Array, ownSk: Uint8Array, peerPk: Uint8Array) => void,
  own: KxKeyPair,
  peer: Uint8Array,
): SessionKeys {
  // Plain Uint8Arrays, like libsodium-wrappers returns, so keys compare equal across backends.
  const keys = { rx: new Uint8Array(E2E_KEY_BYTES), tx: new Uint8Array(E2E_KEY_BYTES) };
  kx(keys.rx, keys.tx, own.publicKey, own.privateKey, peer);
  return keys;
}

/** Refuses a build whose sizes differ from the wire format, rather than corrupting messages. */
function checkSizes(lib: SodiumNative): void {
  const expected: Array<[string, number, number]> = [
    ['HEADERBYTES', lib.crypto_secretstream_xchacha20poly1305_HEADERBYTES, E2E_HEADER_BYTES],
    ['ABYTES', lib.crypto_secretstream_xchacha20poly1305_ABYTES, E2E_ABYTES],
    ['KEYBYTES', lib.crypto_secretstream_xchacha20poly1305_KEYBYTES, E2E_KEY_BYTES],
    ['TAG_MESSAGE', lib.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE, TAG_MESSAGE],
    ['kx PUBLICKEYBYTES', lib.crypto_kx_PUBLICKEYBYTES, E2E_KEY_BYTES],
    ['kx SESSIONKEYBYTES', lib.crypto_kx_SESSIONKEYBYTES, E2E_KEY_BYTES],
  ];
  for (const [what, got, want] of expected) {
    if (got !== want) throw new RangeError(`sodium-native ${what} is ${String(got)}, expected ${want}`);
  }
}

function makeBackend(lib: SodiumNative): CryptoBackend {
  const backend: CryptoBackend = {
    name: 'native',
    kxKeyPair: (): KxKeyPair => {
      const pair = { publicKey: new Uint8Array(E2E_KEY_BYTES), privateKey: new Uint8Array(E2E_KEY_BYTES) };
      lib.crypto_kx_keypair(pair.publicKey, pair.privateKey);
      return pair;
    },
    kxClientSessionKeys: (own, server) => sessionKeys((rx, tx, pk, sk, peer) => lib.crypto_kx_client_session_keys(rx, tx, pk, sk, peer), own, server),
    kxServerSessionKeys: (own, client) => sessionKeys((rx, tx, pk, sk, peer) => lib.crypto_kx_server_session_keys(rx, tx, pk, sk, peer), own, client),
    initPush: (key) => new NativePush(lib, key),
    initPull: (key, header) => new NativePull(lib, key, header),
  };
  return Object.freeze(backend);
}

/**
 * Loads sodium-native once (`requireSodiumNative`: by require, its prebuilt binary found directly); a failed
 * load is retried by the next call. Loaded on first use only, which keeps the addon optional: the bundled
 * GitHub Action marks it external and runs without it.
 * @throws (rejects) the require's error when the package or its prebuilt binary is missing, or a
 *   `RangeError` when its sizes differ from the wire format; `e2e.ts` wraps or falls back.
 */
export function loadNativeBackend(): Promise<CryptoBackend> {
  loading ??= Promise.resolve()
    .then(() => {
      const lib = requireSodiumNative();
      checkSizes(lib);
      return makeBackend(lib);
    })
    .catch((cause: unknown) => {
      loading = undefined;
      throw cause;
    });
  return loading;
}
