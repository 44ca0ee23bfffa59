/**
 * The clear-text S/MIME container (spec §2.1): parse `multipart/signed` the way OpenSSL's
 * SMIME_read_PKCS7 does, and write OpenSSL's exact layout.
 *
 * Parsing rules (each failure has its own code):
 * - outer headers end at the first blank line; `Content-Type: multipart/signed` with a `boundary`
 *   (quoted or not) and, if present, protocol `application/x-pkcs7-signature` or `application/pkcs7-signature`;
 * - exactly two body parts, then the closing delimiter;
 * - part 1 is the signed content, byte for byte, without the line break before the next delimiter
 *   (it belongs to the delimiter, RFC 2046 §5.1.1); every line break inside becomes CRLF, which is
 *   what OpenSSL digests, so LF-saved files still verify (spec §2.3);
 * - part 2 has headers naming a pkcs7-signature type, base64 transfer encoding, and a base64 body.
 */
import { randomBytes } from 'node:crypto'
import { VmgitError, type ErrorCode } from '../util/errors.js'

export interface ParsedSmime {
  /** the exact signed bytes (CRLF line ends), as OpenSSL verifies them */
  content: Buffer
  /** DER of the PKCS#7/CMS ContentInfo from the signature part */
  signature: Buffer
  boundary: string
  /** protocol parameter as written (undefined if absent) */
  protocol?: string
  micalg?: string
}

const SIG_TYPES = new Set(['application/x-pkcs7-signature', 'application/pkcs7-signature'])

const mimeError = (code: ErrorCode, message: string): VmgitError =>
  new VmgitError(code, `${message}; the file is not an OpenSSL-style detached S/MIME signature (re-sign it with \`vmgit sign\` or \`openssl smime -sign\`)`)

interface Line { start: number; end: number }

/** Split [from, to) into lines; `end` excludes the line break and any CRs before it. */
function lines(buf: Buffer, from: number, to: number): Line[] {
  const out: Line[] = []
  for (let s = from; s < to;) {
    let nl = buf.indexOf(0x0a, s)
    if (nl < 0 || nl >= to) nl = to
    let e = nl
    while (e > s && buf[e - 1] === 0x0d) e--
    out.push({ start: s, end: e })
    s = nl + 1
  }
  return out
}

/** Parse header lines (with folding) into lower-cased name → value. */
function parseHeaders(buf: Buffer, ls: Line[]): Map<string, string> {
  const h = new Map<string, string>()
  let last: string | undefined
  for (const l of ls) {
    const text = buf.toString('latin1', l.start, l.end)
    if (/^[ \t]/.test(text) && last) { h.set(last, (h.get(last) ?? '') + ' ' + text.trim()); continue }
    const i = text.indexOf(':')
    if (i <= 0) throw mimeError('MIME_BAD_HEADER', `malformed MIME header line "${text.slice(0, 60)}"`)
    last = text.slice(0, i).trim().toLowerCase()
    h.set(last, text.slice(i + 1).trim())
  }
  return h
}

