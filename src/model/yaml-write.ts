import { Document, isMap, isScalar, parseDocument } from 'yaml'
import { isDeepStrictEqual } from 'node:util'
import type { Kind } from './friendly.js'
import { modeline } from './schemas.js'

/** No line folding: long descriptions and URLs stay on one line, as the user wrote them. */
const STRINGIFY = { lineWidth: 0, minContentWidth: 0 } as const

/** A new YAML file: the schema modeline, then the keys in the given order. */
export function yamlText(kind: Kind, data: Record<string, unknown>): string {
  return modeline(kind) + new Document(data).toString(STRINGIFY)
}

/**
 * Update an existing YAML file in place: changed keys get their new value, new keys are
 * appended, keys absent from `data` are removed (except those in `keep`); comments and key
 * order of what stays are preserved. Returns undefined when nothing changes.
 */
export function updateYamlText(kind: Kind, old: string, data: Record<string, unknown>, keep: readonly string[] = []): string | undefined {
  const doc = parseDocument(old, { uniqueKeys: true })
  if (doc.errors.length > 0 || !isMap(doc.contents)) return yamlText(kind, data)
  const current = doc.toJS() as Record<string, unknown>
  let changed = false
  for (const item of [...doc.contents.items]) {
    const key = isScalar(item.key) ? String(item.key.value) : undefined
    if (key !== undefined && !(key in data) && !keep.includes(key)) {
      doc.delete(key)
      changed = true
    }
  }
  for (const [k, v] of Object.entries(data)) {
    if (isDeepStrictEqual(current[k], v)) continue
    doc.set(k, v)
    changed = true
  }
  if (!changed) return undefined
  const text = doc.toString(STRINGIFY)
  return text.startsWith('# yaml-language-server:') ? text : modeline(kind) + text
}
