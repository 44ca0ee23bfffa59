import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import { resolveDbPath, resolveNow } from '../../subscriber/config.js'
import { dbFlag, nowFlag } from '../../subscriber/flags.js'
import { deselectImages } from '../../subscriber/selection.js'
import { openStore } from '../../subscriber/store.js'

export default class SubDeselect extends BaseCommand<typeof SubDeselect> {
  static override summary = 'Deselect an image; the next sync expires it from the cache'
  static override examples = ['<%= config.bin %> sub deselect 488dcdc4-9ab1-4fc8-a7ba-b7a5428ecb3d']
  static override args = { image: Args.string({ required: true, description: 'Image identifier (dc:identifier)' }) }
  static override flags = {
    ...dbFlag,
    subscription: Flags.string({ description: 'Only in this subscription' }),
    ...nowFlag,
  }

  async run(): Promise<void> {
    const f = this.flags
    const db = openStore(resolveDbPath(f.db), { mustExist: true })
    try {
      const r = deselectImages(db, this.args.image, f.subscription, resolveNow(f.now))
      this.emit({ ok: true, deselected: r }, () => r.map((x) => `deselected ${x.identifier} in ${x.subscription}; it expires from the cache at the next sync`))
    } finally {
      db.close()
    }
  }
}
