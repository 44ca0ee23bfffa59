/**
 * The git binary behind a small interface (execFile, never a shell): refs, files at a ref,
 * changed paths, log, and whole trees at a ref (so the model loader can read the repository as
 * it was at a commit). All paths are relative to the vmgit repository directory, which may be a
 * subdirectory of the git work tree.
 */
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { usageError, VmgitError } from '../util/errors.js'

const MAX_BUFFER = 1 << 30

export interface ChangedPath {
  /** A added, M modified, D deleted, R renamed (path = new name, from = old name), T type change */
  status: 'A' | 'M' | 'D' | 'R' | 'T' | 'C'
  path: string
  from?: string
}

export interface LogEntry {
  sha: string
  author: string
  email: string
  date: Date
  subject: string
}

/** Run git; resolve stdout as a Buffer. Errors keep git's own message (they carry no secrets of ours). */
export function runGit(cwd: string, args: string[], input?: Buffer | string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      args,
      { cwd, encoding: 'buffer', maxBuffer: MAX_BUFFER, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' } },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout)
        const code = (err as NodeJS.ErrnoException).code
        if (code === 'ENOENT') return reject(usageError('GIT_NOT_FOUND', 'the git binary was not found; install git (apt-get install git)'))
        reject(new VmgitError('GIT_FAILED', `git ${args[0]} failed: ${stderr.toString().trim() || err.message}`))
      },
    )
    // git may exit before reading all input (a bad ref): its exit status reports that, not an EPIPE
    child.stdin?.on('error', () => {})
    if (input !== undefined) child.stdin?.end(input)
  })
}

export class Git {
  /** the vmgit repository directory (absolute) */
  readonly dir: string
  private prefixP?: Promise<string>

  constructor(dir: string) {
    this.dir = path.resolve(dir)
  }

  static async isRepo(dir: string): Promise<boolean> {
    try {
      return (await runGit(path.resolve(dir), ['rev-parse', '--is-inside-work-tree'])).toString().trim() === 'true'
    } catch (e) {
      if ((e as VmgitError).code === 'GIT_NOT_FOUND') throw e
      return false
    }
  }

  /** Throws NOT_A_GIT_REPO unless `dir` is inside a git work tree. */
  static async open(dir: string): Promise<Git> {
    if (!(await Git.isRepo(dir))) throw usageError('NOT_A_GIT_REPO', `${dir} is not inside a git repository; run git init there, or pass --repo DIR of a repository clone`)
    return new Git(dir)
  }

  run(args: string[], input?: Buffer | string): Promise<Buffer> {
    return runGit(this.dir, args, input)
  }

  /** Path of this directory inside the git work tree, '' at the top, else ending with '/'. */
  prefix(): Promise<string> {
    this.prefixP ??= this.run(['rev-parse', '--show-prefix']).then((b) => b.toString().trim())
    return this.prefixP
  }

