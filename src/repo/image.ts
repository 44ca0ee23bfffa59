/**
 * Use cases on images/NAME.yaml: \`vmgit image add\` and \`image update\` (and helpers \`bump\` shares).
 * Moved from the command files (no behaviour change). No oclif use.
 */
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'yaml'
import { bumpVersion, compareVersions } from '../imagelist/version.js'
import { IMAGE_FIELDS, yamlKeyFor } from '../model/friendly.js'
import { FILE_NAME } from '../model/load.js'
import { updateYamlText, yamlText } from '../model/yaml-write.js'
import { readYamlFile } from '../model/yaml-source.js'
import { imageUriFromRule, mapUri, readPublishSettings } from '../publish/config.js'
import { digestImageSource, type ImageCommandOptions, type ImageSourceDigest } from '../transfer/source.js'
import { usageError } from '../util/errors.js'
import { writeFileAtomic } from '../util/fs.js'

export interface Change {
  key: string
  from?: unknown
  to: unknown
}

/** The YAML key holding a HEPiX key in this file (the user's spelling), else the friendly name. */
export function keyOf(data: Record<string, unknown>, hepixKey: string, friendly: string): string {
  return yamlKeyFor('image', data, hepixKey) ?? friendly
}

export async function readImage(repo: string, name: string): Promise<{ file: string; text: string; data: Record<string, unknown> }> {
  const file = path.join(repo, 'images', `${name}.yaml`)
  // issue 14: size, file type and UTF-8 checked before parsing (a Latin-1 byte must not be rewritten as U+FFFD)
  const read = await readYamlFile(file, `images/${name}.yaml`).catch(() => undefined)
  if (!read) throw usageError('IMAGE_NOT_FOUND', `images/${name}.yaml does not exist in ${repo}; add it with vmgit image add ${name} --file PATH`)
  if ('problem' in read) throw usageError('IMAGE_INVALID', `${read.problem.message} [${read.problem.code}]`)
  const { text } = read
  let data: unknown
  try {
    data = parse(text)
  } catch (e) {
    throw usageError('IMAGE_INVALID', `images/${name}.yaml is not valid YAML (${(e as Error).message.split('\n')[0]}); run vmgit validate`)
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw usageError('IMAGE_INVALID', `images/${name}.yaml is not a map of keys; run vmgit validate`)
  return { file, text, data: data as Record<string, unknown> }
}

/** `source:` as written: relative to the repository when inside it. */
export function sourcePath(repo: string, file: string): string {
  const rel = path.relative(path.resolve(repo), path.resolve(file))
  return rel.startsWith('..') || path.isAbsolute(rel) ? path.resolve(file) : rel
}

/**
 * The uri an image gets at `version`: vmgit.yaml `image_uri` applies to images vmgit uploads
 * (their uri matches a target); images hosted elsewhere keep their uri.
 */
export async function nextUri(repo: string, v: { uri: string; name: string; version: string; identifier: string; format?: string; sha512: string; now: Date }): Promise<{ uri: string; note?: string }> {
  const s = await readPublishSettings(repo)
  if (!s.imageUri) return { uri: v.uri, note: 'uri unchanged: the new file replaces the old one at the same URL (set image_uri in vmgit.yaml to give each version its own URL)' }
  if (v.uri && !mapUri(v.uri, s.rules)) return { uri: v.uri, note: `uri unchanged: ${v.uri} is not under a publish target, so vmgit does not name it` }
  return { uri: imageUriFromRule(s.imageUri, v) }
}

export interface UpdateOptions extends ImageCommandOptions {
  version?: string
  uri?: string
}

export interface UpdateResult {
  action: 'updated' | 'unchanged'
  name: string
  file: string
  sha512: string
  size: number
  version?: string
  uri?: string
  changes: Change[]
  checksum?: ImageSourceDigest['checksum']
  notes: string[]
}

export async function updateImage(o: UpdateOptions): Promise<UpdateResult> {
  if (!o.file === !o.url) throw usageError('IMAGE_SOURCE_REQUIRED', 'pass exactly one of --file PATH or --url URL')
  const img = await readImage(o.repo, o.name)
  const d = await digestImageSource(o.file ? { file: o.file } : { url: o.url! }, { ...o, ...(o.keep ? { keep: o.keep } : {}) })
  const k = (hk: string, fr: string) => keyOf(img.data, hk, fr)
  const [kSha, kSize, kVer, kUri] = [k('sl:checksum:sha512', 'sha512'), k('hv:size', 'size'), k('hv:version', 'version'), k('hv:uri', 'uri')]
  const rel = `images/${o.name}.yaml`
  const base = { name: o.name, file: rel, sha512: d.sha512, size: d.size, ...(d.checksum ? { checksum: d.checksum } : {}) }
  if (img.data[kSha] === d.sha512 && img.data[kSize] === d.size) return { ...base, action: 'unchanged', changes: [], notes: [] }

  const old = img.data[kVer] === undefined ? undefined : String(img.data[kVer])
  // rule: a changed image gets a strictly higher hv:version (spec §1.4: increment the last digit run)
  const version = o.version ?? bumpVersion(old ?? '0')
  if (old !== undefined && compareVersions(version, old) <= 0) throw usageError('VERSION_NOT_INCREASING', `version ${version} is not higher than the current ${old}; pick a higher one or leave --version out to bump ${old} → ${bumpVersion(old)}`)
  const notes: string[] = []
  let uri = o.uri
  if (uri === undefined) {
    const n = await nextUri(o.repo, { uri: String(img.data[kUri] ?? ''), name: o.name, version, identifier: String(img.data[k('dc:identifier', 'identifier')] ?? ''), ...(typeof img.data[k('hv:format', 'format')] === 'string' ? { format: String(img.data[k('hv:format', 'format')]) } : {}), sha512: d.sha512, now: o.now })
    uri = n.uri
    if (n.note) notes.push(n.note)
  }
  const data: Record<string, unknown> = { ...img.data, [kSha]: d.sha512, [kSize]: d.size, [kVer]: version, [kUri]: uri }
  const local = o.file ?? o.keep
  if (local) data.source = sourcePath(o.repo, local)
  else if ('source' in data) {
    delete data.source
    notes.push(`removed source: ${String(img.data.source)} (it is not the new file; use --keep FILE to store the download and upload it from there)`)
  }
  const changes: Change[] = [kSha, kSize, kVer, kUri, 'source'].filter((key) => img.data[key] !== data[key]).map((key) => ({ key, from: img.data[key], to: data[key] }))
  const text = updateYamlText('image', img.text, data)
  if (text !== undefined) await writeFileAtomic(img.file, text)
  return { ...base, action: 'updated', version, uri, changes, notes }
}

// `vmgit image add`

/** Metadata flags → friendly YAML names (the rest of IMAGE_FIELDS is computed). */
export const META = ['title', 'identifier', 'description', 'comments', 'version', 'uri', 'hypervisor', 'format', 'arch', 'os', 'osname', 'osversion', 'mpuri'] as const
export type ImageMeta = Partial<Record<(typeof META)[number], string>>

export interface AddOptions extends ImageCommandOptions {
  meta: ImageMeta
}

export interface AddResult {
  name: string
  file: string
  identifier: string
  version: string
  uri: string
  sha512: string
  size: number
  source?: string
  checksum?: ImageSourceDigest['checksum']
  /** keys every consumer needs that are still missing (fill them in, then vmgit validate) */
  missing: string[]
}

export async function addImage(o: AddOptions): Promise<AddResult> {
  if (!o.file === !o.url) throw usageError('IMAGE_SOURCE_REQUIRED', 'pass exactly one of --file PATH or --url URL')
  if (!FILE_NAME.test(o.name)) throw usageError('IMAGE_BAD_NAME', `"${o.name}" cannot be an image file name; use letters, digits, . _ - (it becomes images/${o.name}.yaml)`)
  const rel = `images/${o.name}.yaml`
  const file = path.join(o.repo, rel)
  if (existsSync(file)) throw usageError('IMAGE_EXISTS', `${rel} exists already; use vmgit image update ${o.name} to give it a new file`)
  const d = await digestImageSource(o.file ? { file: o.file } : { url: o.url! }, o)
  const m = o.meta
  const version = m.version ?? '1'
  const identifier = m.identifier ?? randomUUID()
  const format = m.format ?? d.format
  let uri = m.uri
  if (!uri) {
    // a naming rule without {base} gives a new image its URL; otherwise a --url image is served from there
    const rule = (await readPublishSettings(o.repo)).imageUri
    if (rule && !rule.includes('{base}')) uri = imageUriFromRule(rule, { uri: '', name: o.name, version, identifier, ...(format ? { format } : {}), sha512: d.sha512, now: o.now })
    else if (o.url) uri = o.url
    else throw usageError('IMAGE_URI_REQUIRED', `pass --uri with the URL subscribers will download ${o.name} from (or set image_uri: "https://host/path/{name}-{version}.{ext}" in vmgit.yaml)`)
  }
  const local = o.file ?? o.keep
  const values: Record<string, unknown> = {
    ...m,
    identifier,
    title: m.title ?? o.name,
    version,
    uri,
    size: d.size,
    sha512: d.sha512,
    ...(format ? { format } : {}),
  }
  // file order: the schema's field order, then source:
  const data: Record<string, unknown> = {}
  for (const f of IMAGE_FIELDS) if (values[f.name] !== undefined) data[f.name] = values[f.name]
  if (local) data.source = sourcePath(o.repo, local)
  await writeFileAtomic(file, yamlText('image', data))
  const missing = IMAGE_FIELDS.filter((f) => f.required && data[f.name] === undefined).map((f) => f.name)
  return { name: o.name, file: rel, identifier, version, uri, sha512: d.sha512, size: d.size, ...(local ? { source: String(data.source) } : {}), ...(d.checksum ? { checksum: d.checksum } : {}), missing }
}
