import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../base-command.js'
import { importVmcasterConfig } from '../publish/import-config.js'

export default class ImportConfig extends BaseCommand<typeof ImportConfig> {
  static override summary = "Convert vmcaster's upload config (vmcaster.cfg) into vmgit.yaml targets"
  static override description = `Reads the INI file of the old publisher (values are JSON literals: server, protocol, uriMatch,
uriReplace) and adds one vmgit.yaml target per section: protocol local becomes a file:// target,
scp an sftp:// target (user@host:/path → sftp://user@host/path). A uriMatch with regular expression
syntax becomes a regex target (Python \\1 / \\g<name> groups are translated to $1 / $<name>).

gsidcap and egiappdb sections are reported as unsupported with what to do instead (dCache speaks
WebDAV: use an https:// target with a client certificate; AppDB registers a list's URL).

An existing vmgit.yaml is edited in place: other settings and comments stay, targets already
present are not added twice. Credentials are never written: ssh keys come from the ssh agent or
VMGIT_SSH_KEY, host keys from ~/.ssh/known_hosts, as scp used them.`
  static override examples = [
    '<%= config.bin %> import-config ~/.vmcaster.cfg',
    '<%= config.bin %> import-config /etc/vmcaster/vmcaster.cfg --repo ./my-images --dry-run',
  ]
  static override args = { file: Args.string({ required: true, description: 'vmcaster.cfg to convert.' }) }
  static override flags = {
    repo: Flags.string({ description: 'Repository directory whose vmgit.yaml receives the targets.', env: 'VMGIT_REPO', default: '.' }),
    'dry-run': Flags.boolean({ description: 'Show what would be added without writing vmgit.yaml.', default: false }),
  }

  async run(): Promise<void> {
    const r = await importVmcasterConfig(this.args.file, this.flags.repo, { dryRun: this.flags['dry-run'] })
    for (const u of r.unsupported) process.stderr.write(`warning [${u.code}]: ${u.message}\n`)
    const verb = this.flags['dry-run'] ? 'would add' : 'added'
    this.emit({ ok: true, dryRun: this.flags['dry-run'], ...r }, () => [
      ...r.added.map((t) => `${verb} target [${t.section}]: ${t.match} -> ${t.replace}${t.regex ? ' (regex)' : ''}`),
      ...r.skipped.map((s) => `skipped [${s.section}]: ${s.reason}`),
      ...r.notes.map((n) => `note: ${n}`),
      r.added.length
        ? `${this.flags['dry-run'] ? 'Would write' : r.created ? 'Created' : 'Updated'} ${r.file}: ${r.added.length} target(s); ${r.unsupported.length} section(s) not converted.`
        : `Nothing to add to ${r.file}; ${r.unsupported.length} section(s) not converted.`,
    ])
  }
}
