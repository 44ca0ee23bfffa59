/**
 * A minimal DER reader/writer for the few places where vmgit needs exact bytes (DN one-line form,
 * OpenSSL's canonical name hash, embedding certificates verbatim). Structures are parsed with pkijs;
 * this only walks tag-length-value triples without copying.
 */

export interface Tlv {
  /** full identifier octet (class + constructed bit + tag number < 31) */
  tag: number
  /** offset of the identifier octet */
  start: number
  /** offset of the first content octet */
  body: number
  /** offset just past the content */
  end: number
}

export class DerError extends Error {}

/** Read one TLV at `off` (definite lengths only, as DER requires). */
export function readTlv(buf: Uint8Array, off: number): Tlv {
  if (off + 2 > buf.length) throw new DerError('DER: truncated')
  const tag = buf[off] as number
  if ((tag & 0x1f) === 0x1f) throw new DerError('DER: high tag numbers are not supported')
  let len = buf[off + 1] as number
  let body = off + 2
  if (len & 0x80) {
    const n = len & 0x7f
    if (n === 0 || n > 4) throw new DerError('DER: indefinite or oversized length')
    if (body + n > buf.length) throw new DerError('DER: truncated length')
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + (buf[body + i] as number)
    body += n
  }
  const end = body + len
  if (end > buf.length) throw new DerError('DER: content runs past the end')
  return { tag, start: off, body, end }
}

/** The TLVs directly inside a constructed TLV. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = []
  for (let off = parent.body; off < parent.end;) {
    const t = readTlv(buf, off)
    out.push(t)
    off = t.end
  }
  return out
}

export const content = (buf: Uint8Array, t: Tlv): Uint8Array => buf.subarray(t.body, t.end)
export const whole = (buf: Uint8Array, t: Tlv): Uint8Array => buf.subarray(t.start, t.end)

/** Encode one TLV. */
export function tlv(tag: number, body: Uint8Array): Buffer {
  const n = body.length
  let hdr: number[]
  if (n < 0x80) hdr = [tag, n]
  else {
    const bytes: number[] = []
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
    hdr = [tag, 0x80 | bytes.length, ...bytes]
  }
  return Buffer.concat([Buffer.from(hdr), body])
}

/** DER SET OF: elements sorted by their encodings (X.690 §11.6). */
export function setOf(elements: Buffer[]): Buffer {
  return tlv(0x31, Buffer.concat([...elements].sort(Buffer.compare)))
}

/** Dotted OID text from the content octets of an OBJECT IDENTIFIER. */
export function oidToString(b: Uint8Array): string {
  const parts: number[] = []
  let v = 0
  for (const byte of b) {
    v = v * 128 + (byte & 0x7f)
    if (!(byte & 0x80)) {
      if (parts.length === 0) {
        const first = v < 80 ? Math.floor(v / 40) : 2
        parts.push(first, v - first * 40)
      } else parts.push(v)
      v = 0
    }
  }
  return parts.join('.')
}

/**
 * The issuer and subject Name TLVs of a DER certificate, found without a full parse
 * (Certificate → tbsCertificate → [0] version? serial sigAlg issuer validity subject).
 */
export function certNames(der: Uint8Array): { issuer: Uint8Array; subject: Uint8Array } {
  const cert = readTlv(der, 0)
  const tbs = readTlv(der, cert.body)
  const f = children(der, tbs)
  const i = f[0]?.tag === 0xa0 ? 1 : 0
  const issuer = f[i + 2]
  const subject = f[i + 4]
  if (!issuer || !subject) throw new DerError('DER: not a certificate')
  return { issuer: whole(der, issuer), subject: whole(der, subject) }
}

/** OBJECT IDENTIFIER TLV from dotted text. */
export function oid(dotted: string): Buffer {
  const n = dotted.split('.').map(Number)
  const arcs = [(n[0] ?? 0) * 40 + (n[1] ?? 0), ...n.slice(2)]
  const out: number[] = []
  for (const a of arcs) {
    const b: number[] = [a & 0x7f]
    for (let v = Math.floor(a / 128); v > 0; v = Math.floor(v / 128)) b.unshift((v & 0x7f) | 0x80)
    out.push(...b)
  }
  return tlv(0x06, Buffer.from(out))
}

