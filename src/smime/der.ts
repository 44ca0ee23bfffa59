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
