/**
 * GitOps means committed (issue 15): what `vmgit publish` signs must be a commit, and the signed
 * list says which one.
 *
 * - `committedState()`: the full commit id of HEAD and the files that feed the lists to publish
 *   (vmgit.yaml, the list, endorser and image YAML, the signing certificate and the image sources
 *   that git tracks) which differ from it: modified, staged, untracked or ignored. `publish`
 *   refuses those (NOT_COMMITTED) unless --allow-dirty.
 * - `provenanceKeys()`: flat string keys at list level, inside the signed bytes:
 *   `vmgit:repository` (the `origin` remote with its credentials, query and fragment stripped, or
 *   vmgit.yaml `provenance.repository`), `vmgit:commit` (the full id) and, in CI only, `vmgit:run`
 *   (the workflow run's URL). `provenance: false` in vmgit.yaml leaves all three out.
 *
 * Consumers ignore these keys (their parsers read, issue 15):
 * - vmcatcher (hepix-virtualisation/vmcatcher fe6550b, through hepixvmitrust 7bf56fa
 *   `vmitrustlib.py` `_VMimageListDecoder_implementation`): the decoder copies every list key it
 *   does not treat itself into `metadata` (`copyfield`), and vmcatcher then reads only named keys
 *   (`fatcontroler.py` subscription update: dc:identifier, hv:dn, hv:ca, hv:uri, dates, hv:version;
 *   `databaseDefinition.py`). A `vmgit:*` string is carried along and never used.
 * - cloudkeeper (the-cloudkeeper-project/cloudkeeper 5891de9, `lib/cloudkeeper/entities/image_list.rb`
 *   `from_hash`/`populate_image_list`/`populate_appliances!`): reads dc:identifier, dc:date:expires,
 *   dc:date:created, dc:source, dc:title, dc:description, ad:vo, hv:endorser, hv:images by name;
 *   no other list key is looked at.
 * - atrope (alvarolopez/atrope 8d461f0, `atrope/image_list/hepix.py` `HepixImageList.__init__`):
 *   checks that its 10 required fields are present (`all(i in keys ...)`), then reads those and
 *   ad:vo by name; unknown keys are neither rejected nor read.
 * The key names are flat strings (no nested object) so that every layout (vmcaster sorted keys,
 * AppDB fixed order, then unknown keys by code point) renders them as plain string values.
 */
import path from 'node:path'
import { Git, runGit } from '../git/git.js'
import type { ListEntry, Repository } from '../model/types.js'
import { usageError, VmgitError } from '../util/errors.js'
import { publicRepositoryUrl } from '../imagelist/provenance.js'

export { PROVENANCE_KEYS, provenanceOf, publicRepositoryUrl, sameRepository, type Provenance } from '../imagelist/provenance.js'

/**
 * The CI run that signs, as a URL (GitHub Actions, GitLab CI) or an id; undefined outside CI.
 * GitHub: GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID/attempts/GITHUB_RUN_ATTEMPT.
 */
export function ciRun(env: NodeJS.ProcessEnv): string | undefined {
  const gh = env.GITHUB_RUN_ID
  if (env.GITHUB_ACTIONS === 'true' && gh && env.GITHUB_REPOSITORY) {
    const server = (env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, '')
    return `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${gh}${env.GITHUB_RUN_ATTEMPT ? `/attempts/${env.GITHUB_RUN_ATTEMPT}` : ''}`
  }
  if (env.GITLAB_CI === 'true' && env.CI_JOB_URL) return publicRepositoryUrl(env.CI_JOB_URL)
  if (env.CI === 'true' && env.BUILD_URL) return publicRepositoryUrl(env.BUILD_URL) // Jenkins
  return undefined
}

export interface CommittedState {
  /** the git top level, absolute */
  top: string
  /** full id of HEAD */
  commit: string
  /** files feeding the lists that differ from HEAD (git status lines, paths from the top) */
  dirty: string[]
  /** the `origin` remote, credentials stripped; undefined when there is none */
  origin?: string
}

/** Files that feed a list, relative to the repository dir: vmgit.yaml, its list, endorser and image YAML, sources, the certificate. */
export function filesFeeding(repo: Repository, lists: ListEntry[]): string[] {
  const files = new Set<string>(['vmgit.yaml'])
  if (repo.config.signing?.cert) files.add(repo.config.signing.cert)
  for (const l of lists) {
    files.add(l.file)
    files.add(`endorsers/${l.endorser}.yaml`)
    for (const name of l.images) {
      const img = repo.images.get(name)
      files.add(img?.file ?? `images/${name}.yaml`)
      if (img?.source) files.add(img.source)
    }
  }
  return [...files].filter((f) => !path.isAbsolute(f)).sort()
}

/**
 * HEAD and the files of `files` that differ from it. Outside a git work tree: NOT_A_GIT_REPO.
 * Sources are checked only when git tracks them (images are rarely committed; their sha512 in
 * the YAML binds them). Everything else counts when untracked or ignored too: a list file git does
 * not know is not part of any commit.
 */
