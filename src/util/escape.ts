/**
 * Attack S30 (terminal escapes): every string a list supplies — titles, descriptions, DNs,
 * identifiers, URLs, handler output, error messages quoting any of them — is escaped before it
 * reaches a terminal, so a list can neither drive the terminal (ESC/CSI/OSC sequences, C1
 * controls), nor forge lines or table columns (newlines, carriage returns, tabs), nor reorder or
 * hide what is shown (bidi overrides and isolates, zero-width and other invisible characters).
 *
 * Decisions:
 * - Escapes are printable ASCII in Python repr style: `\t`, `\n`, `\r`, `\x1b` (C0, DEL, C1),
 *   `\u202e` (BMP), `\U000e0041` (astral), so the output stays one line and is greppable.
 * - A backslash is NOT escaped: DNs already carry OpenSSL's `\xC3` escapes and must read as
 *   OpenSSL prints them, and escaping stays idempotent (escaping twice changes nothing), so the
 *   command layer may escape whole lines again as a safety net.
 * - Spaces other than U+0020 (no-break, em, ideographic …) are escaped: they look like a space
 *   but are not one, which is how a look-alike title or DN hides.
 * - `--json` output is never passed through this: JSON escaping is already exact and safe.
 */

/** Always escaped: controls, format/invisible characters, separators, surrogates, private use, unassigned. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}]/u
/** Invisible or look-alike code points outside the categories above (fillers, variation selectors, odd spaces). */
const INVISIBLE = new Set([0x034f, 0x115f, 0x1160, 0x17b4, 0x17b5, 0x180b, 0x180c, 0x180d, 0x180f, 0x3164, 0xffa0, 0x2800])
const isInvisible = (cp: number): boolean =>
  INVISIBLE.has(cp) || (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef) || (cp !== 0x20 && /\p{Zs}/u.test(String.fromCodePoint(cp)))

const NAMED: Record<number, string> = { 0x09: '\\t', 0x0a: '\\n', 0x0d: '\\r' }

export interface EscapeOptions {
  /** keep tabs as they are (only for a whole line whose fields were escaped one by one) */
  tab?: boolean
  /** keep line feeds (and CR LF) as they are (for multi-line documents such as a verified list shown on a TTY) */
  newline?: boolean
}

function escapeCodePoint(cp: number): string {
  const named = NAMED[cp]
  if (named) return named
  if (cp <= 0xff) return '\\x' + cp.toString(16).padStart(2, '0')
  if (cp <= 0xffff) return '\\u' + cp.toString(16).padStart(4, '0')
  return '\\U' + cp.toString(16).padStart(8, '0')
}

/** Does `s` contain anything `escapeText` would change? */
export function needsEscape(s: string, opts: EscapeOptions = {}): boolean {
  return escapeText(s, opts) !== s
}

/** The terminal-safe form of a string (see the module comment for what is escaped and why). */
export function escapeText(s: string, opts: EscapeOptions = {}): string {
  let out = ''
  // iterate by UTF-16 unit so that lone surrogates are seen (for…of would hide nothing, but be explicit)
  for (let i = 0; i < s.length; i++) {
    let cp = s.charCodeAt(i)
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < s.length) {
      const lo = s.charCodeAt(i + 1)
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00)
        i++
      }
    }
    if (cp >= 0x20 && cp < 0x7f) {
      out += s[i]
      continue
    }
    if (opts.tab && cp === 0x09) {
      out += '\t'
      continue
    }
    if (opts.newline && (cp === 0x0a || (cp === 0x0d && s.charCodeAt(i + 1) === 0x0a))) {
      out += cp === 0x0a ? '\n' : '\r'
      continue
    }
    const ch = String.fromCodePoint(cp)
    const lone = cp >= 0xd800 && cp <= 0xdfff
    out += lone || UNSAFE.test(ch) || isInvisible(cp) ? escapeCodePoint(cp) : ch
  }
  return out
}

/** Characters that need no quoting in a POSIX shell word (Python's shlex.quote set, ASCII only). */
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/

/**
 * POSIX shell quoting for a suggested command: one single-quoted word, `'` written as `'\''`.
 * Inside single quotes nothing is special to any POSIX shell ($, `, \, ;, newlines included), so
 * `sh -c` receives exactly `s` as one argument.
 */
export function shQuote(s: string): string {
  if (SHELL_SAFE.test(s)) return s
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/** A suggested command line, every word quoted (the program name too, if it needed it). */
export function shCommand(argv: readonly string[]): string {
  return argv.map(shQuote).join(' ')
}
