import { Flags } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import { resolveNow } from '../../subscriber/config.js'
import { glanceFlags } from '../../glance/flags.js'
import { runReconcile } from '../../glance/run.js'
import { VmgitError } from '../../util/errors.js'

export default class GlanceReconcile extends BaseCommand<typeof GlanceReconcile> {
  static override summary = 'Make OpenStack Glance match the verified image cache'
  static override description = `Idempotent repair for missed or failed events: every image in the verified cache gets a current, published Glance image (uploaded, an interrupted upload finished or removed, a deactivated one reactivated); older versions are retired; images vmgit put into Glance whose list entry left the cache are deactivated or deleted (--on-expiry); retired versions past --grace are deleted.
Only images carrying vmgit:managed=true are ever changed. Run it from cron after \`vmgit sync\`, or alone instead of the event handler. Exit 1 when an image could not be brought in line (the others still are).`

  static override examples = [
    '<%= config.bin %> glance reconcile --cloud mysite --visibility community',
    '<%= config.bin %> glance reconcile --config /etc/vmgit/glance.yaml --json',
  ]

  static override flags = {
    ...glanceFlags,
    'cache-dir': Flags.string({ description: 'cache root holding cache/ (default: VMGIT_CACHE_DIR, VMCATCHER_CACHE_DIR_CACHE, then the standard path)' }),
    verbose: Flags.boolean({ char: 'v', description: 'also list the images that were already in line', default: false }),
  }

  async run(): Promise<void> {
    const f = this.flags
    const r = await runReconcile({ ...f, now: resolveNow(f.now) })
    const text = (): string[] => [
      ...r.actions.filter((a) => f.verbose || a.action !== 'unchanged').map((a) => a.message),
      ...r.problems.map((p) => `error [${p.code}]: ${p.list}/${p.identifier}: ${p.message}`),
    ]
    if (r.problems.length) {
      if (!f.json) this.emit(r, text)
      this.fail(new VmgitError('RECONCILE_FAILED', `${r.problems.length} image(s) could not be brought in line with Glance; the problems above say why`), r)
    }
    this.emit(r, text)
  }
}
