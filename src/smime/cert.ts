/**
 * Certificates and CRLs: parsed with pkijs (structure) plus the raw DER pieces vmgit compares
 * byte-exactly; signatures checked with node's crypto (the same OpenSSL underneath).
 */
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import { sigScheme, unsupported, verifyWith, type SigAlg } from './algorithms.js'
import { certNames, children, content, DerError, oidToString, readTlv, whole, type Tlv } from './der.js'
import { onelineDNFromDer } from './dn.js'
import './engine.js'
import { BytesMemo, PairMemo } from './memo.js'

export interface CertInfo {
  der: Buffer
  pk: pkijs.Certificate
  subjectDer: Uint8Array
  issuerDer: Uint8Array
  /** OpenSSL one-line subject (spec §2.4) */
  subject: string
  issuer: string
  /** uppercase hex, as `openssl x509 -serial` prints it */
  serial: string
  notBefore: Date
  notAfter: Date
  /** basicConstraints cA (undefined: no extension) */
  isCA?: boolean
  /** keyUsage bit names (undefined: no extension) */
  keyUsage?: Set<KeyUsageBit>
  /** subject == issuer (byte-equal) */
  selfIssued: boolean
  /** basicConstraints pathLenConstraint (undefined: none) */
  pathLen?: number
  /** extendedKeyUsage OIDs (undefined: no extension) */
  eku?: Set<string>
  /** netscape-cert-type bits (undefined: no extension) */
  nsCertType?: number
  /** nameConstraints extension value (DER), subjectAltName extension value (DER) */
  nameConstraints?: Uint8Array
  subjectAltName?: Uint8Array
  /** critical extensions vmgit does not process (S21: rejected) */
  unknownCritical: string[]
  /** the certificate's own signature algorithm */
  sigAlg: SigAlg
  file?: string
}

/**
 * Critical extensions vmgit processes (S21). OpenSSL also tolerates critical certificatePolicies
 * (without -policy options any policy is acceptable), CRL distribution points and netscape-cert-type;
 * vmgit takes those three as understood too. Critical policyConstraints, policyMappings,
 * inhibitAnyPolicy, proxyCertInfo, RFC 3779 and OCSP no-check are refused (rules.ts CRITICAL_POLICY).
 */
export const KNOWN_CRITICAL = new Set(['2.5.29.15', '2.5.29.19', '2.5.29.37', '2.5.29.30', '2.5.29.17', '2.5.29.32', '2.5.29.31', '2.16.840.1.113730.1.1'])

export type KeyUsageBit = 'digitalSignature' | 'nonRepudiation' | 'keyEncipherment' | 'dataEncipherment' |
  'keyAgreement' | 'keyCertSign' | 'cRLSign' | 'encipherOnly' | 'decipherOnly'
const KU_BITS: KeyUsageBit[] = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment',
  'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly']

export const hexSerial = (int: asn1js.Integer): string => {
  const v = int.valueBlock.valueHexView
  let i = 0
  while (i < v.length - 1 && v[i] === 0) i++
  return Buffer.from(v.subarray(i)).toString('hex').toUpperCase()
}

function parseKeyUsage(ext: Uint8Array): Set<KeyUsageBit> {
  const bs = readTlv(ext, 0)
  const bits = content(ext, bs).subarray(1)
  const out = new Set<KeyUsageBit>()
  KU_BITS.forEach((name, i) => { if (((bits[i >> 3] ?? 0) >> (7 - (i & 7))) & 1) out.add(name) })
  return out
}

function parseBasicConstraints(ext: Uint8Array): { ca: boolean; pathLen?: number } {
  const seq = readTlv(ext, 0)
  const kids = children(ext, seq)
  const first = kids[0]
  const ca = first?.tag === 0x01 && content(ext, first)[0] !== 0
  const len = kids.find((k) => k.tag === 0x02)
  if (!len) return { ca }
  const v = content(ext, len)
  // a negative or huge pathLen is malformed: treat it as 0 (the strictest reading)
  if (v.length > 4 || ((v[0] ?? 0) & 0x80)) return { ca, pathLen: 0 }
  return { ca, pathLen: v.reduce((a, b) => a * 256 + b, 0) }
}

function parseEku(ext: Uint8Array): Set<string> {
  return new Set(children(ext, readTlv(ext, 0)).filter((t) => t.tag === 0x06).map((t) => oidToString(content(ext, t))))
}

/**
 * Issue 6: a sync meets the same signer certificate in every list it verifies (and again as the
 * stored signer it looks up in the CRL): it is parsed once per process (memo.ts). Each call gets
 * its own CertInfo object (chain building compares certificates by identity), sharing the parsed
 * parts, which nobody mutates.
 */
const parsedCerts = new BytesMemo<CertInfo>(256)

export function parseCert(der: Buffer, file?: string): CertInfo {
  // a private copy of the bytes: a caller that reuses its buffer cannot change a memoised certificate
  return { ...parsedCerts.get(der, () => parseCertOnce(Buffer.from(der))), file }
}

