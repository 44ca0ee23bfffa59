import { Args, Flags } from '@oclif/core'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { BaseCommand } from '../base-command.js'
import { parseImageListJson } from '../imagelist/parse.js'
import { loadRepository } from '../model/load.js'
import { selectLists } from '../model/render.js'
import { isoDate } from '../smime/cert.js'
import { checkEndorser, checkSigningCert, expiryWarnings, loadCredentials } from '../smime/credentials.js'
import { signRepoList } from '../publish/sign-repo.js'
import { signContent, type Digest } from '../smime/sign.js'
import { isVmgitError, usageError } from '../util/errors.js'
import { writeFileAtomic } from '../util/fs.js'
import { CAP, checkRegularFile } from '../util/envfs.js'
import { optionalTimeFlag } from '../rules/time.js'
import { listTimeVerdicts, refuse } from '../rules/list.js'

const time = (flag: string, v: string | undefined): Date | undefined => optionalTimeFlag(v, flag)

export default class Sign extends BaseCommand<typeof Sign> {
  static override summary = 'Sign image lists as detached S/MIME (OpenSSL layout)'
  static override description = `Two modes:
  vmgit sign --in list.json --out list.smime     sign a JSON file as it is
  vmgit sign [LIST] [--all] [--out-dir DIR]      render lists from the repository and sign them

The output is OpenSSL's multipart/signed layout (CRLF-canonical content, one signer, only the signer
certificate), verifiable with \`openssl smime -verify\` and every HEPiX consumer. --digest sha1 is for
consumers older than SHA-256 support (vmcaster used sha1).

Credentials: --key/--cert (PEM, PKCS#1 or PKCS#8; encrypted keys read VMGIT_KEY_PASSPHRASE or ask on
the terminal), --p12, or the PEM text in VMGIT_SIGNING_KEY/VMGIT_SIGNING_CERT (for CI secrets; never
written to disk), or the old VMCASTER_X509_KEY/VMCASTER_X509_CERT paths.

Refuses when the certificate lacks keyUsage digitalSignature (--allow-no-key-usage for test CAs), is
expired, or when the list's hv:dn/hv:ca differ from its subject/issuer. In repository mode an endorser
without dn/ca gets them from the certificate.`
  static override examples = [
    '<%= config.bin %> sign --in production.json --out production.smime --key userkey.pem --cert usercert.pem',
    'VMGIT_SIGNING_KEY="$(cat key.pem)" VMGIT_SIGNING_CERT="$(cat cert.pem)" <%= config.bin %> sign --all --out-dir public/',
    '<%= config.bin %> sign production --p12 me.p12 --digest sha1 --out production.smime',
  ]
  static override args = { list: Args.string({ description: 'Repository mode: list file name or dc:identifier.' }) }
  static override flags = {
    in: Flags.string({ description: 'Sign this JSON file as it is (instead of rendering from the repository).', exclusive: ['all', 'out-dir'] }),
    out: Flags.string({ description: 'Write the signed file here (default: stdout).', exclusive: ['out-dir'] }),
    all: Flags.boolean({ description: 'Repository mode: sign every list (needs --out-dir).', default: false }),
    'out-dir': Flags.string({ description: 'Repository mode: write DIR/<name>.smime per list.' }),
    repo: Flags.string({ description: 'Repository directory.', env: 'VMGIT_REPO', default: '.' }),
    key: Flags.string({ description: 'Private key (PEM).' }),
    cert: Flags.string({ description: 'Certificate (PEM; default vmgit.yaml signing.cert in repository mode).' }),
    p12: Flags.string({ description: 'PKCS#12 file with key and certificate.', exclusive: ['key', 'cert'] }),
    digest: Flags.string({ description: 'Digest algorithm (default sha256, or vmgit.yaml digest in repository mode).', options: ['sha256', 'sha1'] }),
    'allow-no-key-usage': Flags.boolean({ description: 'Sign with a certificate lacking keyUsage digitalSignature (test CAs only).', default: false }),
    'allow-endorser-mismatch': Flags.boolean({ description: '--in mode: sign although hv:dn/hv:ca differ from the certificate.', default: false }),
    now: Flags.string({ description: 'Time for certificate checks and rendered dates (ISO 8601; default now).' }),
    'signing-time': Flags.string({ description: 'Signed signingTime attribute (reproducible output).', hidden: true }),
    boundary: Flags.string({ description: 'MIME boundary, 32 uppercase hex digits (reproducible output).', hidden: true }),
  }

