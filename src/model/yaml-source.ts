import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import type { ErrorCode } from '../util/catalogue.js'
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml'
import type { Problem, Severity } from './problems.js'

/**
 * Issue 14: a repository YAML file is at most 128 KiB (an image list naming 4,000 images; image,
 * endorser and vmgit.yaml files are a few kB). Larger files are refused from their size, before a
 * byte is parsed: a 100 MB file took the parser 54 s and 3.5 GB, and the parser's worst cases
 * (thousands of unclosed flow collections) grow quadratically, so the cap also bounds them (seconds).
 */
export const MAX_YAML_BYTES = 128 * 1024
/** Issue 14: at most this many YAML syntax problems per file are listed; one more line counts the rest. */
export const MAX_YAML_PROBLEMS = 20

/**
 * Read one repository YAML file, checked before parsing: a regular file (a FIFO or device would
 * block or never end), at most MAX_YAML_BYTES, valid UTF-8 (YAML 1.2 files are Unicode; vmgit
 * reads UTF-8 only, so a Latin-1 byte is an error at its line instead of U+FFFD in a signed list).
 * Returns the text, or the problem that stops this file (undefined when the file does not exist).
 */
export async function readYamlFile(absPath: string, file: string): Promise<{ text: string } | { problem: Problem } | undefined> {
  const at = (code: ErrorCode, message: string, line = 1, col = 1): { problem: Problem } => ({ problem: { file, line, col, severity: 'error', code, message } })
  // O_NONBLOCK: opening a FIFO for reading must not wait for a writer
  const fh = await open(absPath, constants.O_RDONLY | constants.O_NONBLOCK).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined
    throw e
  })
  if (!fh) return undefined
  try {
    const st = await fh.stat()
    if (!st.isFile()) return at('YAML_NOT_A_FILE', `${file} is not a regular file; replace it with a YAML file or remove it`)
    if (st.size > MAX_YAML_BYTES) return at('YAML_TOO_LARGE', tooLarge(file, st.size))
    const buf = Buffer.alloc(Math.min(st.size, MAX_YAML_BYTES) + 1)
    let n = 0
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n)
      if (bytesRead === 0) break
      n += bytesRead
      if (n === buf.length) break
    }
    if (n > MAX_YAML_BYTES) return at('YAML_TOO_LARGE', tooLarge(file, n))
    return decodeYaml(file, buf.subarray(0, n))
  } finally {
    await fh.close()
  }
}

const tooLarge = (file: string, size: number): string =>
  `${file} is ${size} bytes, more than the ${MAX_YAML_BYTES / 1024} KiB a repository YAML file may have; split it or remove what does not belong`

