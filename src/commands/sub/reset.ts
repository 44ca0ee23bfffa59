import { Args } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import { resolveDbPath, resolveNow } from '../../subscriber/config.js'
import { dbFlag, nowFlag } from '../../subscriber/flags.js'
import { storedUrl } from '../../net/redact.js'
import { findSubscription, openStore } from '../../subscriber/store.js'
import { resetSubscription } from '../../subscriber/subscriptions.js'

export default class SubReset extends BaseCommand<typeof SubReset> {
  static override summary = 'Forget the stored hv:version of a list (recovery after a signing-key compromise)'
  static override description = `A leaked key can sign a list with an enormous hv:version; afterwards every genuine list looks like a
rollback and is refused. When the compromised certificate is revoked (in its CA's CRL) and a new one signs,
vmgit recovers by itself. Otherwise, after checking with the publisher out of band, run this: the next
verified list is accepted whatever its version. The reset is written to the database log.`
  static override examples = ['<%= config.bin %> sub reset 4e186b44-2c64-40ea-97d5-e9e5c0bce059 && <%= config.bin %> sync']
  static override args = { subscription: Args.string({ required: true, description: 'Subscription identifier or URL' }) }
  static override flags = { ...dbFlag, ...nowFlag }

  async run(): Promise<void> {
    const db = openStore(resolveDbPath(this.flags.db), { mustExist: true })
    try {
      const sub = findSubscription(db, this.args.subscription, storedUrl)
      const r = resetSubscription(db, sub.id, resolveNow(this.flags.now))
      this.emit({ ok: true, reset: sub.id, previousVersion: r.previousVersion }, () => `forgot stored hv:version ${r.previousVersion} of ${sub.id} (logged); the next verified list is accepted at any version`)
    } finally {
      db.close()
    }
  }
}