export async function committedState(dir: string, files: string[]): Promise<CommittedState> {
  if (!(await Git.isRepo(dir))) {
    throw usageError('NOT_A_GIT_REPO', `${dir} is not inside a git repository, so what publish would sign matches no commit; commit the repository (git init; git add; git commit) or pass --allow-dirty`)
  }
  const git = new Git(dir)
  let commit: string
  try {
    commit = await git.revParse('HEAD')
  } catch {
    throw usageError('NOT_COMMITTED', `${dir} has no commit yet; commit the repository (git add -A; git commit) or pass --allow-dirty`)
  }
  const top = (await git.run(['rev-parse', '--show-toplevel'])).toString().trim()
  const prefix = await git.prefix()
  // every file git tracks below the repository dir: a source is checked only when it is one of them
  // (asking git about a source path itself fails for one outside the work tree or behind a link)
  const tracked = new Set((await git.run(['ls-files', '-z', '--full-name'])).toString().split('\0').filter(Boolean))
  const inTree = files.map((f) => path.posix.normalize(f)).filter((f) => !f.startsWith('../') && f !== '..')
  const check = inTree.filter((f) => !isSourceOnly(f) || tracked.has(path.posix.normalize(prefix + f)))
  const out = check.length ? (await git.run(['--literal-pathspecs', 'status', '--porcelain=v1', '-z', '--untracked-files=all', '--ignored=matching', '--', ...check])).toString() : ''
  const dirty = parseStatus(out)
  // `git update-index --assume-unchanged` / `--skip-worktree` hide an edit from git status: the bytes
  // of every checked file that HEAD holds are compared with HEAD's blob as well
  const listed = new Set(dirty.map((d) => d.slice(3)))
  for (const f of await hiddenEdits(git, prefix, check)) if (!listed.has(f)) dirty.push(`M. ${f}`)
  const origin = await runGit(dir, ['config', '--get', 'remote.origin.url']).then((b) => publicRepositoryUrl(b.toString()), () => undefined)
  return { top, commit, dirty, ...(origin ? { origin } : {}) }
}

async function hiddenEdits(git: Git, prefix: string, files: string[]): Promise<string[]> {
  if (!files.length) return []
  const tree = (await git.run(['--literal-pathspecs', 'ls-tree', '-z', '--full-name', 'HEAD', '--', ...files])).toString().split('\0').filter(Boolean)
  const inHead = new Map<string, string>()
  for (const rec of tree) {
    const [meta = '', name = ''] = rec.split('\t')
    const [mode, type, oid] = meta.split(' ')
    if (type === 'blob' && mode !== '120000' && oid) inHead.set(name, oid)
  }
  const present = files.filter((f) => inHead.has(path.posix.normalize(prefix + f)))
  if (!present.length) return []
  const ids = (await git.run(['hash-object', '--', ...present])).toString().trim().split('\n')
  return present.filter((f, i) => ids[i] !== inHead.get(path.posix.normalize(prefix + f))).map((f) => path.posix.normalize(prefix + f))
}

// sources are the only files that may legitimately stay out of git
const isSourceOnly = (f: string): boolean => !/\.ya?ml$/.test(f) && !/\.(pem|crt|cer)$/.test(f)

function parseStatus(out: string): string[] {
  const f = out.split('\0')
  const lines: string[] = []
  for (let i = 0; i < f.length; i++) {
    const rec = f[i]!
    if (!rec) continue
    const xy = rec.slice(0, 2)
    lines.push(`${xy.replace(/ /g, '.')} ${rec.slice(3)}`)
    if (xy[0] === 'R' || xy[0] === 'C') i++ // the old name follows
  }
  return lines
}

/** The provenance keys to sign, per vmgit.yaml `provenance` (on by default). */
export function provenanceKeys(repo: Repository, state: CommittedState | undefined, env: NodeJS.ProcessEnv): Record<string, string> {
  const p = repo.config.provenance
  if (!p.enabled) return {}
  const out: Record<string, string> = {}
  const repository = (p.repository !== undefined ? publicRepositoryUrl(p.repository) : undefined) ?? state?.origin
  if (repository) out['vmgit:repository'] = repository
  if (state?.commit) out['vmgit:commit'] = state.commit
  const run = ciRun(env)
  if (run) out['vmgit:run'] = run
  return out
}

/** The refusal when files differ from the commit: every file named, and both ways out. */
export function notCommitted(state: CommittedState): VmgitError {
  const shown = state.dirty.slice(0, 20).join(', ') + (state.dirty.length > 20 ? ` and ${state.dirty.length - 20} more` : '')
  return usageError(
    'NOT_COMMITTED',
    `files that feed the lists differ from commit ${state.commit.slice(0, 12)} (${shown}); what publish signs must be a commit that was reviewed: commit them (or git stash / git checkout -- them), or pass --allow-dirty to publish them anyway (recorded in the signed list)`,
    { dirty: state.dirty, commit: state.commit },
  )
}
