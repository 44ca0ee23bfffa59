import { BaseCommand } from '../../base-command.js'
import { resolveNow } from '../../subscriber/config.js'
import { glanceFlags } from '../../glance/flags.js'
import { runEvent } from '../../glance/run.js'

export default class GlanceEvent extends BaseCommand<typeof GlanceEvent> {
  static override summary = 'Event handler: import, replace or retire one image in OpenStack Glance'
  static override description = `Run by \`vmgit sync --event "vmgit glance event"\` (or by vmcatcher as its event command): reads the VMCATCHER_EVENT_* variables of one event.
AvailablePostfix converts the cached file to the target format if needed, creates and uploads the Glance image with properties tying it to its list entry (dc:identifier, hv:version, sl:checksum:sha512, il:dc:identifier, ad:vo, os_distro, os_version, architecture, vmgit:endorser), publishes it only once Glance holds exactly the uploaded bytes, then retires older versions (deactivated, deleted after --grace).
ExpirePostfix deactivates or deletes the image (--on-expiry), except when a newer version is already listed: then the old one stays until its successor is uploaded. ProcessPostfix deletes retired versions whose grace period is over. Other events do nothing.
Uploads take longer than sync's default event timeout: give sync a longer one. An interrupted upload is deleted; \`vmgit glance reconcile\` repairs anything missed.`

  static override examples = [
    '<%= config.bin %> sync --event "vmgit glance event --config /etc/vmgit/glance.yaml"',
    'OS_CLOUD=mysite VMCATCHER_CACHE_EVENT="vmgit glance event --share 4f1c0e…" vmcatcher_cache',
  ]

  static override flags = glanceFlags

  async run(): Promise<void> {
    const f = this.flags
    const abort = new AbortController()
    // the event runner's timeout sends TERM: stop the upload (the half image is deleted) and exit
    const stop = (): void => abort.abort()
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
    try {
      const r = await runEvent({ ...f, now: resolveNow(f.now), signal: abort.signal })
      this.emit({ ok: true, ...r }, () => (r.note ? [] : r.actions.map((a) => a.message)))
    } finally {
      process.off('SIGTERM', stop)
      process.off('SIGINT', stop)
    }
  }
}
