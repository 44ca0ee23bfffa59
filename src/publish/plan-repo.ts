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
import { computePlan, diffObjects, type ListSide, type Plan, type PlanIssue } from './plan.js'
import { publishVerdicts } from './publishable.js'
import { loadSourcePolicy, resolveSource } from './source-root.js'
import { diffSettings, headAsPublished, publishedSettings, repoSettings, type Settings } from './plan-settings.js'
import { sideFromPublished, sideFromRepo, type RepoSide, type Signer } from './sides.js'
import { RegistryPublisher, registrySettings, type RegistrySettings } from '../oci/publish.js'

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
  // issue 15: a source outside the repository is never read (sourceIssues reports it per image)
  const policy = loadSourcePolicy(head.repo, env)
  const pub = new RegistryPublisher(settings, head.repo, { resolveSource: async (source, title) => resolveSource(await policy, head.repo.dir, source, title), env })
  try {
    for (const [id, { name, list }] of head.side.lists) {
      try {
        RegistryPublisher.annotate(list, await pub.prepare(name))
      } catch (e) {
        if (!(e instanceof VmgitError)) throw e
        if (e.code === 'SOURCE_OUTSIDE_REPOSITORY') continue
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
  const { rules } = await readPublishSettings(dir)
  const oci = registrySettingsOrIssue(head)
  const withRegistry = (p: Plan): Plan => (oci ? { ...p, registry: oci.url } : p)
  // the rulebook's publish rules: whatever publish would refuse, plan reports first
  const judge = async (base: ListSide): Promise<PlanIssue[]> => {
    if (!cert) keepBaseSigner(base, head)
    const vs = await publishVerdicts(head.repo, { rules, now, sourceRoot: dir, mustUpload: (id) => mustUpload(id, base, head.side) })
    return vs.map((v) => ({ severity: v.severity, code: v.code, message: `${v.file}: ${v.message}`, ...(v.list ? { list: listId(head.side, v.list) } : {}), ...(v.image ? { image: v.image } : {}) }))
  }
  if (opts.base) {
    const base = await atRef(opts.base)
    const ruled = await judge(base.side)
    return withRegistry(computePlan(base.side, head.side, { headIssues: [...head.issues, ...ruled], now, ...(cert ? { cert } : {}), settings: diffSettings(base.settings, head.settings) }))
  }
  // the published copy pins each image's manifest digest: the head is compared with the digests publish would pin
  if (oci) await pinHead(head, oci, env)
  const targets = new PublishTargets(rules, env, dir)
  const pool = targets.pool()
  try {
    const pub = await sideFromPublished(head, (u) => resolveQuietly(targets, u), pool)
    const ruled = await judge(pub.side)
    // a list the rulebook already refuses for its target is not also warned about
    const pubIssues = pub.issues.filter((i) => !ruled.some((r) => r.list === i.list && r.severity === 'error'))
    const names = [...pub.side.lists.values()].map((l) => l.name)
    const settings = diffSettings(publishedSettings(pub.side.lists), headAsPublished(head.repo, names), true)
    return withRegistry(computePlan(pub.side, head.side, { headIssues: [...head.issues, ...ruled, ...pubIssues], now, ...(cert ? { cert } : {}), settings }))
  } finally {
    await pool.closeAll()
  }
}

/** A target that does not parse is the rulebook's verdict (TRANSFER_URL_INVALID): the published copy is just unreadable. */
function resolveQuietly(targets: PublishTargets, uri: string): string | undefined {
  try {
    return targets.resolve(uri)
  } catch (e) {
    if (e instanceof VmgitError) return undefined
    throw e
  }
}

const listId = (side: ListSide, name: string): string | undefined => [...side.lists].find(([, l]) => l.name === name)?.[0]

/** Publishing uploads an image unless the base (what is published) holds it exactly as the head has it. */
function mustUpload(identifier: string, base: ListSide, head: ListSide): boolean {
  for (const [id, l] of head.lists) {
    const img = l.list.images.find((i) => String(i['dc:identifier']) === identifier)
    if (!img) continue
    const before = base.lists.get(id)?.list.images.find((i) => String(i['dc:identifier']) === identifier)
    if (!before || diffObjects(before, img).length > 0) return true
  }
  return false
}

/**
 * No signing certificate given: an endorser that leaves hv:dn/hv:ca to the certificate renders
 * without them, which is not a change (issue 14: right after a publish, a plain plan showed
 * `hv:endorser/hv:dn … -> (removed)`). The names the base was signed with stand in for the unknown
 * certificate's; with --cert (or a configured certificate) they are checked against it instead.
 */
function keepBaseSigner(base: ListSide, head: RepoSide): void {
  for (const [id, h] of head.side.lists) {
    const b = base.lists.get(id)
    const entry = head.repo.lists.get(h.name)
    const endorser = entry ? head.repo.endorsers.get(entry.endorser) : undefined
    if (!b || !endorser) continue
    for (const key of ['hv:dn', 'hv:ca']) {
      if (endorser.hepix[key] === undefined && h.list.endorser[key] === undefined && b.list.endorser[key] !== undefined) h.list.endorser[key] = b.list.endorser[key]!
    }
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
