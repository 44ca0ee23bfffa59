import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import { IMAGE_FIELDS } from '../../model/friendly.js'
import { FILE_NAME } from '../../model/load.js'
import { yamlText } from '../../model/yaml-write.js'
import { imageUriFromRule, readPublishSettings } from '../../publish/config.js'
import { digestImageSource, type ImageSourceDigest } from '../../transfer/source.js'
import { usageError } from '../../util/errors.js'
import { writeFileAtomic } from '../../util/fs.js'
import { pick, sourcePath } from './update.js'
import { imageSourceFlags } from '../../flags/image-source.js'
import type { ImageCommandOptions } from '../../transfer/source.js'

// Library core of `vmgit image add`. No oclif use.

/** Metadata flags → friendly YAML names (the rest of IMAGE_FIELDS is computed). */
export const META = ['title', 'identifier', 'description', 'comments', 'version', 'uri', 'hypervisor', 'format', 'arch', 'os', 'osname', 'osversion', 'mpuri'] as const
const HELP: Record<(typeof META)[number], string> = {
  title: 'short name subscribers see (default: NAME).',
  identifier: 'UUID that stays the same across versions (default: a new UUID v4).',
  description: 'what the image is for.',
  comments: 'free text (may be empty).',
  version: 'image version (default: 1); vmgit image update bumps it.',
  uri: 'URL subscribers download the image from.',
  hypervisor: 'e.g. KVM, QEMU, Xen.',
  format: 'e.g. QCOW2, OVA, RAW (default: from the file).',
  arch: 'e.g. x86_64, aarch64.',
  os: 'e.g. Linux.',
  osname: 'e.g. AlmaLinux (AppDB/atrope).',
  osversion: 'e.g. 9.4.',
  mpuri: 'AppDB marketplace URL (cloudkeeper, atrope).',
}
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

export default class ImageAdd extends BaseCommand<typeof ImageAdd> {
  static override summary = 'Add an image to the repository from a file or URL (computes sha512 and size)'
  static override description = `Writes images/NAME.yaml with the sha512 and size of the image, computed in one streaming pass
(1 MiB reads), and the metadata given as flags. --file also records source: (the local path vmgit
publish uploads from). --url streams the download through the hash without storing it, unless
--keep FILE. --checksums checks the vendor's MD5SUMS/SHA256SUMS/SHA512SUMS (GNU or BSD form,
path or URL) in the same pass and refuses a mismatch: nothing is written then.

The identifier defaults to a new UUID, the title to NAME, the version to 1, the format to what the
file's first bytes say (QCOW2, VMDK, ...). Keys every consumer needs that no flag gave are listed;
fill them in and run vmgit validate.`
  static override examples = [
    '<%= config.bin %> image add almalinux9 --file ./almalinux-9.qcow2 --uri https://vm.example.org/images/almalinux-9-1.qcow2 --os Linux --osversion 9 --arch x86_64 --hypervisor KVM',
    '<%= config.bin %> image add debian12 --url https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2 --checksums https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS',
  ]
  static override args = { name: Args.string({ required: true, description: 'File name for the image (images/NAME.yaml); lists refer to it by this name.' }) }
  static override flags = {
    ...imageSourceFlags,
    ...Object.fromEntries(META.map((k) => [k, Flags.string({ description: `${IMAGE_FIELDS.find((f) => f.name === k)?.key ?? k}: ${HELP[k]}` })])),
    repo: Flags.string({ description: 'Repository directory.', env: 'VMGIT_REPO', default: '.' }),
  }

  async run(): Promise<void> {
    const f = this.flags as unknown as Record<string, string | undefined> & { repo: string }
    const meta: ImageMeta = Object.fromEntries(META.filter((k) => f[k] !== undefined).map((k) => [k, f[k]]))
    const { version: _v, uri: _u, ...src } = pick(f as Parameters<typeof pick>[0])
    const r = await addImage({ repo: f.repo, name: this.args.name, ...src, meta, now: new Date() })
    this.emit({ ok: true, ...r }, () => [
      ...(r.checksum ? [`checksum: ${r.checksum.algo} matches ${r.checksum.file} (${r.checksum.name})`] : []),
      `wrote ${r.file}: ${r.identifier}, version ${r.version}, ${r.size} bytes, sha512 ${r.sha512.slice(0, 16)}…`,
      `uri: ${r.uri}`,
      ...(r.source ? [`source: ${r.source}`] : []),
      ...(r.missing.length ? [`still missing (every consumer needs them): ${r.missing.join(', ')}; add them to ${r.file} or pass --${r.missing.join(' --')}`] : []),
    ])
  }
}
