/**
 * `vmgit publish` as a library call, shared by the CLI command and the GitHub Action: load and
 * check the repository, load the signing credentials, then run the publish pipeline against the
 * vmgit.yaml targets. The time is passed in; the environment too (credentials and transfer
 * secrets come only from it or from files, never from anything logged).
 */
import path from 'node:path'
import { findList } from '../model/hepix.js'
import { loadRepository } from '../model/load.js'
import { formatProblem, isError } from '../model/problems.js'
import { checkSigningCert, loadCredentials, type CredentialFlags } from '../smime/credentials.js'
import type { SigningCredentials } from '../smime/sign.js'
import type { Repository } from '../model/types.js'
import type { PutOptions } from '../transfer/index.js'
import { parseDuration } from '../model/time.js'
import { removeTempsOnSignal } from '../transfer/temps.js'
import { usageError, VmgitError } from '../util/errors.js'
import { PublishTargets, readPublishSettings } from './config.js'
import { ImageUploader } from './images.js'
import { publish, type PublishReport } from './publish.js'
import { committedState, filesFeeding, notCommitted, provenanceKeys, type CommittedState } from './provenance.js'
import { readBackList } from './readback.js'
import { PER_LIST_CODES } from '../rules/book.js'
import { loadSourcePolicy, resolveSource } from './source-root.js'
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
  /** issue 15: publish files that differ from the commit (or a directory outside git); said loudly, recorded in the list */
  allowDirty?: boolean
  env?: NodeJS.ProcessEnv
  /** progress lines (text output) */
  log?: (line: string) => void
  /** warnings and the repository's errors, one line each */
  warn?: (line: string) => void
  /** a list that failed, one line each (default: log) */
  fail?: (line: string) => void
  /** a progress bar per uploaded image (TTY only) */
  progress?: (title: string) => PutOptions['onProgress']
  /** delete image files no published list names, after the grace period */
  prune?: boolean
  /** the grace period in ms; default vmgit.yaml prune_grace, else the list lifetime */
  pruneGraceMs?: number
}

export async function publishRepository(opts: PublishRepositoryOptions): Promise<PublishReport> {
  const dir = path.resolve(opts.dir)
  const env = opts.env ?? process.env
  const warn = opts.warn ?? ((line: string) => process.stderr.write(line + '\n'))
  const { now } = opts
  const repo = await loadRepository(dir, { now })
  // a list whose fixed dates are refused fails on its own (the other lists are still refreshed)
  const errors = repo.problems.filter((p) => isError(p) && !PER_LIST_CODES.has(p.code))
  if (errors.length) {
    for (const p of errors) warn(formatProblem(p))
    throw new VmgitError('INVALID_REPOSITORY', `the repository has ${errors.length} error(s); fix them (vmgit validate) before publishing`)
  }
  const gitops = await checkCommitted(repo, opts, warn)
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
  const pruneGraceMs = opts.prune ? (opts.pruneGraceMs ?? pruneGraceOf(settings.pruneGrace, repo.config.lifetimeMs)) : undefined
  const pool = targets.pool()
  // Ctrl-C / a cancelled CI job: remove this run's temp files before going
  const signals = removeTempsOnSignal()
  const oci = registrySettings(repo.configSrc?.data)
  // issue 15: one source policy for the target uploads and the registry pushes
  const policy = loadSourcePolicy(repo, env)
  const resolve = async (source: string, title: string): Promise<string> => resolveSource(await policy, repo.dir, source, title)
  const registry = oci ? new RegistryPublisher(oci, repo, { resolveSource: resolve, env, ...(opts.log ? { log: opts.log } : {}) }) : undefined
  try {
    const report = await publish({
      repo,
      lists: opts.lists,
      ...(creds ? { creds } : {}),
      digest: repo.config.digest,
      now,
      dryRun: opts.dryRun ?? false,
      ...(opts.refreshBeforeMs !== undefined ? { refreshBeforeMs: opts.refreshBeforeMs } : {}),
      resolveTarget: (uri) => targets.require(uri),
      pool,
      images: new ImageUploader(repo, pool, (uri) => targets.resolve(uri), opts.progress, policy, registry !== undefined),
      ...(registry ? { registry } : {}),
      readBack: (uri, expected) => readBackList(uri, expected),
      log: opts.log,
      ...(opts.fail ? { fail: opts.fail } : {}),
      warn: (line) => warn(`warning: ${line}`),
      resolveImageTarget: (uri) => targets.resolve(uri),
      ...(pruneGraceMs !== undefined ? { pruneGraceMs } : {}),
      provenance: gitops.provenance,
    })
    return { ...report, ...gitops.report }
  } finally {
    await signals.release()
    registry?.close()
    await pool.closeAll()
  }
}

/**
 * The prune grace period: vmgit.yaml `prune_grace`, else the list lifetime (28d by default).
 * Why the lifetime: every list that named a file was signed before the file stopped being named,
 * so once a lifetime has passed every such list has expired (copies on mirrors and caches, and
 * lists since removed from the repository, included) and no subscriber accepts it any more.
 */
export function pruneGraceOf(configured: string | undefined, lifetimeMs: number): number {
  if (configured === undefined) return lifetimeMs
  const ms = parseDuration(configured)
  if (ms === undefined) throw usageError('PRUNE_GRACE_INVALID', `vmgit.yaml prune_grace "${configured}" is not a duration; write a number and a unit (s, m, h, d, w), e.g. 28d`)
  return ms
}

/**
 * GitOps means committed (issue 15): the files that feed the lists to publish must be those of
 * HEAD. Refused with NOT_COMMITTED (or NOT_A_GIT_REPO) unless --allow-dirty, which is said on
 * stderr in capitals and recorded: `vmgit:dirty` in the signed list, `allowDirty` in the report.
 * A dry run only warns: it signs and uploads nothing.
 */
async function checkCommitted(repo: Repository, opts: PublishRepositoryOptions, warn: (line: string) => void): Promise<{ provenance: Record<string, string>; report: Partial<PublishReport> }> {
  const env = opts.env ?? process.env
  const lists = opts.lists.length ? opts.lists.map((n) => findList(repo, n)) : [...repo.lists.values()]
  let state: CommittedState | undefined
  let problem: VmgitError | undefined
  try {
    state = await committedState(repo.dir, filesFeeding(repo, lists))
    if (state.dirty.length) problem = notCommitted(state)
  } catch (e) {
    if (!(e instanceof VmgitError) || !['NOT_A_GIT_REPO', 'NOT_COMMITTED'].includes(e.code)) throw e
    problem = e
  }
  const provenance = provenanceKeys(repo, state, env)
  if (!problem) return { provenance, report: state ? { commit: state.commit } : {} }
  if (!opts.allowDirty && !opts.dryRun) throw problem
  const dirty = state?.dirty ?? []
  if (opts.allowDirty) {
    warn(`WARNING: --allow-dirty: publishing what no commit holds [${problem.code}]: ${problem.message.replace(/; what publish signs.*$/s, '')}`)
    warn('WARNING: the signed lists say so (vmgit:dirty); subscribers and reviewers cannot tie them to a reviewed commit')
    if (repo.config.provenance.enabled) provenance['vmgit:dirty'] = 'true'
  } else warn(`warning: publish (without --dry-run) would refuse [${problem.code}]: ${problem.message}`)
  return { provenance, report: { ...(state ? { commit: state.commit } : {}), ...(opts.allowDirty ? { allowDirty: { code: problem.code, dirty } } : {}) } }
}
