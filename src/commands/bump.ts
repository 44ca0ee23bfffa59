import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../base-command.js'
import { bumpAllChanged, bumpImage, type BumpResult } from '../repo/bump.js'
import { usageError } from '../util/errors.js'

// `vmgit bump`: flags and output; the use case is src/repo/bump.ts.

export default class Bump extends BaseCommand<typeof Bump> {
  static override summary = "Bump images' hv:version by the HEPiX rule"
  static override description = `Increments the last run of digits of an image's hv:version (1 → 2, 1.9 → 1.10, 0.0.1a → 0.0.2a,
20150618211400 → 20150618211401), as vmcaster did on upload. With vmgit.yaml image_uri set, an
image vmgit uploads is also renamed for its new version.

--all-changed bumps every image whose sha512, size or uri changed since --base (a git ref,
default HEAD: your uncommitted edits) while its version did not go up: the mistake vmgit plan
reports on a pull request. Comments in the YAML files are kept.`
  static override examples = ['<%= config.bin %> bump almalinux9', '<%= config.bin %> bump --all-changed --base origin/main']
  static override args = { image: Args.string({ required: false, description: 'Image file name (images/NAME.yaml).' }) }
  static override flags = {
    'all-changed': Flags.boolean({ description: 'Bump every image whose content changed since --base without a version increase.', default: false }),
    base: Flags.string({ description: 'Git ref to compare with for --all-changed.', default: 'HEAD' }),
    repo: Flags.string({ description: 'Repository directory.', env: 'VMGIT_REPO', default: '.' }),
  }

  async run(): Promise<void> {
    const { image } = this.args
    const f = this.flags
    if (!image === !f['all-changed']) throw usageError('BUMP_WHAT', 'name one image (vmgit bump NAME) or pass --all-changed')
    const r: BumpResult = image ? { bumped: [await bumpImage(f.repo, image, new Date(), { reason: 'requested' })] } : await bumpAllChanged(f.repo, f.base, new Date())
    this.emit({ ok: true, ...r }, () =>
      r.bumped.length
        ? r.bumped.flatMap((b) => [`${b.file}: version ${b.from ?? '(none)'} -> ${b.to} (${b.reason})`, ...b.changes.filter((c) => c.key !== 'version' && c.key !== 'hv:version').map((c) => `  ${c.key}: ${String(c.from)} -> ${String(c.to)}`)])
        : [`nothing to bump: every image whose content changed since ${f.base} already has a higher version`],
    )
  }
}
