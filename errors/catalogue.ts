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

  // ziti: channel codec (ERR_ZITI_CODEC_*)

  // ziti: end-to-end encryption (ERR_ZITI_E2E_*)

  // ziti: controller REST, enrollment, edge-router links, dial/bind (ERR_ZITI_*)

  // webhooks: signatures, timestamps, batch envelopes (ERR_WEBHOOK_*)

  // cli
  ERR_CLI_USAGE: { hint: 'see `darkhook --help`' },
  ERR_CLI_NOT_IMPLEMENTED: { hint: 'this command is planned but not built yet' },
  ERR_INTERNAL: { hint: 'this is a bug in darkhook; please report it with the log' },
} as const satisfies Record<string, { readonly hint: string }>;

/** Every darkhook error code. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** True when `code` is one of darkhook's codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOGUE, code);
}
