/** Wire numbers of the OpenZiti channel and edge protocols (PROTOCOL.md §3–§4), the message shape and the codec's limits. */

/** One channel message. Header values and the body of a decoded message may alias the received chunk. */
export interface Message {
  /** int32 content type, see `ContentType`. */
  contentType: number;
  /** int32 per-channel sequence: −1 for hello and its reply, then 1, 2, … assigned by the link. */
  sequence: number;
  /** Header id → raw value; encoded in insertion order. */
  headers: Map<number, Buffer>;
  body: Buffer;
}

/**
 * Message content types: channel-level (§3.4) and edge (§4.1). A Go peer may send others (posture,
 * xgress-to-SDK); the codec passes any int32 through and the link decides what to drop.
 */
export const ContentType = {
  Hello: 0,
  Ping: 1,
  Result: 2,
  Latency: 3,
  LatencyResponse: 4,
  Heartbeat: 5,
  Connect: 60783,
  StateConnected: 60784,
  StateClosed: 60785,
  Data: 60786,
  Dial: 60787,
  DialSuccess: 60788,
  DialFailed: 60789,
  Bind: 60790,
  Unbind: 60791,
  UpdateBind: 60794,
  HealthEvent: 60795,
  TraceRoute: 60796,
  TraceRouteResponse: 60797,
  ConnInspectRequest: 60798,
  ConnInspectResponse: 60799,
  BindSuccess: 60800,
  UpdateTokenSuccess: 60801,
  UpdateTokenFailure: 60802,
  UpdateToken: 60803,
  InspectRequest: 60804,
  InspectResponse: 60805,
  /** 2.1+ routers only: sessionless dial with an OIDC token. */
  ConnectV2: 60806,
} as const;
export type ContentType = (typeof ContentType)[keyof typeof ContentType];

/**
 * Header ids: 0–127 channel (§3.4), 128–255 reflected into replies (§3.3), 1000+ edge (§4.2).
 * Value types are in the comments; all integers are little-endian except RouterCapabilities.
 */
export const HeaderId = {
  /** string, set by the router in the hello reply. */
  ConnectionId: 0,
  /** int32 sequence of the request this message answers; −1 means "not a reply". */
  ReplyFor: 1,
  /** bool, on Result. */
  ResultSuccess: 2,
  /** string `version|revision|buildDate|os|arch`. */
  HelloVersion: 4,
  /** string: the router's id, in the hello reply. */
  Id: 8,
  /** uint64 latency-probe time or 16-byte trace UUID; copied into replies. */
  Reflected: 128,
  ConnId: 1000,
  Seq: 1001,
  SessionToken: 1002,
  PublicKey: 1003,
  /** uint16. */
  Cost: 1004,
  /** byte: 0 default, 1 required, 2 failed. */
  Precedence: 1005,
  TerminatorIdentity: 1006,
  TerminatorIdentitySecret: 1007,
  CallerId: 1008,
  CryptoMethod: 1009,
  /** uint32 bit set of {@link EdgeFlag}. */
  Flags: 1010,
  AppData: 1011,
  /** bool in Bind and its replies; uint32 in Dial. */
  RouterProvidedConnId: 1012,
  HealthStatus: 1013,
  /** uint32 {@link EdgeErrorCode}, paired with StructuredError (2.0+ routers). */
  ErrorCode: 1014,
  /** uint64 milliseconds. */
  Timestamp: 1015,
  TraceHopCount: 1016,
  TraceHopType: 1017,
  TraceHopId: 1018,
  TraceSourceRequestId: 1019,
  TraceError: 1020,
  ListenerId: 1021,
  /** byte: 0 invalid, 1 dial, 2 bind, 3 unknown. */
  ConnType: 1022,
  SupportsInspect: 1023,
  SupportsBindSuccess: 1024,
  ConnectionMarker: 1025,
  CircuitId: 1026,
  StickinessToken: 1027,
  UseXgressToSdk: 1028,
  /** string slice (see `decodeStringSlice`). */
  InspectRequestedValues: 1031,
  SupportsPostureChecks: 1032,
  /** JSON `{message, code, retryHint, …}` (see `parseStructuredError`). */
  StructuredError: 1033,
  DialerIdentityId: 1034,
  DialerIdentityName: 1035,
  /** 2.1+: big-endian minimal byte string of a capability bit mask. */
  RouterCapabilities: 1039,
} as const;
export type HeaderId = (typeof HeaderId)[keyof typeof HeaderId];

/** Bits of the Flags header on Data (§4.7). */
export const EdgeFlag = {
  FIN: 1,
  TRACE_UUID: 2,
  MULTIPART: 4,
  STREAM: 8,
  MULTIPART_MSG: 16,
} as const;
export type EdgeFlag = (typeof EdgeFlag)[keyof typeof EdgeFlag];

/** Values of the ErrorCode header and of StructuredError.code (§4.6). */
export const EdgeErrorCode = {
  OK: 0,
  Internal: 1,
  InvalidApiSession: 2,
  InvalidSession: 3,
  WrongSessionType: 4,
  InvalidEdgeRouterForSession: 5,
  InvalidService: 6,
  TunnelingNotEnabled: 7,
  InvalidTerminator: 8,
  InvalidPrecedence: 9,
  InvalidCost: 10,
  EncryptionDataMissing: 11,
  InvalidApiSessionType: 12,
  InvalidInstanceId: 13,
  AccessDenied: 14,
  /** 2.1+ routers only. */
  PostureCheckFailed: 15,
} as const;
export type EdgeErrorCode = (typeof EdgeErrorCode)[keyof typeof EdgeErrorCode];

/** StructuredError.retryHint (§4.6). */
export const RetryHint = {
  Default: 0,
  TooBusy: 1,
  StartOver: 2,
  NotRetriable: 3,
} as const;
export type RetryHint = (typeof RetryHint)[keyof typeof RetryHint];

/**
 * First four bytes of every channel V2 frame. A fresh Buffer: the decoder never reads it, so a caller
 * that mutates it cannot break decoding.
 */
export const FRAME_MAGIC: Buffer = Buffer.from([0x03, 0x06, 0x09, 0x0c]);

/** Magic of the listener's "unsupported version" reply: then uint32 count and uint32 versions (§3.2). */
export const UNSUPPORTED_VERSION_MAGIC: Buffer = Buffer.from([0x03, 0x06, 0x09, 0x0a]);

/** Fixed part of a frame: magic, content type, sequence, headers length, body length (bytes). */
export const FRAME_HEADER_BYTES = 20;

/**
 * Default cap on a frame's header section, in bytes (64 KiB). OpenZiti caps only the hello (16 KiB);
 * edge headers are small ids, keys and tokens, so four times the hello cap admits every real frame
 * while a peer cannot make us buffer an unbounded header section.
 */
export const MAX_FRAME_HEADERS_BYTES = 64 * 1024;

/**
 * Default cap on a frame's body, in bytes (16 MiB). OpenZiti sets no limit; Go and C SDKs send Data
 * in pieces far below this, so the cap only bounds the memory one misbehaving peer can pin per link.
 */
export const MAX_FRAME_BODY_BYTES = 16 * 1024 * 1024;

/** Default cap on header entries per frame. Edge frames carry under 20; this bounds parsing work. */
export const MAX_HEADER_COUNT = 256;

/** Hello limits the router's listener enforces (§3.2), in bytes; useful to a test fabric. */
export const HELLO_MAX_HEADERS_BYTES = 16384;
export const HELLO_MAX_BODY_BYTES = 4192;

/** Sequence of the hello and of its reply (§3.3); ordinary messages count from 1. */
export const HELLO_SEQUENCE = -1;