/** `type/subtype; a=b; c="d"` → {type, params} (names lower-cased, quotes removed). */
export function parseContentType(v: string): { type: string; params: Map<string, string> } {
  const params = new Map<string, string>()
  const semi = v.indexOf(';')
  const type = (semi < 0 ? v : v.slice(0, semi)).trim().toLowerCase()
  const re = /;\s*([^=\s;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g
  for (let m = re.exec(v); m; m = re.exec(v)) params.set((m[1] ?? '').toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? ''))
  return { type, params }
}

/** Offset of the first blank line's start in [from, to), or -1; headers end there. */
function blankLine(buf: Buffer, from: number, to: number): { at: number; after: number } | null {
  for (let s = from; s < to;) {
    let e = s
    while (e < to && buf[e] === 0x0d) e++
    if (e < to && buf[e] === 0x0a) return { at: s, after: e + 1 }
    const nl = buf.indexOf(0x0a, s)
    if (nl < 0 || nl >= to) return null
    s = nl + 1
  }
  return null
}

/** Where the line break before `pos` begins (the LF and its CRs belong to the delimiter). */
function lineBreakStart(buf: Buffer, pos: number, floor: number): number {
  let e = pos
  if (e > floor && buf[e - 1] === 0x0a) e--
  while (e > floor && buf[e - 1] === 0x0d) e--
  return e
}

export function parseSmime(file: Buffer): ParsedSmime {
  const hb = blankLine(file, 0, file.length)
  if (!hb) throw mimeError('MIME_NO_BODY', 'no blank line after the MIME headers')
  const headers = parseHeaders(file, lines(file, 0, hb.at))
  const ct = headers.get('content-type')
  if (!ct) throw mimeError('MIME_NOT_MULTIPART_SIGNED', 'no Content-Type header')
  const { type, params } = parseContentType(ct)
  if (type !== 'multipart/signed') throw mimeError('MIME_NOT_MULTIPART_SIGNED', `Content-Type is ${type}, not multipart/signed`)
  const boundary = params.get('boundary')
  if (!boundary) throw mimeError('MIME_NO_BOUNDARY', 'multipart/signed without a boundary parameter')
  const protocol = params.get('protocol')
  if (protocol !== undefined && !SIG_TYPES.has(protocol.toLowerCase())) {
    throw mimeError('MIME_PROTOCOL', `protocol "${protocol}" is not application/x-pkcs7-signature or application/pkcs7-signature`)
  }
  // Delimiter lines: "--boundary" at a line start, then only blanks ("open") or "--" ("close").
  const delim = Buffer.from('--' + boundary, 'latin1')
  const nlDelim = Buffer.concat([Buffer.from('\n'), delim])
  const marks: { start: number; next: number; close: boolean }[] = []
  let pos = file.subarray(hb.after, hb.after + delim.length).equals(delim) ? hb.after : file.indexOf(nlDelim, hb.after - 1)
  while (pos >= 0) {
    const start = file[pos] === 0x0a ? pos + 1 : pos
    let nl = file.indexOf(0x0a, start)
    if (nl < 0) nl = file.length
    const rest = file.toString('latin1', start + delim.length, nl).replace(/\r+$/, '')
    const open = /^[ \t]*$/.test(rest)
    const close = /^--[ \t]*$/.test(rest)
    if (open || close) marks.push({ start, next: Math.min(nl + 1, file.length), close })
    if (close) break
    pos = file.indexOf(nlDelim, nl)
  }
  const closeAt = marks.findIndex((m) => m.close)
  if (marks.length === 0 || marks[0]!.close) throw mimeError('MIME_NO_PARTS', `no body part starts with the boundary "--${boundary}"`)
  if (closeAt < 0) throw mimeError('MIME_UNTERMINATED', `the closing delimiter "--${boundary}--" is missing (truncated file?)`)
  if (closeAt !== 2) throw mimeError('MIME_PARTS', `multipart/signed has ${closeAt} parts; exactly two (content, signature) are allowed`)
  const [m0, m1, m2] = marks as [typeof marks[0], typeof marks[0], typeof marks[0]]
  const cStart = m0.next
  const cEnd = Math.max(cStart, lineBreakStart(file, m1.start, cStart))
  // S19: the content is the first part's exact bytes; a nested multipart is not an image list.
  if (/^content-type:[ \t]*multipart\//i.test(file.toString('latin1', cStart, Math.min(cEnd, cStart + 64)))) {
    throw mimeError('MIME_NESTED', 'the signed part is itself a multipart message; nested parts are not allowed')
  }
  const content = canonicalize(file.subarray(cStart, cEnd))

  const sStart = m1.next
  const sEnd = Math.max(sStart, lineBreakStart(file, m2.start, sStart))
  const sb = blankLine(file, sStart, sEnd)
  const sh = parseHeaders(file, lines(file, sStart, sb ? sb.at : sEnd))
  const sct = parseContentType(sh.get('content-type') ?? '').type
  if (!SIG_TYPES.has(sct)) throw mimeError('MIME_SIGNATURE_TYPE', `the second part has Content-Type "${sct || '(none)'}", not application/(x-)pkcs7-signature`)
  const cte = (sh.get('content-transfer-encoding') ?? 'base64').toLowerCase()
  if (cte !== 'base64') throw mimeError('MIME_ENCODING', `signature part uses Content-Transfer-Encoding ${cte}; only base64 is supported`)
  const b64 = sb ? file.toString('latin1', sb.after, sEnd).replace(/[\s]/g, '') : ''
  if (b64.length === 0 || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) {
    throw mimeError('MIME_BASE64', 'the signature part is not valid base64')
  }
  return { content, signature: Buffer.from(b64, 'base64'), boundary, protocol, micalg: params.get('micalg') }
}

/** Already canonical: every LF preceded by exactly one CR, and no CR at the very end. */
export function isCanonical(content: Buffer): boolean {
  if (content.indexOf(0x0d) < 0) return content.indexOf(0x0a) < 0
  if (content[content.length - 1] === 0x0d) return false
  for (let p = content.indexOf(0x0a); p >= 0; p = content.indexOf(0x0a, p + 1)) {
    if (p < 1 || content[p - 1] !== 0x0d || (p >= 2 && content[p - 2] === 0x0d)) return false
  }
  return true
}

/**
 * Write the canonical form of `content` into `out` from offset `at` (room for length + number of LFs);
 * returns the end offset. CRs are held back until we know whether an LF follows.
 */
export function canonicalizeInto(content: Buffer, out: Buffer, at: number): number {
  const n = content.length
  let j = at
  if (content.indexOf(0x0d) < 0) {
    // common case (files written on Unix): no CR at all, insert one before every LF
    for (let i = 0; i < n; i++) {
      const c = content[i] as number
      if (c === 0x0a) out[j++] = 0x0d
      out[j++] = c
    }
    return j
  }
  let crs = 0
  for (let i = 0; i < n; i++) {
    const c = content[i] as number
    if (c === 0x0d) crs++
    else if (c === 0x0a) {
      out[j++] = 0x0d
      out[j++] = 0x0a
      crs = 0
    } else {
      for (; crs > 0; crs--) out[j++] = 0x0d // a CR inside a line stays
      out[j++] = c
    }
  }
  return j // CRs at the very end are dropped, as OpenSSL's strip_eol does
}

/**
 * OpenSSL's SMIME_crlf_copy (signing without -binary): every line end becomes CRLF (extra CRs
 * before an LF are dropped), a last line without a line end gets none, trailing CRs at the end go.
 * Canonical input is returned as it is (no copy).
 */
export function canonicalize(content: Buffer): Buffer {
  if (isCanonical(content)) return content
  const out = Buffer.allocUnsafe(2 * content.length + 1)
  return out.subarray(0, canonicalizeInto(content, out, 0))
}

const MICALG: Record<string, string> = { sha1: 'sha1', sha256: 'sha-256', sha384: 'sha-384', sha512: 'sha-512' }

/** A fresh boundary as OpenSSL makes it: 32 uppercase hex digits (the writer adds `----`). */
export const newBoundary = (): string => randomBytes(16).toString('hex').toUpperCase()

/** Everything before the signed content in OpenSSL's SMIME_write_PKCS7 layout (spec §2.1). */
export function smimeHead(digest: string, boundary: string): string {
  const b = `----${boundary}`
  return 'MIME-Version: 1.0\n' +
    `Content-Type: multipart/signed; protocol="application/x-pkcs7-signature"; micalg="${MICALG[digest] ?? digest}"; boundary="${b}"\n\n` +
    'This is an S/MIME signed message\n\n' +
    `--${b}\n`
}

/** Everything after the signed content: the signature part, base64 in 64 columns, and the closing delimiter. */
export function smimeTail(signatureDer: Buffer, boundary: string): string {
  const b = `----${boundary}`
  const b64 = signatureDer.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')
  return `\n--${b}\n` +
    'Content-Type: application/x-pkcs7-signature; name="smime.p7s"\n' +
    'Content-Transfer-Encoding: base64\n' +
    'Content-Disposition: attachment; filename="smime.p7s"\n\n' +
    b64 + `\n--${b}--\n\n`
}

/**
 * OpenSSL's layout for a detached signature. `content` must already be canonical (CRLF);
 * `boundary` is the 32-hex part, without the leading `----`.
 */
export function writeSmime(content: Buffer, signatureDer: Buffer, digest: string, boundary: string = newBoundary()): Buffer {
  return Buffer.concat([Buffer.from(smimeHead(digest, boundary), 'latin1'), content, Buffer.from(smimeTail(signatureDer, boundary), 'latin1')])
}
