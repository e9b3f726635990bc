/** PKCS#7 certs-only bundles (PROTOCOL.md §1.4), as a controller serves at /.well-known/est/cacerts. */
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { OptionError, PkiError } from '../core/index.js';
import { children, isContext, isUniversal, oidNode, oidOf, parseDerExact, toDerBuffer } from './der.js';
import { derToPem, pemBlocks } from './pem.js';

const { asn1 } = forge;
const { Class, Type } = asn1;
const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_DATA = '1.2.840.113549.1.7.1';

function invalid(message: string): PkiError {
  return new PkiError('ERR_PKI_PKCS7_INVALID', message);
}

/**
 * Encode certificates as base64 of a DER degenerate (certs-only) PKCS#7 SignedData, wrapped at 64
 * characters with `\n`. Certificates are copied byte for byte (never re-parsed), so EC ones work too.
 * @throws ERR_OPTION_INVALID for an empty list; ERR_PKI_PEM_INVALID, ERR_PKI_CERT_INVALID for a bad certificate.
 * @example res.type('application/pkcs7-mime').header('content-transfer-encoding', 'base64').send(encodeCaBundlePkcs7(cas));
 */
export function encodeCaBundlePkcs7(certPems: string[]): string {
  if (!Array.isArray(certPems) || certPems.length === 0) {
    throw new OptionError('ERR_OPTION_INVALID', 'certPems must be a non-empty array of PEM certificates');
  }
  const certs = certPems.flatMap((pem, i) => {
    const blocks = pemBlocks(String(pem)).filter((b) => b.label === 'CERTIFICATE');
    if (blocks.length === 0) throw new PkiError('ERR_PKI_PEM_INVALID', `certPems[${i}] holds no PEM certificate`);
    return blocks.map((b) => {
      const node = parseDerExact(b.der);
      if (!isUniversal(node, Type.SEQUENCE)) throw new PkiError('ERR_PKI_CERT_INVALID', `certPems[${i}] is not a DER certificate`);
      return node;
    });
  });
  const signedData = asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [
    asn1.create(Class.UNIVERSAL, Type.INTEGER, false, '\x01'),
    asn1.create(Class.UNIVERSAL, Type.SET, true, []),
    asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [oidNode(OID_DATA)]),
    asn1.create(Class.CONTEXT_SPECIFIC, 0, true, certs),
    asn1.create(Class.UNIVERSAL, Type.SET, true, []),
  ]);
  const contentInfo = asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [
    oidNode(OID_SIGNED_DATA),
    asn1.create(Class.CONTEXT_SPECIFIC, 0, true, [signedData]),
  ]);
  const b64 = toDerBuffer(contentInfo).toString('base64');
  return (b64.match(/.{1,64}/g) ?? []).join('\n');
}

/**
 * Decode a PKCS#7 certs-only body (base64, any line wrapping; a `-----BEGIN PKCS7-----` wrapper is also
 * accepted) into one PEM per certificate, in order. Each certificate's DER is copied as is, so EC
 * certificates (which node-forge cannot parse) work.
 * @throws ERR_PKI_PKCS7_INVALID when it is not base64 of a SignedData holding at least one certificate.
 * @example const caPems = decodeCaBundlePkcs7(await res.text());
 */
export function decodeCaBundlePkcs7(body: string): string[] {
  if (typeof body !== 'string') throw invalid('the CA bundle must be text');
  const text = body.replace(/-----(BEGIN|END) PKCS7-----/g, '').replace(/\s+/g, '');
  if (text === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw invalid('the CA bundle is not base64');
  const root = parseDerExact(Buffer.from(text, 'base64'));
  const [typeOid, explicit] = children(root);
  if (!isUniversal(root, Type.SEQUENCE) || oidOf(typeOid) !== OID_SIGNED_DATA || !isContext(explicit, 0)) {
    throw invalid('the CA bundle is not a DER PKCS#7 SignedData');
  }
  const signedData = children(explicit)[0];
  if (!isUniversal(signedData, Type.SEQUENCE)) throw invalid('the CA bundle SignedData is malformed');
  const certificates = children(signedData).find((node) => isContext(node, 0));
  const pems = children(certificates).map((node) => {
    const der = toDerBuffer(node);
    try {
      new X509Certificate(der);
    } catch {
      throw invalid('the CA bundle holds something that is not a certificate');
    }
    return derToPem(der, 'CERTIFICATE');
  });
  if (pems.length === 0) throw invalid('the CA bundle holds no certificate');
  return pems;
}
