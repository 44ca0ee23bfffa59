/**
 * Distinguished names as the HEPiX tools write them (spec §2.4): OpenSSL 3's `X509_NAME_oneline`
 * (what `openssl x509 -noout -subject -nameopt compat` prints), i.e. `/SN=value` per RDN and
 * `+SN=value` for further entries of a multi-valued RDN, in certificate order, OpenSSL short names,
 * bytes outside 0x20–0x7E as `\xHH` (of the raw string bytes, so UTF-8 becomes `\xC3\xA9`), and
 * `/` and `+` inside a value escaped as `\/` and `\+` (OpenSSL 3.0+). Also OpenSSL's subject hash
 * (`X509_NAME_hash`, the `<hash>.0` file names of a CA directory), its canonical name encoding, and
 * the test that tells whether a name's one-line form can be confused with another name's (S20).
 *
 * S20: the one-line form is for display and for hv:dn / hv:ca only. It is not injective even with
 * OpenSSL 3's escaping (a backslash inside a value is not escaped: OU=`x\` + CN=`y` and OU=`x/CN=y`
 * both print `/OU=x\/CN=y`), so identities are compared as DER (see subscriber/endorsers.ts).
 */
import { createHash } from 'node:crypto'
import type * as pkijs from 'pkijs'
import { children, content, readTlv, setOf, tlv } from './der.js'
import { BytesMemo } from './memo.js'
import { OPENSSL_SHORT_NAMES } from './openssl-names.js'

/** OpenSSL's short name of an attribute type (OBJ_nid2sn), or the dotted OID when it has none (i2t_ASN1_OBJECT). */
export const shortName = (oid: string): string => OPENSSL_SHORT_NAMES.get(oid) ?? oid

/** Dotted text of OBJECT IDENTIFIER content octets, arcs of any size (OBJ_obj2txt uses bignums too). */
function oidText(b: Uint8Array): string {
  const parts: string[] = []
  let v = 0n
  for (const byte of b) {
    v = (v << 7n) | BigInt(byte & 0x7f)
    if (byte & 0x80) continue
    if (parts.length === 0) {
      const first = v < 80n ? v / 40n : 2n
      parts.push(String(first), String(v - first * 40n))
    } else parts.push(String(v))
    v = 0n
  }
  return parts.join('.')
}

/** X509_NAME_oneline prints an unnamed type with i2t_ASN1_OBJECT into an 80-byte buffer: at most 79 characters. */
const typeName = (b: Uint8Array): string => {
  const oid = oidText(b)
  return OPENSSL_SHORT_NAMES.get(oid) ?? oid.slice(0, 79)
}

const HEX = '0123456789ABCDEF'
const GENERALSTRING = 0x1b
const SLASH = 0x2f
const PLUS = 0x2b
const BACKSLASH = 0x5c

/** `X509_NAME_oneline` of a DER-encoded Name (SEQUENCE OF RDN). */
export function onelineDNFromDer(der: Uint8Array): string {
  let out = ''
  for (const rdn of children(der, readTlv(der, 0))) {
    let sep = '/'
    for (const ava of children(der, rdn)) {
      const [type, value] = children(der, ava)
      if (!type || !value) continue
      // OpenSSL 3 joins the entries of one multi-valued RDN with '+'
      out += sep + typeName(content(der, type)) + '='
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
        // x509_obj.c (OpenSSL 3): control and non-ASCII bytes as \xHH, '/' and '+' behind a backslash
        if (n < 0x20 || n > 0x7e) out += '\\x' + HEX[n >> 4] + HEX[n & 15]
        else out += (n === SLASH || n === PLUS ? '\\' : '') + String.fromCharCode(n)
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
  // issue 6: every list's trust lookups ask for the same few issuer names (memo.ts)
  return nameHashes.get(der, () => createHash('sha1').update(canonicalName(der)).digest().readUInt32LE(0).toString(16).padStart(8, '0'))
}
const nameHashes = new BytesMemo<string>(1024)

/** Do two DER names denote the same entity by OpenSSL's rules (canonical encodings equal)? */
export const sameName = (a: Uint8Array, b: Uint8Array): boolean =>
  Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0 || canonicalName(a).equals(canonicalName(b))

// ASCII-compatible string types whose bytes print as themselves (no GeneralString UCS-4 quirk, no
// BMP/Universal zero bytes, no T61 high bytes): UTF8String, NumericString, PrintableString, IA5String
const PLAIN_TYPES = new Set([UTF8, 0x12, PRINTABLE, IA5])

/**
 * S20: can this name be identified by its one-line form alone? True when every RDN holds exactly
 * one attribute, every value is a plain string type and no value contains a backslash. For such
 * names the one-line form decodes back to exactly one sequence of (type, text): `\/`, `\+` and
 * `\xHH` can only be escapes, and no `+` can join a multi-valued RDN. Two plain names with the same
 * one-line form differ at most in the string type of an ASCII-compatible value, which OpenSSL's
 * own name comparison (X509_NAME_cmp, canonical form) treats as the same name too.
 */
export function isPlainName(der: Uint8Array): boolean {
  try {
    const top = readTlv(der, 0)
    if (top.tag !== 0x30 || top.end !== der.length) return false
    for (const rdn of children(der, top)) {
      const avas = rdn.tag === 0x31 ? children(der, rdn) : []
      if (avas.length !== 1) return false
      const parts = avas[0]!.tag === 0x30 ? children(der, avas[0]!) : []
      if (parts.length !== 2 || parts[0]!.tag !== 0x06 || !PLAIN_TYPES.has(parts[1]!.tag)) return false
      if (content(der, parts[1]!).includes(BACKSLASH)) return false
    }
    return true
  } catch {
    return false
  }
}

/** Are two DER names byte-for-byte the same encoding? (S20: identities are compared this way.) */
export const sameDer = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0
