import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../base-command.js'
import { importList } from '../model/import.js'

export default class Import extends BaseCommand<typeof Import> {
  static override summary = 'Import an existing HEPiX image list into the repository'
  static override description = `Reads an image list — HEPiX JSON, or a signed S/MIME file as vmcaster or AppDB publish
it — from a file or an http(s) URL and writes endorsers/, images/ and imagelists/ YAML so that
vmgit render reproduces the list: its layout (vmcaster or appdb) and its version, created and
expires are recorded in the list file (delete those three lines to let vmgit stamp new ones).

Importing the same list again (same dc:identifier) updates its files in place, keeping comments
and each image's source:. An image already in the repository under any file name (same
dc:identifier) is reused, and never downgraded to an older hv:version. File names are safe slugs
of the titles; --name chooses the list's. This is how to migrate from vmcaster.`
  static override examples = [
    '<%= config.bin %> import https://vm-images.example.org/lists/production.list',
    '<%= config.bin %> import current.smime --repo ./my-images --name production',
  ]
  static override args = { source: Args.string({ required: true, description: 'File path or http(s) URL of the list (JSON or S/MIME).' }) }
  static override flags = {
    repo: Flags.string({ description: 'Repository directory (created if missing).', env: 'VMGIT_REPO', default: '.' }),
    name: Flags.string({ description: 'File name (without .yaml) for a newly imported list.' }),
  }

  async run(): Promise<void> {
    // signature hook: when S/MIME verification is wired in, pass `verify` here (see ImportOptions.verify)
    const r = await importList(this.flags.repo, this.args.source, { ...(this.flags.name ? { name: this.flags.name } : {}) })
    if (r.signature === 'unverified' && !this.flags.json)
      this.warn2('the S/MIME signature was not checked; only the signed content was read (use vmgit verify to check it)')
    this.emit({ ok: true, ...r }, () => [
      `${r.list.action} ${r.list.file} (${r.list.identifier}, layout ${r.layout})`,
      `${r.endorser.action} ${r.endorser.file}`,
      ...r.images.map((i) => `${i.action} ${i.file} (${i.identifier})`),
      ...r.notes.map((n) => `note: ${n}`),
      `Next: vmgit validate${this.flags.repo === '.' ? '' : ` --repo ${this.flags.repo}`}, then vmgit render ${r.list.name}`,
    ])
  }
}
