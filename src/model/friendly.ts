/**
 * Friendly YAML names ↔ HEPiX keys (spec §1.2). The tables are the single source of truth for
 * toHepix (YAML → HEPiX) and import (HEPiX → YAML); a test keeps schemas/ in step with them.
 */

export type Kind = 'config' | 'endorser' | 'image' | 'imagelist'

/** A raw namespaced HEPiX key written as-is (`ad:group`, `hv:ram_minimum`, `sl:checksum:sha512`). */
export const NAMESPACED_KEY = /^[a-z]+(:[A-Za-z0-9_.-]+)+$/

export interface FriendlyField {
  /** YAML name. */
  name: string
  /** HEPiX key it renders to. */
  key: string
  /** 'integer' for hv:size; every other friendly field is a string (spec §1.5: only hv:size is an integer). */
  type: 'string' | 'integer'
  /** Required by every consumer (spec §1.2 "all"): missing means vmcatcher drops the image or list. */
  required?: boolean
}

const f = (name: string, key: string, required = false, type: 'string' | 'integer' = 'string'): FriendlyField => ({
  name,
  key,
  type,
  required,
})

/** images/<name>.yaml, in the order vmgit writes them. */
export const IMAGE_FIELDS: readonly FriendlyField[] = [
  f('identifier', 'dc:identifier', true),
  f('title', 'dc:title', true),
  f('description', 'dc:description', true),
  f('comments', 'sl:comments', true),
  f('version', 'hv:version', true),
  f('uri', 'hv:uri', true),
  f('size', 'hv:size', true, 'integer'),
  f('sha512', 'sl:checksum:sha512', true),
  f('hypervisor', 'hv:hypervisor', true),
  f('format', 'hv:format'),
  f('arch', 'sl:arch', true),
  f('os', 'sl:os', true),
  f('osname', 'sl:osname'),
  f('osversion', 'sl:osversion', true),
  f('expires', 'dc:date:expires'),
  f('mpuri', 'ad:mpuri'),
]
/** vmgit-only image keys, never rendered. */
export const IMAGE_LOCAL = ['source'] as const

/** imagelists/<name>.yaml. version/created/expires are computed at render time when absent. */
export const LIST_FIELDS: readonly FriendlyField[] = [
  f('identifier', 'dc:identifier', true),
  f('title', 'dc:title', true),
  f('description', 'dc:description', true),
  f('origin', 'dc:source', true),
  f('uri', 'hv:uri', true),
  f('vo', 'ad:vo'),
  f('version', 'hv:version'),
  f('created', 'dc:date:created'),
  f('expires', 'dc:date:expires'),
]
/** vmgit-only list keys: references and the output layout. */
export const LIST_LOCAL = ['layout', 'endorser', 'images'] as const

/** endorsers/<name>.yaml → hv:endorser.hv:x509. dn/ca may be left out: they are filled from the signing certificate. */
export const ENDORSER_FIELDS: readonly FriendlyField[] = [
  f('dn', 'hv:dn'),
  f('ca', 'hv:ca'),
  f('email', 'hv:email', true),
  f('creator', 'dc:creator', true),
]

export const FIELDS: Record<Exclude<Kind, 'config'>, readonly FriendlyField[]> = {
  image: IMAGE_FIELDS,
  imagelist: LIST_FIELDS,
  endorser: ENDORSER_FIELDS,
}

/** Raw keys that would clash with the structure vmgit renders itself. */
export const RESERVED_KEYS: Record<Exclude<Kind, 'config'>, readonly string[]> = {
  // issue 15: the provenance keys are written by publish only (a YAML file, e.g. in a pull request, cannot forge them)
  image: ['hv:image', 'hv:images', 'hv:imagelist', 'vmgit:repository', 'vmgit:commit', 'vmgit:run', 'vmgit:dirty'],
  imagelist: ['hv:imagelist', 'hv:endorser', 'hv:images', 'hv:image', 'hv:x509', 'vmgit:repository', 'vmgit:commit', 'vmgit:run', 'vmgit:dirty'],
  endorser: ['hv:x509', 'hv:endorser'],
}

export const byName = (kind: Exclude<Kind, 'config'>, name: string): FriendlyField | undefined =>
  FIELDS[kind].find((x) => x.name === name)

export const byKey = (kind: Exclude<Kind, 'config'>, key: string): FriendlyField | undefined =>
  FIELDS[kind].find((x) => x.key === key)

/** The YAML key that sets HEPiX `key` in `data` (friendly name preferred, else the raw key), if any. */
export function yamlKeyFor(kind: Exclude<Kind, 'config'>, data: Record<string, unknown>, key: string): string | undefined {
  const fr = byKey(kind, key)
  if (fr && fr.name in data) return fr.name
  if (key in data) return key
  return undefined
}

/** How a HEPiX key is called in a given kind of file, for messages: `sha512 (sl:checksum:sha512)`. */
export function describeKey(kind: Exclude<Kind, 'config'>, key: string): string {
  const fr = byKey(kind, key)
  return fr ? `${fr.name} (${key})` : key
}
