import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../base-command.js'
import { initRepository } from '../repo/init.js'
import { ACTION_PLACEHOLDER, isPinned } from '../model/workflow.js'

export default class Init extends BaseCommand<typeof Init> {
  static override summary = 'Create a new image list repository'
  static override description = `Writes a working repository into DIR (default: the current directory): vmgit.yaml,
endorsers/endorser.yaml, images/example-image.yaml, imagelists/example.yaml (with fresh UUIDs) and a
GitHub workflow (.github/workflows/vmgit.yml) that runs vmgit validate and vmgit plan on pull
requests, publishes from the default branch and re-signs daily. Every file starts with a
yaml-language-server line so editors show the schema's help. Existing files are never
overwritten unless --force is given.

--action-ref OWNER/REPO@REF writes where the vmgit action lives into the workflow's \`uses:\`
lines (pin a commit SHA: a tag or branch can be moved under you). Without it the workflow keeps
the placeholder OWNER/REPO@REF, which GitHub cannot run and vmgit validate warns about.`
  static override examples = [
    '<%= config.bin %> init my-images --action-ref my-org/vmgit@0123456789abcdef0123456789abcdef01234567',
    '<%= config.bin %> init . --force',
  ]
  static override args = { dir: Args.string({ description: 'Directory to create the repository in.', default: '.' }) }
  static override flags = {
    force: Flags.boolean({ description: 'Overwrite files that already exist.', default: false }),
    'action-ref': Flags.string({ description: 'The vmgit action for the workflow, OWNER/REPO@REF (a commit SHA is safest); default the placeholder OWNER/REPO@REF.' }),
  }

  async run(): Promise<void> {
    const ref = this.flags['action-ref']
    const r = await initRepository(this.args.dir, { force: this.flags.force, ...(ref === undefined ? {} : { actionRef: ref }) })
    if (ref === undefined) this.warn2(`the workflow uses the placeholder ${ACTION_PLACEHOLDER}: run again with --action-ref OWNER/REPO@SHA, or edit .github/workflows/vmgit.yml`)
    else if (!isPinned(ref)) this.warn2(`--action-ref ${ref} is not pinned to a commit SHA: whoever can move that tag or branch can change what signs your lists`)
    this.emit(r, () => [
      ...r.files.map((f) => `${f.action.padEnd(11)} ${f.file}`),
      `Repository ready in ${r.dir}. Next: edit the YAML files, then run`,
      `  vmgit validate${this.args.dir === '.' ? '' : ` --repo ${this.args.dir}`}`,
    ])
  }
}
