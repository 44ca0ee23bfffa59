/**
 * A pull request is untrusted input (issue 15): an image `source:` is a path written in YAML that
 * anyone may propose, and CI uploads what it names. So a source must resolve, after following
 * every link (realpath), inside the repository (the git work tree, else the vmgit directory), and
 * never inside a `.git` directory (actions/checkout keeps its token in .git/config). A symlink into
 * /etc, `../../`, an absolute path or a link in a parent directory all fail the same test, because
 * it is made on the resolved path, not on the spelling.
 *
 * Other roots (a NFS image store) are allowed only when vmgit.yaml ON THE DEFAULT BRANCH names them
 * in `source_roots`: the work tree's vmgit.yaml is part of the pull request, so its own list is
 * never trusted alone; a root counts only when the default branch's vmgit.yaml names it too.
 * The default branch is VMGIT_DEFAULT_BRANCH, else the GitHub event's repository.default_branch,
 * else `origin/HEAD`; when none is known, no other root is allowed.
 */
import { readFile, realpath } from 'node:fs/promises'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import { Git } from '../git/git.js'
import type { Repository } from '../model/types.js'
import { VmgitError } from '../util/errors.js'

export interface SourcePolicy {
  /** realpath of the repository (git top level, else the vmgit directory) */
  root: string
  /** realpaths of the other roots the default branch allows */
  extra: string[]
  /** roots the work tree names but the default branch does not (reported when a source needs one) */
  refused: string[]
  /** which default branch was read, for messages */
  defaultBranch?: string
}

const inside = (p: string, dir: string): boolean => p === dir || p.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep)

async function defaultBranchRef(git: Git, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const candidates: string[] = []
  let name = env.VMGIT_DEFAULT_BRANCH
  if (!name && env.GITHUB_EVENT_PATH) {
    const ev = await readFile(env.GITHUB_EVENT_PATH, 'utf8').then((t) => JSON.parse(t) as { repository?: { default_branch?: unknown } }, () => undefined)
    if (typeof ev?.repository?.default_branch === 'string') name = ev.repository.default_branch
  }
  if (name) candidates.push(`refs/remotes/origin/${name}`, `refs/heads/${name}`)
  else {
    const head = await git.run(['symbolic-ref', '-q', 'refs/remotes/origin/HEAD']).then((b) => b.toString().trim(), () => '')
    if (head) candidates.push(head)
  }
  for (const ref of candidates) {
    const ok = await git.run(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]).then(() => true, () => false)
    if (ok) return ref
  }
  return undefined
}

/** Roots named by vmgit.yaml at `ref` (absolute paths only). */
async function rootsAt(git: Git, ref: string): Promise<string[]> {
  const text = await git.showFile(ref, 'vmgit.yaml').catch(() => undefined)
  if (!text) return []
  let data: unknown
  try {
    data = parseYaml(text.toString('utf8'))
  } catch {
    return []
  }
  const roots = (data as { source_roots?: unknown } | null)?.source_roots
  return Array.isArray(roots) ? roots.filter((r): r is string => typeof r === 'string' && path.isAbsolute(r)).map((r) => path.resolve(r)) : []
}

export async function loadSourcePolicy(repo: Repository, env: NodeJS.ProcessEnv = process.env): Promise<SourcePolicy> {
  let top = repo.dir
  let git: Git | undefined
  if (await Git.isRepo(repo.dir).catch(() => false)) {
    git = new Git(repo.dir)
    top = (await git.run(['rev-parse', '--show-toplevel'])).toString().trim() || repo.dir
  }
  const root = await realpath(top)
  const wanted = repo.config.sourceRoots.filter((r) => path.isAbsolute(r)).map((r) => path.resolve(r))
  if (!wanted.length) return { root, extra: [], refused: [] }
  const ref = git ? await defaultBranchRef(git, env) : undefined
  const allowed = ref && git ? new Set(await rootsAt(git, ref)) : new Set<string>()
  const extra: string[] = []
  const refused: string[] = []
  for (const r of wanted) {
    if (!allowed.has(r)) {
      refused.push(r)
      continue
    }
    const real = await realpath(r).catch(() => undefined)
    if (real) extra.push(real)
  }
  return { root, extra, refused, ...(ref ? { defaultBranch: ref.replace(/^refs\/(remotes\/|heads\/)/, '') } : {}) }
}

/**
 * The real path publish may read for an image's `source:`, or SOURCE_OUTSIDE_REPOSITORY (exit 2).
 * `source` is relative to the vmgit directory (or absolute).
 */
export async function resolveSource(policy: SourcePolicy, repoDir: string, source: string, title: string): Promise<string> {
  const given = path.resolve(repoDir, source)
  const real = await realpath(given).catch(async (e: NodeJS.ErrnoException) => {
    // a path that names a place outside the repository by its very spelling is refused as such, existing or not
    const lexical = path.resolve(await realpath(repoDir).catch(() => repoDir), source)
    if (!inside(lexical, policy.root) && !policy.extra.some((r) => inside(lexical, r))) return lexical
    throw new VmgitError('IMAGE_SOURCE_UNREADABLE', `image "${title}": cannot read its source ${source}: ${e.code ?? e.message}`)
  })
  const rel = path.relative(policy.root, real)
  const inRepo = inside(real, policy.root) && !rel.split(path.sep).includes('.git')
  if (inRepo || policy.extra.some((r) => inside(real, r) && !path.relative(r, real).split(path.sep).includes('.git'))) return real
  const roots = policy.extra.length ? ` or under ${policy.extra.join(', ')}` : ''
  const refused = policy.refused.length
    ? `; vmgit.yaml names ${policy.refused.join(', ')} in source_roots, but ${policy.defaultBranch ? `vmgit.yaml on the default branch ${policy.defaultBranch} does not` : 'the default branch is not known (set VMGIT_DEFAULT_BRANCH or fetch origin/HEAD)'}, so a pull request cannot add it`
    : ''
  return Promise.reject(
    new VmgitError(
      'SOURCE_OUTSIDE_REPOSITORY',
      `image "${title}": source ${source} resolves to ${real}, outside the repository ${policy.root}${roots} (or inside .git)${refused}; publish never uploads a file of the machine it runs on: put the image inside the repository, or name its directory in source_roots of vmgit.yaml on the default branch`,
      { details: { source, resolved: real } },
    ),
  )
}
