import { Flags } from '@oclif/core'
import { BaseCommand } from '../../../base-command.js'
import { resolveDbPath, resolveNow } from '../../../subscriber/config.js'
import { trustEndorser } from '../../../subscriber/endorsers.js'
import { dbFlag, nowFlag } from '../../../subscriber/flags.js'
import { openStore } from '../../../subscriber/store.js'

export default class SubTrust extends BaseCommand<typeof SubTrust> {
  static override summary = 'Trust an endorser credential (certificate subject + issuer) to sign image lists'
  static override description = `Both DNs are in OpenSSL one-line form, as \`openssl x509 -noout -subject -issuer -nameopt compat\`
prints them (and as a list's hv:dn / hv:ca carry them). Several credentials may share one --name (key
rotation); a subscription is bound to a name. \`vmgit sub trust list\` shows them, \`vmgit sub untrust NAME\`
removes them.`
  static override examples = [
    "<%= config.bin %> sub trust --name appdb --subject '/DC=EU/DC=EGI/C=NL/O=Hosts/O=EGI.eu/CN=appdb.egi.eu' --issuer '/DC=ORG/DC=SEE-GRID/CN=SEE-GRID CA 2013'",
    '<%= config.bin %> sub trust list',
  ]
  static override flags = {
    ...dbFlag,
    subject: Flags.string({ description: 'Certificate subject DN (hv:dn)', required: true }),
    issuer: Flags.string({ description: 'Certificate issuer DN (hv:ca)', required: true }),
    name: Flags.string({ description: 'Endorser name (default: the subject\'s CN)' }),
    ...nowFlag,
  }

  async run(): Promise<void> {
    const f = this.flags
    const db = openStore(resolveDbPath(f.db))
    try {
      const r = trustEndorser(db, { name: f.name, subject: f.subject, issuer: f.issuer }, resolveNow(f.now))
      this.emit({ ok: true, ...r, subject: f.subject, issuer: f.issuer }, () =>
        r.added ? `trusted ${f.subject} (issuer ${f.issuer}) as endorser ${r.name}` : `already trusted as endorser ${r.name}`)
    } finally {
      db.close()
    }
  }
}
