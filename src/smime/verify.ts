/**
 * Verify a detached S/MIME signature as `openssl cms -verify -crl_check_all -purpose smimesign`
 * does, never looser (spec §2, attacks S01, S02, S19, S21, S22; docs/verification.md lists every
 * check and the stricter rules of rules.ts). Checks run in this order and each failure has its own code:
 *   1. MIME structure (MIME_*)                     5. exactly one signer (MULTIPLE_SIGNERS)
 *   2. one DER/BER ContentInfo (CMS_MALFORMED, CMS_TRAILING_BYTES)
 *   3. digest over the exact CRLF bytes (DIGEST_MISMATCH; MD5: WEAK_ALGORITHM)
 *   4. signature (BAD_SIGNATURE; unknown algorithm: UNSUPPORTED_ALGORITHM, never "forged")
 *   6. chain to an anchor and its constraints (chain.ts: UNTRUSTED_SIGNER, UNSUPPORTED_CRITICAL_EXTENSION,
 *      PATH_LENGTH_EXCEEDED, SIGNER_PURPOSE, CA_PURPOSE, NAME_CONSTRAINTS, WEAK_ALGORITHM, WEAK_KEY, TRUST_ANCHOR_EXPIRED, CA_CERT_EXPIRED)
 *   7. signer validity at `at` (SIGNER_EXPIRED, SIGNER_NOT_YET_VALID), keyUsage (SIGNER_KEY_USAGE)
 *   8. a current CRL of the issuer of every certificate below the anchor (CRL_MISSING, CRL_EXPIRED, SIGNER_REVOKED, CA_REVOKED)
 * `trust: null` turns 6–8 off (digest and signature only, like `openssl smime -verify -noverify`).
 */
import { createHash } from 'node:crypto'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import { VmgitError } from '../util/errors.js'
import { isWeakDigest, sigScheme } from './algorithms.js'
import { checkCmsShape } from './cms-shape.js'
import { DIGEST_OIDS, hexSerial, parseCert, parseCrl, publicKey, verifySignature, type CertInfo, type CrlInfo } from './cert.js'
import { buildChain, checkRevocation, checkSignerValidity } from './chain.js'
import { children, content as tlvContent, DerError, oid, oidToString, readBer, readTlv, seq, setOf, tlv, toDefinite, whole } from './der.js'
import { canonicalName } from './dn.js'
import './engine.js'
import { BytesMemo } from './memo.js'
import { parseSmime } from './mime.js'
import type { TrustStore } from './trust.js'

export interface VerifyOptions {
  /** trust directory; null = chain, validity and CRL checks off */
  trust: TrustStore | null
  /** the time to validate at (a fixed "now"; never the CMS signingTime) */
  at: Date
  /** require a current CRL of the issuing CA (OpenSSL -crl_check) */
  crlCheck: boolean
}

export interface SignerInfo {
  /** OpenSSL one-line subject (spec §2.4) */
  subject: string
  issuer: string
  serial: string
  notBefore: Date
  notAfter: Date
  digest: string
  /** the signer-asserted time (informational only) */
  signingTime?: Date
  /** subjects from the signer up to the trust anchor (empty with trust: null) */
  chain: string[]
}

export interface VerifyResult {
  /** the exact signed bytes (CRLF) */
  content: Buffer
  signer: SignerInfo
  /** the signer certificate (DER) */
  certificate: Buffer
}

const OID_DATA = '1.2.840.113549.1.7.1'
const OID_SIGNED_DATA = '1.2.840.113549.1.7.2'
const OID_CONTENT_TYPE = '1.2.840.113549.1.9.3'
const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4'
const OID_SIGNING_TIME = '1.2.840.113549.1.9.5'
const OID_SKI = '2.5.29.14'

const malformed = (why: string): VmgitError =>
  new VmgitError('CMS_MALFORMED', `the signature part is not a PKCS#7/CMS SignedData structure (${why}); re-sign the list`)

/** Raw DER of the certificates ([0]) or CRLs ([1]) embedded in SignedData (kept byte-exact, not re-encoded). */
function embeddedDers(der: Buffer, tag: 0xa0 | 0xa1): Buffer[] {
  const ci = readTlv(der, 0)
  const [, explicit] = children(der, ci)
  if (!explicit) return []
  const sd = readTlv(der, explicit.body)
  const set = children(der, sd).find((t) => t.tag === tag)
  return set ? children(der, set).filter((t) => t.tag === 0x30).map((t) => Buffer.from(whole(der, t))) : []
}

