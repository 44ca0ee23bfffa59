import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import { imageSourceFlags, pick } from '../../flags/image-source.js'
import { updateImage } from '../../repo/image.js'

// `vmgit image update`: flags and output; the use case is src/repo/image.ts.

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

const short = (v: unknown): string => (v === undefined ? '(none)' : typeof v === 'string' && v.length > 40 && /^[0-9a-f]+$/.test(v) ? `${v.slice(0, 16)}…` : String(v))
