import { BaseCommand } from '../../base-command.js'
import { resolveDbPath } from '../../subscriber/config.js'
import { dbFlag } from '../../subscriber/flags.js'
import { listSubscriptions, openStore } from '../../subscriber/store.js'
import { listLine, subscriptionView } from '../../subscriber/views.js'

export default class SubList extends BaseCommand<typeof SubList> {
  static override summary = 'List subscriptions'
  static override description = 'One line per subscription, tab-separated like vmcatcher_subscribe -l: identifier, authorised (True/False), status (ok/expired), URL (credentials never shown).'
  static override examples = ['<%= config.bin %> sub list', '<%= config.bin %> sub list --json']
  static override flags = { ...dbFlag }

  async run(): Promise<void> {
    const db = openStore(resolveDbPath(this.flags.db), { mustExist: true })
    try {
      const views = listSubscriptions(db).map((s) => subscriptionView(db, s))
      this.emit({ subscriptions: views }, () => views.map(listLine))
    } finally {
      db.close()
    }
  }
}
