import { BaseCommand } from '../../../base-command.js'
import { resolveDbPath } from '../../../subscriber/config.js'
import { listEndorsers } from '../../../subscriber/endorsers.js'
import { dbFlag } from '../../../subscriber/flags.js'
import { openStore } from '../../../subscriber/store.js'

export default class SubTrustList extends BaseCommand<typeof SubTrustList> {
  static override summary = 'List the trusted endorsers'
  static override description = "One line per credential, tab-separated like vmcatcher_endorser -l: 'name' 'subject' 'issuer', then the subscriptions the credential may sign for (and a note when it is valid for one subscription only, or known by its one-line names only)."
  static override examples = ['<%= config.bin %> sub trust list', '<%= config.bin %> sub trust list --json']
  static override flags = { ...dbFlag }

  async run(): Promise<void> {
    const db = openStore(resolveDbPath(this.flags.db), { mustExist: true })
    try {
      const es = listEndorsers(db)
      this.emit({ endorsers: es }, () => es.map((e) => [`'${e.name}'`, `'${e.subject}'`, `'${e.issuer}'`, e.subscriptions.join(','), e.onlyFor ? '(this subscription only)' : '', e.identifiedBy === 'one-line' ? '(one-line names only)' : '']))
    } finally {
      db.close()
    }
  }
}
