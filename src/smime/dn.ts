/**
 * Distinguished names as the HEPiX tools write them (spec §2.4): OpenSSL `X509_NAME_oneline`,
 * i.e. `/SN=value` per entry in certificate order, OpenSSL short names, bytes outside 0x20–0x7E
 * as `\xHH` (of the raw string bytes, so UTF-8 becomes `\xC3\xA9`). Also OpenSSL's subject hash
 * (`X509_NAME_hash`, the `<hash>.0` file names of a CA directory).
 */
import { createHash } from 'node:crypto'
import type * as pkijs from 'pkijs'
import { children, content, oidToString, readTlv, setOf, tlv } from './der.js'

/** OpenSSL short names (objects.txt) for the attribute types seen in grid DNs. */
const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN', '2.5.4.4': 'SN', '2.5.4.5': 'serialNumber', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST',
  '2.5.4.9': 'street', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.12': 'title', '2.5.4.13': 'description',
  '2.5.4.14': 'searchGuide', '2.5.4.15': 'businessCategory', '2.5.4.16': 'postalAddress', '2.5.4.17': 'postalCode',
  '2.5.4.18': 'postOfficeBox', '2.5.4.19': 'physicalDeliveryOfficeName', '2.5.4.20': 'telephoneNumber',
  '2.5.4.41': 'name', '2.5.4.42': 'GN', '2.5.4.43': 'initials', '2.5.4.44': 'generationQualifier',
  '2.5.4.45': 'x500UniqueIdentifier', '2.5.4.46': 'dnQualifier', '2.5.4.51': 'houseIdentifier', '2.5.4.54': 'dmdName',
  '2.5.4.65': 'pseudonym', '2.5.4.72': 'role', '2.5.4.97': 'organizationIdentifier',
  '0.9.2342.19200300.100.1.1': 'UID', '0.9.2342.19200300.100.1.3': 'mail', '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress', '1.2.840.113549.1.9.2': 'unstructuredName',
  '1.2.840.113549.1.9.8': 'unstructuredAddress',
  '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionL', '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionST',
  '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionC',
}

export const shortName = (oid: string): string => SHORT_NAMES[oid] ?? oid

const HEX = '0123456789ABCDEF'
const GENERALSTRING = 0x1b

/** `X509_NAME_oneline` of a DER-encoded Name (SEQUENCE OF RDN). */
export function onelineDNFromDer(der: Uint8Array): string {
  let out = ''
  for (const rdn of children(der, readTlv(der, 0))) {
    let sep = '/'
    for (const ava of children(der, rdn)) {
      const [type, value] = children(der, ava)
      if (!type || !value) continue
      // OpenSSL 3 joins the entries of one multi-valued RDN with '+'
      out += sep + shortName(oidToString(content(der, type))) + '='
      const q = content(der, value)
      // x509_obj.c: a GeneralString whose length is a multiple of 4 and whose first three bytes
      // of each quad are zero is printed from every 4th byte only (UCS-4 in disguise).
      const doit = [true, true, true, true]
      if (value.tag === GENERALSTRING && q.length % 4 === 0) {
        const nz = [false, false, false, false]
        q.forEach((b, j) => { if (b !== 0) nz[j & 3] = true })
        if (!(nz[0] || nz[1] || nz[2])) doit[0] = doit[1] = doit[2] = false
      }
      for (let j = 0; j < q.length; j++) {
        if (!doit[j & 3]) continue
        const n = q[j] as number
        out += n < 0x20 || n > 0x7e ? '\\x' + HEX[n >> 4] + HEX[n & 15] : String.fromCharCode(n)
      }
      sep = '+'
    }
  }
  return out
}

/** `X509_NAME_oneline` of a pkijs name (the contract's form; uses the original DER when parsed). */
export function onelineDN(name: pkijs.RelativeDistinguishedNames): string {
  const raw = name.valueBeforeDecode.byteLength ? new Uint8Array(name.valueBeforeDecode) : new Uint8Array(name.toSchema().toBER())
  return onelineDNFromDer(raw)
}

// String types that OpenSSL canonicalises (ASN1_MASK_CANON in x_name.c).
const UTF8 = 0x0c, PRINTABLE = 0x13, T61 = 0x14, IA5 = 0x16, VISIBLE = 0x1a, UNIVERSAL = 0x1c, BMP = 0x1e
const CANON = new Set([UTF8, PRINTABLE, T61, IA5, VISIBLE, UNIVERSAL, BMP])
const isSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d)

function toUtf8(tag: number, q: Uint8Array): Uint8Array {
  if (tag === BMP) {
    let s = ''
    for (let i = 0; i + 1 < q.length; i += 2) s += String.fromCharCode(((q[i] as number) << 8) | (q[i + 1] as number))
    return Buffer.from(s, 'utf8')
  }
  if (tag === UNIVERSAL) {
    let s = ''
    for (let i = 0; i + 3 < q.length; i += 4) s += String.fromCodePoint(Buffer.from(q.subarray(i, i + 4)).readUInt32BE(0))
    return Buffer.from(s, 'utf8')
  }
  if (tag === T61) return Buffer.from(Buffer.from(q).toString('latin1'), 'utf8')
  return q
}

/** asn1_string_canon: trim, collapse ASCII whitespace runs to one space, lower-case ASCII. */
function canonValue(tag: number, q: Uint8Array): Buffer {
  const u = toUtf8(tag, q)
  let a = 0
  let b = u.length
  while (a < b && isSpace(u[a] as number)) a++
  while (b > a && isSpace(u[b - 1] as number)) b--
  const out: number[] = []
  for (let i = a; i < b;) {
    const c = u[i] as number
    if (c >= 0x80) { out.push(c); i++ } else if (isSpace(c)) {
      out.push(0x20)
      while (i < b && isSpace(u[i] as number)) i++
    } else { out.push(c >= 0x41 && c <= 0x5a ? c + 32 : c); i++ }
  }
  return tlv(UTF8, Buffer.from(out))
}

/** OpenSSL's canonical encoding of a Name (x509_name_canon): what `X509_NAME_cmp` and the hash use. */
export function canonicalName(der: Uint8Array): Buffer {
  const sets: Buffer[] = []
  for (const rdn of children(der, readTlv(der, 0))) {
    const avas: Buffer[] = []
    for (const ava of children(der, rdn)) {
      const [type, value] = children(der, ava)
      if (!type || !value) continue
      const v = CANON.has(value.tag) ? canonValue(value.tag, content(der, value)) : Buffer.from(der.subarray(value.start, value.end))
      avas.push(tlv(0x30, Buffer.concat([der.subarray(type.start, type.end), v])))
    }
    sets.push(setOf(avas))
  }
  return Buffer.concat(sets)
}

/** `X509_NAME_hash_ex` (the `openssl x509 -subject_hash` value): 8 lowercase hex digits. */
export function nameHash(der: Uint8Array): string {
  const md = createHash('sha1').update(canonicalName(der)).digest()
  return md.readUInt32LE(0).toString(16).padStart(8, '0')
}

/** Do two DER names denote the same entity by OpenSSL's rules (canonical encodings equal)? */
export const sameName = (a: Uint8Array, b: Uint8Array): boolean =>
  Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0 || canonicalName(a).equals(canonicalName(b))
