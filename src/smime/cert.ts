/**
 * Certificates and CRLs: parsed with pkijs (structure) plus the raw DER pieces vmgit compares
 * byte-exactly; signatures checked with node's crypto (the same OpenSSL underneath).
 */
import { createPublicKey, verify as cryptoVerify, X509Certificate, type KeyObject } from 'node:crypto'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import { certNames, children, content, DerError, oidToString, readTlv, whole } from './der.js'
import { onelineDNFromDer } from './dn.js'
import './engine.js'

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
  file?: string
}

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

function parseBasicConstraints(ext: Uint8Array): boolean {
  const seq = readTlv(ext, 0)
  const first = children(ext, seq)[0]
  return first?.tag === 0x01 && content(ext, first)[0] !== 0
}

export function parseCert(der: Buffer, file?: string): CertInfo {
  const pk = pkijs.Certificate.fromBER(der)
  const { issuer, subject } = certNames(der)
  let isCA: boolean | undefined
  let keyUsage: Set<KeyUsageBit> | undefined
  for (const e of pk.extensions ?? []) {
    const v = e.extnValue.valueBlock.valueHexView
    if (e.extnID === '2.5.29.15') keyUsage = parseKeyUsage(v)
    else if (e.extnID === '2.5.29.19') isCA = parseBasicConstraints(v)
  }
  return {
    der, pk, subjectDer: subject, issuerDer: issuer,
    subject: onelineDNFromDer(subject), issuer: onelineDNFromDer(issuer),
    serial: hexSerial(pk.serialNumber), notBefore: pk.notBefore.value, notAfter: pk.notAfter.value,
    isCA, keyUsage, selfIssued: Buffer.compare(Buffer.from(subject), Buffer.from(issuer)) === 0, file,
  }
}

const keys = new WeakMap<CertInfo, KeyObject>()
/** The certificate's public key as a node KeyObject (cached). */
export function publicKey(c: CertInfo): KeyObject {
  let k = keys.get(c)
  if (!k) {
    k = createPublicKey({ key: Buffer.from(c.pk.subjectPublicKeyInfo.toSchema().toBER()), format: 'der', type: 'spki' })
    keys.set(c, k)
  }
  return k
}

/** Is `child`'s signature made by `issuer`'s key? (any algorithm OpenSSL supports) */
export function signedBy(child: CertInfo, issuer: CertInfo): boolean {
  try {
    return new X509Certificate(child.der).verify(publicKey(issuer))
  } catch {
    return false
  }
}

/** Signature algorithm OID → node hash name (null: the key type implies it, e.g. Ed25519). */
const SIG_HASH: Record<string, string | null> = {
  '1.2.840.113549.1.1.4': 'md5', '1.2.840.113549.1.1.5': 'sha1', '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256', '1.2.840.113549.1.1.12': 'sha384', '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1', '1.2.840.10045.4.3.1': 'sha224', '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384', '1.2.840.10045.4.3.4': 'sha512', '1.3.101.112': null, '1.3.101.113': null,
}
export const DIGEST_OIDS: Record<string, string> = {
  '1.2.840.113549.2.5': 'md5', '1.3.14.3.2.26': 'sha1', '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256', '2.16.840.1.101.3.4.2.2': 'sha384', '2.16.840.1.101.3.4.2.3': 'sha512',
}
const RSA_ENCRYPTION = '1.2.840.113549.1.1.1'

/**
 * Verify `sig` over `data` with `key`. `sigAlg` is a signature algorithm OID; for the CMS form
 * (rsaEncryption / plain key OIDs) the hash comes from `digest`.
 */
export function verifySignature(sigAlg: string, digest: string | undefined, data: Uint8Array, sig: Uint8Array, key: KeyObject): boolean {
  let hash: string | null | undefined = SIG_HASH[sigAlg]
  if (hash === undefined) {
    if (sigAlg === RSA_ENCRYPTION || sigAlg === '1.2.840.10045.2.1') hash = digest
    if (!hash) return false
  }
  try {
    return cryptoVerify(hash, data, key, sig)
  } catch {
    return false
  }
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
  signature: Uint8Array
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
  const list = f[i]
  if (list && list.tag === 0x30) {
    for (const entry of children(der, list)) {
      const [serial, when] = children(der, entry)
      if (serial && when) revoked.set(serialHex(content(der, serial)), asn1Date(when.tag, content(der, when)))
    }
  }
  const issuerDer = whole(der, issuer)
  const oidT = children(der, algT)[0]
  return {
    der, issuerDer, issuer: onelineDNFromDer(issuerDer), thisUpdate: asn1Date(thisT.tag, content(der, thisT)), nextUpdate, revoked,
    tbs: whole(der, tbsT), sigAlg: oidT ? oidToString(content(der, oidT)) : '', signature: content(der, sigT).subarray(1), file,
  }
}

/** Is the CRL signed by `ca`? */
export function crlSignedBy(crl: CrlInfo, ca: CertInfo): boolean {
  return verifySignature(crl.sigAlg, undefined, crl.tbs, crl.signature, publicKey(ca))
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
