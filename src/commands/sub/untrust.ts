import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import { resolveDbPath, resolveNow } from '../../subscriber/config.js'
import { untrustEndorser } from '../../subscriber/endorsers.js'
import { dbFlag, nowFlag } from '../../subscriber/flags.js'
import { openStore } from '../../subscriber/store.js'

export default class SubUntrust extends BaseCommand<typeof SubUntrust> {
  static override summary = 'Stop trusting an endorser (all its credentials, or one with --subject)'
  static override description = 'Subscriptions bound to a name with no credentials left are no longer authorised: the next `vmgit sync` refuses their lists and expires their cached images.'
  static override examples = ['<%= config.bin %> sub untrust appdb', "<%= config.bin %> sub untrust appdb --subject '/DC=EU/…/CN=old-key'"]
  static override args = { name: Args.string({ required: true, description: 'Endorser name (see `vmgit sub trust list`)' }) }
  static override flags = {
    ...dbFlag,
    subject: Flags.string({ description: 'Remove only the credential with this subject' }),
    issuer: Flags.string({ description: 'Remove only the credential with this issuer' }),
    ...nowFlag,
  }

  async run(): Promise<void> {
    const f = this.flags
    const db = openStore(resolveDbPath(f.db), { mustExist: true })
    try {
      const r = untrustEndorser(db, this.args.name, { subject: f.subject, issuer: f.issuer }, resolveNow(f.now))
      this.emit({ ok: true, name: this.args.name, ...r }, () => [
        `removed ${r.removed} credential(s) of endorser ${this.args.name}`,
        ...r.subscriptions.map((s) => `subscription ${s} is no longer authorised; its images expire at the next sync`),
      ])
    } finally {
      db.close()
    }
  }
}
