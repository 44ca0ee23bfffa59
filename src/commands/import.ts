import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../base-command.js'
import { importList } from '../model/import.js'
import { parseNow } from '../model/time.js'
import { caDirFromEnv, loadTrustStore } from '../smime/trust.js'
import { verifyImageList } from '../smime/imagelist.js'

export default class Import extends BaseCommand<typeof Import> {
  static override summary = 'Import an existing HEPiX image list into the repository'
  static override description = `Reads an image list — HEPiX JSON, or a signed S/MIME file as vmcaster or AppDB publish
it — from a file or an http(s) URL and writes endorsers/, images/ and imagelists/ YAML so that
vmgit render reproduces the list: its layout (vmcaster or appdb) and its version, created and
expires are recorded in the list file (delete those three lines to let vmgit stamp new ones).

Importing the same list again (same dc:identifier) updates its files in place, keeping comments
and each image's source:. An image already in the repository under any file name (same
dc:identifier) is reused, and never downgraded to an older hv:version. File names are safe slugs
of the titles; --name chooses the list's. This is how to migrate from vmcaster.

A signed source is verified first, exactly as vmgit verify does (chain to --ca-dir, CRL, validity
at --at, and the endorser: hv:dn/hv:ca must be the signer's subject and issuer, ENDORSER_MISMATCH
unless --allow-endorser-mismatch): a bad signature is refused. An http(s) source must be signed: a
plain JSON served there is refused (UNSIGNED_SOURCE) unless --allow-unsigned. Re-importing a list
whose endorser file names another hv:dn/hv:ca is refused (ENDORSER_CHANGED). --insecure-skip-verify
reads the signed content without any check (for a list whose signer expired long ago); it says so loudly.`
  static override examples = [
    '<%= config.bin %> import https://vm-images.example.org/lists/production.list',
    '<%= config.bin %> import current.smime --repo ./my-images --name production --ca-dir /etc/grid-security/certificates',
    '<%= config.bin %> import old-2011.smime --insecure-skip-verify',
  ]
  static override args = { source: Args.string({ required: true, description: 'File path or http(s) URL of the list (JSON or S/MIME).' }) }
  static override flags = {
    repo: Flags.string({ description: 'Repository directory (created if missing).', env: 'VMGIT_REPO', default: '.' }),
    name: Flags.string({ description: 'File name (without .yaml) for a newly imported list.' }),
    'ca-dir': Flags.string({ description: 'Trust directory for signed sources (default $VMGIT_CA_DIR, $X509_CERT_DIR, /etc/grid-security/certificates).' }),
    'crl-check': Flags.boolean({ description: 'Require a current CRL of the signer\'s CA (--no-crl-check to skip).', default: true, allowNo: true }),
    at: Flags.string({ description: 'Check the signature at this time (ISO 8601) instead of now, for a historical list.' }),
    'insecure-skip-verify': Flags.boolean({ description: 'Import a signed source WITHOUT checking its signature.', default: false }),
    'allow-unsigned': Flags.boolean({ description: 'Accept a plain (unsigned) JSON list from an http(s) URL.', default: false }),
    'allow-endorser-mismatch': Flags.boolean({ description: 'Accept a signed list whose hv:dn/hv:ca differ from the signer (reported).', default: false }),
  }

  async run(): Promise<void> {
    const f = this.flags
    const at = parseNow(f.at)
    // trust: the signature of a signed source is checked before any of its bytes are used
    // S33: the endorser is checked as `vmgit verify` checks it (hv:dn/hv:ca = the signer's subject/issuer)
    const problems: string[] = []
    const verify = f['insecure-skip-verify']
      ? undefined
      : async (smime: Buffer) => {
        const v = await verifyImageList(smime, { trust: await loadTrustStore(caDirFromEnv(f['ca-dir'])), at, crlCheck: f['crl-check'], allowEndorserMismatch: f['allow-endorser-mismatch'] })
        problems.push(...v.problems.map((p) => `[${p.code}] ${p.message}`))
        return v.content
      }
    const r = await importList(f.repo, this.args.source, {
      ...(f.name ? { name: f.name } : {}), ...(verify ? { verify } : {}),
      allowUnsigned: f['allow-unsigned'], insecureSkipVerify: f['insecure-skip-verify'],
      // https trust: the same CA directory as the signature check (and as sub add / sync)
      fetch: { caDir: caDirFromEnv(f['ca-dir']) },
    })
    for (const p of problems) this.warn2(p)
    if (r.signature === 'unverified') this.warn2('INSECURE: the S/MIME signature was NOT verified (--insecure-skip-verify); the list was imported as it is')
    if (r.signature === 'none' && /^https?:\/\//i.test(this.args.source)) this.warn2('INSECURE: the list was not signed (--allow-unsigned); it was imported as it is')
    this.emit({ ok: true, ...r }, () => [
      `${r.list.action} ${r.list.file} (${r.list.identifier}, layout ${r.layout})`,
      `${r.endorser.action} ${r.endorser.file}`,
      ...r.images.map((i) => `${i.action} ${i.file} (${i.identifier})`),
      ...r.notes.map((n) => `note: ${n}`),
      `Next: vmgit validate${this.flags.repo === '.' ? '' : ` --repo ${this.flags.repo}`}, then vmgit render ${r.list.name}`,
    ])
  }
}
