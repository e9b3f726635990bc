/** Public entry of darkhook's PKI layer: CAs, certificates, CSRs, Ziti identity files, enrollment JWTs. */
export { createCa, DEFAULT_CA_VALIDITY_DAYS } from './ca.js';
export type { CaBundle, CreateCaOptions } from './ca.js';
export { CA_CERT_FILE, CA_KEY_FILE, loadCa, saveCa } from './ca-store.js';
export { createCsr, signCsr } from './csr.js';
export type { CsrPolicy, CsrSubject } from './csr.js';
export { describeCsr } from './csr-parse.js';
export type { CsrSummary } from './csr-parse.js';
export { parseIdentity, readIdentityFile, serializeIdentity, writeIdentityFile } from './identity.js';
export type { ZitiIdentity } from './identity.js';
export { certFingerprint, checkCertValidity, describeCertificate, verifyIssuedBy } from './inspect.js';
export type { CertSummary } from './inspect.js';
export { DEFAULT_CERT_VALIDITY_DAYS, issueClientCert, issueServerCert } from './issue.js';
export type { ClientCertOptions, IssuedCert, ServerCertOptions } from './issue.js';
export { createEnrollmentJwt, decodeEnrollmentJwt, DEFAULT_ENROLLMENT_METHODS, verifyEnrollmentJwt } from './jwt.js';
export type { EnrollmentClaims, JwtHeader } from './jwt.js';
export { DEFAULT_RSA_BITS, generateRsaKeyPair } from './keys.js';
export { splitPemBundle } from './pem.js';
export { decodeCaBundlePkcs7, encodeCaBundlePkcs7 } from './pkcs7.js';
