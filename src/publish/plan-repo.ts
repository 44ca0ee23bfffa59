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
import { usageError } from '../util/errors.js'
import { signingCertificate } from './cert.js'
import { PublishTargets, readPublishSettings } from './config.js'
import { computePlan, type Plan } from './plan.js'
import { sideFromPublished, sideFromRepo, type RepoSide, type Signer } from './sides.js'
import { RegistryPublisher, registrySettings, type RegistrySettings } from '../oci/publish.js'
import { VmgitError } from '../util/errors.js'

/** vmgit.yaml registry settings, or undefined with the problem added to the head's issues. */
function registrySettingsOrIssue(head: RepoSide): RegistrySettings | undefined {
  try {
    return registrySettings(head.repo.configSrc?.data)
  } catch (e) {
    if (!(e instanceof VmgitError)) throw e
    head.issues.push({ severity: 'error', code: e.code, message: e.message })
    return undefined
  }
}

/** Put on each head list the OCI keys publish would sign (hashes the image sources; no network). */
async function pinHead(head: RepoSide, settings: RegistrySettings, env: NodeJS.ProcessEnv): Promise<void> {
  const pub = new RegistryPublisher(settings, head.repo, { env })
  try {
    for (const [id, { name, list }] of head.side.lists) {
      try {
        RegistryPublisher.annotate(list, await pub.prepare(name))
      } catch (e) {
        if (!(e instanceof VmgitError)) throw e
        head.issues.push({ severity: 'error', code: e.code, list: id, message: `list ${name}: ${e.message}` })
      }
    }
  } finally {
    pub.close()
  }
}

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
  const atRef = async (ref: string): Promise<RepoSide> => {
    const git = await Git.open(dir)
    return git.withTreeAt(ref, (tree, commit) => sideFromRepo(tree, `${ref} (${commit.slice(0, 8)})`, now, signerOf))
  }
  const head = opts.head ? await atRef(opts.head) : await sideFromRepo(dir, 'work tree', now, signerOf)
  // Exit-code table: a broken vmgit.yaml is a configuration error (2) whether or not --base is
  // given, never "errors in the lists" (1) and never "changes" (4).
  const config = head.repo.problems.filter((p) => p.file === CONFIG_FILE && isError(p))
  if (config.length > 0) {
    throw usageError('CONFIG_INVALID', `${CONFIG_FILE} has ${config.length} error(s), first ${formatProblem(config[0]!)}; fix it (vmgit validate) before planning`)
  }
  const oci = registrySettingsOrIssue(head)
  const withRegistry = (p: Plan): Plan => (oci ? { ...p, registry: oci.url } : p)
  if (opts.base) {
    const base = await atRef(opts.base)
    return withRegistry(computePlan(base.side, head.side, { headIssues: head.issues, now, ...(cert ? { cert } : {}) }))
  }
  // the published copy pins each image's manifest digest: the head is compared with the digests publish would pin
  if (oci) await pinHead(head, oci, env)
  const targets = new PublishTargets((await readPublishSettings(dir)).rules, env, dir)
  const pool = targets.pool()
  try {
    const pub = await sideFromPublished(head, (u) => targets.resolve(u), pool)
    return withRegistry(computePlan(pub.side, head.side, { headIssues: [...head.issues, ...pub.issues], now, ...(cert ? { cert } : {}) }))
  } finally {
    await pool.closeAll()
  }
}