function parseCertOnce(der: Buffer): CertInfo {
  const pk = pkijs.Certificate.fromBER(der)
  const { issuer, subject } = certNames(der)
  let isCA: boolean | undefined
  let pathLen: number | undefined
  let keyUsage: Set<KeyUsageBit> | undefined
  let eku: Set<string> | undefined
  let nsCertType: number | undefined
  let nameConstraints: Uint8Array | undefined
  let subjectAltName: Uint8Array | undefined
  const unknownCritical: string[] = []
  const seen = new Set<string>()
  for (const e of pk.extensions ?? []) {
    const v = e.extnValue.valueBlock.valueHexView
    // RFC 5280 §4.2: an extension appears at most once; OpenSSL marks such a certificate invalid
    if (seen.has(e.extnID)) unknownCritical.push(`${e.extnID} (repeated)`)
    seen.add(e.extnID)
    if (e.critical && !KNOWN_CRITICAL.has(e.extnID)) unknownCritical.push(e.extnID)
    if (e.extnID === '2.5.29.15') keyUsage = parseKeyUsage(v)
    else if (e.extnID === '2.5.29.19') ({ ca: isCA, pathLen } = parseBasicConstraints(v))
    else if (e.extnID === '2.5.29.37') eku = parseEku(v)
    else if (e.extnID === '2.5.29.30') nameConstraints = v
    else if (e.extnID === '2.5.29.17') subjectAltName = v
    else if (e.extnID === '2.16.840.1.113730.1.1') {
      const bits = content(v, readTlv(v, 0))
      nsCertType = bits[1] ?? 0
    }
  }
  const sigAlg: SigAlg = { oid: pk.signatureAlgorithm.algorithmId, params: certSigParams(der) }
  return {
    der, pk, subjectDer: subject, issuerDer: issuer,
    subject: onelineDNFromDer(subject), issuer: onelineDNFromDer(issuer),
    serial: hexSerial(pk.serialNumber), notBefore: pk.notBefore.value, notAfter: pk.notAfter.value,
    isCA, keyUsage, selfIssued: Buffer.compare(Buffer.from(subject), Buffer.from(issuer)) === 0,
    pathLen: isCA ? pathLen : undefined, eku, nsCertType, nameConstraints, subjectAltName, unknownCritical, sigAlg,
  }
}

/** DER of the outer signatureAlgorithm's parameters (RSA-PSS), read from the certificate bytes. */
function certSigParams(der: Uint8Array): Uint8Array | undefined {
  const [, alg] = children(der, readTlv(der, 0))
  const p = alg ? children(der, alg)[1] : undefined
  return p ? whole(der, p) : undefined
}

// keyed by the parsed certificate, which every CertInfo of the same bytes shares (parseCert)
const keys = new WeakMap<pkijs.Certificate, KeyObject>()
/** The certificate's public key as a node KeyObject (cached). */
export function publicKey(c: CertInfo): KeyObject {
  let k = keys.get(c.pk)
  if (!k) {
    try {
      k = createPublicKey({ key: Buffer.from(c.pk.subjectPublicKeyInfo.toSchema().toBER()), format: 'der', type: 'spki' })
    } catch (e) {
      throw unsupported(`the public key of ${c.subject} (${c.pk.subjectPublicKeyInfo.algorithm.algorithmId}: ${(e as Error).message})`)
    }
    keys.set(c.pk, k)
  }
  return k
}

// issue 6: a signature over fixed bytes checked with a fixed key has one answer (memo.ts)
const certSignatures = new PairMemo<pkijs.Certificate, pkijs.Certificate>()
const crlSignatures = new PairMemo<CrlInfo, pkijs.Certificate>()

/** Is `child`'s signature made by `issuer`'s key? (any algorithm OpenSSL supports) */
export function signedBy(child: CertInfo, issuer: CertInfo): boolean {
  sigScheme(child.sigAlg) // S22: an algorithm vmgit does not know is UNSUPPORTED_ALGORITHM, not "untrusted"
  return certSignatures.get(child.pk, issuer.pk, () => {
    try {
      return new X509Certificate(child.der).verify(publicKey(issuer))
    } catch {
      return false
    }
  })
}

export { DIGEST_OIDS } from './algorithms.js'

/**
 * Verify `sig` over `data` with `key`. `sigAlg` is a signature algorithm OID (with its DER
 * parameters for RSA-PSS); for the CMS form (rsaEncryption / plain key OIDs) the hash comes from
 * `digest`. An unknown algorithm throws UNSUPPORTED_ALGORITHM (S22), a bad signature is false.
 */
export function verifySignature(sigAlg: string, digest: string | undefined, data: Uint8Array, sig: Uint8Array, key: KeyObject, params?: Uint8Array): boolean {
  return verifyWith({ oid: sigAlg, params }, digest, data, sig, key)
}