  async run(): Promise<void> {
    const f = this.flags
    const now = time('now', f.now) ?? new Date()
    const signingTime = time('signing-time', f['signing-time'])
    const repoMode = f.in === undefined
    const repo = repoMode ? await loadRepository(f.repo, { now }) : undefined
    const defaultCert = repo?.config.signing?.cert ? path.resolve(repo.dir, repo.config.signing.cert) : undefined
    const creds = await loadCredentials({ key: f.key, cert: f.cert, p12: f.p12 }, { defaultCert })
    const warnings = checkSigningCert(creds.cert, { now, allowNoKeyUsage: f['allow-no-key-usage'] })
    const common = { signingTime, boundary: f.boundary }
    const results: { name?: string; in?: string; out?: string; identifier?: string; version?: string; layout?: string }[] = []
    let stdout: Buffer | undefined

    if (!repo) {
      const input = f.in as string
      checkRegularFile(input, 'the list', CAP.config)
      const bytes = await readFile(input).catch((e: NodeJS.ErrnoException) => {
        throw usageError('SOURCE_NOT_FOUND', `cannot read ${input}: ${e.code ?? e.message}`)
      })
      let identifier: string | undefined
      try {
        const list = parseImageListJson(bytes)
        identifier = String(list.list['dc:identifier'] ?? '')
        try {
          checkEndorser(list.endorser, creds.cert)
        } catch (e) {
          if (!f['allow-endorser-mismatch']) throw e
          warnings.push(`${(e as Error).message.replace(/; set the endorser.*$/, '')} (signed anyway: --allow-endorser-mismatch)`)
        }
        warnings.push(...expiryWarnings(list.list, creds.cert))
        // the rulebook's list time rules at --now: never sign what every subscriber refuses
        refuse(listTimeVerdicts({ created: list.list['dc:date:created'], expires: list.list['dc:date:expires'] }, now))
      } catch (e) {
        // any JSON may be signed; only an image list gets the endorser checks
        if (!isVmgitError(e) || e.code !== 'NOT_AN_IMAGELIST') throw e
        warnings.push(`${input} is JSON but not an image list; signing it without endorser checks`)
      }
      const smime = await signContent(bytes, creds, { ...common, digest: (f.digest ?? 'sha256') as Digest })
      if (f.out) await writeFileAtomic(f.out, smime)
      else stdout = smime
      results.push({ in: input, ...(f.out ? { out: f.out } : {}), ...(identifier ? { identifier } : {}) })
    } else {
      const lists = selectLists(repo, this.args.list, f.all)
      if (lists.length > 1 && !f['out-dir']) throw usageError('OUT_DIR_REQUIRED', 'several lists need --out-dir DIR')
      for (const list of lists) {
        const r = await signRepoList(repo, list, creds, { ...common, now, ...(f.digest ? { digest: f.digest as Digest } : {}) })
        warnings.push(...r.warnings.map((w) => `${list.name}: ${w}`))
        const out = f.out ?? (f['out-dir'] ? path.join(f['out-dir'], `${r.name}.smime`) : undefined)
        if (out) await writeFileAtomic(out, r.smime)
        else stdout = r.smime
        results.push({ name: r.name, identifier: r.identifier, version: r.version, layout: r.layout, ...(out ? { out } : {}) })
      }
    }

    if (!f.json) for (const w of warnings) this.warn2(w)
    if (stdout && !f.json) {
      process.stdout.write(stdout)
      return
    }
    this.emit(
      { ok: true, signer: { subject: creds.cert.subject, issuer: creds.cert.issuer, notAfter: isoDate(creds.cert.notAfter) }, signed: results, warnings,
        ...(stdout ? { smime: stdout.toString('latin1') } : {}) },
      () => results.map((r) => `signed ${r.name ?? r.in} → ${r.out} (${creds.cert.subject})`),
    )
  }
}