/** Small non-negative INTEGER TLV. */
export function int(v: number): Buffer {
  const b: number[] = []
  for (let x = v; x > 0; x = Math.floor(x / 256)) b.unshift(x & 0xff)
  if (b.length === 0 || (b[0] as number) & 0x80) b.unshift(0)
  return tlv(0x02, Buffer.from(b))
}

export const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items))
export const NULL = Buffer.from([0x05, 0x00])

/**
 * S22: BER as OpenSSL accepts it (`openssl cms -sign -stream` writes indefinite lengths).
 * Read one TLV that may use the indefinite form (0x80 … 00 00); `end` is past the end-of-contents
 * octets, `contentEnd` where the content stops. Nesting is bounded so a hostile input cannot
 * exhaust the stack.
 */
export interface BerTlv extends Tlv {
  /** offset just past the content (before the end-of-contents octets of an indefinite TLV) */
  contentEnd: number
  indefinite: boolean
}

const MAX_BER_DEPTH = 64

export function readBer(buf: Uint8Array, off: number, depth = 0): BerTlv {
  if (depth > MAX_BER_DEPTH) throw new DerError('BER: nested too deeply')
  if (off + 2 > buf.length) throw new DerError('BER: truncated')
  const tag = buf[off] as number
  if ((tag & 0x1f) === 0x1f) throw new DerError('BER: high tag numbers are not supported')
  if (buf[off + 1] !== 0x80) {
    const t = readTlv(buf, off)
    return { ...t, contentEnd: t.end, indefinite: false }
  }
  if (!(tag & 0x20)) throw new DerError('BER: indefinite length on a primitive value')
  let p = off + 2
  for (;;) {
    if (p + 2 > buf.length) throw new DerError('BER: end-of-contents missing')
    if (buf[p] === 0 && buf[p + 1] === 0) return { tag, start: off, body: off + 2, contentEnd: p, end: p + 2, indefinite: true }
    p = readBer(buf, p, depth + 1).end
  }
}

/** The TLVs directly inside a constructed BER TLV. */
export function berChildren(buf: Uint8Array, parent: BerTlv, depth = 0): BerTlv[] {
  const out: BerTlv[] = []
  for (let off = parent.body; off < parent.contentEnd;) {
    const t = readBer(buf, off, depth + 1)
    out.push(t)
    off = t.end
  }
  return out
}

/**
 * Rewrite every indefinite length as a definite one, copying all other TLVs byte for byte
 * (signed certificates and attributes keep their exact encoding). Input without indefinite
 * lengths comes back as it is.
 */
export function toDefinite(buf: Uint8Array, t: BerTlv = readBer(buf, 0), depth = 0): Buffer {
  return rewritten(buf, t, depth) ?? Buffer.from(whole(buf, t))
}

/**
 * One walk over the tree (issue 6: asking "any indefinite length below?" at every level walked
 * each subtree once per ancestor): the definite form of `t`, or undefined when `t` has no
 * indefinite length anywhere and stays as it is. A definite constructed TLV whose body does not
 * parse as TLVs (e.g. an OCTET STRING wrapper) is left alone.
 */
function rewritten(buf: Uint8Array, t: BerTlv, depth: number): Buffer | undefined {
  if (!(t.tag & 0x20)) return undefined
  let kids: BerTlv[]
  try {
    kids = berChildren(buf, t, depth)
  } catch (e) {
    // an indefinite TLV's children were read by readBer already; only a definite body may be opaque
    if (t.indefinite) throw e
    return undefined
  }
  const inner = kids.map((c) => rewritten(buf, c, depth + 1))
  if (!t.indefinite && inner.every((x) => x === undefined)) return undefined
  return tlv(t.tag, Buffer.concat(inner.map((x, i) => x ?? whole(buf, kids[i]!))))
}
