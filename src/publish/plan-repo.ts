/**
 * `vmgit plan` as a library call, shared by the CLI command and the GitHub Action: render the
 * head (work tree or a ref) and the base (a git ref, or what is published now at each target)
 * with the same time and signer, and compare them. Pure with respect to the targets: nothing is
 * written, signed or uploaded. The time is passed in (never read here).
 */
import path from 'node:path'
import { Git } from '../git/git.js'
import { CONFIG_FILE } from '../model/load.js'
import { formatProblem, isError } from '../model/problems.js'
import type { Repository } from '../model/types.js'
import type { CertInfo } from '../smime/cert.js'
import { usageError, VmgitError } from '../util/errors.js'
import { signingCertificate } from './cert.js'
import { PublishTargets, readPublishSettings } from './config.js'
import { computePlan, type Plan, type PlanIssue } from './plan.js'
import { loadSourcePolicy, resolveSource } from './source-root.js'
import { diffSettings, headAsPublished, publishedSettings, repoSettings, type Settings } from './plan-settings.js'
import { sideFromPublished, sideFromRepo, type RepoSide, type Signer } from './sides.js'

export interface PlanRepositoryOptions {
  dir: string
  /** git ref to compare against; default what is published now */
  base?: string
  /** git ref to plan; default the work tree */
  head?: string
  /** signing certificate file (default VMGIT_SIGNING_CERT or vmgit.yaml signing.cert) */
  cert?: string
  now: Date
  env?: NodeJS.ProcessEnv
}

export async function planRepository(opts: PlanRepositoryOptions): Promise<Plan> {
  const dir = path.resolve(opts.dir)
  const env = opts.env ?? process.env
  const now = opts.now
  // render both sides with the same time and signer so that only real changes show
  let cert: CertInfo | undefined
  let certRead = false
  const signerOf = async (repo: Repository): Promise<Signer> => {
    if (!certRead) [cert, certRead] = [await signingCertificate(repo, opts.cert, env), true]
    return cert && { dn: cert.subject, ca: cert.issuer }
  }
  // issue 15: each side's settings are read while its tree exists (the certificate file is in it)
  const atRef = async (ref: string): Promise<RepoSide & { settings: Settings }> => {
    const git = await Git.open(dir)
    return git.withTreeAt(ref, async (tree, commit) => {
      const side = await sideFromRepo(tree, `${ref} (${commit.slice(0, 8)})`, now, signerOf)
      return { ...side, issues: [...side.issues, ...(await sourceIssues(side.repo, env))], settings: await repoSettings(side.repo) }
    })
  }
  const workTree = async (): Promise<RepoSide & { settings: Settings }> => {
    const side = await sideFromRepo(dir, 'work tree', now, signerOf)
    return { ...side, issues: [...side.issues, ...(await sourceIssues(side.repo, env))], settings: await repoSettings(side.repo) }
  }
  const head = opts.head ? await atRef(opts.head) : await workTree()
  // Exit-code table: a broken vmgit.yaml is a configuration error (2) whether or not --base is
  // given, never "errors in the lists" (1) and never "changes" (4).
  const config = head.repo.problems.filter((p) => p.file === CONFIG_FILE && isError(p))
  if (config.length > 0) {
    throw usageError('CONFIG_INVALID', `${CONFIG_FILE} has ${config.length} error(s), first ${formatProblem(config[0]!)}; fix it (vmgit validate) before planning`)
  }
  if (opts.base) {
    const base = await atRef(opts.base)
    return computePlan(base.side, head.side, { headIssues: head.issues, now, ...(cert ? { cert } : {}), settings: diffSettings(base.settings, head.settings) })
  }
  const targets = new PublishTargets((await readPublishSettings(dir)).rules, env, dir)
  const pool = targets.pool()
  try {
    const pub = await sideFromPublished(head, (u) => targets.resolve(u), pool)
    const names = [...pub.side.lists.values()].map((l) => l.name)
    const settings = diffSettings(publishedSettings(pub.side.lists), headAsPublished(head.repo, names), true)
    return computePlan(pub.side, head.side, { headIssues: [...head.issues, ...pub.issues], now, ...(cert ? { cert } : {}), settings })
  } finally {
    await pool.closeAll()
  }
}

/**
 * issue 15: a pull request is untrusted input. The plan a reviewer reads already says when an image
 * source resolves outside the repository (a committed symlink into /etc, `../../`, an absolute path),
 * which publish would refuse (SOURCE_OUTSIDE_REPOSITORY). A source that does not exist here (image
 * files are rarely committed) is no issue of the plan.
 */
async function sourceIssues(repo: Repository, env: NodeJS.ProcessEnv): Promise<PlanIssue[]> {
  const out: PlanIssue[] = []
  const images = [...repo.images.values()].filter((i) => i.source)
  if (!images.length) return out
  const policy = await loadSourcePolicy(repo, env)
  for (const img of images) {
    try {
      await resolveSource(policy, repo.dir, img.source!, img.name)
    } catch (e) {
      if (e instanceof VmgitError && e.code === 'SOURCE_OUTSIDE_REPOSITORY') out.push({ severity: 'error', code: e.code, image: String(img.hepix['dc:identifier'] ?? img.name), message: `${img.file}: ${e.message}` })
    }
  }
  return out
}
