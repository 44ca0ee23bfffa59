import { BaseCommand } from '../../base-command.js'
import { resolveDbPath, resolveNow } from '../../subscriber/config.js'
import { dbFlag, nowFlag } from '../../subscriber/flags.js'
import { listImages } from '../../subscriber/selection.js'
import { openStore } from '../../subscriber/store.js'

export default class SubImages extends BaseCommand<typeof SubImages> {
  static override summary = 'List the images of every subscription with their state'
  static override description = `Tab-separated like vmcatcher_image -l: identifier, state (1 = selected, 2 = available in the current
verified list, 3 = both), subscription; then cached (yes/no) and the title. --json adds version, size,
sha512, the cached file and why an image cannot be used.`
  static override examples = ['<%= config.bin %> sub images', "<%= config.bin %> sub images | awk '$2 == 2 {print $1}'   # available, not selected"]
  static override flags = { ...dbFlag, ...nowFlag }

  async run(): Promise<void> {
    const db = openStore(resolveDbPath(this.flags.db), { mustExist: true })
    try {
      const images = listImages(db, resolveNow(this.flags.now))
      this.emit({ images }, () => images.map((i) => [i.identifier, i.state, i.subscription, i.cached ? 'cached' : '-', i.title ?? '']))
    } finally {
      db.close()
    }
  }
}
