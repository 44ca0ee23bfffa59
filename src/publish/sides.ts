import { loadRepository } from '../model/load.js'
import { formatProblem } from '../model/problems.js'
import { toHepix } from '../model/hepix.js'
import type { Repository } from '../model/types.js'
import type { TransferPool } from '../transfer/index.js'
import { VmgitError } from '../util/errors.js'
import type { ListSide, PlanIssue } from './plan.js'
import { readPublished } from './published.js'

/**
 * The two sides `vmgit plan` compares, loaded from a repository directory (the work tree or a
 * commit extracted by src/git) or from what is published at each list's target now.
 */

export interface RepoSide {
  side: ListSide
  repo: Repository
  /** the repository's own problems, as plan issues (reported for the head only) */
  issues: PlanIssue[]
}

export type Signer = { dn: string; ca: string } | undefined

/** `signerOf` gives the certificate's names, which fill endorser dn/ca left out of the YAML. */
export async function sideFromRepo(dir: string, label: string, now: Date, signerOf: (repo: Repository) => Promise<Signer> = async () => undefined): Promise<RepoSide> {
  const repo = await loadRepository(dir, { now })
  const signer = await signerOf(repo)
  const issues: PlanIssue[] = repo.problems.map((p) => ({ severity: p.severity, code: p.code, message: formatProblem(p) }))
  const side: ListSide = { label, lists: new Map() }
  for (const name of [...repo.lists.keys()].sort()) {
    try {
      const list = toHepix(repo, name, { now, ...(signer ? { signer } : {}) })
      const fixedVersion = repo.lists.get(name)?.hepix['hv:version'] !== undefined
      side.lists.set(String(list.list['dc:identifier'] ?? name), { name, list, fixedVersion })
    } catch (e) {
      if (!(e instanceof VmgitError)) throw e
      // already reported among the repository's problems; a list that cannot render has no side
    }
  }
  return { side, repo, issues }
}

/** What is published now for each list of `head` (lists without a target or a copy are absent). */
export async function sideFromPublished(
  head: RepoSide,
  resolve: (uri: string) => string | undefined,
  pool: TransferPool,
): Promise<{ side: ListSide; issues: PlanIssue[] }> {
  const side: ListSide = { label: 'published', lists: new Map() }
  const issues: PlanIssue[] = []
  for (const [id, { name, list }] of head.side.lists) {
    const uri = String(list.list['hv:uri'] ?? '')
    const target = uri ? resolve(uri) : undefined
    if (!target) {
      issues.push({ severity: 'warning', code: 'TARGET_NO_MATCH', list: id, message: `list ${name}: no target in vmgit.yaml matches its uri ${uri || '(none)'}, so the published copy cannot be read; add a target or use --base REF` })
      continue
    }
    try {
      const p = await readPublished(pool, target)
      if (p?.warning) issues.push({ severity: 'warning', code: 'PUBLISHED_UNREADABLE', list: id, message: p.warning })
      if (p?.list) side.lists.set(id, { name, list: p.list, bytes: p.bytes })
    } catch (e) {
      if (!(e instanceof VmgitError)) throw e
      issues.push({ severity: 'error', code: e.code, list: id, message: `list ${name}: cannot read the published copy: ${e.message}` })
    }
  }
  return { side, issues }
}
