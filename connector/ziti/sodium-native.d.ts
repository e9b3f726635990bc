// The subset of sodium-native 5 (an optional dependency) that e2e-native.ts uses. The package ships no
// types and @types/sodium-native describes its 2.x API, so this minimal local declaration stands in.
// Every function throws on failure (a plain Error, or an AssertionError for a wrong-sized buffer).
declare module 'sodium-native' {
  export interface SodiumNative {
    readonly crypto_kx_PUBLICKEYBYTES: number;
    readonly crypto_kx_SECRETKEYBYTES: number;
    readonly crypto_kx_SESSIONKEYBYTES: number;
    readonly crypto_secretstream_xchacha20poly1305_STATEBYTES: number;
    readonly crypto_secretstream_xchacha20poly1305_HEADERBYTES: number;
    readonly crypto_secretstream_xchacha20poly1305_KEYBYTES: number;
    readonly crypto_secretstream_xchacha20poly1305_ABYTES: number;
    readonly crypto_secretstream_xchacha20poly1305_TAG_MESSAGE: number;
    crypto_kx_keypair(pk: Uint8Array, sk: Uint8Array): void;
    crypto_kx_client_session_keys(rx: Uint8Array, tx: Uint8Array, clientPk: Uint8Array, clientSk: Uint8Array, serverPk: Uint8Array): void;
    crypto_kx_server_session_keys(rx: Uint8Array, tx: Uint8Array, serverPk: Uint8Array, serverSk: Uint8Array, clientPk: Uint8Array): void;
    crypto_secretstream_xchacha20poly1305_init_push(state: Uint8Array, header: Uint8Array, key: Uint8Array): void;
    /** @returns the number of bytes written to `c` (`m.byteLength + ABYTES`). */
    crypto_secretstream_xchacha20poly1305_push(state: Uint8Array, c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, tag: number): number;
    crypto_secretstream_xchacha20poly1305_init_pull(state: Uint8Array, header: Uint8Array, key: Uint8Array): void;
    /** Throws when `c` fails authentication; writes the message tag to `tag[0]`. */
    crypto_secretstream_xchacha20poly1305_pull(state: Uint8Array, m: Uint8Array, tag: Uint8Array, c: Uint8Array, ad: Uint8Array | null): number;
    sodium_memzero(buf: Uint8Array): void;
  }
  const sodium: SodiumNative;
  export default sodium;
}
