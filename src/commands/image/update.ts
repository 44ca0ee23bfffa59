import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { Args, Flags } from '@oclif/core'
import { parse } from 'yaml'
import { BaseCommand } from '../../base-command.js'
import { bumpVersion, compareVersions } from '../../imagelist/version.js'
import { yamlKeyFor } from '../../model/friendly.js'
import { updateYamlText } from '../../model/yaml-write.js'
import { imageUriFromRule, mapUri, readPublishSettings } from '../../publish/config.js'
import { digestImageSource, type ImageSourceDigest } from '../../transfer/source.js'
import { usageError } from '../../util/errors.js'
import { writeFileAtomic } from '../../util/fs.js'
import { imageSourceFlags } from '../../flags/image-source.js'
import type { ImageCommandOptions } from '../../transfer/source.js'

// Library core of `vmgit image update` (and helpers `image add` and `bump` share). No oclif use.

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
  const text = await readFile(file, 'utf8').catch(() => {
    throw usageError('IMAGE_NOT_FOUND', `images/${name}.yaml does not exist in ${repo}; add it with vmgit image add ${name} --file PATH`)
  })
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

export default class ImageUpdate extends BaseCommand<typeof ImageUpdate> {
  static override summary = "Recompute an image's sha512 and size from its file; bump its version when they changed"
  static override description = `Reads the new image file (or streams a URL) once, computing sha512 and size. When they differ
from images/NAME.yaml, the image's hv:version is bumped by the HEPiX rule (increment the last run
of digits: 1.9 → 1.10, 0.0.1a → 0.0.2a) and, when vmgit.yaml has an image_uri naming rule and the
image is uploaded by vmgit (its uri matches a target), its uri is renamed for the new version, so
subscribers never see different bytes under a URL they have cached. Comments in the YAML file are
kept. Unchanged content changes nothing and exits 0.

--checksums verifies the file against the vendor's MD5SUMS/SHA256SUMS/SHA512SUMS first.`
  static override examples = [
    '<%= config.bin %> image update almalinux9 --file ~/build/almalinux-9.qcow2',
    '<%= config.bin %> image update debian12 --url https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2 --checksums https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS',
  ]
  static override args = { name: Args.string({ required: true, description: 'Image file name (images/NAME.yaml).' }) }
  static override flags = {
    ...imageSourceFlags,
    version: Flags.string({ description: 'New hv:version instead of the bumped one (must be higher).' }),
    uri: Flags.string({ description: 'New hv:uri instead of the naming rule.' }),
    repo: Flags.string({ description: 'Repository directory.', env: 'VMGIT_REPO', default: '.' }),
  }

  async run(): Promise<void> {
    const f = this.flags
    const r = await updateImage({ repo: f.repo, name: this.args.name, ...pick(f), now: new Date() })
    this.emit({ ok: true, ...r }, () =>
      r.action === 'unchanged'
        ? [`${r.file}: unchanged (sha512 ${r.sha512.slice(0, 16)}…, ${r.size} bytes); nothing to do`]
        : [
            ...(r.checksum ? [`checksum: ${r.checksum.algo} matches ${r.checksum.file} (${r.checksum.name})`] : []),
            `${r.file}: updated`,
            ...r.changes.map((c) => `  ${c.key}: ${short(c.from)} -> ${short(c.to)}`),
            ...r.notes.map((n) => `note: ${n}`),
          ],
    )
  }
}

export function pick(f: { file?: string; url?: string; keep?: string; checksums?: string; 'checksum-name'?: string; version?: string; uri?: string }) {
  return {
    ...(f.file ? { file: f.file } : {}),
    ...(f.url ? { url: f.url } : {}),
    ...(f.keep ? { keep: f.keep } : {}),
    ...(f.checksums ? { checksums: f.checksums } : {}),
    ...(f['checksum-name'] ? { checksumName: f['checksum-name'] } : {}),
    ...(f.version ? { version: f.version } : {}),
    ...(f.uri ? { uri: f.uri } : {}),
  }
}

export const short = (v: unknown): string => (v === undefined ? '(none)' : typeof v === 'string' && v.length > 40 && /^[0-9a-f]+$/.test(v) ? `${v.slice(0, 16)}…` : String(v))