/** CRLs carried in the signature: OpenSSL's -crl_check_all uses them too, so vmgit lets them revoke (never vouch). */
function embeddedCrls(der: Buffer): CrlInfo[] {
  const out: CrlInfo[] = []
  for (const d of embeddedDers(der, 0xa1)) {
    try {
      out.push(parseCrl(d, 'embedded in the signature'))
    } catch {
      // an unreadable embedded CRL revokes nothing; OpenSSL would refuse the whole structure, which checkCmsShape does not see: fail closed
      throw malformed('an embedded CRL is not a CRL')
    }
  }
  return out
}

function findSignerCert(si: pkijs.SignerInfo, certs: CertInfo[]): CertInfo | undefined {
  if (si.sid instanceof pkijs.IssuerAndSerialNumber) {
    const serial = hexSerial(si.sid.serialNumber)
    const issuer = canonicalName(new Uint8Array(si.sid.issuer.valueBeforeDecode))
    return certs.find((c) => c.serial === serial && canonicalName(c.issuerDer).equals(issuer))
  }
  const ski = Buffer.from((si.sid as { valueBlock?: { valueHexView?: Uint8Array } }).valueBlock?.valueHexView ?? [])
  return certs.find((c) => c.pk.extensions?.some((e) => e.extnID === OID_SKI &&
    Buffer.from(e.extnValue.valueBlock.valueHexView).subarray(2).equals(ski)))
}

const OID_COUNTER_SIGNATURE = '1.2.840.113549.1.9.6'

/**
 * OpenSSL 3's attribute rules (cms_att.c): contentType, messageDigest and signingTime appear at
 * most once, with exactly one value, and only among the signed attributes; a counterSignature only
 * among the unsigned ones. A second messageDigest must not let the first one vouch (S01/S22).
 */
function checkAttributeRules(si: pkijs.SignerInfo): void {
  const signedOnly = [OID_CONTENT_TYPE, OID_MESSAGE_DIGEST, OID_SIGNING_TIME]
  const signed = si.signedAttrs?.attributes ?? []
  for (const oid of signedOnly) {
    const found = signed.filter((a) => a.type === oid)
    if (found.length > 1 || found.some((a) => a.values.length !== 1)) throw malformed(`attribute ${oid} must appear once with one value`)
    if (si.unsignedAttrs?.attributes.some((a) => a.type === oid)) throw malformed(`attribute ${oid} may only be a signed attribute`)
  }
  if (signed.some((a) => a.type === OID_COUNTER_SIGNATURE)) throw malformed('a counterSignature may not be a signed attribute')
}

function attr(si: pkijs.SignerInfo, oid: string): pkijs.Attribute | undefined {
  return si.signedAttrs?.attributes.find((a) => a.type === oid)
}