  /** Full commit id of `ref`; GIT_BAD_REF (exit 2) when it does not name a commit. */
  async revParse(ref: string): Promise<string> {
    if (ref.startsWith('-')) throw usageError('GIT_BAD_REF', `"${ref}" is not a git ref`)
    try {
      return (await this.run(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`])).toString().trim()
    } catch {
      throw usageError('GIT_BAD_REF', `"${ref}" is not a commit in ${this.dir}; check the name (git log --oneline, git branch -a) or fetch it (actions/checkout with fetch-depth: 0)`)
    }
  }

  /** Contents of `file` (relative to the repository dir) at `ref`; undefined when absent there. */
  async showFile(ref: string, file: string): Promise<Buffer | undefined> {
    const commit = await this.revParse(ref)
    const spec = `${commit}:${await this.prefix()}${file}`
    try {
      const type = (await this.run(['cat-file', '-t', spec])).toString().trim()
      if (type !== 'blob') return undefined
    } catch {
      return undefined
    }
    return this.run(['cat-file', 'blob', spec])
  }

  /** Files under `dir` (relative to the repository dir) at `ref`, recursively, sorted. */
  async listFiles(ref: string, dir = ''): Promise<string[]> {
    const commit = await this.revParse(ref)
    const prefix = await this.prefix()
    const where = path.posix.join(prefix, dir)
    const out = await this.run(['ls-tree', '-r', '-z', '--name-only', '--full-tree', commit, '--', where === '' ? '.' : where])
    return out
      .toString()
      .split('\0')
      .filter(Boolean)
      .map((p) => p.slice(prefix.length))
      .sort()
  }

  /** Paths changed between two refs (rename detection on), relative to the repository dir. */
  async changedPaths(base: string, head: string, dir = ''): Promise<ChangedPath[]> {
    const [b, h, prefix] = await Promise.all([this.revParse(base), this.revParse(head), this.prefix()])
    // pathspecs are relative to the cwd (the repository dir); output paths are from the top
    const where = dir || '.'
    const f = (await this.run(['diff', '--name-status', '-z', '-M', b, h, '--', where])).toString().split('\0')
    const out: ChangedPath[] = []
    for (let i = 0; i < f.length - 1; ) {
      const st = f[i++]!
      const s = st[0] as ChangedPath['status']
      if (s === 'R' || s === 'C') {
        const from = f[i++]!.slice(prefix.length)
        out.push({ status: s, path: f[i++]!.slice(prefix.length), from })
      } else out.push({ status: s, path: f[i++]!.slice(prefix.length) })
    }
    return out
  }

  /** Commits reachable from `ref` (newest first), optionally only those touching `paths`. */
  async log(opts: { ref?: string; paths?: string[]; max?: number } = {}): Promise<LogEntry[]> {
    const commit = await this.revParse(opts.ref ?? 'HEAD')
    const args = ['log', '-z', '--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s', ...(opts.max ? [`--max-count=${opts.max}`] : []), commit]
    if (opts.paths?.length) args.push('--', ...opts.paths)
    return (await this.run(args))
      .toString()
      .split('\0')
      .filter(Boolean)
      .map((rec) => {
        const [sha = '', author = '', email = '', date = '', subject = ''] = rec.replace(/^\n/, '').split('\x1f')
        return { sha, author, email, date: new Date(date), subject }
      })
  }

  /** Every file of the repository dir at `ref`, path → content (small repositories; YAML only by default). */
  async readTree(ref: string, filter: (p: string) => boolean = (p) => /\.ya?ml$/.test(p)): Promise<Map<string, Buffer>> {
    const commit = await this.revParse(ref)
    const prefix = await this.prefix()
    const files = (await this.listFiles(commit)).filter(filter)
    const map = new Map<string, Buffer>()
    if (!files.length) return map
    // one git process for all blobs: `cat-file --batch` answers "<oid> blob <size>\n<bytes>\n" per line
    const out = await this.run(['cat-file', '--batch'], files.map((f) => `${commit}:${prefix}${f}`).join('\n') + '\n')
    let pos = 0
    for (const f of files) {
      const nl = out.indexOf(0x0a, pos)
      const header = out.subarray(pos, nl).toString()
      const size = Number(header.split(' ')[2])
      map.set(f, out.subarray(nl + 1, nl + 1 + size))
      pos = nl + 1 + size + 1
    }
    return map
  }

  /**
   * The repository dir as it was at `ref`, extracted into a fresh temp dir
   * (`git archive REF:prefix | tar -x`). Call `cleanup()` when done.
   */
  async checkout(ref: string): Promise<{ dir: string; commit: string; cleanup: () => Promise<void> }> {
    const commit = await this.revParse(ref)
    const prefix = await this.prefix()
    const dir = await mkdtemp(path.join(os.tmpdir(), `vmgit-${commit.slice(0, 8)}-`))
    const cleanup = () => rm(dir, { recursive: true, force: true })
    try {
      // from the top: git archive inside a subdirectory would restrict the tree to it a second time
      const top = (await this.run(['rev-parse', '--show-toplevel'])).toString().trim()
      await pipeArchive(top, `${commit}:${prefix.replace(/\/$/, '')}`, dir)
    } catch (e) {
      await cleanup()
      throw e
    }
    return { dir, commit, cleanup }
  }

  /** Run `fn` on the repository dir at `ref`, then remove the temp copy. */
  async withTreeAt<T>(ref: string, fn: (dir: string, commit: string) => Promise<T>): Promise<T> {
    const t = await this.checkout(ref)
    try {
      return await fn(t.dir, t.commit)
    } finally {
      await t.cleanup()
    }
  }
}

function pipeArchive(cwd: string, treeish: string, dest: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, LC_ALL: 'C' }
    const git = spawn('git', ['archive', '--format=tar', treeish], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    const tar = spawn('tar', ['-x', '-f', '-', '-C', dest], { env, stdio: ['pipe', 'ignore', 'pipe'] })
    let err = ''
    git.stderr.on('data', (d: Buffer) => (err += d.toString()))
    tar.stderr.on('data', (d: Buffer) => (err += d.toString()))
    git.stdout.pipe(tar.stdin)
    let pending = 2
    let failed = false
    const done = (what: string) => (code: number | null) => {
      if (code !== 0 && !failed) {
        failed = true
        reject(new VmgitError('GIT_FAILED', `${what} failed extracting ${treeish}: ${err.trim()}`))
      }
      if (--pending === 0 && !failed) resolve()
    }
    git.on('error', reject)
    tar.on('error', reject)
    git.on('close', done('git archive'))
    tar.on('close', done('tar -x'))
  })
}
