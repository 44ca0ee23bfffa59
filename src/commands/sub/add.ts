import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import { resolveCaDir, resolveDbPath, resolveNow } from '../../subscriber/config.js'
import { dbFlag, limitsFrom, netFlags, nowFlag, trustFlags } from '../../subscriber/flags.js'
import { openStore } from '../../subscriber/store.js'
import { addSubscription } from '../../subscriber/subscriptions.js'

export default class SubAdd extends BaseCommand<typeof SubAdd> {
  static override summary = 'Subscribe to a signed image list'

  static override description = `Fetches the list, verifies its signature against the trust directory and records it. The signer
(certificate subject + issuer) must be a trusted endorser (\`vmgit sub trust\`), unless --auto-endorse trusts
the actual signer — check it out of band first. Credentials in the URL (https://user:token@host/…) are
used for basic auth and stored in the (private) database; they are never printed.
A list kept in an OCI registry is subscribed as oci://HOST[:PORT]/PREFIX/<list name>[:TAG] (tag default latest;
credentials as user:password@ before the host, or from REGISTRY_AUTH_FILE / ~/.docker/config.json): the tag
only finds the newest artifact, whose signed list is verified like any other.
Images are not downloaded until selected (\`vmgit sub select\`), or --new-images subscribe selects all.`

  static override examples = [
    '<%= config.bin %> sub add https://example.org/lists/prod.smime',
    '<%= config.bin %> sub add https://example.org/prod.smime --mirror https://mirror.example.net/prod.smime --id 2f9c7e0e-…',
    '<%= config.bin %> sub add ./imagelist01.signed --ca-dir ./ca --auto-endorse --new-images subscribe',
    '<%= config.bin %> sub add oci://registry.example.org/vm/prod-list --id 2f9c7e0e-…',
  ]

  static override args = { url: Args.string({ required: true, description: 'List URL (https://, http://, file://, oci://HOST[:PORT]/PREFIX/<list name>[:TAG]) or a local file path' }) }

  static override flags = {
    ...dbFlag,
    ...trustFlags,
    id: Flags.string({ description: 'The list identifier (UUID) you expect; refused if the list says otherwise' }),
    'auto-endorse': Flags.boolean({ description: 'Trust the list\'s actual signer (certificate subject + issuer) for this subscription', default: false }),
    endorser: Flags.string({ description: 'Endorser name to bind (default: the trusted endorser that signed it, or the signer\'s CN with --auto-endorse)' }),
    mirror: Flags.string({ description: 'Another URL serving the same list (repeatable): every mirror is asked on each sync and the highest verified version wins; a lagging mirror is reported', multiple: true }),
    'require-repository': Flags.string({ description: 'Accept only lists whose signed provenance (vmgit:repository) names this repository; a list from another repository, or without provenance, is refused (REPOSITORY_MISMATCH)' }),
    'new-images': Flags.string({ description: 'When a later version adds images: refuse the version, accept them (listed, not selected) or subscribe (select them)', options: ['refuse', 'accept', 'subscribe'], default: 'accept' }),
    ...netFlags,
    ...nowFlag,
  }

  async run(): Promise<void> {
    const f = this.flags
    const now = resolveNow(f.now)
    const db = openStore(resolveDbPath(f.db))
    try {
      const r = await addSubscription(db, {
        urls: [this.args.url, ...(f.mirror ?? [])],
        id: f.id,
        autoEndorse: f['auto-endorse'],
        endorser: f.endorser,
        newImages: f['new-images'] as 'refuse' | 'accept' | 'subscribe',
        caDir: resolveCaDir(f['ca-dir']),
        crlCheck: f['crl-check'] ?? true,
        now,
        limits: limitsFrom(f),
        ...(f['require-repository'] !== undefined ? { requireRepository: f['require-repository'] } : {}),
      })
      for (const w of r.warnings) this.warn2(`[${w.code}] ${w.message}`)
      this.emit({ ok: true, ...r }, () => [
        ...(r.trusted ? [`trusted endorser ${r.trusted.name}: ${r.trusted.subject} (issuer ${r.trusted.issuer})`] : []),
        `subscribed ${r.id}${r.title ? ` (${r.title})` : ''}: hv:version ${r.version}, ${r.images} image(s), endorser ${r.endorser}${r.endorserCheck === 'signer' ? ' (signer pinned; hv:dn/hv:ca not matched)' : ''}`,
        ...(r.requireRepository ? [`lists must come from repository ${r.requireRepository} (vmgit:repository)`] : []),
        `select images with \`vmgit sub select UUID\` (\`vmgit sub images\` lists them), then run \`vmgit sync\``,
      ])
    } finally {
      db.close()
    }
  }
}
