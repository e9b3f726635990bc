/** DER helpers over node-forge's asn1: exact (re-encodable) parsing, Buffer conversion, node lookups. */
import forge from 'node-forge';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

// forge's typings omit the options object of fromDer; decodeBitStrings:false keeps BIT STRINGs opaque so
// re-encoding gives back the exact input bytes (signatures are computed over those bytes).
const fromDer = asn1.fromDer as unknown as (bytes: string, options: { strict: boolean; decodeBitStrings: boolean }) => Asn1;

/** The DER bytes of an asn1 node as a Buffer. */
export function toDerBuffer(node: Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}

/**
 * Parse DER strictly and require that it re-encodes to the same bytes (canonical DER, no trailing data),
 * so any slice we re-encode from the tree is the exact signed input. Returns `undefined` otherwise.
 */
export function parseDerExact(der: Uint8Array): Asn1 | undefined {
  const binary = Buffer.from(der).toString('binary');
  try {
    const node = fromDer(binary, { strict: true, decodeBitStrings: false });
    return asn1.toDer(node).getBytes() === binary ? node : undefined;
  } catch {
    return undefined;
  }
}

/** The children of a constructed node, or `[]`. */
export function children(node: Asn1 | undefined): Asn1[] {
  return node !== undefined && Array.isArray(node.value) ? (node.value as Asn1[]) : [];
}

/** True when `node` is a UNIVERSAL node of `type`. */
export function isUniversal(node: Asn1 | undefined, type: forge.asn1.Type): node is Asn1 {
  return node !== undefined && node.tagClass === asn1.Class.UNIVERSAL && node.type === type;
}

/** True when `node` is a constructed context-specific `[tag]`. */
export function isContext(node: Asn1 | undefined, tag: number): node is Asn1 {
  return node !== undefined && node.tagClass === asn1.Class.CONTEXT_SPECIFIC && node.type === tag && node.constructed;
}

/** The dotted OID of an OBJECT IDENTIFIER node, or `undefined`. */
export function oidOf(node: Asn1 | undefined): string | undefined {
  if (!isUniversal(node, asn1.Type.OID) || typeof node.value !== 'string') return undefined;
  return asn1.derToOid(node.value);
}

/** An OBJECT IDENTIFIER node for a dotted OID. */
export function oidNode(oid: string): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(oid).getBytes());
}