export interface CrlInfo {
  der: Buffer
  issuerDer: Uint8Array
  issuer: string
  thisUpdate: Date
  nextUpdate?: Date
  /** serial (uppercase hex) → revocation date */
  revoked: Map<string, Date>
  /** signed bytes, signature algorithm OID and signature, for crlSignedBy */
  tbs: Uint8Array
  sigAlg: string
  sigParams?: Uint8Array
  signature: Uint8Array
  /** OIDs of critical CRL extensions (S21: a CRL vmgit cannot fully interpret is not used) */
  criticalExtensions: string[]
  file?: string
}

/** UTCTime (YY < 50 → 20YY, RFC 5280) or GeneralizedTime content → Date. */
function asn1Date(tag: number, body: Uint8Array): Date {
  const t = Buffer.from(body).toString('latin1')
  const full = tag === 0x17 ? (Number(t.slice(0, 2)) < 50 ? '20' : '19') + t : t
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:\.\d+)?Z$/.exec(full)
  if (!m) throw new DerError(`DER: bad time "${t}"`)
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +(m[6] ?? 0)))
}

const serialHex = (b: Uint8Array): string => {
  let i = 0
  while (i < b.length - 1 && b[i] === 0) i++
  return Buffer.from(b.subarray(i)).toString('hex').toUpperCase()
}

/**
 * Parse a DER CRL with the plain DER walker (IGTF CRLs list thousands of serials; a full pkijs
 * object parse of a 1,000-entry CRL costs ~200 ms, this a few).
 */
export function parseCrl(der: Buffer, file?: string): CrlInfo {
  const top = readTlv(der, 0)
  const [tbsT, algT, sigT] = children(der, top)
  if (!tbsT || !algT || !sigT || sigT.tag !== 0x03) throw new DerError('DER: not a CRL')
  const f = children(der, tbsT)
  let i = f[0]?.tag === 0x02 ? 1 : 0
  const issuer = f[i + 1]
  const thisT = f[i + 2]
  if (!issuer || !thisT) throw new DerError('DER: not a CRL')
  i += 3
  let nextUpdate: Date | undefined
  const nextT = f[i]
  if (nextT && (nextT.tag === 0x17 || nextT.tag === 0x18)) {
    nextUpdate = asn1Date(nextT.tag, content(der, nextT))
    i++
  }
  const revoked = new Map<string, Date>()
  let criticalEntry = false
  const list = f[i]
  if (list && list.tag === 0x30) {
    for (const entry of children(der, list)) {
      const [serial, when, entryExts] = children(der, entry)
      if (serial && when) revoked.set(serialHex(content(der, serial)), asn1Date(when.tag, content(der, when)))
      // a critical entry extension (e.g. certificateIssuer of an indirect CRL) changes what the entry means
      if (entryExts && criticalOids(der, entryExts).length) criticalEntry = true
    }
  }
  const issuerDer = whole(der, issuer)
  const [oidT, paramT] = children(der, algT)
  // crlExtensions [0] EXPLICIT Extensions, after the revoked list
  const criticalExtensions: string[] = []
  const extsT = f.find((t) => t.tag === 0xa0)
  if (extsT) criticalExtensions.push(...criticalOids(der, readTlv(der, extsT.body)))
  if (criticalEntry) criticalExtensions.push('crlEntryExtension')
  return {
    der, issuerDer, issuer: onelineDNFromDer(issuerDer), thisUpdate: asn1Date(thisT.tag, content(der, thisT)), nextUpdate, revoked,
    tbs: whole(der, tbsT), sigAlg: oidT ? oidToString(content(der, oidT)) : '', sigParams: paramT ? whole(der, paramT) : undefined,
    signature: content(der, sigT).subarray(1), criticalExtensions, file,
  }
}

/** Is the CRL signed by `ca`? */
export function crlSignedBy(crl: CrlInfo, ca: CertInfo): boolean {
  return crlSignatures.get(crl, ca.pk, () => verifySignature(crl.sigAlg, undefined, crl.tbs, crl.signature, publicKey(ca), crl.sigParams))
}

/** OIDs of the critical extensions in an Extensions SEQUENCE. */
function criticalOids(der: Uint8Array, exts: Tlv): string[] {
  const out: string[] = []
  for (const e of children(der, exts)) {
    const [o, crit] = children(der, e)
    if (o && crit?.tag === 0x01 && content(der, crit)[0] !== 0) out.push(oidToString(content(der, o)))
  }
  return out
}

/** All `-----BEGIN <label>-----` blocks in a text, DER-decoded; a file without PEM armour is taken as DER. */
export function pemBlocks(data: Buffer, labels: string[]): Buffer[] {
  const text = data.toString('latin1')
  if (!text.includes('-----BEGIN ')) return data.length && data[0] === 0x30 ? [data] : []
  const out: Buffer[] = []
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (labels.includes(m[1] ?? '')) out.push(Buffer.from((m[2] ?? '').replace(/\s+/g, ''), 'base64'))
  }
  return out
}

export const CERT_LABELS = ['CERTIFICATE', 'X509 CERTIFICATE', 'TRUSTED CERTIFICATE']
export const CRL_LABELS = ['X509 CRL']

/** ISO date without milliseconds: 2021-10-11T12:33:24Z */
export const isoDate = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z')
