import { identifierVerdicts, imageValueVerdicts } from '../rules/image.js'
import type { Verdict } from '../rules/list.js'
import { FIELDS, NAMESPACED_KEY, RESERVED_KEYS, yamlKeyFor, type Kind } from './friendly.js'
import type { Problem } from './problems.js'
import { isHepixDate } from './time.js'
import type { ImageEntry, ListEntry, Repository } from './types.js'
import { problemAt, scalarSource, type SourceFile } from './yaml-source.js'

type FileKind = Exclude<Kind, 'config'>

/** Checks of one file's keys and values beyond what its JSON Schema says. */
export function fileProblems(kind: FileKind, src: SourceFile, data: Record<string, unknown>): Problem[] {
  const out: Problem[] = []
  for (const [k, v] of Object.entries(data)) {
    const friendly = FIELDS[kind].find((x) => x.key === k)
    // one value per HEPiX key: `sha512:` and `sl:checksum:sha512:` together is ambiguous
    if (friendly && friendly.name in data)
      out.push(problemAt(src, [k], 'error', 'FRIENDLY_AND_RAW', `${k} and ${friendly.name} set the same HEPiX key; keep only ${friendly.name}`, { key: true }))
    if (RESERVED_KEYS[kind].includes(k))
      out.push(problemAt(src, [k], 'error', 'RESERVED_KEY', `${k} is built by vmgit and cannot be set in a ${kind} file; remove it`, { key: true }))
    // YAML reads 1.0 as the number 1: the rendered list would say 1
    if (typeof v === 'number' && (NAMESPACED_KEY.test(k) || friendly)) {
      const written = scalarSource(src, [k])
      if (written !== undefined && written !== String(v))
        out.push(problemAt(src, [k], 'warning', 'NUMBER_REWRITTEN', `${k}: ${written} is read as the number ${v} and renders as ${v}; quote it ("${written}") to keep the text`))
    }
  }
  out.push(...valueProblems(kind, src, data))
  return out
}

/** Format checks on HEPiX values, whichever spelling (friendly or raw) set them. */
function valueProblems(kind: FileKind, src: SourceFile, data: Record<string, unknown>): Problem[] {
  const out: Problem[] = []
  const at = (key: string) => yamlKeyFor(kind, data, key)
  const check = (key: string, fn: (v: unknown, yk: string) => Problem | undefined) => {
    const yk = at(key)
    if (yk === undefined) return
    const p = fn(data[yk], yk)
    if (p) out.push(p)
  }
  const shown = (yk: string) => scalarSource(src, [yk]) ?? JSON.stringify(data[yk])
  // a rulebook verdict at the YAML key it is about (the message names the key as written)
  const first = (vs: Verdict[], yk: string): Problem | undefined => vs[0] && problemAt(src, [yk], vs[0].severity, vs[0].code, vs[0].message)

  if (kind === 'image' || kind === 'imagelist') {
    // identifiers: the rulebook's UNSAFE_IDENTIFIER (S18) and NOT_UUID, as verify, import and sync judge them
    check('dc:identifier', (v, yk) => first(identifierVerdicts(v, () => yk, 'publisher'), yk))
    check('hv:version', (v, yk) =>
      typeof v === 'string'
        ? undefined
        : problemAt(src, [yk], 'error', 'BAD_VERSION', `${yk} must be a string; YAML reads ${shown(yk)} as a ${typeof v}: quote it, ${yk}: "${shown(yk)}"`),
    )
    for (const key of ['dc:date:created', 'dc:date:expires'])
      check(key, (v, yk) =>
        typeof v === 'string' && isHepixDate(v)
          ? undefined
          : problemAt(src, [yk], 'error', 'BAD_DATE', `${yk} ${shown(yk)} must be a UTC time like 2024-06-01T12:00:00Z (vmcatcher and cloudkeeper reject other forms)`),
      )
  }
  if (kind === 'image') {
    // the rulebook's BAD_SHA512 and BAD_SIZE (format §1.2), as verify, import and sync judge them
    check('sl:checksum:sha512', (v, yk) => first(imageValueVerdicts({ 'sl:checksum:sha512': v }, () => yk, 'publisher'), yk))
    check('hv:size', (v, yk) =>
      // the YAML holds a number; the layout decides whether it renders as an integer or a string
      typeof v === 'string'
        ? problemAt(src, [yk], 'error', 'BAD_SIZE', `${yk} ${shown(yk)} must be a non-negative integer written as a number, not a string (the layout decides how it renders): the byte size of the file as served`)
        : first(imageValueVerdicts({ 'hv:size': v }, () => yk, 'publisher'), yk),
    )
  }
  return out
}

/** Keys every consumer needs (spec §1.2 "all"); missing ones make vmcatcher drop the image or the list. */
export function missingKeyProblems(kind: FileKind, src: SourceFile, data: Record<string, unknown>): Problem[] {
  const missing = FIELDS[kind].filter((f) => f.required && yamlKeyFor(kind, data, f.key) === undefined)
  if (missing.length === 0) return []
  const names = missing.map((f) => f.name).join(', ')
  const what = kind === 'image' ? 'vmcatcher drops an image without them' : 'consumers reject a list without them'
  return [problemAt(src, [], 'error', 'MISSING_KEY', `missing ${names}; ${what}`)]
}

/** References from lists, duplicate identifiers across files. */
export function crossProblems(repo: Repository): Problem[] {
  const out: Problem[] = []
  for (const list of repo.lists.values()) {
    if (!list.ok) continue
    if (typeof list.data.endorser === 'string' && !repo.endorsers.has(list.endorser)) {
      const known = [...repo.endorsers.keys()].join(', ') || 'none'
      out.push(problemAt(list.src, ['endorser'], 'error', 'UNKNOWN_ENDORSER', `endorser "${list.endorser}" is not a file in endorsers/ (known: ${known})`))
    }
    const seen = new Map<string, number>()
    list.images.forEach((name, i) => {
      if (!repo.images.has(name))
        out.push(problemAt(list.src, ['images', i], 'error', 'UNKNOWN_IMAGE', `image "${name}" is not a file in images/ (expected images/${name}.yaml)`))
      const first = seen.get(name)
      if (first !== undefined)
        out.push(problemAt(list.src, ['images', i], 'error', 'DUPLICATE_IMAGE_REF', `image "${name}" is already in this list (item ${first + 1}); remove one`))
      else seen.set(name, i)
    })
  }
  out.push(...duplicateIds([...repo.images.values()], 'image'), ...duplicateIds([...repo.lists.values()], 'imagelist'))
  return out
}

function duplicateIds(entries: (ImageEntry | ListEntry)[], kind: FileKind): Problem[] {
  const byId = new Map<string, (ImageEntry | ListEntry)[]>()
  for (const e of entries) {
    const id = e.hepix['dc:identifier']
    if (e.ok && typeof id === 'string') byId.set(id, [...(byId.get(id) ?? []), e])
  }
  const out: Problem[] = []
  const what = kind === 'image' ? 'every image needs its own identifier (it stays the same across versions)' : 'every list needs its own identifier'
  for (const [id, group] of byId) {
    if (group.length < 2) continue
    for (const e of group) {
      const others = group.filter((o) => o !== e).map((o) => o.file).join(', ')
      const yk = yamlKeyFor(kind, e.data, 'dc:identifier') ?? 'identifier'
      out.push(problemAt(e.src, [yk], 'error', 'DUPLICATE_IDENTIFIER', `dc:identifier ${id} is also used by ${others}; ${what}`))
    }
  }
  return out
}