/** Check digest and signature of one SignerInfo; returns the signer certificate and digest name. */
function checkSignerInfo(si: pkijs.SignerInfo, content: Buffer, certs: CertInfo[], index: number):
  { cert: CertInfo; digest: string; signingTime?: Date } {
  const cert = findSignerCert(si, certs)
  if (!cert) {
    throw new VmgitError('SIGNER_CERT_MISSING', `signer #${index + 1}'s certificate is not embedded in the signature; ` +
      'sign without -nocerts so that the signer certificate is included')
  }
  const digest = DIGEST_OIDS[si.digestAlgorithm.algorithmId]
  if (!digest) throw new VmgitError('UNSUPPORTED_ALGORITHM', `digest algorithm ${si.digestAlgorithm.algorithmId} is not supported; sign with sha256`)
  // rules.ts WEAK_DIGEST: MD5 collisions are practical, so an MD5 digest proves nothing about the content
  if (isWeakDigest(digest)) {
    throw new VmgitError('WEAK_ALGORITHM', `the signature uses the ${digest} digest, which is too weak to rely on; re-sign the list with sha256 (vmgit sign, or openssl smime -sign -md sha256)`,
      { details: { digest } })
  }
  const actual = createHash(digest).update(content).digest()
  let signed: Uint8Array = content
  let signingTime: Date | undefined
  checkAttributeRules(si)
  if (si.signedAttrs) {
    const md = attr(si, OID_MESSAGE_DIGEST)?.values[0]
    if (!(md instanceof asn1js.OctetString)) throw malformed('signed attributes lack messageDigest')
    const ct = attr(si, OID_CONTENT_TYPE)?.values[0]
    if (!(ct instanceof asn1js.ObjectIdentifier) || ct.valueBlock.toString() !== OID_DATA) {
      throw malformed('the signed contentType is not id-data')
    }
    // S01: the digest of the exact CRLF bytes must be the one that was signed
    if (!Buffer.from(md.valueBlock.valueHexView).equals(actual)) {
      throw new VmgitError('DIGEST_MISMATCH', `the ${digest} digest of the signed content does not match the signature: ` +
        'the list was changed after signing (or re-encoded, e.g. line ends); fetch the original or re-sign it',
      { details: { digest, expected: Buffer.from(md.valueBlock.valueHexView).toString('hex'), actual: actual.toString('hex') } })
    }
    const st = attr(si, OID_SIGNING_TIME)?.values[0] as { toDate?: () => Date } | undefined
    signingTime = st?.toDate?.()
    // RFC 5652 §5.4: the DER of the SET OF attributes is signed (a BER message may carry them indefinite)
    signed = toDefinite(new Uint8Array(si.signedAttrs.encodedValue))
  }
  const params = si.signatureAlgorithm.algorithmParams
  const paramsDer = params && !(params instanceof asn1js.Null) ? new Uint8Array(params.toBER()) : undefined
  const scheme = sigScheme({ oid: si.signatureAlgorithm.algorithmId, params: paramsDer }, digest)
  if (isWeakDigest(scheme.hash)) {
    throw new VmgitError('WEAK_ALGORITHM', `the signature uses ${scheme.name}, whose ${scheme.hash} hash is too weak to rely on; re-sign the list with sha256`,
      { details: { algorithm: scheme.name } })
  }
  const ok = verifySignature(si.signatureAlgorithm.algorithmId, digest, signed, si.signature.valueBlock.valueHexView, publicKey(cert), paramsDer)
  if (!ok) {
    throw new VmgitError(si.signedAttrs ? 'BAD_SIGNATURE' : 'DIGEST_MISMATCH',
      `the signature of ${cert.subject} does not verify with its certificate's key; the signature was forged or damaged — re-sign the list`)
  }
  return { cert, digest, signingTime }
}

/**
 * S22: the signature part is exactly one ContentInfo, in DER or BER (indefinite lengths, as
 * `openssl cms -sign -stream` writes); BER is rewritten to definite lengths, leaving every
 * definite TLV (certificates, signed attributes) byte for byte. Bytes after it are refused
 * (rules.ts TRAILING_BYTES: OpenSSL ignores them).
 */
function oneContentInfo(raw: Buffer): Buffer {
  let top
  try {
    top = readBer(raw, 0)
  } catch (e) {
    throw malformed((e as Error).message)
  }
  if (top.end !== raw.length) {
    throw new VmgitError('CMS_TRAILING_BYTES', `the signature part has ${raw.length - top.end} byte(s) after the PKCS#7/CMS structure; ` +
      'a signature is exactly one ContentInfo — re-sign the list, or fetch the original file', { details: { trailing: raw.length - top.end } })
  }
  let der: Buffer
  try {
    der = toDefinite(raw, top)
  } catch (e) {
    if (e instanceof DerError) throw malformed(e.message)
    throw e
  }
  checkCmsShape(der)
  return der
}

// the SignedData fields other than signerInfos that pkijs has read, by their exact bytes (memo.ts)
const readSignedDataFields = new BytesMemo<true>(64)

const SIGNED_DATA_TYPE = oid(OID_SIGNED_DATA)

/** ContentInfo { id-signedData, [0] SignedData { fields } } (lengths re-encoded; every field byte for byte) */
const contentInfoOf = (fields: Uint8Array[]): Buffer =>
  seq(SIGNED_DATA_TYPE, tlv(0xa0, seq(...fields.map((f) => Buffer.from(f)))))

