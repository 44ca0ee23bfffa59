/**
 * S22: the SignedData must have exactly the shape RFC 5652 gives it, as OpenSSL's ASN.1 decoder
 * demands. pkijs tolerates extra elements (a NULL after the SignerInfos, a third field in an
 * AlgorithmIdentifier …) that OpenSSL refuses; vmgit must never accept what OpenSSL refuses, so
 * the fields that carry meaning are walked here, on the definite-length form, before pkijs reads them.
 */
import { VmgitError } from '../util/errors.js'
import { children, readTlv, type Tlv } from './der.js'

const bad = (why: string): VmgitError =>
  new VmgitError('CMS_MALFORMED', `the signature part is not a well-formed PKCS#7/CMS SignedData structure (${why}); re-sign the list`)

function expectTags(buf: Uint8Array, t: Tlv, pattern: RegExp, what: string): Tlv[] {
  const kids = children(buf, t)
  const tags = kids.map((k) => k.tag.toString(16).padStart(2, '0')).join(' ')
  if (!pattern.test(tags)) throw bad(`${what} has fields [${tags}]`)
  return kids
}

/** AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL } */
function algId(buf: Uint8Array, t: Tlv, what: string): void {
  if (t.tag !== 0x30) throw bad(`${what} is not a SEQUENCE`)
  const kids = children(buf, t)
  if (kids.length < 1 || kids.length > 2 || kids[0]!.tag !== 0x06) throw bad(`${what} is not an AlgorithmIdentifier`)
}

/** Attributes: SET OF SEQUENCE { attrType OID, attrValues SET OF ANY } */
function attributes(buf: Uint8Array, t: Tlv, what: string): void {
  for (const a of children(buf, t)) {
    if (a.tag !== 0x30) throw bad(`an attribute in ${what} is not a SEQUENCE`)
    const kids = expectTags(buf, a, /^06 31$/, `an attribute in ${what}`)
    if (children(buf, kids[1]!).length === 0) throw bad(`an attribute in ${what} has no value`)
  }
}

function signerInfo(buf: Uint8Array, t: Tlv): void {
  if (t.tag !== 0x30) throw bad('a SignerInfo is not a SEQUENCE')
  // version, sid (IssuerAndSerialNumber or [0] SubjectKeyIdentifier), digestAlgorithm, [0] signedAttrs?, signatureAlgorithm, signature, [1] unsignedAttrs?
  const kids = expectTags(buf, t, /^02 (30|80) 30( a0)? 30 04( a1)?$/, 'a SignerInfo')
  if (kids[1]!.tag === 0x30) expectTags(buf, kids[1]!, /^30 02$/, 'the IssuerAndSerialNumber')
  algId(buf, kids[2]!, 'the SignerInfo digestAlgorithm')
  const signed = kids.find((k) => k.tag === 0xa0)
  if (signed) attributes(buf, signed, 'the signed attributes')
  algId(buf, kids.find((k, i) => i > 2 && k.tag === 0x30)!, 'the SignerInfo signatureAlgorithm')
  const unsigned = kids.find((k) => k.tag === 0xa1)
  if (unsigned) attributes(buf, unsigned, 'the unsigned attributes')
}

/** Throws CMS_MALFORMED unless `der` (one definite-length ContentInfo) has SignedData's exact shape. */
export function checkCmsShape(der: Uint8Array): void {
  try {
    const ci = readTlv(der, 0)
    if (ci.tag !== 0x30) throw bad('ContentInfo is not a SEQUENCE')
    const [, explicit] = expectTags(der, ci, /^06 a0$/, 'ContentInfo')
    const [sd] = expectTags(der, explicit!, /^30$/, 'the ContentInfo content')
    const kids = expectTags(der, sd!, /^02 31 30( a0)?( a1)? 31$/, 'SignedData')
    for (const d of children(der, kids[1]!)) algId(der, d, 'a digestAlgorithms entry')
    expectTags(der, kids[2]!, /^06( a0)?$/, 'encapContentInfo')
    for (const si of children(der, kids[kids.length - 1]!)) signerInfo(der, si)
  } catch (e) {
    if (e instanceof VmgitError) throw e
    throw bad((e as Error).message)
  }
}
