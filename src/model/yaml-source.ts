import type { ErrorCode } from '../util/catalogue.js'
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml'
import type { Problem, Severity } from './problems.js'

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
  for (const e of doc.errors) {
    const { line, col } = at(e.pos[0])
    const code = e.code === 'DUPLICATE_KEY' ? 'YAML_DUPLICATE_KEY' : 'YAML_SYNTAX'
    const message =
      e.code === 'DUPLICATE_KEY' ? `duplicate key: ${duplicateKeyName(text, e.pos)} is set twice; keep one` : `invalid YAML: ${firstLine(e.message)}`
    problems.push({ file, line, col, severity: 'error', code, message })
  }
  for (const w of doc.warnings) {
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
