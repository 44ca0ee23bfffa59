/**
 * A strict RFC 8259 JSON parser that, unlike `JSON.parse`, refuses duplicate object keys at any
 * depth (JSON.parse silently keeps the last one, so two readers of the same signed bytes could
 * see different lists) and reports line:column positions.
 *
 * Errors: NOT_JSON (syntax), JSON_DUPLICATE_KEY (with the key, its path and position).
 */
import { VmgitError } from '../util/errors.js'

export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject
export interface JsonObject {
  [key: string]: JsonValue
}

export interface JsonPosition {
  offset: number
  line: number
  column: number
}

/** Line and column (1-based, column counted in UTF-16 units) of a character offset. */
export function positionOf(text: string, offset: number): JsonPosition {
  let line = 1
  let lineStart = 0
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++
    lineStart = i + 1
  }
  return { offset, line, column: offset - lineStart + 1 }
}

const describe = (text: string, i: number): string =>
  i >= text.length ? 'end of input' : `${JSON.stringify(text[i])}`

/** Set an own property even for the key `__proto__` (plain assignment would change the prototype). */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true })
  else obj[key] = value
}

const ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }
/** An image list nests 5 levels deep; refuse absurd nesting before the call stack overflows. */
const MAX_DEPTH = 256
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y

class Parser {
  private i = 0
  /** keys/indexes leading to the value being parsed, for error messages */
  private readonly path: string[] = []
  constructor(private readonly text: string) {}

  fail(message: string, at = this.i): never {
    const pos = positionOf(this.text, at)
    throw new VmgitError(
      'NOT_JSON',
      `not valid JSON at line ${pos.line}, column ${pos.column}: ${message}; fix the file or check that it is an image list`,
      { details: { ...pos } },
    )
  }

  skipWs(): void {
    const t = this.text
    let i = this.i
    for (;;) {
      const c = t.charCodeAt(i)
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++
      else break
    }
    this.i = i
  }

  parseDocument(): JsonValue {
    this.skipWs()
    const v = this.value()
    this.skipWs()
    if (this.i < this.text.length) this.fail(`unexpected ${describe(this.text, this.i)} after the JSON value`)
    return v
  }

  value(): JsonValue {
    const t = this.text
    const c = t[this.i]
    if (this.path.length > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH} levels`)
    if (c === '{') return this.object()
    if (c === '[') return this.array()
    if (c === '"') return this.string()
    if (c === 't' && t.startsWith('true', this.i)) return (this.i += 4), true
    if (c === 'f' && t.startsWith('false', this.i)) return (this.i += 5), false
    if (c === 'n' && t.startsWith('null', this.i)) return (this.i += 4), null
    NUMBER.lastIndex = this.i
    const m = NUMBER.exec(t)
    if (m && m[0] !== '-') {
      const n = Number(m[0])
      // an integer literal beyond 2^53 would silently change value; refuse it (floats stay floats)
      if (!Number.isSafeInteger(n) && /^-?[0-9]+$/.test(m[0])) {
        const pos = positionOf(t, this.i)
        throw new VmgitError(
          'NOT_AN_IMAGELIST',
          `not an HEPiX image list: the integer ${m[0]} at line ${pos.line}, column ${pos.column} is too large to keep exactly; write it as a string`,
          { details: { ...pos } },
        )
      }
      this.i += m[0].length
      return n
    }
    return this.fail(`unexpected ${describe(t, this.i)}, expected a value`)
  }

  object(): JsonObject {
    const obj: JsonObject = {}
    this.i++ // {
    this.skipWs()
    if (this.text[this.i] === '}') return this.i++, obj
    for (;;) {
      if (this.text[this.i] !== '"') this.fail(`unexpected ${describe(this.text, this.i)}, expected a key in double quotes`)
      const keyAt = this.i
      const key = this.string()
      // strictness: a repeated key is an error, never "last one wins"
      if (Object.prototype.hasOwnProperty.call(obj, key)) {
        const pos = positionOf(this.text, keyAt)
        const where = [...this.path, key].join('/')
        throw new VmgitError(
          'JSON_DUPLICATE_KEY',
          `duplicate key ${JSON.stringify(key)} at line ${pos.line}, column ${pos.column} (${where}); ` +
            'consumers disagree on which value wins, so remove one of them',
          { details: { key, path: where, ...pos } },
        )
      }
      this.skipWs()
      if (this.text[this.i] !== ':') this.fail(`unexpected ${describe(this.text, this.i)}, expected ':'`)
      this.i++
      this.skipWs()
      this.path.push(key)
      setOwn(obj, key, this.value())
      this.path.pop()
      this.skipWs()
      const c = this.text[this.i]
      if (c === '}') return this.i++, obj
      if (c !== ',') this.fail(`unexpected ${describe(this.text, this.i)}, expected ',' or '}'`)
      this.i++
      this.skipWs()
    }
  }

  array(): JsonValue[] {
    const arr: JsonValue[] = []
    this.i++ // [
    this.skipWs()
    if (this.text[this.i] === ']') return this.i++, arr
    for (;;) {
      this.path.push(String(arr.length))
      arr.push(this.value())
      this.path.pop()
      this.skipWs()
      const c = this.text[this.i]
      if (c === ']') return this.i++, arr
      if (c !== ',') this.fail(`unexpected ${describe(this.text, this.i)}, expected ',' or ']'`)
      this.i++
      this.skipWs()
    }
  }

  string(): string {
    const t = this.text
    const start = ++this.i // after the opening quote
    let out = ''
    let chunk = start
    for (;;) {
      const c = t.charCodeAt(this.i)
      if (Number.isNaN(c)) this.fail('unterminated string', start - 1)
      if (c === 0x22) {
        out += t.slice(chunk, this.i++)
        return out
      }
      if (c < 0x20) this.fail('control character in a string; escape it (e.g. \\n)')
      if (c !== 0x5c) {
        this.i++
        continue
      }
      out += t.slice(chunk, this.i)
      const e = t[this.i + 1] ?? ''
      if (e === 'u') {
        const hex = t.slice(this.i + 2, this.i + 6)
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape')
        out += String.fromCharCode(parseInt(hex, 16))
        this.i += 6
      } else {
        const r = ESCAPES[e]
        if (r === undefined) this.fail(`bad escape \\${e}`)
        out += r
        this.i += 2
      }
      chunk = this.i
    }
  }
}

/** Parse JSON text strictly (see module comment). */
export function parseStrictJson(text: string): JsonValue {
  return new Parser(text).parseDocument()
}
