/** Public entry of the pure-TypeScript OpenZiti SDK (connector/ziti). Explicit exports only. */
export {
  decodeStringMap,
  decodeStringSlice,
  encodeMessage,
  encodeStringMap,
  encodeStringSlice,
  FrameDecoder,
  ZitiCodecError,
} from './codec.js';
export type { FrameLimits } from './codec.js';
export {
  ContentType,
  EdgeErrorCode,
  EdgeFlag,
  FRAME_HEADER_BYTES,
  FRAME_MAGIC,
  HeaderId,
  HELLO_MAX_BODY_BYTES,
  HELLO_MAX_HEADERS_BYTES,
  HELLO_SEQUENCE,
  MAX_FRAME_BODY_BYTES,
  MAX_FRAME_HEADERS_BYTES,
  MAX_HEADER_COUNT,
  RetryHint,
  UNSUPPORTED_VERSION_MAGIC,
} from './constants.js';
export {
  createMessage,
  getHeaderBool,
  getHeaderBytes,
  getHeaderI32,
  getHeaderString,
  getHeaderU16,
  getHeaderU32,
  getHeaderU64,
  replyFor,
  setHeaderBool,
  setHeaderBytes,
  setHeaderI32,
  setHeaderString,
  setHeaderU16,
  setHeaderU32,
  setHeaderU64,
  setReplyFor,
} from './message.js';
export type { Message } from './message.js';
export { ZITI_CHANNELS } from './channels.js';
export type { AuthEvent, BindEvent, DialEvent, E2eEvent, EnrollEvent, LinkEvent } from './channels.js';
export { getStructuredError, parseStructuredError } from './structured-error.js';
export type { StructuredError } from './structured-error.js';
export {
  clientSessionKeys,
  cryptoBackendName,
  E2E_ABYTES,
  E2E_HEADER_BYTES,
  E2E_KEY_BYTES,
  E2EReceiver,
  E2ESender,
  ensureCryptoReady,
  generateKxKeyPair,
  serverSessionKeys,
} from './e2e.js';
export type { CryptoBackendName, CryptoReadyOptions, KxKeyPair, SessionKeys } from './e2e.js';
export { parseMultipart } from './multipart.js';
export { ZitiContext } from './context.js';
export { PREWARM_MAX_ROUTERS, SERVICE_CACHE_TTL_MS, ZitiSessions } from './sessions.js';
export type { DialOptions } from './context.js';
export { DEFAULT_CONN_WINDOW_BYTES, ZitiConnection, MAX_DATA_CHUNK_BYTES } from './edge-conn.js';
export type { CallerInfo } from './edge-conn.js';
export { ZitiListener, DEFAULT_REBIND_MAX_DELAY_MS, DEFAULT_REBIND_MIN_DELAY_MS } from './listener.js';
export type { ListenOptions, ListenerState } from './listener.js';
export { DEFAULT_DIAL_TIMEOUT_MS } from './options.js';
export type { ZitiContextOptions } from './options.js';
export { ControllerClient, clientApiBase, controllerBases, parseControllerList } from './controller-client.js';
export type { AuthMode, ControllerClientOptions } from './controller-client.js';
export { jwtClaims, OIDC_CLIENT_ID, OIDC_REDIRECT_URI, oidcLogin, oidcRefresh, pkceChallenge, pkcePair } from './oidc.js';
export type { OidcTokens } from './oidc.js';
export type { ApiSession, ControllerVersion, EdgeRouterInfo, ServiceDetail, ServiceSession } from './controller-types.js';
export { EdgeLink, DEFAULT_LINK_CONNECT_TIMEOUT_MS, DEFAULT_PROBE_INTERVAL_MS, DEFAULT_REQUEST_TIMEOUT_MS } from './edge-link.js';
export type { EdgeLinkEvent } from './edge-link.js';
export { enroll, DEFAULT_ENROLL_RSA_BITS } from './enroll.js';
export type { EnrollOptions } from './enroll.js';
export { loadNativeSdk, nativeDial, NATIVE_SDK_PACKAGE } from './native.js';
