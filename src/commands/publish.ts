import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../base-command.js'
import { durationFlag, parseNow } from '../model/time.js'
import type { ListReport } from '../publish/publish.js'
import { publishRepository } from '../publish/publish-repo.js'
import { isEnvironmentCode } from '../util/envfs.js'
import { Exit, type ErrorCode, VmgitError } from '../util/errors.js'
import { progressBar } from '../util/progress.js'

export default class Publish extends BaseCommand<typeof Publish> {
  static override summary = 'Upload changed images, then sign and upload changed lists'
  static override description = `For each list (all, or those named): renders it, compares it with the copy published at
its target, and when the content changed (or --refresh-before says the published copy expires
soon) uploads the images it needs, signs the list with a new, higher hv:version and uploads it,
then reads it back from its public hv:uri. A list moves only after all its images are in place,
and a failure part-way leaves the previously published list where it was. A second run with
nothing changed uploads nothing.

Image URLs are immutable: publish refuses to upload other bytes to a URL that a published list
names (IMAGE_URL_IN_USE; give each version its own URL with vmgit.yaml image_uri). An old image
version stays until no published list names it; --prune then deletes it once the grace period
has passed (vmgit.yaml prune_grace, default the list lifetime, after which every list that named
it has expired). Temporary upload files are removed on Ctrl-C/SIGTERM, and stale ones (untouched
for an hour) left by a killed run are removed by the next publish.
GitOps means committed: publish refuses (NOT_COMMITTED, exit 2) when vmgit.yaml, a list, endorser
or image YAML, the signing certificate or a git-tracked image source differs from HEAD, or the
directory is not in git (NOT_A_GIT_REPO); --allow-dirty overrides, loudly. Each signed list carries
its provenance: vmgit:repository (origin remote without credentials), vmgit:commit (full id) and,
in CI, vmgit:run (the workflow run); \`provenance: false\` in vmgit.yaml turns that off. An image
source: must resolve (links followed) inside the repository (SOURCE_OUTSIDE_REPOSITORY).

Targets in vmgit.yaml map hv:uri to where files are written (file://, sftp://, https:// WebDAV,
s3://). Credentials as for vmgit sign (--key/--cert, --p12, VMGIT_SIGNING_KEY/VMGIT_SIGNING_CERT);
transfer secrets only from the environment (see vmgit.yaml targets: token_env, password_env, ...).

Exit codes: 0 published or nothing to do, 1 a list was refused (validation, signing checks),
2 usage or configuration error, or a target's file system refused (read-only, full, permission:
FS_* codes), 3 a transfer failed.`
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
    'allow-dirty': Flags.boolean({ description: 'Publish even when the files that feed a list differ from the commit (or are not in git); said loudly on stderr and recorded in the signed list (vmgit:dirty).', default: false }),
    'allow-no-key-usage': Flags.boolean({ description: 'Sign with a certificate lacking keyUsage digitalSignature (test CAs only).', default: false }),
    prune: Flags.boolean({ description: 'Also delete image files that no published list has named for the grace period (vmgit.yaml prune_grace, default the list lifetime).', default: false }),
    'prune-grace': Flags.string({ description: 'Grace period for --prune (e.g. 28d); overrides vmgit.yaml prune_grace.', dependsOn: ['prune'] }),
    now: Flags.string({ description: 'Signing time (ISO 8601; default now).', hidden: true }),
  }

  async run(): Promise<void> {
    const f = this.flags
    const tty = process.stderr.isTTY && !f.json
    const report = await publishRepository({
      dir: f.repo,
      lists: this.positional,
      now: parseNow(f.now),
      dryRun: f['dry-run'],
      ...(f['refresh-before'] ? { refreshBeforeMs: durationFlag('refresh-before', f['refresh-before']) } : {}),
      credentials: { key: f.key, cert: f.cert, p12: f.p12 },
      allowNoKeyUsage: f['allow-no-key-usage'],
      prune: f.prune,
      ...(f['prune-grace'] ? { pruneGraceMs: durationFlag('prune-grace', f['prune-grace']) } : {}),
      allowDirty: f['allow-dirty'],
      ...(tty ? { progress: (title: string) => progressBar(`upload ${title}`) } : {}),
      ...(f.json ? {} : { log: (line: string) => void process.stdout.write(line + '\n'), fail: (line: string) => void process.stderr.write(`error: ${line}\n`) }),
    })
    const failed = report.lists.filter((l) => l.action === 'failed')
    if (f.json) {
      if (failed.length) this.fail(publishFailure(failed), report)
      this.emit(report, () => [])
    } else {
      const n = report.uploaded
      const verb = report.dryRun ? 'would upload' : 'uploaded'
      // issue 14: "nothing to publish" only when nothing failed; failures and their count go to stderr
      if (failed.length === 0 || n.images + n.lists > 0 || report.dryRun) {
        process.stdout.write(n.images + n.lists === 0 && !report.dryRun && failed.length === 0 ? 'Nothing to publish: every list is current.\n' : `${verb} ${n.images} image(s) and ${n.lists} list(s)\n`)
      }
      for (const l of report.lists) for (const w of l.warnings) process.stderr.write(`warning: ${l.name}: ${w}\n`)
      if (failed.length) process.stderr.write(`${failureSummary(report.lists, failed)}\n`)
    }
    // exit: 3 when a transfer failed, 2 when a target's file system refused, else 1 (a list was refused)
    if (failed.length) this.exit(publishFailure(failed).exit)
  }
}

/** One line counting what failed, what went out and what was current, for the end of a failed run. */
function failureSummary(lists: readonly ListReport[], failed: readonly ListReport[]): string {
  const count = (...actions: string[]) => lists.filter((l) => actions.includes(l.action)).length
  const done = count('published', 'refreshed', 'would-publish', 'would-refresh')
  return `publish failed for ${failed.length} of ${lists.length} list(s) (${failed.map((l) => l.name).join(', ')}); ${done} published, ${count('unchanged')} unchanged; ` +
    'a failed list keeps its previously published copy: fix the error above and run vmgit publish again'
}

/** One error for a publish run whose lists failed: PUBLISH_UNREACHABLE (3) when a transfer failed, the machine's code (2) when a target's file system refused, else PUBLISH_FAILED (1). */
function publishFailure(failed: ListReport[]): VmgitError {
  const net = failed.find((l) => l.error?.exit === Exit.NETWORK)
  const first = net ?? failed[0]
  const what = `${failed.length} list(s) failed (${failed.map((l) => l.name).join(', ')})${first?.error ? `; ${first.name}: [${first.error.code}] ${first.error.message}` : ''}`
  if (net) return new VmgitError('PUBLISH_UNREACHABLE', what)
  // issue 14: a target the machine refuses (read-only, full, forbidden) is its own code and exit 2, not "a list was refused"
  const machine = failed.find((l) => l.error && isEnvironmentCode(l.error.code))?.error
  if (machine) return new VmgitError(machine.code as ErrorCode, what)
  return new VmgitError('PUBLISH_FAILED', what)
}
