import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js'
import type { Kind } from './friendly.js'
import type { Problem } from './problems.js'
import { problemAt, type PathSeg, type SourceFile } from './yaml-source.js'

/** schemas/ ships beside dist/ and src/ (package.json "files"), so editors can map them too. */
export const SCHEMA_DIR = fileURLToPath(new URL('../../schemas/', import.meta.url))

export const SCHEMA_FILES: Record<Kind, string> = {
  config: 'config.schema.json',
  endorser: 'endorser.schema.json',
  image: 'image.schema.json',
  imagelist: 'imagelist.schema.json',
}

export const schemaUrl = (kind: Kind): string => `https://vmgit.dev/schemas/${SCHEMA_FILES[kind]}`

/** First line of every YAML file vmgit writes: yaml-language-server then shows the schema's help. */
export const modeline = (kind: Kind): string => `# yaml-language-server: $schema=${schemaUrl(kind)}\n`

export function loadSchema(kind: Kind): Record<string, unknown> {
  return JSON.parse(readFileSync(SCHEMA_DIR + SCHEMA_FILES[kind], 'utf8')) as Record<string, unknown>
}

let validators: Record<Kind, ValidateFunction> | undefined

function compiled(): Record<Kind, ValidateFunction> {
  if (!validators) {
    const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true })
    const v = {} as Record<Kind, ValidateFunction>
    for (const kind of Object.keys(SCHEMA_FILES) as Kind[]) v[kind] = ajv.compile(loadSchema(kind))
    validators = v
  }
  return validators
}

/**
 * Fields whose value checks live in checks.ts (with their own codes: BAD_SHA512, BAD_SIZE,
 * BAD_DATE, UNSAFE_IDENTIFIER, BAD_VERSION; the rulebook's, src/rules/image.ts); the schema keeps them for editors only.
 */
const SEMANTIC: Partial<Record<Kind, readonly string[]>> = {
  image: ['identifier', 'sha512', 'size', 'expires', 'version'],
  imagelist: ['identifier', 'created', 'expires', 'version'],
}

/** Validate parsed YAML against its kind's schema; every violation becomes a positioned problem. */
export function schemaProblems(kind: Kind, src: SourceFile, known: readonly string[] = []): Problem[] {
  const validate = compiled()[kind]
  if (validate(src.data)) return []
  const out: Problem[] = []
  for (const e of validate.errors ?? []) {
    const path = pointerToPath(e.instancePath)
    if (path.length === 1 && SEMANTIC[kind]?.includes(String(path[0])) && e.keyword !== 'additionalProperties') continue
    out.push(toProblem(kind, src, e, path, known))
  }
  return out
}

function toProblem(kind: Kind, src: SourceFile, e: ErrorObject, path: PathSeg[], known: readonly string[]): Problem {
  const where = path.length ? `${path.join('.')}` : 'the file'
  const p = e.params as Record<string, unknown>
  switch (e.keyword) {
    case 'required':
      return problemAt(src, path, 'error', 'SCHEMA', `${where} is missing required key "${String(p.missingProperty)}"; add it`)
    case 'additionalProperties': {
      const key = String(p.additionalProperty)
      const hint = suggest(key, known)
      const msg = hint
        ? `unknown key "${key}"; did you mean "${hint}"?`
        : `unknown key "${key}"; use a friendly name from the ${kind} schema or a raw namespaced HEPiX key like "ad:group"`
      return problemAt(src, [...path, key], 'error', 'SCHEMA', msg, { key: true })
    }
    case 'enum':
      return problemAt(src, path, 'error', 'SCHEMA', `${where} must be one of ${(p.allowedValues as unknown[]).map(String).join(', ')}`)
    case 'const':
      return problemAt(src, path, 'error', 'SCHEMA', `${where} must be ${JSON.stringify(p.allowedValue)}`)
    case 'type': {
      const t = Array.isArray(p.type) ? p.type.join(' or ') : String(p.type)
      return problemAt(src, path, 'error', 'SCHEMA', `${where} must be a ${t}${t.includes('string') ? ' (quote the value)' : ''}`)
    }
    default:
      return problemAt(src, path, 'error', 'SCHEMA', `${where} ${e.message ?? 'is invalid'}`)
  }
}

export function pointerToPath(pointer: string): PathSeg[] {
  if (!pointer) return []
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s))
}

/** A known key within edit distance 2 of a typo. */
function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestD = 3
  for (const k of known) {
    const d = distance(key.toLowerCase(), k.toLowerCase())
    if (d < bestD) [best, bestD] = [k, d]
  }
  return best
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = cur
    }
  }
  return row[b.length]!
}
