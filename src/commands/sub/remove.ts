import { Args } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import { resolveDbPath } from '../../subscriber/config.js'
import { dbFlag, nowFlag } from '../../subscriber/flags.js'
import { resolveNow } from '../../subscriber/config.js'
import { storedUrl } from '../../net/redact.js'
import { findSubscription, openStore } from '../../subscriber/store.js'
import { removeSubscription } from '../../subscriber/subscriptions.js'

export default class SubRemove extends BaseCommand<typeof SubRemove> {
  static override summary = 'Unsubscribe from a list'
  static override description = 'Forgets the subscription, its stored list and its image selection. Its cached images are expired by the next `vmgit sync`, which fires ExpirePrefix/ExpirePostfix for each so that handlers can retire them.'
  static override examples = ['<%= config.bin %> sub remove 4e186b44-2c64-40ea-97d5-e9e5c0bce059']
  static override args = { subscription: Args.string({ required: true, description: 'Subscription identifier or URL' }) }
  static override flags = { ...dbFlag, ...nowFlag }

  async run(): Promise<void> {
    const db = openStore(resolveDbPath(this.flags.db), { mustExist: true })
    try {
      const sub = findSubscription(db, this.args.subscription, storedUrl)
      removeSubscription(db, sub.id, resolveNow(this.flags.now))
      this.emit({ ok: true, removed: sub.id }, () => `unsubscribed ${sub.id}; its cached images expire at the next \`vmgit sync\``)
    } finally {
      db.close()
    }
  }
}
