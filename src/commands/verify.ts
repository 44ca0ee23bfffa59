import { Args, Flags } from '@oclif/core'
import { provenanceLines, provenanceOf } from '../imagelist/provenance.js'
import { BaseCommand } from '../base-command.js'
import { isoDate } from '../smime/cert.js'
import { verifyImageList } from '../smime/imagelist.js'
import { readSource } from '../net/source.js'
import { caDirFromEnv, loadTrustStore } from '../smime/trust.js'
import { parseTimeFlag } from '../rules/time.js'

export default class Verify extends BaseCommand<typeof Verify> {
  static override summary = 'Verify a signed image list (S/MIME) against a CA directory'
  static override description = `Checks, in order, each with its own error code: the MIME structure (MIME_*), the digest over
the exact signed bytes (DIGEST_MISMATCH), the signature (BAD_SIGNATURE), exactly one signer
(MULTIPLE_SIGNERS), the chain to a CA in the trust directory (UNTRUSTED_SIGNER, TRUST_ANCHOR_EXPIRED),
the signer's validity at --at (SIGNER_EXPIRED, SIGNER_NOT_YET_VALID; never the signer-claimed signing
time), a current CRL from the issuer of every certificate below the trust anchor, as
\`openssl cms -verify -crl_check_all\` (CRL_MISSING, CRL_EXPIRED, SIGNER_REVOKED, CA_REVOKED; skip with
--no-crl-check), the purposes, CA flags, path length, name constraints and algorithms OpenSSL checks
(docs/verification.md lists each, and where vmgit is stricter), then
the JSON (NOT_JSON, NOT_AN_IMAGELIST), the endorser: hv:dn/hv:ca must equal the signer's subject
and issuer (ENDORSER_MISMATCH; reported but accepted with --allow-endorser-mismatch), and the list's
dates at --at, as sync judges them (LIST_EXPIRED when dc:date:expires <= --at, CREATED_IN_FUTURE;
reported but accepted with --allow-expired), then the identifiers and image values as sync judges
them (docs/rules.md): an unsafe dc:identifier is refused (UNSAFE_IDENTIFIER); a bad checksum or
size (BAD_SHA512, BAD_SIZE: sync keeps the list and marks that image) and a dc:identifier that is
not a UUID (NOT_UUID) are reported.

The trust directory is --ca-dir, else $VMGIT_CA_DIR, $X509_CERT_DIR, $VMCATCHER_DIR_CERT, else
/etc/grid-security/certificates (IGTF layout: <hash>.0 CA files, <hash>.r0 CRLs from fetch-crl).
SOURCE is a file or an http(s) URL (16 MiB cap, 5 redirects at most). Exit 0 verified,
1 verification failed, 2 usage, 3 network.`
  static override examples = [
    '<%= config.bin %> verify production.smime',
    '<%= config.bin %> verify https://example.org/lists/production.smime --ca-dir ./ca',
    '<%= config.bin %> verify old.smime --ca-dir ./ca --at 2018-01-01T00:00:00Z --no-crl-check',
  ]
  static override args = { source: Args.string({ required: true, description: 'Signed list: file path or http(s) URL.' }) }
  static override flags = {
    'ca-dir': Flags.string({ description: 'Trust directory (hashed CA certificates and CRLs).' }),
    'crl-check': Flags.boolean({ description: 'Require a current CRL from the issuer of every certificate in the chain (--no-crl-check to skip).', default: true, allowNo: true }),
    at: Flags.string({ description: 'Validate at this time (ISO 8601) instead of now, for historical checks.' }),
    'allow-endorser-mismatch': Flags.boolean({ description: 'Accept a list whose hv:dn/hv:ca differ from the signer (reported).', default: false }),
    'allow-expired': Flags.boolean({ description: 'Accept a list that is expired (or created in the future) at --at; reported, exit 0.', default: false }),
  }

  async run(): Promise<void> {
    const at = parseTimeFlag(this.flags.at, 'at')
    const dir = caDirFromEnv(this.flags['ca-dir'])
    const trust = await loadTrustStore(dir)
    const bytes = await readSource(this.args.source, { caDir: dir })
    const r = await verifyImageList(bytes, {
      trust, at, crlCheck: this.flags['crl-check'], allowEndorserMismatch: this.flags['allow-endorser-mismatch'],
      timeRules: this.flags['allow-expired'] ? 'report' : 'refuse', valueRules: true,
    })
    const l = r.list.list
    // issue 15: where the list came from, as signed (the signature covers these keys)
    const provenance = provenanceOf(l)
    const out = {
      ok: true,
      source: this.args.source,
      identifier: l['dc:identifier'],
      title: l['dc:title'],
      version: l['hv:version'],
      expires: l['dc:date:expires'],
      images: r.list.images.length,
      provenance,
      signer: {
        subject: r.signer.subject, issuer: r.signer.issuer, serial: r.signer.serial,
        notAfter: isoDate(r.signer.notAfter), digest: r.signer.digest, chain: r.signer.chain,
      },
      checkedAt: isoDate(at),
      crlCheck: this.flags['crl-check'],
      caDir: dir,
      problems: r.problems,
    }
    for (const p of r.problems) if (!this.flags.json) this.warn2(`[${p.code}] ${p.message}`)
    this.emit(out, () => [
      `verified ${this.args.source}`,
      `  identifier: ${String(out.identifier ?? '')}`,
      `  title:      ${String(out.title ?? '')}`,
      `  version:    ${String(out.version ?? '')}`,
      `  expires:    ${String(out.expires ?? '')}`,
      `  images:     ${out.images}`,
      ...provenanceLines(provenance),
      `  signer:     ${r.signer.subject}`,
      `  issuer:     ${r.signer.issuer} (certificate valid until ${out.signer.notAfter}, ${r.signer.digest})`,
      ...(this.flags['crl-check'] ? [] : ['  CRL check:  skipped (--no-crl-check)']),
    ])
  }
}
