/**
 * Scalar encoding identical to Python's `json` module with `ensure_ascii=True` (the default in
 * Python 2 `json.dumps`, used by vmcaster and hepixvmitrust). These are the bytes that get signed,
 * so every character matters.
 */

// ensure_ascii: everything outside printable ASCII 0x20-0x7E, plus `"` and `\`, is escaped.
// Python's ESCAPE_ASCII is `([\\"]|[^\ -~])`; note that DEL (0x7F) is escaped and `/` is not.
const NEEDS_ESCAPE = /[\\"\u0000-\u001f\u007f-\uffff]/

const SHORT_ESCAPES: Readonly<Record<number, string>> = {
  0x5c: '\\\\',
  0x22: '\\"',
  0x08: '\\b',
  0x0c: '\\f',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
}

const HEX4 = (code: number): string => '\\u' + code.toString(16).padStart(4, '0')

/**
 * `json.dumps(s)` for a string with ensure_ascii: `\uXXXX` in lowercase hex, astral characters as
 * a surrogate pair (JS strings already hold UTF-16 code units, so escaping unit by unit yields
 * exactly Python's pairs; lone surrogates are escaped the same way Python does).
 */
export function pyJsonString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return '"' + s + '"'
  return '"' + s.replace(ESCAPE_ALL, escapeOne) + '"'
}

const ESCAPE_ALL = new RegExp(NEEDS_ESCAPE.source, 'g')
const escapeOne = (ch: string): string => {
  const c = ch.charCodeAt(0)
  return SHORT_ESCAPES[c] ?? HEX4(c)
}

/**
 * A JSON number as Python prints it. Integral values up to 2^53 print as integers (the JSON text
 * `5` is an int in Python and 5 here; the parser refuses larger integer literals, so a larger
 * integral value can only come from a float literal such as 1.5e300). Everything else follows
 * Python's float `repr`:
 * shortest round-trip digits, exponent form when the decimal exponent is < -4 or >= 16, exponent
 * with a sign and at least two digits (`1e-05`, `1.5e+16`). Limitation: a float literal with a small
 * integral value (`1.0`, `1e5`) reads as a JS integer and prints as `1` / `100000`, where Python
 * would print `1.0` / `100000.0`; no known list uses floats.
 */
export function pyJsonNumber(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`cannot encode ${n} as JSON`)
  if (Number.isSafeInteger(n)) return Object.is(n, -0) ? '0' : String(n)
  const sign = n < 0 ? '-' : ''
  const [mant = '', expText = '0'] = Math.abs(n).toExponential().split('e')
  const digits = mant.replace('.', '')
  const exp = Number(expText) // value = d.ddd × 10^exp
  const decpt = exp + 1 // value = 0.ddd × 10^decpt (Python's convention)
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return sign + '0.' + '0'.repeat(-decpt) + digits
    if (decpt >= digits.length) return sign + digits + '0'.repeat(decpt - digits.length) + '.0'
    return sign + digits.slice(0, decpt) + '.' + digits.slice(decpt)
  }
  const m = digits.length > 1 ? digits[0] + '.' + digits.slice(1) : digits
  const e = Math.abs(exp).toString().padStart(2, '0')
  return sign + m + 'e' + (exp < 0 ? '-' : '+') + e
}

const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff
const isLow = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff

/** The code point that the UTF-16 unit at i belongs to (a lone surrogate stands for itself). */
function codePointAround(s: string, i: number): number {
  const c = s.charCodeAt(i)
  if (isHigh(c) && isLow(s.charCodeAt(i + 1))) return s.codePointAt(i) as number
  if (isLow(c) && i > 0 && isHigh(s.charCodeAt(i - 1))) return s.codePointAt(i - 1) as number
  return c
}

/**
 * Compare strings by Unicode code point, as Python 3 (and wide-build Python 2) sorts keys and
 * compares strings. Plain `<` compares UTF-16 units, which differs when an astral character
 * meets U+E000..U+FFFF, or a surrogate pair meets a lone surrogate.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    if (x < 0xd800 && y < 0xd800) return x < y ? -1 : 1 // fast path: no surrogates involved
    const cx = codePointAround(a, i)
    const cy = codePointAround(b, i)
    if (cx !== cy) return cx < cy ? -1 : 1
    return x < y ? -1 : 1
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1
}