/** Issue 14: YAML bytes as UTF-8 text, or a YAML_NOT_UTF8 problem at the first invalid byte. */
export function decodeYaml(file: string, bytes: Uint8Array): { text: string } | { problem: Problem } {
  const bad = firstInvalidUtf8(bytes)
  if (bad < 0) return { text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8') }
  let line = 1
  let start = 0
  for (let i = 0; i < bad; i++) if (bytes[i] === 0x0a) [line, start] = [line + 1, i + 1]
  const col = Buffer.from(bytes.subarray(start, bad)).toString('utf8').length + 1
  const hex = Array.from(bytes.subarray(bad, bad + 4), (b) => b.toString(16).padStart(2, '0')).join(' ')
  return {
    problem: {
      file, line, col, severity: 'error', code: 'YAML_NOT_UTF8',
      message: `${file} is not UTF-8 (byte offset ${bad}: ${hex}); re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8`,
    },
  }
}

/** Offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629), or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0
  while (i < b.length) {
    const c = b[i]!
    if (c < 0x80) {
      i++
      continue
    }
    let need: number
    let min: number
    if (c >= 0xc2 && c <= 0xdf) [need, min] = [1, 0x80]
    else if (c >= 0xe0 && c <= 0xef) [need, min] = [2, 0x800]
    else if (c >= 0xf0 && c <= 0xf4) [need, min] = [3, 0x10000]
    else return i
    let cp = c & (0x3f >> need)
    for (let k = 1; k <= need; k++) {
      const d = b[i + k]
      if (d === undefined || (d & 0xc0) !== 0x80) return i
      cp = (cp << 6) | (d & 0x3f)
    }
    // overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return i
    i += need + 1
  }
  return -1
}

/** One YAML file of the repository, parsed with positions so problems point at line:col. */
export interface SourceFile {
  /** Path relative to the repository, with `/` separators (what problems print). */
  file: string
  text: string
  doc: Document.Parsed
  lines: LineCounter
  /** Plain JS value (undefined when the file did not parse). */
  data: unknown
}

export type PathSeg = string | number

/**
 * Parse YAML text. Syntax errors and duplicate keys (`uniqueKeys`) become problems with the
 * parser's own positions; no exception escapes, whatever the bytes are.
 */
export function parseYamlSource(file: string, text: string): { src: SourceFile; problems: Problem[] } {
  const lines = new LineCounter()
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter: lines, keepSourceTokens: false })
  const problems: Problem[] = []
  const at = (pos: number) => lines.linePos(Math.min(pos, text.length))
  // issue 14: a bounded list; the rest is counted in one line
  for (const e of doc.errors.slice(0, MAX_YAML_PROBLEMS)) {
    const { line, col } = at(e.pos[0])
    const code = e.code === 'DUPLICATE_KEY' ? 'YAML_DUPLICATE_KEY' : 'YAML_SYNTAX'
    const message =
      e.code === 'DUPLICATE_KEY' ? `duplicate key: ${duplicateKeyName(text, e.pos)} is set twice; keep one` : `invalid YAML: ${firstLine(e.message)}`
    problems.push({ file, line, col, severity: 'error', code, message })
  }
  if (doc.errors.length > MAX_YAML_PROBLEMS) {
    const { line, col } = at(doc.errors[MAX_YAML_PROBLEMS]!.pos[0])
    problems.push({ file, line, col, severity: 'error', code: 'YAML_SYNTAX', message: `invalid YAML: ${doc.errors.length - MAX_YAML_PROBLEMS} more error(s) not listed; fix the ones above first` })
  }
  for (const w of doc.warnings.slice(0, MAX_YAML_PROBLEMS)) {
    const { line, col } = at(w.pos[0])
    problems.push({ file, line, col, severity: 'warning', code: 'YAML_WARNING', message: firstLine(w.message) })
  }
  let data: unknown
  if (doc.errors.length === 0) {
    try {
      data = doc.toJS({ maxAliasCount: 100 })
    } catch (e) {
      // alias bombs and similar: report, never throw
      problems.push({ file, line: 1, col: 1, severity: 'error', code: 'YAML_SYNTAX', message: `invalid YAML: ${(e as Error).message}` })
    }
  }
  return { src: { file, text, doc, lines, data }, problems }
}

const firstLine = (s: string) => s.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')

/** The key as written on the line where the parser flags the duplicate. */
function duplicateKeyName(text: string, pos: [number, number]): string {
  const line = text.slice(pos[0]).split('\n')[0] ?? ''
  const m = /^\s*(?:- )?("[^"]*"|'[^']*'|[^:#]+?)\s*:/.exec(line)
  return m ? `"${m[1]!.replace(/^["']|["']$/g, '')}"` : 'a key'
}

/** The YAML node at `path` (map keys and sequence indexes), or undefined. */
export function nodeAt(src: SourceFile, path: readonly PathSeg[]): Node | undefined {
  let node: unknown = src.doc.contents
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg))
      node = pair?.value ?? undefined
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg]
    } else return undefined
  }
  return (node ?? undefined) as Node | undefined
}

/** The key node of `path`'s last segment in its parent map (to point at `sha512:` rather than its value). */
export function keyNodeAt(src: SourceFile, path: readonly PathSeg[]): Node | undefined {
  if (path.length === 0) return undefined
  const parent = nodeAt(src, path.slice(0, -1))
  if (!isMap(parent)) return undefined
  const last = String(path[path.length - 1])
  const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === last)
  return (pair?.key ?? undefined) as Node | undefined
}

/**
 * line:col of the deepest existing node on `path`: the value itself when present, else the
 * closest existing parent (for a missing property, the map that should hold it).
 */
export function locate(src: SourceFile, path: readonly PathSeg[], opts: { key?: boolean } = {}): { line: number; col: number } {
  for (let n = path.length; n >= 0; n--) {
    const sub = path.slice(0, n)
    const node = opts.key && n === path.length ? (keyNodeAt(src, sub) ?? nodeAt(src, sub)) : nodeAt(src, sub)
    if (node?.range) return src.lines.linePos(node.range[0])
  }
  return { line: 1, col: 1 }
}

/** The source text of a scalar as written (`1.0` for a YAML number that JS reads as 1). */
export function scalarSource(src: SourceFile, path: readonly PathSeg[]): string | undefined {
  const node = nodeAt(src, path)
  if (!isScalar(node) || !node.range) return undefined
  return src.text.slice(node.range[0], node.range[1]).trim()
}

export function problemAt(
  src: SourceFile,
  path: readonly PathSeg[],
  severity: Severity,
  code: ErrorCode,
  message: string,
  opts: { key?: boolean } = {},
): Problem {
  return { file: src.file, ...locate(src, path, opts), severity, code, message }
}
