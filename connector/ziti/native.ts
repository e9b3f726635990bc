/**
 * Optional transport over `@openziti/ziti-sdk-nodejs` (the native addon). Never required: it is
 * loaded only when the user asks for it, and its absence is then a clear coded error.
 *
 * Not exercised in CI: the only version the npm registry offers here (0.13.3) downloads its
 * prebuilt binary from a host outside the registry, which this project's machines cannot reach.
 * The adapter follows the package's documented callback API (`init`, `dial`, `write`, `close`).
 */
import { Duplex } from 'node:stream';
import { ZitiError } from '../../core/index.js';

/** The npm package this adapter wraps. */
export const NATIVE_SDK_PACKAGE = '@openziti/ziti-sdk-nodejs';

/** The subset of the native SDK's API the adapter uses. */
interface NativeSdk {
  init(identityPath: string): Promise<unknown> | unknown;
  dial(service: string, isWebSocket: boolean, onConnect: (conn: unknown) => void, onData: (data: Buffer) => void): void;
  write(conn: unknown, data: Buffer, onWrite: (status: number) => void): void;
  close(conn: unknown): void;
}

let loaded: Promise<NativeSdk> | undefined;

/**
 * Load the native SDK.
 * @throws ERR_ZITI_NATIVE_UNAVAILABLE when the package (or its binary) is not installed
 */
export function loadNativeSdk(): Promise<NativeSdk> {
  // A variable specifier keeps bundlers and the TypeScript compiler from resolving the optional package.
  const specifier = NATIVE_SDK_PACKAGE;
  loaded ??= import(specifier).then(
    (m: { default?: NativeSdk } & NativeSdk) => m.default ?? m,
    (cause: unknown) => {
      loaded = undefined;
      throw new ZitiError(
        'ERR_ZITI_NATIVE_UNAVAILABLE',
        `the native transport needs ${NATIVE_SDK_PACKAGE}, which is not installed or could not load its binary`,
        { cause },
      );
    },
  );
  return loaded;
}

/**
 * Dial `service` through the native SDK and return the connection as a Duplex.
 * @throws ERR_ZITI_NATIVE_UNAVAILABLE
 */
export async function nativeDial(identityPath: string, service: string): Promise<Duplex> {
  const sdk = await loadNativeSdk();
  await sdk.init(identityPath);
  return new Promise((resolve) => {
    let conn: unknown;
    const stream = new Duplex({
      write(chunk: Buffer, _enc, callback) {
        sdk.write(conn, chunk, (status) => callback(status === 0 ? null : new ZitiError('ERR_ZITI_CONN_CLOSED', `native write failed with status ${status}`)));
      },
      final(callback) {
        sdk.close(conn);
        callback();
      },
      read() {},
    });
    sdk.dial(
      service,
      false,
      (c) => {
        conn = c;
        resolve(stream);
      },
      (data) => stream.push(data),
    );
  });
}
