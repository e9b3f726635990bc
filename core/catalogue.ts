/** The one catalogue of darkhook error codes: every code, the area it belongs to and a one-line hint. */

/**
 * Each entry: `hint` is a short fix shown to users by the CLI. `docs/errors.md` documents every code
 * (meaning and fix); a test checks the two agree both ways.
 */
export const ERROR_CATALOGUE = {
  // options and configuration (the caller's mistake)
  ERR_OPTION_INVALID: { hint: 'check the named option against the docs' },
  ERR_OPTION_UNKNOWN: { hint: 'remove the unknown option or fix its spelling' },
  ERR_FILE_NOT_FOUND: { hint: 'check the path' },
  ERR_FILE_UNREADABLE: { hint: 'check the file permissions' },
  ERR_FILE_EXISTS: { hint: 'choose another path or pass --force' },

  // pki
  ERR_PKI_PEM_INVALID: { hint: 'the file is not valid PEM of the expected type' },
  ERR_PKI_KEY_INVALID: { hint: 'the private key could not be read; check the file and its passphrase' },
  ERR_PKI_KEY_MISMATCH: { hint: 'the private key does not belong to the certificate' },
  ERR_PKI_KEY_UNSUPPORTED: { hint: 'use an RSA key of 2048 bits or more' },
  ERR_PKI_CERT_INVALID: { hint: 'the certificate could not be parsed' },
  ERR_PKI_CERT_EXPIRED: { hint: 'the certificate is past its notAfter date; issue a new one' },
  ERR_PKI_CERT_NOT_YET_VALID: { hint: 'the certificate notBefore is in the future; check the clock' },
  ERR_PKI_CERT_UNTRUSTED: { hint: 'the certificate was not issued by the expected CA' },
  ERR_PKI_CA_NOT_FOUND: { hint: 'create a CA first with `darkhook pki ca create --dir DIR`' },
  ERR_PKI_CSR_INVALID: { hint: 'the CSR is malformed or its signature does not verify' },
  ERR_PKI_CSR_POLICY: { hint: 'the CSR asks for something the signing policy forbids' },
  ERR_PKI_IDENTITY_INVALID: { hint: 'the identity file is not a valid Ziti identity JSON' },
  ERR_PKI_JWT_MALFORMED: { hint: 'the enrollment token is not a JWT (header.payload.signature)' },
  ERR_PKI_JWT_SIGNATURE: { hint: 'the enrollment token was not signed by this controller' },
  ERR_PKI_JWT_KID_MISMATCH: { hint: 'the token kid does not match the controller certificate' },
  ERR_PKI_JWT_EXPIRED: { hint: 'the enrollment token has expired; ask for a new one' },
  ERR_PKI_JWT_CLAIMS: { hint: 'the enrollment token lacks a required claim' },
  ERR_PKI_JWT_METHOD_UNSUPPORTED: { hint: 'only the ott enrollment method is supported' },
  ERR_PKI_JWT_ALG_UNSUPPORTED: { hint: 'the token uses an algorithm other than ES256/ES384/ES512/RS256' },
  ERR_PKI_PKCS7_INVALID: { hint: 'the CA bundle is not a base64 PKCS#7 certs-only SignedData' },

  // ziti: channel codec (ERR_ZITI_CODEC_*)
  ERR_ZITI_CODEC_BAD_MAGIC: { hint: 'the peer is not an OpenZiti edge router channel (V2); check the router address and port' },
  ERR_ZITI_CODEC_HEADERS_TOO_LARGE: { hint: 'the peer sent a header section over the limit; raise maxHeadersBytes only if the peer is trusted' },
  ERR_ZITI_CODEC_FRAME_TOO_LARGE: { hint: 'a frame body is over the limit; raise maxBodyBytes only if the peer is trusted' },
  ERR_ZITI_CODEC_TOO_MANY_HEADERS: { hint: 'the peer sent more header entries than allowed; raise maxHeaderCount only if the peer is trusted' },
  ERR_ZITI_CODEC_HEADER_INVALID: { hint: 'a header is malformed (bad length or type); the peer is faulty or not OpenZiti' },
  ERR_ZITI_CODEC_VALUE_INVALID: { hint: 'a value given to the encoder does not fit its wire type; this is a bug in the caller' },

  // ziti: end-to-end encryption (ERR_ZITI_E2E_*)
  ERR_ZITI_E2E_NOT_READY: { hint: 'await ensureCryptoReady() before using end-to-end encryption' },
  ERR_ZITI_E2E_KEY_INVALID: { hint: 'pass the 32-byte keys made by generateKxKeyPair() / *SessionKeys()' },
  ERR_ZITI_E2E_PEER_KEY_INVALID: { hint: 'the peer sent an unusable public key; the connection cannot be encrypted' },
  ERR_ZITI_E2E_HEADER_INVALID: { hint: 'the first Data from the peer was not a 24-byte secretstream header' },
  ERR_ZITI_E2E_DECRYPT_FAILED: { hint: 'a message was corrupted, reordered or replayed; the connection must close' },
  ERR_ZITI_E2E_TAG_UNEXPECTED: { hint: 'the peer used a secretstream tag other than MESSAGE; the connection must close' },
  ERR_ZITI_E2E_DESTROYED: { hint: 'the connection was closed; its E2E sender or receiver can no longer be used' },
  ERR_ZITI_E2E_MULTIPART_INVALID: { hint: 'the peer sent a malformed multipart Data body; the connection must close' },

  // ziti: controller REST, enrollment, edge-router links, dial/bind (ERR_ZITI_*)
  ERR_ZITI_CONTROLLER_UNAVAILABLE: { hint: 'the controller could not be reached; check ztAPI in the identity and that the controller runs' },
  ERR_ZITI_CONTROLLER_ERROR: { hint: 'the controller answered something unexpected; see the message' },
  ERR_ZITI_UNAUTHORIZED: { hint: 'the controller did not accept this identity; it may be deleted or from another network' },
  ERR_ZITI_FORBIDDEN: { hint: 'the controller refused this request for this identity' },
  ERR_ZITI_NOT_FOUND: { hint: 'the controller has no such object' },
  ERR_ZITI_REQUEST_REJECTED: { hint: 'the controller rejected the request; see the message' },
  ERR_ZITI_NO_EDGE_ROUTER: { hint: 'no edge router is online for this identity and service; check edge-router and service-edge-router policies' },
  ERR_ZITI_SERVICE_NOT_FOUND: { hint: 'the service does not exist or no policy lets this identity see it' },
  ERR_ZITI_SERVICE_NOT_PERMITTED: { hint: 'add a Dial (or Bind) service policy for this identity' },
  ERR_ZITI_ENROLL_REJECTED: { hint: 'the token was already used or is unknown; ask for a new one' },
  ERR_ZITI_ROUTER_UNAVAILABLE: { hint: 'the edge router could not be reached; check the router and its advertised address' },
  ERR_ZITI_HELLO_REJECTED: { hint: 'the router did not accept the API session; darkhook re-authenticates once' },
  ERR_ZITI_LINK_CLOSED: { hint: 'the link to the router closed; connections on it are lost, listeners re-bind' },
  ERR_ZITI_TIMEOUT: { hint: 'the router did not answer in time' },
  ERR_ZITI_SERVICE_UNAVAILABLE: { hint: 'no host is bound to the service right now; retry later (this error is retryable)' },
  ERR_ZITI_DIAL_REFUSED: { hint: 'the router refused the dial; is a host bound to the service? the message has the router\'s reason' },
  ERR_ZITI_BIND_REFUSED: { hint: 'the router refused or dropped the bind; the listener retries' },
  ERR_ZITI_CONN_CLOSED: { hint: 'the connection is closed' },
  ERR_ZITI_E2E_REQUIRED: { hint: 'the peer offers no end-to-end encryption; use encryption "auto" only for services that allow plaintext' },
  ERR_ZITI_NATIVE_UNAVAILABLE: { hint: 'npm install @openziti/ziti-sdk-nodejs (it needs a prebuilt binary for your platform), or drop --transport native' },
  ERR_ZITI_CONTEXT_CLOSED: { hint: 'the Ziti context was closed; create a new one' },

  // webhooks: signatures, timestamps, batch envelopes (ERR_WEBHOOK_*)
  ERR_WEBHOOK_HEADERS_MISSING: { hint: 'send webhook-id, webhook-timestamp and webhook-signature (or x-hub-signature-256)' },
  ERR_WEBHOOK_ID_INVALID: { hint: 'use a non-empty webhook-id without "."' },
  ERR_WEBHOOK_TIMESTAMP_INVALID: { hint: 'webhook-timestamp must be integer seconds since the epoch, e.g. 1614265330' },
  ERR_WEBHOOK_TIMESTAMP_TOO_OLD: { hint: 'resend with a fresh timestamp, or check the sender and receiver clocks' },
  ERR_WEBHOOK_TIMESTAMP_TOO_NEW: { hint: 'the sender clock is ahead; check NTP on both hosts' },
  ERR_WEBHOOK_SIGNATURE_MISMATCH: { hint: 'check both sides use the same secret and the raw, unmodified body' },
  ERR_WEBHOOK_SECRET_INVALID: { hint: 'use whsec_<base64>, whsk_<base64> or whpk_<base64> as made by darkhook' },
  ERR_WEBHOOK_BATCH_INVALID: { hint: 'see docs/batch-envelope.md for the envelope format' },
  ERR_WEBHOOK_BATCH_TOO_LARGE: { hint: 'send fewer or smaller events per batch, or raise the receiver limit' },

  // fabric (ERR_FABRIC_*)
  ERR_FABRIC_HOME_NOT_FOUND: { hint: 'start the fabric once with `darkhook fabric up --home DIR`, or check --home' },
  ERR_FABRIC_HOME_INVALID: { hint: 'the fabric home is damaged; check fabric.json and pki/ in it, or start from a new --home' },
  ERR_FABRIC_STORE_FAILED: { hint: 'the fabric database could not be read or written; check fabric.db and its permissions' },
  ERR_FABRIC_NAME_TAKEN: { hint: 'choose another name, or delete the existing one first' },
  ERR_FABRIC_NAME_INVALID: { hint: 'use 1-128 characters of letters, digits, ".", "_", "-" (names and attributes)' },
  ERR_FABRIC_NOT_FOUND: { hint: 'check the name with `darkhook fabric identity|service|policy list`' },
  ERR_FABRIC_POLICY_INVALID: { hint: 'use --type Dial or Bind, and roles like #attribute, #all, @name or @id' },
  ERR_FABRIC_NOT_RUNNING: { hint: 'the controller port is ephemeral (0) and no fabric is running; start `darkhook fabric up` first' },
  ERR_FABRIC_LISTEN_FAILED: { hint: 'the port is taken or not allowed; choose another with --ctrl-port / --router-port (0 = any free port)' },
  ERR_FABRIC_CHANNEL_CLOSED: { hint: 'the router channel to an SDK closed while a request was pending; the SDK reconnects' },
  ERR_FABRIC_DIAL_TIMEOUT: { hint: 'the hosting SDK did not answer the router\'s Dial in time; check the host is alive' },

  // sender (ERR_SEND_*)
  ERR_SEND_EVENT_INVALID: { hint: 'check the event: a non-empty type, a Buffer/string/JSON body, valid header names and values, a known severity' },
  ERR_SEND_CLOSED: { hint: 'the sender was closed; create a new one' },
  ERR_SEND_TIMEOUT: { hint: 'the receiver did not answer in time; the message stays in the outbox and is retried' },
  ERR_SEND_RESPONSE_TOO_LARGE: { hint: 'the receiver answered with a body over the limit; check the service and path point at a darkhook receiver' },
  ERR_SEND_REJECTED: { hint: 'the receiver answered the test event with a non-2xx status; see the status and reason' },
  ERR_SEND_PARKED: { hint: 'the receiver refused the message (see the reason); fix the cause, then `darkhook outbox retry`' },
  ERR_SEND_DEADLINE_EXCEEDED: { hint: 'the messages stay in the outbox; run `darkhook send` again later or raise --deadline' },
  ERR_SEND_OUTBOX_LOCKED: { hint: 'another darkhook process uses this outbox; wait for it or pass another --outbox' },
  ERR_SEND_OUTBOX_CORRUPT: { hint: 'the outbox file is damaged; move it aside and re-send, or restore it from a backup' },
  ERR_SEND_OUTBOX_UNAVAILABLE: { hint: 'the outbox could not be opened; check the path and permissions (a .jsonl path needs no native module)' },
  ERR_SEND_DUPLICATE_ID: { hint: 'every message needs its own id; omit id to let darkhook make one' },

  // receiver config file (ERR_CONFIG_*)
  ERR_CONFIG_INVALID: { hint: 'fix the named JSON path in the receiver config (see docs/receiver.md)' },
  ERR_CONFIG_UNKNOWN_KEY: { hint: 'remove the unknown key or fix its spelling' },
  ERR_CONFIG_SECRET_LITERAL: { hint: 'give secrets as env:NAME or file:PATH references, never in the config itself' },
  ERR_CONFIG_SECRET_UNRESOLVED: { hint: 'set the named environment variable, or create the named file' },
  ERR_CONFIG_NOT_LOOPBACK: { hint: 'the admin listener binds to loopback only: use 127.0.0.1:PORT or [::1]:PORT' },
  ERR_CONFIG_SINK_UNKNOWN: { hint: 'a route names a sink that is not defined under "sinks"' },

  // receiver (ERR_RECEIVER_*)
  ERR_RECEIVER_SINK_UNKNOWN: { hint: 'name a sink from the receiver config (darkhook sinks list)' },
  ERR_RECEIVER_MESSAGE_NOT_FOUND: { hint: 'check the message id (darkhook messages list)' },
  ERR_RECEIVER_ADMIN_UNAUTHORIZED: { hint: 'send Authorization: Bearer <the admin token>, or log in on the admin page' },
  ERR_RECEIVER_ADMIN_THROTTLED: { hint: 'wait the Retry-After seconds; check the admin.token your script or browser sends' },
  ERR_RECEIVER_ADMIN_CSRF: { hint: 'reload the admin page (it sends its CSRF token); scripts use Authorization: Bearer instead of the cookie' },
  ERR_RECEIVER_CALLER_FORBIDDEN: { hint: 'add the sender identity to the receiver allow list (--allow), or dial with an allowed identity' },
  ERR_RECEIVER_BODY_TOO_LARGE: { hint: 'send a smaller body or batch, or raise the receiver maxBodyBytes' },
  ERR_RECEIVER_MEDIA_TYPE_UNSUPPORTED: { hint: 'the sender uses a batch form this receiver does not know: upgrade the receiver, or send --batch-format json' },
  ERR_RECEIVER_NOT_FOUND: { hint: 'POST to the receiver path (default /webhooks); check the sender --path' },
  ERR_RECEIVER_REQUEST_INVALID: { hint: 'the HTTP request is malformed (bad content-length or encoding); check any proxy in between' },
  ERR_RECEIVER_STORE_FAILED: { hint: 'the message store could not be opened or written; check the --store file, its folder and the disk' },
  ERR_RECEIVER_STORE_UNAVAILABLE: { hint: 'the PostgreSQL message store cannot be reached; check the server named in `store` (the sender retries)' },
  ERR_RECEIVER_STORE_AUTH_FAILED: { hint: 'PostgreSQL refused the login; check the user and the password reference in `store`' },

  // cli
  ERR_CLI_USAGE: { hint: 'see `darkhook --help`' },
  ERR_CLI_DEMO_FAILED: { hint: 'a demo step did not prove what it should; rerun with --keep and --log-level debug' },
  ERR_CLI_NOT_IMPLEMENTED: { hint: 'this command is planned but not built yet' },
  ERR_INTERNAL: { hint: 'this is a bug in darkhook; please report it with the log' },
} as const satisfies Record<string, { readonly hint: string }>;

/** Every darkhook error code. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** True when `code` is one of darkhook's codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOGUE, code);
}
