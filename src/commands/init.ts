import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../base-command.js'
import { initRepository } from '../model/init.js'

export default class Init extends BaseCommand<typeof Init> {
  static override summary = 'Create a new image list repository'
  static override description = `Writes a working repository into DIR (default: the current directory): vmgit.yaml,
endorsers/endorser.yaml, images/example-image.yaml, imagelists/example.yaml (with fresh UUIDs) and a
GitHub workflow (.github/workflows/vmgit.yml) that runs vmgit validate and vmgit plan on pull
requests. Every file starts with a yaml-language-server line so editors show the schema's help.
Existing files are never overwritten unless --force is given.`
  static override examples = ['<%= config.bin %> init my-images', '<%= config.bin %> init . --force']
  static override args = { dir: Args.string({ description: 'Directory to create the repository in.', default: '.' }) }
  static override flags = {
    force: Flags.boolean({ description: 'Overwrite files that already exist.', default: false }),
  }

  async run(): Promise<void> {
    const r = await initRepository(this.args.dir, { force: this.flags.force })
    this.emit(r, () => [
      ...r.files.map((f) => `${f.action.padEnd(11)} ${f.file}`),
      `Repository ready in ${r.dir}. Next: edit the YAML files, then run`,
      `  vmgit validate${this.args.dir === '.' ? '' : ` --repo ${this.args.dir}`}`,
    ])
  }
}
