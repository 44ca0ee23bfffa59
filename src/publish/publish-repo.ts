/**
 * `vmgit publish` as a library call, shared by the CLI command and the GitHub Action: load and
 * check the repository, load the signing credentials, then run the publish pipeline against the
 * vmgit.yaml targets. The time is passed in; the environment too (credentials and transfer
 * secrets come only from it or from files, never from anything logged).
 */
import path from 'node:path'
import { loadRepository } from '../model/load.js'
import { formatProblem, isError } from '../model/problems.js'
import { checkSigningCert, loadCredentials, type CredentialFlags } from '../smime/credentials.js'
import type { SigningCredentials } from '../smime/sign.js'
import type { PutOptions } from '../transfer/index.js'
import { VmgitError } from '../util/errors.js'
import { PublishTargets, readPublishSettings } from './config.js'
import { ImageUploader } from './images.js'
import { publish, type PublishReport } from './publish.js'
import { readBackList } from './readback.js'
import { RegistryPublisher, registrySettings } from '../oci/publish.js'

export interface PublishRepositoryOptions {
  dir: string
  /** list file names or dc:identifiers; empty = all */
  lists: string[]
  now: Date
  dryRun?: boolean
  refreshBeforeMs?: number
  credentials?: CredentialFlags
  allowNoKeyUsage?: boolean
  env?: NodeJS.ProcessEnv
  /** progress lines (text output) */
  log?: (line: string) => void
  /** warnings and the repository's errors, one line each */
  warn?: (line: string) => void
  /** a progress bar per uploaded image (TTY only) */
  progress?: (title: string) => PutOptions['onProgress']
}

export async function publishRepository(opts: PublishRepositoryOptions): Promise<PublishReport> {
  const dir = path.resolve(opts.dir)
  const env = opts.env ?? process.env
  const warn = opts.warn ?? ((line: string) => process.stderr.write(line + '\n'))
  const { now } = opts
  const repo = await loadRepository(dir, { now })
  const errors = repo.problems.filter(isError)
  if (errors.length) {
    for (const p of errors) warn(formatProblem(p))
    throw new VmgitError('INVALID_REPOSITORY', `the repository has ${errors.length} error(s); fix them (vmgit validate) before publishing`)
  }
  const defaultCert = repo.config.signing?.cert ? path.resolve(dir, repo.config.signing.cert) : undefined
  const flags = opts.credentials ?? {}
  const given = flags.key || flags.cert || flags.p12 || env.VMGIT_SIGNING_KEY || env.VMCASTER_X509_KEY
  let creds: SigningCredentials | undefined
  if (!(opts.dryRun && !given)) {
    creds = await loadCredentials(flags, { env, ...(defaultCert ? { defaultCert } : {}) })
    for (const w of checkSigningCert(creds.cert, { now, allowNoKeyUsage: opts.allowNoKeyUsage ?? false })) warn(`warning: ${w}`)
  }
  const settings = await readPublishSettings(dir)
  const targets = new PublishTargets(settings.rules, env, dir)
  const pool = targets.pool()
  const oci = registrySettings(repo.configSrc?.data)
  const registry = oci ? new RegistryPublisher(oci, repo, { env, ...(opts.log ? { log: opts.log } : {}) }) : undefined
  try {
    return await publish({
      repo,
      lists: opts.lists,
      ...(creds ? { creds } : {}),
      digest: repo.config.digest,
      now,
      dryRun: opts.dryRun ?? false,
      ...(opts.refreshBeforeMs !== undefined ? { refreshBeforeMs: opts.refreshBeforeMs } : {}),
      resolveTarget: (uri) => targets.require(uri),
      pool,
      images: new ImageUploader(repo, pool, (uri) => targets.resolve(uri), opts.progress, registry !== undefined),
      ...(registry ? { registry } : {}),
      readBack: (uri, expected) => readBackList(uri, expected),
      log: opts.log,
    })
  } finally {
    registry?.close()
    await pool.closeAll()
  }
}
