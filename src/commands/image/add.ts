import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import { IMAGE_FIELDS } from '../../model/friendly.js'
import { addImage, META, type ImageMeta } from '../../repo/image.js'
import { imageSourceFlags, pick } from '../../flags/image-source.js'

// `vmgit image add`: flags and output; the use case is src/repo/image.ts.

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
