import { Args, Flags } from '@oclif/core'
import path from 'node:path'
import { BaseCommand } from '../base-command.js'
import { loadRepository } from '../model/load.js'
import { formatProblem, isError } from '../model/problems.js'
import { durationFlag, parseNow } from '../model/time.js'
import { PublishTargets, readPublishSettings } from '../publish/config.js'
import { ImageUploader } from '../publish/images.js'
import { publish, type PublishReport } from '../publish/publish.js'
import { readBackList } from '../publish/readback.js'
import { checkSigningCert, loadCredentials } from '../smime/credentials.js'
import type { SigningCredentials } from '../smime/sign.js'
import { Exit, VmgitError } from '../util/errors.js'
import { progressBar } from '../util/progress.js'

export default class Publish extends BaseCommand<typeof Publish> {
  static override summary = 'Upload changed images, then sign and upload changed lists'
  static override description = `For each list (all, or those named): renders it, compares it with the copy published at
its target, and when the content changed (or --refresh-before says the published copy expires
soon) uploads the images it needs, signs the list with a new, higher hv:version and uploads it,
then reads it back from its public hv:uri. A list moves only after all its images are in place,
and a failure part-way leaves the previously published list where it was. A second run with
nothing changed uploads nothing.

Targets in vmgit.yaml map hv:uri to where files are written (file://, sftp://, https:// WebDAV,
s3://). Credentials as for vmgit sign (--key/--cert, --p12, VMGIT_SIGNING_KEY/VMGIT_SIGNING_CERT);
transfer secrets only from the environment (see vmgit.yaml targets: token_env, password_env, ...).

Exit codes: 0 published or nothing to do, 1 a list was refused (validation, signing checks),
2 usage or configuration error, 3 a transfer failed.`
  static override examples = [
    '<%= config.bin %> publish --dry-run',
    '<%= config.bin %> publish --key ~/.globus/userkey.pem --cert ~/.globus/usercert.pem',
    '<%= config.bin %> publish production --refresh-before 7d --json',
  ]
  static override strict = false
  static override args = { lists: Args.string({ description: 'Lists to publish (file names or dc:identifiers); default all.' }) }
  static override flags = {
    repo: Flags.string({ description: 'Repository directory.', env: 'VMGIT_REPO', default: '.' }),
    'dry-run': Flags.boolean({ description: 'Show what would be uploaded and signed; change nothing.', default: false }),
    'refresh-before': Flags.string({ description: 'Also re-sign lists whose published copy expires within DURATION (e.g. 7d); run it on a schedule.' }),
    key: Flags.string({ description: 'Signing key (PEM).' }),
    cert: Flags.string({ description: 'Signing certificate (PEM; default vmgit.yaml signing.cert).' }),
    p12: Flags.string({ description: 'PKCS#12 file with key and certificate.', exclusive: ['key', 'cert'] }),
    'allow-no-key-usage': Flags.boolean({ description: 'Sign with a certificate lacking keyUsage digitalSignature (test CAs only).', default: false }),
    now: Flags.string({ description: 'Signing time (ISO 8601; default now).', hidden: true }),
  }

  async run(): Promise<void> {
    const f = this.flags
    const now = parseNow(f.now)
    const dir = path.resolve(f.repo)
    const repo = await loadRepository(dir, { now })
    const errors = repo.problems.filter(isError)
    if (errors.length) {
      for (const p of errors) process.stderr.write(formatProblem(p) + '\n')
      throw new VmgitError('INVALID_REPOSITORY', `the repository has ${errors.length} error(s); fix them (vmgit validate) before publishing`)
    }
    const creds = await this.credentials(f, repo.config.signing?.cert ? path.resolve(dir, repo.config.signing.cert) : undefined, now)
    const settings = await readPublishSettings(dir)
    const targets = new PublishTargets(settings.rules, process.env, dir)
    const pool = targets.pool()
    const tty = process.stderr.isTTY && !f.json
    let report: PublishReport
    try {
      report = await publish({
        repo,
        lists: this.positional,
        ...(creds ? { creds } : {}),
        digest: repo.config.digest,
        now,
        dryRun: f['dry-run'],
        ...(f['refresh-before'] ? { refreshBeforeMs: durationFlag('refresh-before', f['refresh-before']) } : {}),
        resolveTarget: (uri) => targets.require(uri),
        pool,
        images: new ImageUploader(repo, pool, (uri) => targets.resolve(uri), tty ? (title) => progressBar(`upload ${title}`) : undefined),
        readBack: (uri, expected) => readBackList(uri, expected),
        log: f.json ? undefined : (line) => process.stdout.write(line + '\n'),
      })
    } finally {
      await pool.closeAll()
    }
    if (f.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n')
    else {
      const n = report.uploaded
      const verb = report.dryRun ? 'would upload' : 'uploaded'
      process.stdout.write(n.images + n.lists === 0 && !report.dryRun ? 'Nothing to publish: every list is current.\n' : `${verb} ${n.images} image(s) and ${n.lists} list(s)\n`)
      for (const l of report.lists) for (const w of l.warnings) process.stderr.write(`warning: ${l.name}: ${w}\n`)
    }
    const failed = report.lists.filter((l) => l.action === 'failed')
    // exit: 3 when a transfer failed, else 1 (a list was refused)
    if (failed.length) this.exit(failed.some((l) => l.error?.exit === Exit.NETWORK) ? Exit.NETWORK : Exit.INVALID)
  }

  private async credentials(f: Publish['flags'], defaultCert: string | undefined, now: Date): Promise<SigningCredentials | undefined> {
    const given = f.key || f.cert || f.p12 || process.env.VMGIT_SIGNING_KEY || process.env.VMCASTER_X509_KEY
    if (f['dry-run'] && !given) return undefined
    const creds = await loadCredentials({ key: f.key, cert: f.cert, p12: f.p12 }, { ...(defaultCert ? { defaultCert } : {}) })
    for (const w of checkSigningCert(creds.cert, { now, allowNoKeyUsage: f['allow-no-key-usage'] })) process.stderr.write(`warning: ${w}\n`)
    return creds
  }
}