/**
 * The SignerInfos, after pkijs has read the whole SignedData (S22: what it refuses is CMS_MALFORMED).
 * Issue 6: all the fields before signerInfos (version, digestAlgorithms, encapContentInfo, the
 * certificates and CRLs) are the same bytes in every list an endorser signs, and reading them was
 * most of pkijs's work; they are read once per distinct bytes, in a SignedData with an empty
 * signerInfos, and each SignerInfo is read on its own with the same SignerInfo schema. pkijs's
 * SignedData schema reads each field on its own, so the parts refuse exactly what one read would.
 * checkCmsShape has checked the outer shape (ContentInfo, SignedData fields, signerInfos a SET).
 */
function readSignerInfos(der: Buffer): pkijs.SignerInfo[] {
  const [contentType, explicit] = children(der, readTlv(der, 0))
  if (!contentType || !explicit) throw new Error('no content')
  // the exact DER of id-signedData (a padded encoding of the same number is refused)
  if (!Buffer.from(whole(der, contentType)).equals(SIGNED_DATA_TYPE)) throw new Error(`content type ${oidToString(tlvContent(der, contentType))}`)
  const fields = children(der, readTlv(der, explicit.body))
  const signerInfos = fields[fields.length - 1]
  if (!signerInfos) throw new Error('an empty SignedData')
  const before = fields.slice(0, -1).map((t) => whole(der, t))
  readSignedDataFields.get(Buffer.concat(before), () => {
    const ci = pkijs.ContentInfo.fromBER(contentInfoOf([...before, setOf([])]))
    if (ci.contentType !== OID_SIGNED_DATA) throw new Error(`content type ${ci.contentType}`)
    void new pkijs.SignedData({ schema: ci.content })
    return true
  })
  return children(der, signerInfos).map((t) => pkijs.SignerInfo.fromBER(whole(der, t)))
}

/** Verify already-separated content (CRLF bytes) and DER or BER signature. */
export async function verifyDetached(content: Buffer, signatureBer: Buffer, opts: VerifyOptions): Promise<VerifyResult> {
  let signerInfos: pkijs.SignerInfo[]
  let certs: CertInfo[]
  const signatureDer = oneContentInfo(signatureBer)
  try {
    signerInfos = readSignerInfos(signatureDer)
    certs = embeddedDers(signatureDer, 0xa0).map((d) => parseCert(d))
  } catch (e) {
    if (e instanceof VmgitError) throw e
    throw malformed((e as Error).message)
  }
  if (signerInfos.length === 0) throw new VmgitError('NO_SIGNER', 'the signature has no SignerInfo; re-sign the list')
  const checked = signerInfos.map((si, i) => checkSignerInfo(si, content, certs, i))
  // one endorser, one signature (smimeX509validation: "To many keys in signature file")
  if (checked.length > 1) {
    throw new VmgitError('MULTIPLE_SIGNERS', `the signature has ${checked.length} signers (${checked.map((c) => c.cert.subject).join('; ')}); ` +
      'an image list must be signed by exactly one endorser — re-sign it with one certificate', { details: { signers: checked.map((c) => c.cert.subject) } })
  }
  const { cert, digest, signingTime } = checked[0]!
  let chain: string[] = []
  if (opts.trust) {
    const c = await buildChain(cert, certs, opts.trust, opts.at)
    checkSignerValidity(cert, opts.at)
    // OpenSSL's smimesign purpose: a keyUsage, if present, must allow signing
    if (cert.keyUsage && !cert.keyUsage.has('digitalSignature') && !cert.keyUsage.has('nonRepudiation')) {
      throw new VmgitError('SIGNER_KEY_USAGE', `signer certificate ${cert.subject} may not sign (keyUsage ${[...cert.keyUsage].join(', ')}); ` +
        'the list must be signed with a certificate whose keyUsage includes digitalSignature')
    }
    if (opts.crlCheck) await checkRevocation(c, opts.trust, opts.at, embeddedCrls(signatureDer))
    chain = c.certs.map((x) => x.subject)
  }
  return {
    content,
    certificate: cert.der,
    signer: { subject: cert.subject, issuer: cert.issuer, serial: cert.serial, notBefore: cert.notBefore, notAfter: cert.notAfter, digest, signingTime, chain },
  }
}

/** Verify a whole S/MIME file (OpenSSL multipart/signed). */
export async function verifySmime(bytes: Buffer, opts: VerifyOptions): Promise<VerifyResult> {
  const { content, signature } = parseSmime(bytes)
  return verifyDetached(content, signature, opts)
}
