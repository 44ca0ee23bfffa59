import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import { resolveDbPath, resolveNow } from '../../subscriber/config.js'
import { dbFlag, nowFlag } from '../../subscriber/flags.js'
import { selectImages } from '../../subscriber/selection.js'
import { openStore } from '../../subscriber/store.js'

export default class SubSelect extends BaseCommand<typeof SubSelect> {
  static override summary = 'Select an image for the cache (by identifier, or by sha512)'
  static override description = `Selected images are downloaded and verified by the next \`vmgit sync\`, and follow new versions of their
list. --sha512 selects the image that currently has that checksum ("the image I have"); when that sha512 is
in several subscriptions nothing is selected (SELECT_AMBIGUOUS) until --subscription names one. An
identifier that appears in several subscriptions (AppDB VO lists) is selected in each of them, one line per
subscription, unless --subscription narrows it.`
  static override examples = ['<%= config.bin %> sub select 488dcdc4-9ab1-4fc8-a7ba-b7a5428ecb3d', '<%= config.bin %> sub select --sha512 $(sha512sum image.qcow2 | cut -d" " -f1)']
  static override args = { image: Args.string({ required: false, description: 'Image identifier (dc:identifier)' }) }
  static override flags = {
    ...dbFlag,
    sha512: Flags.string({ description: 'Select the image with this sl:checksum:sha512' }),
    subscription: Flags.string({ description: 'Only in this subscription (required with --sha512 when several subscriptions carry it)' }),
    ...nowFlag,
  }

  async run(): Promise<void> {
    const f = this.flags
    const db = openStore(resolveDbPath(f.db), { mustExist: true })
    try {
      const r = selectImages(db, { identifier: this.args.image, sha512: f.sha512?.toLowerCase(), subscription: f.subscription }, resolveNow(f.now))
      this.emit({ ok: true, selected: r }, () => r.map((x) => `${x.already ? 'already selected' : 'selected'} ${x.identifier} in ${x.subscription}`))
    } finally {
      db.close()
    }
  }
}
