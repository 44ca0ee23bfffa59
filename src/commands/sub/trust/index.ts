import { readFile } from 'node:fs/promises'
import { Flags } from '@oclif/core'
import { BaseCommand } from '../../../base-command.js'
import { resolveDbPath, resolveNow } from '../../../subscriber/config.js'
import { credentialFromCertificate, trustEndorser } from '../../../subscriber/endorsers.js'
import { dbFlag, nowFlag } from '../../../subscriber/flags.js'
import { openStore } from '../../../subscriber/store.js'
import { usageError } from '../../../util/errors.js'
import { CAP, checkRegularFile } from '../../../util/envfs.js'

export default class SubTrust extends BaseCommand<typeof SubTrust> {
  static override summary = 'Trust an endorser credential (certificate subject + issuer) to sign image lists'
  static override description = `Best from the endorser's certificate (--cert FILE, PEM or DER): the credential then holds its
subject and issuer names as DER and matches only a certificate with exactly those names. With --subject and
--issuer in OpenSSL one-line form (as \`openssl x509 -noout -subject -issuer -nameopt compat\` prints them, and
as a list's hv:dn / hv:ca carry them) it matches only a signer whose names print exactly so and cannot be
confused with another name's (single-valued RDNs, no backslash inside a value).
Several credentials may share one --name (key rotation); a subscription is bound to a name. Without --name the
subject's CN is used, but never to add a credential to an endorser (or a subscription's endorser) of that name
that already exists: give --name NAME explicitly for that. \`vmgit sub trust list\` shows them, \`vmgit sub
untrust NAME\` removes them.`
  static override examples = [
    '<%= config.bin %> sub trust --name appdb --cert appdb-signer.pem',
    "<%= config.bin %> sub trust --name appdb --subject '/DC=EU/DC=EGI/C=NL/O=Hosts/O=EGI.eu/CN=appdb.egi.eu' --issuer '/DC=ORG/DC=SEE-GRID/CN=SEE-GRID CA 2013'",
    '<%= config.bin %> sub trust list',
  ]
  static override flags = {
    ...dbFlag,
    cert: Flags.string({ description: 'The endorser\'s certificate (PEM or DER): trust exactly its subject and issuer names' }),
    subject: Flags.string({ description: 'Certificate subject DN (hv:dn), when no --cert' }),
    issuer: Flags.string({ description: 'Certificate issuer DN (hv:ca), when no --cert' }),
    name: Flags.string({ description: 'Endorser name (default: the subject\'s CN; refused if that endorser exists)' }),
    ...nowFlag,
  }

  async run(): Promise<void> {
    const f = this.flags
    let cred: { subject: string; issuer: string; subjectDer?: Uint8Array; issuerDer?: Uint8Array }
    if (f.cert !== undefined) {
      checkRegularFile(f.cert, 'the certificate', CAP.credential)
      const bytes = await readFile(f.cert).catch((e: NodeJS.ErrnoException) => {
        throw usageError('CERT_UNREADABLE', `cannot read the certificate ${f.cert}: ${e.code ?? e.message}; check the path`)
      })
      cred = await credentialFromCertificate(bytes, f.cert)
      if ((f.subject !== undefined && f.subject !== cred.subject) || (f.issuer !== undefined && f.issuer !== cred.issuer)) {
        throw usageError('CERT_DN_MISMATCH', `the certificate ${f.cert} is ${cred.subject} (issuer ${cred.issuer}), not what --subject/--issuer say; drop them or give the right certificate`)
      }
    } else {
      if (f.subject === undefined || f.issuer === undefined) throw usageError('NO_CREDENTIAL', 'give the endorser\'s certificate with --cert FILE, or both --subject and --issuer')
      cred = { subject: f.subject, issuer: f.issuer }
    }
    const db = openStore(resolveDbPath(f.db))
    try {
      const r = trustEndorser(db, { ...cred, ...(f.name !== undefined ? { name: f.name } : {}) }, resolveNow(f.now))
      const how = cred.subjectDer ? 'its certificate names' : 'its one-line names'
      this.emit({ ok: true, ...r, subject: cred.subject, issuer: cred.issuer, identifiedBy: cred.subjectDer ? 'certificate' : 'one-line' }, () =>
        r.added ? `trusted ${cred.subject} (issuer ${cred.issuer}) as endorser ${r.name}, by ${how}${r.pinned ? ' (pinned)' : ''}` : `already trusted as endorser ${r.name}`)
    } finally {
      db.close()
    }
  }
}
